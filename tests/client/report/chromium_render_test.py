#!/usr/bin/env python3
"""`treatctl ledger report --html` rendered in real headless Chromium.

Chromium is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe), so the test sees every console message, uncaught
exception and browser log entry (a CSP violation, a failed load) of the page.

1. Writes a year of ledger history into a SQLite file (kpi_report_fixture),
   runs `treatctl ledger report` on it, and checks the page is
   self-contained (no script, stylesheet, font or image to fetch).
2. Loads the page as written (its Content-Security-Policy intact): console
   and log must stay silent; for every chart, the marks the browser laid
   out with a non-empty bounding box are counted (evaluated through the
   protocol, not by a script in the page); a full-page screenshot must not
   be blank (enough non-white pixels, each chart colour present).
3. Proves the capture: a copy that logs and breaks its CSP must be heard.
4. Hostile owner names in the ledger (script tags, attribute breakers,
   event handlers): a copy of that page with the CSP removed is loaded, so
   any of them that reached the DOM as markup would run or load; the test
   requires silence and the owner names shown verbatim as table text.

Bounded: every Chromium run has a timeout. Exit 0 when all checks pass.
Usage: chromium_render_test.py --treatctl BIN --fixture BIN [--chromium BIN]
                               [--keep SCREENSHOT.png]
"""
import argparse
import base64
import fcntl
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

CHART_IDS = ["chart-ttr", "chart-sla", "chart-age", "chart-debt",
             "chart-recurrence", "chart-risk"]
# Okabe-Ito colours the charts use (client/report/kpi_html.cc).
CHART_COLOURS = {"blue": (0x00, 0x72, 0xB2), "vermillion": (0xD5, 0x5E, 0x00),
                 "orange": (0xE6, 0x9F, 0x00), "purple": (0xCC, 0x79, 0xA7),
                 "green": (0x00, 0x9E, 0x73)}
HOSTILE_OWNERS = [  # tests/client/report/ledger_history.h HostileOwners()
    "<script>console.error('XSS-script')</script>",
    "\"><img src=x onerror=\"console.error('XSS-img')\">",
    "' onmouseover='console.error(1)' x='",
    "</svg></figure><svg onload=console.error('XSS-svg')>",
]
# Evaluated in the page: marks per chart with a non-empty layout box, the
# table cells' text, and how many script elements the DOM holds.
PROBE = """(function () {
  var ids = %s, result = {charts: {}, cells: []};
  ids.forEach(function (id) {
    var svg = document.getElementById(id), n = 0;
    if (!svg) { result.charts[id] = -1; return; }
    svg.querySelectorAll('.mark').forEach(function (m) {
      var b = m.getBBox();
      var line = m.tagName.toLowerCase() === 'polyline';
      if (line ? (b.width > 0 || b.height > 0) : (b.width > 0 && b.height > 0)) n++;
    });
    result.charts[id] = n;
  });
  document.querySelectorAll('td').forEach(function (td) {
    result.cells.push(td.textContent);
  });
  result.scripts = document.querySelectorAll('script').length;
  return JSON.stringify(result);
})()"""
FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def run(cmd, timeout):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class Browser:
    """Headless Chromium over the DevTools protocol on fds 3 (in) / 4 (out)."""

    def __init__(self, binary, workdir, timeout=90):
        self.profile = tempfile.mkdtemp(prefix="profile-", dir=workdir)
        self.deadline = time.monotonic() + timeout
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()

        def child_fds():
            # Out of the way first, so neither dup2 clobbers the other.
            high_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--hide-scrollbars",
             "--disable-dev-shm-usage", "--remote-debugging-pipe",
             "--user-data-dir=" + self.profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=child_fds,
            pass_fds=(3, 4))
        os.close(cmd_r)
        os.close(out_w)
        self.buffer, self.next_id, self.events = b"", 0, []

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:  # already gone or stuck: killed below
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.cmd_w)
        os.close(self.out_r)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self.out_r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.out_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.cmd_w, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message(self.deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method, seconds):
        """True once `method` arrived; False after `seconds`."""
        stop = min(self.deadline, time.monotonic() + seconds)
        while not any(e.get("method") == method for e in self.events):
            try:
                self.events.append(self._read_message(stop))
            except TimeoutError:
                return False
        return True

    def load(self, url):
        """Opens `url` in a new tab; returns its session once loaded."""
        target = self.send("Target.createTarget", {"url": "about:blank"})
        session = self.send("Target.attachToTarget",
                            {"targetId": target["targetId"],
                             "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(domain + ".enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 900, "height": 1200, "deviceScaleFactor": 1,
                   "mobile": False}, session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        if not self.wait_event("Page.loadEventFired", 30):
            raise TimeoutError("page did not load in 30 s")
        self.wait_event("none", 0.5)  # late console messages
        return session

    def messages(self):
        """Console calls, uncaught exceptions and log entries, as text."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled":
                args = " ".join(str(a.get("value", a.get("description", "")))
                                for a in p.get("args", []))
                out.append(f"console.{p.get('type')}: {args}")
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails")))
            elif m == "Log.entryAdded":
                entry = p.get("entry", {})
                out.append(f"log {entry.get('level')}: {entry.get('text')}")
        return out

    def evaluate(self, expression, session):
        r = self.send("Runtime.evaluate",
                      {"expression": expression, "returnByValue": True},
                      session=session)
        return r["result"].get("value")

    def screenshot(self, session, path):
        r = self.send("Page.captureScreenshot",
                      {"format": "png", "captureBeyondViewport": True},
                      session=session)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))


def inspect(chromium_bin, workdir, url, shot=None):
    """Loads `url`; returns (probe result, console/log messages)."""
    browser = Browser(chromium_bin, workdir)
    try:
        session = browser.load(url)
        result = json.loads(browser.evaluate(PROBE % json.dumps(CHART_IDS),
                                             session))
        if shot:
            browser.screenshot(session, shot)
        return result, browser.messages()
    finally:
        browser.close()


def read_png(path):
    """Decodes an 8-bit non-interlaced RGB/RGBA PNG (what Chromium writes)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(
                ">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, \
                "unexpected PNG format"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def png_stats(path):
    width, height, channels, rows = read_png(path)
    non_white = 0
    colours = {name: 0 for name in CHART_COLOURS}
    targets = list(CHART_COLOURS.items())
    for row in rows:
        for x in range(0, len(row), channels):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if r < 245 or g < 245 or b < 245:
                non_white += 1
                for name, (tr, tg, tb) in targets:
                    if abs(r - tr) < 8 and abs(g - tg) < 8 and abs(b - tb) < 8:
                        colours[name] += 1
    return width, height, non_white / float(width * height), colours


def report(treatctl, fixture, workdir, name, hostile):
    db = os.path.join(workdir, name + ".db")
    page = os.path.join(workdir, name + ".html")
    args = [fixture, db] + (["--hostile"] if hostile else [])
    r = run(args, 120)
    check(r.returncode == 0, f"{name}: fixture ledger written ({r.stderr.strip()})")
    r = run([treatctl, "ledger", "report", "--ledger", db, "--as-of",
             "2026-07-01", "--html", page], 120)
    check(r.returncode == 0 and "wrote" in r.stdout,
          f"{name}: treatctl ledger report: {r.stdout.strip()} {r.stderr.strip()}")
    return page


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--treatctl", required=True)
    parser.add_argument("--fixture", required=True)
    parser.add_argument("--chromium", default=shutil.which("chromium"))
    parser.add_argument("--keep", help="copy the screenshot here")
    args = parser.parse_args()
    if not args.chromium:
        print("FAIL chromium not found: run scripts/setup.sh (Debian chromium)")
        return 1
    workdir = tempfile.mkdtemp(prefix="report-render-")
    try:
        # 1. The page as treatctl writes it.
        page = report(args.treatctl, args.fixture, workdir, "plain", False)
        with open(page, encoding="utf-8") as f:
            text = f.read()
        for needle in ("<script", "<link", "src=", "url(", "@import"):
            check(needle not in text, f"page has no {needle!r}")
        urls = set(re.findall(r"https?://[^\"' )<>]+", text))
        check(urls <= {"http://www.w3.org/2000/svg"},
              f"page names no URL but the SVG namespace: {sorted(urls)}")

        # 2. As written (CSP intact): silent, charts laid out, not blank.
        shot = os.path.join(workdir, "report.png")
        result, console = inspect(args.chromium, workdir, "file://" + page,
                                  shot)
        check(not console, f"no console or log messages: {console}")
        for chart in CHART_IDS:
            n = result["charts"].get(chart, -1)
            check(n >= 1, f"{chart}: {n} marks with a non-empty box")
        check(result["scripts"] == 0, "no script element in the page")
        width, height, ink, colours = png_stats(shot)
        if args.keep:
            shutil.copy(shot, args.keep)
        print(f"     screenshot {width}x{height}, {ink:.1%} non-white, "
              f"chart colour pixels {colours}")
        check(height > 2000, f"the whole page captured ({height} px high)")
        check(ink > 0.03, f"screenshot is not blank ({ink:.1%} non-white)")
        for name, count in colours.items():
            check(count >= 100, f"chart colour {name} drawn ({count} px)")

        # 3. The capture hears a page that logs and breaks its CSP.
        noisy = os.path.join(workdir, "noisy.html")
        with open(noisy, "w", encoding="utf-8") as f:
            f.write(text.replace("<body>",
                                 "<body><script>console.log(1)</script>"
                                 "<img src=\"x.png\">", 1))
        _, console = inspect(args.chromium, workdir, "file://" + noisy)
        check(len(console) >= 1,
              f"the capture hears a CSP violation: {console}")

        # 4. Hostile owners, CSP removed: shown as text, nothing executed.
        page = report(args.treatctl, args.fixture, workdir, "hostile", True)
        with open(page, encoding="utf-8") as f:
            hostile = f.read()
        bare = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                      hostile)
        check(bare != hostile, "hostile: CSP removed for this load")
        copy = page.replace(".html", ".nocsp.html")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(bare)
        result, console = inspect(args.chromium, workdir, "file://" + copy)
        cells = set(result["cells"])
        for owner in HOSTILE_OWNERS:
            check(owner in cells, f"hostile: owner shown verbatim: {owner!r}")
        check(result["scripts"] == 0,
              f"hostile: no script element in the DOM ({result['scripts']})")
        for chart in CHART_IDS:
            check(result["charts"].get(chart, -1) >= 1,
                  f"hostile: {chart} still drawn")
        check(not console, f"hostile: nothing ran or loaded: {console}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if FAILURES:
        print(f"chromium render test: {len(FAILURES)} checks failed")
        return 1
    print("chromium render test: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
