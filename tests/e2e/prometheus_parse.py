#!/usr/bin/env python3
"""Parses node_exporter textfiles with prometheus_client's text parser and prints, for each
file, its samples as JSON: [{"name": ..., "labels": {...}, "value": ...}, ...] per file, in
a list in the order given. Exits 1 naming the file that does not parse, or that does not end
with a newline (a file cut short).

  prometheus_parse.py FILE...
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = []
for path in sys.argv[1:]:
    text = open(path).read()
    try:
        if not text.endswith("\n"):
            raise ValueError("does not end with a newline")
        samples = []
        for family in text_string_to_metric_families(text):
            if not family.documentation or family.type not in ("gauge", "counter"):
                raise ValueError(f"{family.name}: no HELP or TYPE")
            for s in family.samples:
                samples.append({"name": s.name, "labels": s.labels, "value": s.value,
                                "timestamp": s.timestamp})
    except Exception as e:  # noqa: BLE001 - any parse problem fails the file
        print(f"{path}: {e}", file=sys.stderr)
        sys.exit(1)
    out.append(samples)
print(json.dumps(out))
