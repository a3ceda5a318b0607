"""Time to build the class report of a large class, and the similarity measurement.

Usage::

    .venv/bin/python benchmarks/report.py [--students 500] [--repeat 3]

1. Report: a class of ``--students`` records is written straight as ``k2l
   grade`` output (``tests/classes/records.py``; no grading needed), and the
   copy class of ``tests/classes/copies.py`` (independent correct work in
   several genuinely different ways, plus planted disguised copies) is
   written as their submissions, sized to the same number of students; then
   ``k2l_course.grading.report.write_report`` runs ``--repeat`` times. The median
   time is printed, with and without the similarity analysis.
2. Similarity: recall on the planted copies and the independent pairs
   flagged, for that class.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "classes"))

import copies  # noqa: E402
import records  # noqa: E402

from k2l_course.grading import report, similarity  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    place = Path(tempfile.mkdtemp(prefix="k2l-bench-report-"))
    try:
        n_copiers = 18
        made = copies.make_class(place / "class", n_independent=max(20, args.students - n_copiers), seed=0)
        out = place / "out"
        for i, student in enumerate(made["students"]):
            record = records.record(i)
            record["student"] = student
            record["chosen"] = {e: f"{e}.py" for e in copies.EXERCISES}
            (out / "students" / student).mkdir(parents=True)
            (out / "students" / student / "record.json").write_text(json.dumps(record))
        (out / "grading.json").write_text(json.dumps({"seed": records.SEED}))
        n = len(made["students"])
        timings = {}
        for label, kwargs in (("without similarity", {"similarity": False}),
                              ("with similarity", {"submissions": place / "class"})):  # fmt: skip
            seconds = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                report.write_report(out, **kwargs)
                seconds.append(time.perf_counter() - started)
            timings[label] = statistics.median(seconds)
            print(f"report of {n} students, {label}: median {timings[label]:.2f} s over {args.repeat} runs")
        files = {e: {s: place / "class" / s / f"{e}.py" for s in made["students"]} for e in copies.EXERCISES}
        findings = similarity.analyse_files(files)
        flagged = {((f.a, f.b), f.exercise) for f in findings.flags}
        planted = {(pair, e) for pair, exercises in made["planted"].items() for e in exercises}
        n_pairs = sum(findings.pairs.values())
        false = len(flagged - planted)
        print(f"similarity: {len(planted & flagged)} of {len(planted)} planted (pair, exercise) flagged "
              f"(recall {len(planted & flagged) / len(planted):.3f}); {false} of {n_pairs - len(planted)} "
              f"independent (pair, exercise) flagged ({false / (n_pairs - len(planted)):.5f})")  # fmt: skip
    finally:
        shutil.rmtree(place, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
