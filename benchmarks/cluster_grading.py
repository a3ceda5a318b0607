"""Grading throughput on a Dask cluster: per worker process, with 1 and 2 workers, beside one machine.

Usage::

    .venv/bin/python benchmarks/cluster_grading.py [--students 40] [--class synthetic|hostile] [--keep DIR]

The class is ``benchmarks/synthetic_class.py``'s (own correct work, wrong and
equivalent answers, stubs, the reference solution, planted copies: every
exercise), or with ``--class hostile`` the one of ``benchmarks/grading.py``
(correct, untouched, typical mistakes, misbehaving students). It is graded,
side by side in one run, on the same seed:

one machine
    ``k2l grade`` without ``--cluster``, ``--jobs 1`` (one sandbox run at a time).
cluster, 1 worker / 2 workers
    ``k2l grade --cluster`` to a ``dask scheduler`` on 127.0.0.1 with one or
    two ``dask worker`` processes (one thread each), started fresh for each
    run; each worker starts its sandbox at its first student (counted).

Prints submissions per minute, per worker process, and exits with status 1
if any gradebook differs from the one-machine one. On a 2-core machine two
workers compete with the client and the scheduler for the cores: the figure
to read is per worker process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "classes"))

import grading as hostile  # noqa: E402  (benchmarks/grading.py)
import synthetic_class  # noqa: E402
from grading import LIMITS, SEED  # noqa: E402

from k2l_course.grading import grade as grading  # noqa: E402

BIN = Path(sys.executable).parent


def start_cluster(place, workers):
    """A scheduler and ``workers`` workers on 127.0.0.1; returns (address, processes)."""
    file = place / "scheduler.json"
    file.unlink(missing_ok=True)
    log = open(place / "cluster.log", "ab")
    processes = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(file)],
                                  stdout=log, stderr=log, start_new_session=True,
                                  env=dict(os.environ, TMPDIR=str(place)))]  # fmt: skip
    while not file.exists():
        time.sleep(0.1)
    time.sleep(0.2)
    address = json.loads(file.read_text())["address"]
    for index in range(workers):
        processes.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                                           "--no-dashboard", "--host", "127.0.0.1",
                                           "--local-directory", str(place / f"worker-{index}")],
                                          stdout=log, stderr=log, start_new_session=True))  # fmt: skip
    import distributed

    with distributed.Client(address, timeout=120, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=300)
    return address, processes


def stop(processes):
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--class", dest="kind", choices=("synthetic", "hostile"), default="synthetic",
                        help="the class graded (default: synthetic_class.py's)")
    parser.add_argument("--keep", help="keep the class and gradebooks in this folder")
    args = parser.parse_args()
    place = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="k2l-bench-cluster-"))
    place.mkdir(parents=True, exist_ok=True)
    submissions = place / "class"
    shutil.rmtree(submissions, ignore_errors=True)
    if args.kind == "hostile":
        hostile.make_class(submissions, args.students)
    else:
        synthetic_class.make_class(submissions, args.students, seed=SEED)
    items, exercises = grading.load_checks()
    assignment = grading.load_assignment(items, exercises, grading.ChecksSource.of())
    print(f"class ({args.kind}): {args.students} students x 5 exercises in {submissions}", flush=True)

    results, books = [], {}
    for name, workers in (("one machine, --jobs 1", 0), ("cluster, 1 worker", 1), ("cluster, 2 workers", 2)):
        out = place / f"out-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        processes, address = [], None
        if workers:
            (place / "cluster").mkdir(exist_ok=True)
            address, processes = start_cluster(place / "cluster", workers)
        try:
            began = time.perf_counter()
            grading.grade(submissions, out, assignment, seed=SEED, jobs=1, limits=LIMITS, progress=False,
                          cluster=address)  # fmt: skip
            seconds = time.perf_counter() - began
        finally:
            stop(processes)
        books[name] = (out / "gradebook.csv").read_bytes()
        rate = args.students / seconds * 60
        per = rate / max(1, workers)
        results.append((name, seconds, rate, per))
        print(f"{name:24s} {seconds:7.1f} s  {rate:6.1f} submissions/min  {per:6.1f} per worker process", flush=True)
    reference = books["one machine, --jobs 1"]
    same = all(book == reference for book in books.values())
    print("gradebooks identical: " + ("yes" if same else "NO"))
    if not args.keep:
        shutil.rmtree(place, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
