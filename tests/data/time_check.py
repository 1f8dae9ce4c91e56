#!/usr/bin/env python3
"""Independent reference for Kiln's ISO 8601 times (data::parse_time), from Python's datetime.

  time_check.py FILE
      FILE holds one time per line; prints a JSON list with, per line, its seconds since
      1970-01-01T00:00:00Z (the floor; a time without an offset read as UTC) from
      datetime.fromisoformat, or null where fromisoformat refuses the text.
"""
import json
import sys
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def seconds(text):
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return (t - EPOCH) // timedelta(seconds=1)


with open(sys.argv[1], encoding="utf-8") as f:
    print(json.dumps([seconds(line.rstrip("\n")) for line in f]))
