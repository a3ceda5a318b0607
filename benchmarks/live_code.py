"""Live code: how long a reader waits, chapter by chapter, before (main) and after (this tree).

Usage::

    K2L_CACHE=... .venv/bin/python benchmarks/live_code.py [--tries 3] [--before-tries 1] [--before 6adbd91]
        [--before-site DIR]

"Before" is the state before live code answered at once (issue 23): by default
commit 6adbd91, whose ``k2l serve`` starts a kernel when a page asks and runs
the chapter's earlier cells on it when Run is pressed. For each version, starts
``k2l serve`` on the built site (``k2l book`` first; for "before", the site of
``--before-site``, by default the same one, with the live-code script and style
of the git revision ``--before``, served by that revision's ``k2l serve``, its
code exported to a temporary folder; give ``--before-site`` a site built from
that revision when the chapters' code differs), waits until it has been up for a
minute, then for every chapter opens a fresh page in headless Chromium (Debian's
``/usr/bin/chromium``) and presses "Live code", then Run on the chapter's first
cell with an output area in the book (in most chapters the set-up cell, whose
area holds only its removed warnings: the cell a reader runs first) and, at
once, Run on its last cell, and measures from the press of "Live code":

- **first output**: the first live output on the page;
- **last cell**: the last cell done (every earlier cell run first, as needed);
- **edited cell**: then a line is added to the last cell and it is run again:
  the time from that Run to the new output.

A server that prepares kernels in advance (its kernel pool) is measured
settled, as a server that has been up for a while is: before each page the
benchmark waits until the pool is idle again (each page takes its chapter's
kernel, and the pool prepares another if it fits in the memory budget, which
takes the CPU while it runs); a chapter it could not prepare again is measured
as a reader would find it.

Prints every try, a table of medians per chapter, ``k2l serve``'s memory (PSS of
it, its Jupyter server and its kernels) once its kernels are ready, and each
chapter's prepared kernel's PSS as the pool measured it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_site import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from k2l_course.site import live_assets  # noqa: E402
from k2l_course.site.kernel_pool import process_tree_pss  # noqa: E402

TIMEOUT_MS = 1_800_000
#: The last commit before issue 23's work (live code that answers at once).
BEFORE = "6adbd91"
EDIT = 'print("edited by the benchmark")'


class Serve:
    """A running ``k2l serve`` (of this tree or of another one), its output read as it comes."""

    def __init__(self, site, code_root, env):
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "k2l_course.cli", "serve", "--site", str(site), "--port", "0"],
            cwd=code_root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.started = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()
        self.origin = self.wait_for(r"serving the course at (http://127\.0\.0\.1:\d+)/", 600).group(1)

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)
            if "k2l:" in line:  # the kernel pool's messages
                print("   ", line.split("k2l: ", 1)[1], end="", flush=True)

    def wait_for(self, pattern, timeout, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matches = [m for m in (re.search(pattern, line) for line in list(self.lines)) if m]
            if len(matches) >= count:
                return matches[count - 1]
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"k2l serve: no {pattern!r} (x{count}) within {timeout} s:\n" + "".join(self.lines[-40:]))

    def wait_until_settled(self, timeout, ready=None):
        """Wait until the kernel pool has nothing left to prepare (with ``ready`` chapters); their number."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = [line for line in list(self.lines) if "k2l: pool settled" in line or "k2l: a page got" in line]
            if events and "settled" in events[-1]:
                n = int(re.search(r"ready for (\d+) chapters", events[-1]).group(1))
                if ready is None or n >= ready:
                    return n
            time.sleep(1)
        raise RuntimeError("k2l serve's kernel pool did not settle:\n" + "".join(self.lines[-40:]))

    def kernel_costs(self):
        """{chapter: (seconds to prepare, GB of PSS)} of the prepared kernels, the last as logged."""
        costs = {}
        for line in list(self.lines):
            m = re.search(r"chapter (\S+) ready on a kernel of its own \(\d+ cells run, (\d+) s, ([\d.]+) GB", line)
            if m:
                costs[m.group(1)] = (int(m.group(2)), float(m.group(3)))
        return costs

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(120)


def before_tree(ref, site, workdir):
    """The code of ``ref`` and the site with ``ref``'s live-code script and style: (code root, site)."""
    code = workdir / "code"
    code.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    bundle = live_assets.build_bundle(code / "live")
    old_site = workdir / "site"
    shutil.copytree(site, old_site)
    shutil.copyfile(bundle, old_site / "_static" / live_assets.BUNDLE)
    shutil.copyfile(code / "book" / "_static" / "k2l.css", old_site / "_static" / "k2l.css")
    return code, old_site


def measure_chapter(browser, origin, chapter):
    """(first output, last cell, edited cell) in seconds on a fresh page of ``chapter``."""
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{origin}/{chapter}.html", wait_until="load")
        shown = page.locator("div.cell").filter(has=page.locator(".cell_input pre"))
        with_output = page.locator("div.cell").filter(has=page.locator(".cell_output"))
        start = time.perf_counter()
        page.locator("button.k2l-live-control").click()
        page.wait_for_selector("body.k2l-live-on", timeout=TIMEOUT_MS)
        last = shown.last
        if with_output.count():
            with_output.first.locator("button.k2l-live-run").click()
        last.locator("button.k2l-live-run").click()
        status = page.locator(".k2l-live-status")
        # (an error the page says ends the wait at once, with its words, rather than at the time-out)
        page.locator(".k2l-live-output > *, .k2l-live-status[data-kind=error]").first.wait_for(timeout=TIMEOUT_MS)
        first = time.perf_counter() - start
        page.wait_for_function(
            "(document.querySelector('.k2l-live-status').textContent === 'done' && "
            "!document.querySelector('button.k2l-live-run:disabled')) || "
            "document.querySelector('.k2l-live-status').dataset.kind === 'error'",
            timeout=TIMEOUT_MS,
        )
        done = time.perf_counter() - start
        assert status.get_attribute("data-kind") != "error", f"{chapter}: {status.inner_text()}"
        errors = page.locator(".k2l-live-error")
        assert not errors.count(), f"{chapter}: {errors.first.inner_text()}"
        editor = last.locator("textarea.k2l-live-editor")
        editor.fill(editor.input_value().rstrip() + "\n" + EDIT)
        start = time.perf_counter()
        last.locator("button.k2l-live-run").click()
        last.locator(".k2l-live-output").filter(has_text="edited by the benchmark").wait_for(timeout=TIMEOUT_MS)
        edited = time.perf_counter() - start
        return first, done, edited
    finally:
        # as a reader's closed tab does (pagehide); closing a headless context does not
        page.evaluate("window.k2lLive && window.k2lLive.kernel && window.k2lLive.kernel.shutdown()")
        context.close()


def run_version(label, serve, chapters, tries, browser, warm):
    """Measure every chapter ``tries`` times.

    Returns ({chapter: [(first, last, edited), ...]}, k2l serve's memory in bytes,
    {chapter: (seconds to prepare, GB)} of its prepared kernels).
    """
    settle = 60 - (time.monotonic() - serve.started)
    if settle > 0:
        time.sleep(settle)  # "k2l serve up for a minute"
    memory = None
    capacity = None
    results = {c: [] for c in chapters}
    for i in range(tries):
        for chapter in chapters:
            if warm:  # settled (the last page's kernel prepared again if it fits)
                started = time.monotonic()
                capacity = serve.wait_until_settled(3600)
                print(f"{label}: kernels ready for {capacity} chapters ({time.monotonic() - started:.0f} s of waiting)", flush=True)
                if memory is None:
                    memory = process_tree_pss([serve.process.pid])
            times = measure_chapter(browser, serve.origin, chapter)
            results[chapter].append(times)
            print(f"{label} try {i + 1} {chapter}: first output {times[0]:.2f} s, last cell {times[1]:.2f} s, "
                  f"edited cell {times[2]:.2f} s", flush=True)  # fmt: skip
    if memory is None:
        memory = process_tree_pss([serve.process.pid])
    return results, memory, serve.kernel_costs()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tries", type=int, default=3, help="tries per chapter, after")
    parser.add_argument("--before-tries", type=int, default=1, help="tries per chapter, before")
    parser.add_argument("--before", default=BEFORE, help=f"the git revision to compare with (default {BEFORE})")
    parser.add_argument("--site", type=Path, default=REPO / "_build" / "html")
    parser.add_argument("--before-site", type=Path, help="the built site for before (default: --site)")
    parser.add_argument("--chapters", nargs="*", help="default: every chapter of the site")
    parser.add_argument("--only", choices=["before", "after"], help="measure one version only")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from k2l_course.site.serve import site_chapters

    chapters = args.chapters or site_chapters(args.site)
    print("load average at the start (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    env = {**os.environ, "K2L_CACHE": os.environ.get("K2L_CACHE", str(REPO / ".k2l"))}
    table = {}
    with tempfile.TemporaryDirectory(prefix="k2l-live-before-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        code, old_site = before_tree(args.before, args.before_site or args.site, Path(tmp))
        for label, root, site, tries, extra in (
            (f"before ({args.before})", code, old_site, args.before_tries, {"PYTHONPATH": str(code)}),
            ("after", REPO, args.site, args.tries, {}),
        ):
            if args.only and not label.startswith(args.only):
                continue
            serve = Serve(site, root, {**env, **extra})
            try:
                warm = label == "after"
                table[label] = run_version(label, serve, chapters, tries, browser, warm)
            finally:
                serve.stop()
        browser.close()
    print("load average at the end (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    labels = list(table)
    tries = {lbl: len(next(iter(table[lbl][0].values()))) for lbl in labels}
    print("\nmedians in seconds (tries per chapter: " + ", ".join(f"{lbl} {n}" for lbl, n in tries.items()) + ")")
    header = "| chapter | " + " | ".join(f"{what}, {lbl}" for what in ("first output", "last cell", "edited cell") for lbl in labels) + " |"
    print(header)
    print("|---|" + "---:|" * (3 * len(labels)))
    for chapter in chapters:
        cells = []
        for k in range(3):
            for lbl in labels:
                cells.append(f"{statistics.median(t[k] for t in table[lbl][0][chapter]):.2f}")
        print(f"| {chapter} | " + " | ".join(cells) + " |")
    for lbl in labels:
        print(f"k2l serve's memory, {lbl}: {table[lbl][1] / 1e9:.2f} GB (PSS of it, its Jupyter server and kernels)")
        if table[lbl][2]:
            print(f"prepared kernels, {lbl}: " + ", ".join(
                f"{c} {gb:.2f} GB ({seconds} s to prepare)" for c, (seconds, gb) in table[lbl][2].items()))  # fmt: skip
    for k, what in enumerate(("first output", "last cell", "edited cell")):
        for lbl in labels:
            everything = [t[k] for c in chapters for t in table[lbl][0][c]]
            print(f"{what}, {lbl}: median over every chapter and try {statistics.median(everything):.2f} s, "
                  f"max {max(everything):.2f} s (n={len(everything)})")  # fmt: skip


if __name__ == "__main__":
    main()
