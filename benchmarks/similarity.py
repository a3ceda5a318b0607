"""Similarity at 500, 2,000 and 10,000 students: time, recall and false flags; the report at the largest size.

Usage::

    .venv/bin/python benchmarks/similarity.py [--sizes 500,2000,10000] [--before-max 500] [--exercise ch2_activation]

For each size, a synthetic class (``benchmarks/synthetic_class.py``: own
work, wrong and equivalent answers, stubs, the reference solution, planted
disguised copies) is written for one exercise, then:

1. **indexed, cold**: ``similarity.analyse_files`` with an empty
   fingerprint store (every file tokenised, on every core);
2. **indexed, warm**: the same again, fingerprints read from the store;
3. **before** (sizes up to ``--before-max``): the all-pairs pass as it was
   at git revision ``--before`` (``main`` by default), loaded from git, in
   the same run, on the same files;
4. **all pairs, today's tokeniser** (sizes up to ``--before-max``): the
   current module scoring every pair, so the flags of the index can be
   compared with those of every pair on identical fingerprints.

Each line gives the wall time, the CPU time (this process and its
workers), the pairs scored, and against the planted truth: planted (pair,
exercise)s found (recall, with a Wilson 95% interval), false flags (pairs
that are neither planted nor between two students who submitted the
reference solution) and flags between reference-solution students.

Then, at the largest size, ``report.html`` is written for the class (its
records written straight as ``k2l grade`` output by
``tests/classes/records.py``) and opened in headless Chromium (Debian's
``chromium``, through playwright as ``tests/test_site.py`` does) ``--opens``
times: its size, and the time to its load event (median and range).

Measured on 2026-12-07 on this 2-core machine under a load average of about
15 (eight colleagues' jobs), one exercise (ch2_activation):

=======  ==============  =========  ========  =================  ================  ===========
class    pairs           scored     cold      CPU (all procs)    recall            false flags
=======  ==============  =========  ========  =================  ================  ===========
500      112,575         3,912      35.3 s    4.4 s              10/10 [.72, 1]    4
2,000    1,804,050       3,721      66.9 s    10.8 s             40/40 [.91, 1]    1
10,000   45,120,250      45,924     262.5 s   44.7 s             200/200 [.98, 1]  57
=======  ==============  =========  ========  =================  ================  ===========

A rerun with the fingerprints in the store: 4.8 s, 4.6 s, 10.2 s. At 500,
main's all-pairs pass: 33.5 s, the same 10/10 planted, 16 false flags (12 more
than the index: a cluster of files equal to the reference solution in what
is graded). report.html of 10,000 students: 0.41 MB, load event at 0.055 s
(median of 5, range 0.052-0.365 s); report.csv 0.29 MB.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "classes"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import records  # noqa: E402
import synthetic_class  # noqa: E402

from k2l_course.grading import report, similarity  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def wilson(k, n, z=1.96):
    """95% Wilson interval of a proportion k / n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def module_at(revision):
    """``k2l_course/grading/similarity.py`` as it was at ``revision`` (a module of its own)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:k2l_course/grading/similarity.py"],
                            check=True, capture_output=True, text=True).stdout  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="k2l-similarity-before-"))
    path = folder / "similarity_before.py"
    path.write_text(source)
    sys.path.insert(0, str(folder))  # the pool's workers import it by name
    spec = importlib.util.spec_from_file_location("similarity_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["similarity_before"] = module
    spec.loader.exec_module(module)
    return module


def measure(label, run, truth):
    started, cpu = time.perf_counter(), cpu_seconds()
    findings = run()
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    flagged = {((f.a, f.b), f.exercise) for f in findings.flags}
    planted, reference = synthetic_class.planted_flags(truth), synthetic_class.reference_flags(truth)
    found = len(planted & flagged)
    low, high = wilson(found, len(planted))
    false = flagged - planted - reference
    scored = sum(len(s) for s in findings.scores.values())
    considered = sum(findings.pairs.values())
    print(f"  {label:<32} {wall:7.1f} s wall {cpu:7.1f} s CPU | scored {scored:>9,} of {considered:>11,} pairs | "
          f"recall {found}/{len(planted)} = {found / len(planted):.3f} [{low:.3f}, {high:.3f}] | "
          f"false flags {len(false)} of {considered - len(planted):,} | reference-solution pairs flagged "
          f"{len(flagged & reference)}/{len(reference)}", flush=True)  # fmt: skip
    return {"label": label, "wall": wall, "cpu": cpu, "scored": scored, "pairs": considered, "found": found,
            "planted": len(planted), "false": len(false), "flags": sorted(map(str, flagged)),
            "reference_flagged": len(flagged & reference)}  # fmt: skip


def open_times(path, opens):
    """Times (s) from navigation to the load event of ``path`` in headless Chromium."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            for _ in range(opens):
                page = browser.new_page()
                started = time.perf_counter()
                page.goto(path.as_uri(), wait_until="load")
                wall = time.perf_counter() - started
                load = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000
                times.append((wall, load))
                page.close()
        finally:
            browser.close()
    return times


def report_at(place, truth, exercise, store, opens):
    out = place / "out"
    for i, student in enumerate(sorted(truth["kinds"])):
        record = records.record(i)
        record["student"] = student
        record["chosen"] = {exercise: f"{exercise}.py"}
        (out / "students" / student).mkdir(parents=True)
        (out / "students" / student / "record.json").write_text(json.dumps(record))
    (out / "grading.json").write_text(json.dumps({"seed": records.SEED}))
    (out / report.FINGERPRINT_STORE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(store, out / report.FINGERPRINT_STORE)  # the fingerprints k2l grade's report would have kept
    started = time.perf_counter()
    path = report.write_report(out, submissions=place / "class")
    built = time.perf_counter() - started
    size = path.stat().st_size
    csv_size = (out / report.TABLE_NAME).stat().st_size
    print(f"  report.html of {truth['students']:,} students: built in {built:.1f} s (fingerprints from the store), "
          f"{size / 1e6:.2f} MB, one file; report.csv beside it {csv_size / 1e6:.2f} MB", flush=True)  # fmt: skip
    if not Path(CHROMIUM).exists():
        print(f"  {CHROMIUM} not found: open time not measured (apt-get install chromium)")
        return {"built": built, "size": size, "csv_size": csv_size}
    times = open_times(path, opens)
    walls, loads = [w for w, _ in times], [l for _, l in times]
    print(f"  opened {opens} times in headless Chromium: load event at median {statistics.median(loads):.3f} s "
          f"(range {min(loads):.3f}-{max(loads):.3f}); goto to load median {statistics.median(walls):.3f} s "
          f"(range {min(walls):.3f}-{max(walls):.3f})", flush=True)  # fmt: skip
    return {"built": built, "size": size, "csv_size": csv_size, "load": loads, "goto": walls}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,10000")
    parser.add_argument("--before-max", type=int, default=500, help="largest class also run the all-pairs way")
    parser.add_argument("--before", default="main", help="git revision of the all-pairs module compared with")
    parser.add_argument("--exercise", default="ch2_activation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--opens", type=int, default=5)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    before = module_at(args.before) if min(sizes) <= args.before_max else None
    results = {}
    for n in sizes:
        place = Path(tempfile.mkdtemp(prefix=f"k2l-bench-similarity-{n}-"))
        try:
            started = time.perf_counter()
            truth = synthetic_class.make_class(place / "class", n, [args.exercise], args.seed)
            print(f"class of {n:,} students ({args.exercise}): {truth['counts']}, {len(truth['planted'])} planted pairs; "
                  f"written in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
            files = {args.exercise: {s: place / "class" / s / f"{args.exercise}.py" for s in truth["kinds"]}}
            store = place / "fingerprints.sqlite"
            rows = [measure("indexed, cold store", lambda: similarity.analyse_files(files, store=store, progress=True), truth),
                    measure("indexed, warm store", lambda: similarity.analyse_files(files, store=store), truth)]  # fmt: skip
            if n <= args.before_max:
                rows.append(measure(f"before: all pairs ({args.before})", lambda: before.analyse_files(files), truth))
                rows.append(measure("all pairs, warm store", lambda: similarity.analyse_files(files, store=store, pairs="all"),
                                    truth))  # fmt: skip
                indexed, every = set(rows[1]["flags"]), set(rows[3]["flags"])
                print(f"  flags of the index vs every pair: {len(indexed & every)} in both, {len(indexed - every)} only "
                      f"indexed, {len(every - indexed)} only when every pair is scored; before vs now (all pairs): "
                      f"{'same' if set(rows[2]['flags']) == every else 'DIFFERENT'}", flush=True)  # fmt: skip
            results[n] = {"rows": rows}
            if n == max(sizes):
                results[n]["report"] = report_at(place, truth, args.exercise, store, args.opens)
        finally:
            shutil.rmtree(place, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
