"""Benchmark of `kodo-bot view`: a 10,000-event log as one HTML page, its size, and how long headless
Chromium takes to open and draw it.

    .venv/bin/python bench/viewer.py [--events N] [--tool-calls N] [--runs N]

The log is made up (``kodo_bot.viewer._sample``: cycles of two overlapping agent calls, a tester, checks, two
verifiers; each agent call with N Bash calls and their output tails) and written as JSONL; the page is made
from the file as `kodo-bot view` makes it. Chromium is the system's (the Debian package `chromium`), driven
by Playwright's Python package. Printed: the events, the time to build the page, its size, and for each
opening the time from navigation to the page's own "drawn" mark (set in the first animation frame after the
DOM is built), and the page's own figure for its script (parse the data, build the DOM). Cycles below the
fold are laid out only when scrolled to (CSS content-visibility), so the time to lay out all of them at once
is printed too. Targets: under 2 s to draw, under 5 MB. Exits 1 when either is missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kodo_bot.viewer import write_html
from kodo_bot.viewer._sample import sample_events

DRAW_TARGET_S = 2.0
SIZE_TARGET = 5_000_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--tool-calls", type=int, default=6, help="Bash calls per agent call (default 6)")
    ap.add_argument("--runs", type=int, default=3, help="openings of the page (default 3)")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("no chromium on PATH: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        log, page = Path(tmp) / "events.jsonl", Path(tmp) / "run.html"
        events = sample_events(args.events, tool_calls=args.tool_calls)
        log.write_text("".join(e.model_dump_json() + "\n" for e in events), encoding="utf-8")
        started = time.perf_counter()
        write_html(log, page, use_git=False)
        build_s = time.perf_counter() - started
        size = page.stat().st_size
        print(f"events:        {len(events)} ({log.stat().st_size / 1e6:.1f} MB of JSONL)")
        print(f"page built in: {build_s:.2f} s (python, from the file)")
        print(f"page size:     {size / 1e6:.2f} MB ({size} bytes; target under {SIZE_TARGET / 1e6:.2f} MB)")
        draws = _open(chromium, page, args.runs)
    wall = [w for w, _, _ in draws]
    for i, (w, script, every) in enumerate(draws, 1):
        print(
            f"opening {i}:     drawn {w:.2f} s after navigation (the page's script: {script / 1000:.2f} s); "
            f"every cycle laid out, as if scrolled through: {every / 1000:.2f} s more"
        )
    print(f"median:        {statistics.median(wall):.2f} s (target under {DRAW_TARGET_S:.1f} s)")
    ok = size < SIZE_TARGET and max(wall) < DRAW_TARGET_S
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


#: the cycles below the fold are drawn when scrolled to (content-visibility: auto); this draws them all at once
_LAY_OUT_ALL = """() => new Promise(done => {
  const started = performance.now();
  document.querySelectorAll("section.cycle").forEach(s => { s.style.contentVisibility = "visible"; });
  void document.body.offsetHeight;
  requestAnimationFrame(() => done(performance.now() - started));
})"""


def _open(chromium: str, page: Path, runs: int) -> list[tuple[float, float, float]]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for _ in range(runs):
                tab = browser.new_page()
                errors: list[str] = []
                tab.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
                started = time.perf_counter()
                tab.goto(page.as_uri())
                tab.wait_for_selector("html[data-drawn]", timeout=60_000)
                wall = time.perf_counter() - started
                script = float(tab.get_attribute("html", "data-drawn") or "nan")
                every = tab.evaluate(_LAY_OUT_ALL)
                if errors:
                    raise SystemExit(f"the page failed: {errors[0]}")
                results.append((wall, script, every))
                tab.close()
        finally:
            browser.close()
    return results


if __name__ == "__main__":
    sys.exit(main())
