#!/usr/bin/env python3
"""Opens a Kiln report.html in headless Chromium and checks that it renders: no console
errors or failed loads, and every plot drawn. Each <svg> of the report is also rendered on
its own page (with the report's <style>) and its screenshot must not be blank: enough
non-background pixels, including the plot's data colors.

  report_browser.py REPORT.html WORKDIR [PLOTS]   prints a JSON summary; exits 1 on a problem

PLOTS is how many plots the page must have (4 for an eval report: ROC, PR, reliability,
score histogram).
"""
import json
import os
import re
import struct
import subprocess
import sys
import zlib

CHROMIUM = os.environ.get("KILN_CHROMIUM", "chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--disable-extensions", "--no-first-run"]


def screenshot(url, out, size):
    result = subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={out}", f"--window-size={size}", url],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stderr


def console_problems(log):
    bad = []
    for line in log.splitlines():
        if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line:
            bad.append(line.strip())
    return bad


def read_png(path):
    """(width, height, rows of (r, g, b)) for an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat = 8, b""
    width = height = color = None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), f"unsupported PNG (depth {depth}, color {color})"
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    channels = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * channels:x * channels + 3]) for x in range(width)])
        previous = line
    return width, height, rows


def main():
    report, work = sys.argv[1], os.path.abspath(sys.argv[2])
    expected = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    os.makedirs(work, exist_ok=True)
    html = open(report, encoding="utf-8").read()
    problems = []
    problems += console_problems(screenshot("file://" + os.path.abspath(report),
                                            os.path.join(work, "page.png"), "1320,2600"))
    if "<script" in html or re.search(r"(src|href)=\"(https?:)?//", html):
        problems.append("the report loads something from outside (script or remote URL)")
    style = re.search(r"<style>.*?</style>", html, re.S).group(0)
    plots = re.findall(r"<svg class=\"plot\".*?</svg>", html, re.S)
    summary = {"plots": len(plots), "drawn": []}
    for i, svg in enumerate(plots):
        page = os.path.join(work, f"plot{i}.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write(f"<!DOCTYPE html><html><head><meta charset=\"utf-8\">{style}</head>"
                    f"<body style=\"margin:0\">{svg}</body></html>")
        shot = os.path.join(work, f"plot{i}.png")
        problems += console_problems(screenshot("file://" + page, shot, "420,340"))
        width, height, rows = read_png(shot)
        pixels = [p for row in rows for p in row]
        inked = sum(1 for p in pixels if p != (255, 255, 255))
        colors = set(re.findall(r"(?:stroke|fill)=\"#([0-9a-f]{6})\"", svg)) - {"ffffff", "adb5bd"}
        wanted = {tuple(int(c[k:k + 2], 16) for k in (0, 2, 4)) for c in colors}
        counts = {c: 0 for c in wanted}
        for p in pixels:
            if p in counts:
                counts[p] += 1
        seen = {c for c, n in counts.items() if n > 0}
        title = re.search(r"aria-label=\"([^\"]*)\"", svg).group(1)
        # Data, not just a legend swatch (about 40 pixels): a curve or bars of some length.
        drawn = inked > 0.02 * width * height and max(counts.values(), default=0) >= 150
        summary["drawn"].append({"plot": title, "inked_fraction": round(inked / (width * height), 4),
                                 "data_colors_seen": len(seen), "data_colors": len(wanted),
                                 "most_data_pixels": max(counts.values(), default=0),
                                 "drawn": drawn})
        if not drawn:
            problems.append(f"plot '{title}' looks blank ({inked} inked pixels, {len(seen)} data colors)")
    if len(plots) < expected:
        problems.append(f"expected {expected} plots, found {len(plots)}")
    summary["problems"] = problems
    print(json.dumps(summary))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
