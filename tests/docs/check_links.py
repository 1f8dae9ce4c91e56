#!/usr/bin/env python3
"""Checks the relative links of the repository's Markdown files.

  check_links.py ROOT          exit 1 listing every FILE:LINE whose link names a file that
                               is not there, or a #section that the target's headings do not
                               make (GitHub's rule: lowercase, punctuation dropped, spaces
                               to hyphens)
  check_links.py --self-test   a small tree with one broken link of each kind and one good
                               link of each kind: the broken ones are reported, the good not

Links to the web (http, https, mailto) are not followed.
"""
import os
import re
import sys
import tempfile

SKIP = {"build", "out", ".git", ".venv", "node_modules"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(heading):
    text = heading.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP]
        for name in filenames:
            if name.endswith(".md"):
                yield os.path.join(dirpath, name)


def anchors(path):
    found, fenced = set(), False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and (m := HEADING.match(line)):
                found.add(slug(m.group(2)))
    return found


def problems(root):
    cache = {}
    out = []
    for path in sorted(markdown_files(root)):
        fenced = False
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("```"):
                    fenced = not fenced
                if fenced:
                    continue
                for m in LINK.finditer(line):
                    target = m.group(1)
                    if re.match(r"(https?|mailto):", target):
                        continue
                    file, _, section = target.partition("#")
                    linked = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
                    where = f"{os.path.relpath(path, root)}:{number}"
                    if not os.path.exists(linked):
                        out.append(f"{where}: {target}: no file {os.path.relpath(linked, root)}")
                    elif section and linked.endswith(".md"):
                        if linked not in cache:
                            cache[linked] = anchors(linked)
                        if section not in cache[linked]:
                            out.append(f"{where}: {target}: no section '#{section}' in "
                                       f"{os.path.relpath(linked, root)}")
    return out


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "docs", "A.md"), "w") as f:
            f.write("# A\n## Defaults: `auto`\n```\n## not a heading\n```\n")
        with open(os.path.join(root, "README.md"), "w") as f:
            f.write("[good](docs/A.md) [good](docs/A.md#defaults-auto) [web](https://x.org/y#z)\n"
                    "[bad file](docs/B.md)\n"
                    "[bad section](docs/A.md#defaults)\n"
                    "[fenced heading](docs/A.md#not-a-heading)\n")
        found = problems(root)
        expected = ["README.md:2: docs/B.md", "README.md:3: docs/A.md#defaults:",
                    "README.md:4: docs/A.md#not-a-heading"]
        missing = [e for e in expected if not any(p.startswith(e) for p in found)]
        if missing or len(found) != len(expected):
            print("self-test: expected", expected, "got", found)
            return 1
    print("self-test: every broken link reported, no good one")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1]
    found = problems(root)
    for p in found:
        print(p)
    print(f"{len(found)} broken links" if found else "every relative link resolves")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
