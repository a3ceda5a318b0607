"""Grading throughput: the pre-warmed sandbox server vs one fresh interpreter per submission.

Usage::

    .venv/bin/python benchmarks/grading.py [--students 50] [--jobs 2] [--naive-students N] [--keep DIR]
                                           [--designs fast,naive,naive-numpy] [--baseline OTHER_CHECKOUT]

A class is generated from the course's real material (``tests/classes/course.py``):
every student submits all five exercises; 40% are correct, 10% untouched
stubs, 40% carry one typical mistake from ``tests/wrong_answers/`` (cycling
through them), 10% misbehave (syntax error, ``os._exit``, a memory hog, megabytes
of output, killing their own process group). No submission hangs: a time-out
costs the same wall-clock seconds in every design and would only blur the
comparison.

The same grader (``k2l_course.grading.grade.grade``, same checks, same isolation)
then grades the class with each design, side by side in one run:

fast
    :class:`k2l_course.grading.sandbox.Sandbox`: one server per batch imports NumPy
    (and the TensorFlow/nengo stack only if a submission mentions it) and
    forks a fresh, privilege-dropped, rlimited child per file.
naive
    One fresh interpreter per submission (student) that imports the course's
    stack (TensorFlow, nengo, nengo-dl, nengo-loihi) before running the
    student's files: what running each submission in its own ``python``
    process costs when the stack is needed (or not known not to be).
naive, NumPy only
    One fresh interpreter per submission importing NumPy only: the cheapest
    per-submission process, for reference.

Which guarantee costs what (``--designs ...,no-namespaces,no-cgroup,same-user``):
the fast design with one wall switched off, here only (never a grader option):

no-namespaces
    No bubblewrap allow-list view, no per-run mount, IPC and network
    namespaces or private ``/tmp`` (``Sandbox(namespaces=False)``): separate
    uids, the memory cgroup and everything else stay.
no-cgroup
    No memory cgroup per run (its mkdir, limit, kill and rmdir): the memory
    limit is the address-space rlimit only.
same-user
    Student code runs as the grader's user (``Sandbox(separate_user=False)``,
    as ``k2l check`` does without root): no uid drop, hence no cgroup, no
    namespaces, no killing of the uid's processes after each run.

baseline (``--baseline OTHER_CHECKOUT``)
    The fast design with another checkout's code (e.g. the branch before a
    change), run by that checkout's ``.venv`` in a subprocess on the same
    class, right after each fast run here: a before/after comparison
    side by side in one run.

The fast design (and the baseline) runs before and after the naive ones (the
load of a shared machine changes); its mean is reported. The grader's own work (loading the
checks, judging, the one-time TensorFlow import of the block-shape judge, an
untimed pass over 10 students: :func:`warm_up`) is warmed up first and shared by all designs. The script checks that every
design gives every student the same grade, prints submissions per minute and
the ratios, and exits with status 1 if the grades differ.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: The checkout whose code is measured (``--baseline`` runs this script with another one's).
REPO = Path(os.environ.get("K2L_BENCH_REPO") or Path(__file__).resolve().parents[1]).resolve()
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "classes"))

import course  # noqa: E402

from k2l_course.grading import grade as grading  # noqa: E402
from k2l_course.grading.sandbox import Sandbox  # noqa: E402
from k2l_course.stack import import_stack  # noqa: E402

STACK = ("tensorflow", "nengo", "nengo_dl", "nengo_loihi")
#: Every design grades on the same cases.
SEED = 20261201
#: A student's time budget counts the time of their runs; the naive design
#: starts its interpreter (importing the stack) inside the first run, so the
#: budget is generous enough that this times nobody out on a loaded machine.
LIMITS = grading.Limits(timeout=600)


def make_class(root, students):
    """Write the benchmark class (see module doc); returns the student ids."""
    from k2l_course.exercises import checks

    wrong = sorted(p.name for p in course.WRONG_ANSWERS.glob("*.py") if "hangs" not in p.name)
    builder = course.ClassBuilder(root)
    bad = [
        ("syntax_error", "ch3_scaling", "def broken(:\n    pass\n"),
        ("exits", "ch2_activation", "import os\ndef loihi_spikes(*args, **kwargs):\n    os._exit(0)\n"),
        ("memory_hog", "ch4_training", "import numpy as np\n_hog = np.empty(2**36, dtype=np.uint8)\n"),
        ("prints", "ch1_conversion", "print('spam' * 2_000_000)\n"),
        ("kills_group", "ch5_chip", "import os, signal\ndef n_blocks(*a, **k):\n    os.killpg(0, signal.SIGKILL)\n"),
    ]
    for index in range(students):
        name = f"student{index:03d}"
        kind = index % 10
        files = {f"{e}.py": (course.SOLUTIONS / f"{e}.py").read_text() for e in checks.EXERCISES}
        if kind in (0, 1, 2, 3):
            pass
        elif kind == 4:
            files = {f"{e}.ipynb": (course.EXERCISES_DIR / f"{e}.ipynb").read_text() for e in checks.EXERCISES}
        elif kind in (5, 6, 7, 8):
            mistake = wrong[(index // 10 * 4 + kind - 5) % len(wrong)]
            exercise = mistake.split("__")[0]
            files[f"{exercise}.py"] += "\n\n" + (course.WRONG_ANSWERS / mistake).read_text()
        else:
            _, exercise, code = bad[(index // 10) % len(bad)]
            files[f"{exercise}.py"] += "\n\n" + code
        builder.student(name, files, "?", {})
    return sorted(builder.expected)


class NaiveSandbox:
    """One fresh sandbox server (a new interpreter) per submission, importing ``preload`` first.

    Same interface as :class:`~k2l_course.grading.sandbox.Sandbox` as the grader uses
    it; each worker thread keeps the server of the student it is grading and
    replaces it when it moves on to the next student.
    """

    preload = list(STACK)

    def __init__(self, jobs=1, **options):
        self.options = options
        self.local = threading.local()
        self.started = 0
        self.open = []
        self.lock = threading.Lock()

    def start(self):
        return self

    def run(self, path, calls, **limits):
        student = Path(path).parent
        if getattr(self.local, "student", None) != student:
            self._close_own()
            self.local.sandbox = Sandbox(jobs=1, preload=self.preload, **self.options).start()
            self.local.student = student
            with self.lock:
                self.started += 1
                self.open.append(self.local.sandbox)
        return self.local.sandbox.run(path, calls, **limits)

    def _close_own(self):
        if getattr(self.local, "sandbox", None) is not None:
            self.local.sandbox.close()
            self.local.sandbox = None

    def close(self):
        with self.lock:
            for sandbox in self.open:
                sandbox.close()
            self.open.clear()


class NaiveNumpySandbox(NaiveSandbox):
    preload = ["numpy"]


class NoNamespacesSandbox(Sandbox):
    """The fast design without bubblewrap or per-run namespaces (benchmark only)."""

    def __init__(self, jobs=1, **options):
        # (Without namespaces the checkout's solutions are readable by the students' uids here, which the
        # Sandbox refuses: this design skips that check, whose cost is at start only.)
        super().__init__(jobs=jobs, **{**options, "namespaces": False, "course_defaults": False})


class NoCgroupSandbox(Sandbox):
    """The fast design without the memory cgroup per run (benchmark only)."""

    def start(self):
        from k2l_course.grading.sandbox import isolation

        own = isolation.own_memory_cgroup
        isolation.own_memory_cgroup = lambda: None  # (read once, in start)
        try:
            return super().start()
        finally:
            isolation.own_memory_cgroup = own


class SameUserSandbox(Sandbox):
    """The fast design running student code as the grader's user (benchmark only)."""

    def __init__(self, jobs=1, **options):
        super().__init__(jobs=jobs, **{**options, "separate_user": False})


#: The fast design with one guarantee switched off (see the module doc).
ABLATIONS = {"no-namespaces": NoNamespacesSandbox, "no-cgroup": NoCgroupSandbox, "same-user": SameUserSandbox}


def grade_with(design, submissions, out, assignment, jobs):
    """Grade the class with one design; returns (seconds, totals by student, extra info)."""
    shutil.rmtree(out, ignore_errors=True)
    info = {}

    def inspect(sandbox):
        if isinstance(sandbox, Sandbox):
            loaded = set(sandbox.server_modules())
            info["stack imported by the server"] = ", ".join(m for m in STACK if m in loaded) or "none"
        else:
            info["interpreters started"] = sandbox.started

    sandbox_class = {"fast": Sandbox, "naive": NaiveSandbox, "naive-numpy": NaiveNumpySandbox, **ABLATIONS}[design]
    started = time.perf_counter()
    summary = grading.grade(submissions, out, assignment, seed=SEED, jobs=jobs, limits=LIMITS, progress=True,
                            sandbox_class=sandbox_class, on_sandbox=inspect)  # fmt: skip
    seconds = time.perf_counter() - started
    with open(Path(out) / "gradebook.csv", newline="") as handle:
        totals = {row["student"]: (row["status"], row["total"]) for row in csv.DictReader(handle)}
    assert summary.graded == len(totals)
    return seconds, totals, info


def warm_up(submissions, assignment, jobs, students=10):
    """Grade the first ``students`` of the class once, untimed: the grader's one-time work.

    The first pass of a grader process judges each kind of answer for the
    first time (seconds of lazy set-up in the judges: 4.5 s of 6.6 for 10
    students here), which a class of thousands pays once; every process that
    times a design (this one, each baseline subprocess) does this first.
    """
    with tempfile.TemporaryDirectory(prefix="k2l-bench-warm-") as folder:
        some = Path(folder) / "class"
        some.mkdir()
        for student in sorted(p.name for p in Path(submissions).iterdir() if p.is_dir())[:students]:
            shutil.copytree(Path(submissions) / student, some / student)
        grade_with("fast", some, Path(folder) / "out", assignment, jobs)


def run_baseline(checkout, submissions, out, jobs):
    """Grade ``submissions`` with the fast design of another checkout (its own ``.venv``, a subprocess).

    Returns (seconds, totals by student, extra info), as :func:`grade_with`.
    """
    python = Path(checkout) / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--grade-only", str(submissions), "--out", str(out),
         "--jobs", str(jobs)],
        env={**os.environ, "K2L_BENCH_REPO": str(Path(checkout).resolve())}, stdout=subprocess.PIPE, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result["seconds"], {k: tuple(v) for k, v in result["totals"].items()}, result["info"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--naive-students", type=int, default=None,
                        help="grade only the first N students with the naive designs (default: all)")  # fmt: skip
    parser.add_argument("--keep", help="keep the class and gradebooks in this folder")
    parser.add_argument("--designs", default="fast,naive,naive-numpy",
                        help="comma-separated designs to run (fast always runs)")  # fmt: skip
    parser.add_argument("--baseline", help="another checkout (with its .venv) whose fast design runs after each fast run")
    parser.add_argument("--grade-only", help=argparse.SUPPRESS)  # (a --baseline subprocess: this class, fast design)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.grade_only:
        import_stack()
        items, exercises = grading.load_checks()
        assignment = grading.load_assignment(items, exercises)
        with contextlib.redirect_stdout(sys.stderr):
            warm_up(Path(args.grade_only), assignment, args.jobs)
            seconds, totals, info = grade_with("fast", Path(args.grade_only), Path(args.out), assignment, args.jobs)
        print(json.dumps({"seconds": seconds, "totals": totals, "info": info}))
        return 0

    designs = {d.strip() for d in args.designs.split(",")} | {"fast"}
    place = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="k2l-bench-grading-"))
    place.mkdir(parents=True, exist_ok=True)
    submissions = place / "class"
    shutil.rmtree(submissions, ignore_errors=True)
    students = make_class(submissions, args.students)
    naive_count = min(args.naive_students or args.students, args.students)
    naive_class = submissions
    if naive_count < args.students:
        naive_class = place / "class-naive"
        shutil.rmtree(naive_class, ignore_errors=True)
        naive_class.mkdir()
        for student in students[:naive_count]:
            shutil.copytree(submissions / student, naive_class / student)

    print(f"class: {args.students} students x 5 exercises in {submissions}; jobs={args.jobs}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)  # fmt: skip
    warm = time.perf_counter()
    import_stack()
    items, exercises = grading.load_checks()
    assignment = grading.load_assignment(items, exercises)
    warm_up(submissions, assignment, args.jobs)
    print(f"grader warm-up (checks, cases, TensorFlow for the block-shape judge, one untimed pass over 10 students): "
          f"{time.perf_counter() - warm:.1f} s", flush=True)  # fmt: skip

    order = [("fast", submissions)]
    if args.baseline:
        order.append(("baseline", submissions))
    order += [(d, submissions) for d in ABLATIONS if d in designs]
    order += [(d, naive_class) for d in ("naive", "naive-numpy") if d in designs]
    order.append(("fast-again", submissions))
    if args.baseline:
        order.append(("baseline-again", submissions))
    runs = {}
    for design, folder in order:
        print(f"\n== {design} (load average {os.getloadavg()[0]:.1f})", flush=True)
        if design.startswith("baseline"):
            runs[design] = run_baseline(args.baseline, folder, place / f"out-{design}", args.jobs)
        else:
            runs[design] = grade_with(design.replace("-again", ""), folder, place / f"out-{design}", assignment,
                                      args.jobs)  # fmt: skip
        seconds, totals, info = runs[design]
        extra = "; ".join(f"{k}: {v}" for k, v in info.items())
        print(f"{design}: {len(totals)} submissions in {seconds:.1f} s = {len(totals) / seconds * 60:.1f} per minute"
              + (f" ({extra})" if extra else ""), flush=True)  # fmt: skip

    differ = sorted({(design, s, runs[design][1][s], runs["fast"][1][s]) for design in runs for s in runs[design][1]
                     if runs[design][1][s] != runs["fast"][1][s]})  # fmt: skip
    same = not differ
    for design, student, got, fast in differ:
        print(f"different grade: {design} gave {student} {got}, fast gave {fast}")

    def mean_rate(*names):
        return sum(len(runs[d][1]) / runs[d][0] * 60 for d in names) / len(names)

    fast_rate = mean_rate("fast", "fast-again")
    print("\n| design | submissions | seconds | submissions/min |")
    print("|---|---|---|---|")
    for design in runs:
        seconds, totals, _ = runs[design]
        print(f"| {design} | {len(totals)} | {seconds:.1f} | {len(totals) / seconds * 60:.1f} |")
    print(f"\nfast (mean of both runs): {fast_rate:.1f} submissions/min")
    if args.baseline:
        base_rate = mean_rate("baseline", "baseline-again")
        print(f"baseline {args.baseline} (mean of both runs): {base_rate:.1f} submissions/min; "
              f"fast / baseline: {fast_rate / base_rate:.2f}x")  # fmt: skip
    for design in ABLATIONS:
        if design in runs:
            print(f"{design}: {mean_rate(design):.1f} submissions/min, {mean_rate(design) / fast_rate:.2f}x fast "
                  f"(what that guarantee costs)")  # fmt: skip
    if "naive" in runs:
        print(f"ratio fast / naive (fresh interpreter + stack per submission): {fast_rate / mean_rate('naive'):.1f}x")
    if "naive-numpy" in runs:
        print(f"ratio fast / naive (fresh interpreter, NumPy only):            "
              f"{fast_rate / mean_rate('naive-numpy'):.1f}x")  # fmt: skip
    print(f"stack needed by the student code: {runs['fast'][2].get('stack imported by the server')}")
    print(f"same grades in every design: {'yes' if same else 'NO'}")
    if not args.keep:
        shutil.rmtree(place, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
