"""Live code: the time from pressing the "Live code" control to the first output.

Usage::

    .venv/bin/python benchmarks/live_code.py [--tries 5] [--site _build/html]

Starts ``k2l serve`` on the built site (``k2l book`` first), opens chapter 2
in headless Chromium (Debian's ``/usr/bin/chromium``), presses the control and
runs the cell that compares the rate formula with nengo-loihi; it times the
first live output (an earlier cell's, which runs first) and that cell's own.
A fresh page (so a fresh kernel, which first runs the chapter's earlier cells:
importing TensorFlow and nengo, computing the rate curves and the figure) for
every try; prints each time and the medians. The browser steps are those of ``tests/test_serve.py``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_serve import open_chapter, start_serve, switch_live_code_on_and_run_the_comparison  # noqa: E402
from test_site import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--site", type=Path, default=REPO / "_build" / "html")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    process, origin = start_serve(args.site)
    firsts, times = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for i in range(args.tries):
                offsite = []
                context, page, errors = open_chapter(browser, origin, offsite)
                try:
                    first, seconds, _ = switch_live_code_on_and_run_the_comparison(page)
                finally:
                    context.close()
                assert not errors and not offsite, (errors, offsite)
                firsts.append(first)
                times.append(seconds)
                print(f"try {i + 1}: first output {first:.1f} s, the comparison's {seconds:.1f} s", flush=True)
            browser.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
    for label, values in (("first output", firsts), ("the comparison's output", times)):
        print(f"control -> {label}: median {statistics.median(values):.1f} s over {len(values)} tries "
              f"(min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()
