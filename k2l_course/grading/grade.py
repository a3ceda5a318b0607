"""``k2l grade``: autograde a whole class, safely and resumably.

::

    k2l grade SUBMISSIONS_DIR --out OUT_DIR [--jobs N] [--timeout S] [--seed N|public]
              [--memory MB] [--call-timeout S] [--hidden-checks DIR] [--only ID...]
              [--cluster ADDRESS]

Submissions
    Each entry of ``SUBMISSIONS_DIR`` is one student: a folder (the student
    id is its name) or a single ``.py`` / ``.ipynb`` file (the id is the file
    name without its suffix). Which file counts for which exercise is the
    rule ``k2l check`` applies too (:mod:`k2l_course.grading.planning`); the entries
    that do not count are listed, with the reason, in the student's feedback.
    Names may be any bytes: they are shown escaped, and each student's
    output folder has a unique, reversible name (:func:`planning.safe_key`).

Grading
    Every graded item (:mod:`k2l_course.exercises.checks`, plus ``--hidden-checks``)
    names a function; the student's file runs in the sandbox
    (:mod:`k2l_course.grading.sandbox`: student code never runs in this process) on
    fresh cases drawn from the batch's seed, and the item's judge scores
    what comes back (:mod:`k2l_course.grading.runner`, shared with
    ``k2l check``). The seed is random unless ``--seed`` gives it; a rerun
    into the same ``OUT_DIR`` reuses the seed written there. ``--seed
    public`` grades on the public cases ``k2l check`` uses. ``--timeout`` is
    each student's whole budget, whatever number of files they submit.

Where
    By default the students are graded on this machine, ``--jobs`` at once,
    in one sandbox. ``--cluster ADDRESS`` sends them to the Dask scheduler
    at ``ADDRESS`` instead (:mod:`k2l_course.grading.cluster`): each worker
    grades in a sandbox of its own and everything is written here, exactly
    as on one machine. The two differ only in the executor; what a batch is
    (:class:`Batch`), the students and checks
    (:mod:`k2l_course.grading.assignment`), a student's grading
    (:mod:`k2l_course.grading.records`) and the output formats
    (:mod:`k2l_course.grading.outputs`) are shared.

Containment
    Nothing a student submits, names or returns stops the batch: any failure
    while handling one student makes that student's status ``grader-error``
    (the traceback goes to ``OUT_DIR/grader.log``) and grading goes on; a
    rerun grades that student again.

Output (``OUT_DIR``)
    ``gradebook.csv``
        One row per student: status, points per item, total, max.
    ``grading.json``
        The batch: seed, limits, signature of the checks, k2l version.
    ``grader.log``
        The grader's own problems (tracebacks of ``grader-error`` students).
    ``students/<key>/feedback.txt``
        Readable feedback: per item, points and the check's message; skipped
        entries; what the code printed outside hidden checks.
    ``students/<key>/results.json``
        Gradescope's format (hidden checks have ``"visibility": "hidden"``).
    ``students/<key>/record.json``
        Written last, atomically: marks the student as graded (with the
        ``"seed"`` of the cases). A rerun (after Ctrl-C, kill -9, or just
        again) skips students whose record matches their files, the checks,
        the seed and the limits, and rewrites the gradebook from the
        records, so nothing is graded twice or listed twice.
"""


from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from k2l_course.files import write_atomic
from k2l_course.grading import planning, runner
from k2l_course.grading.assignment import (  # noqa: F401 (the names callers know from this module)
    PUBLIC, RECORD_VERSION, SUFFIXES, Assignment, Cases, ChecksSource, GradingError, Student, find_students,
    load_assignment, load_checks, new_seed,
)  # fmt: skip
from k2l_course.grading.outputs import (  # noqa: F401
    STATUS_MEANING, GraderLog, Summary, batch_metadata, feedback_text, gradebook_csv, gradescope_results, item_label,
    lock_out_dir, read_batch, read_record, save_record,
)  # fmt: skip
from k2l_course.grading.records import STATUS_ORDER, error_record, execute, fingerprint, grade_student, prepare  # noqa: F401
from k2l_course.grading.sandbox import Limits, Sandbox, SandboxError

_lock_out_dir = lock_out_dir  # (the name tests and older callers use)


# --- the batch -------------------------------------------------------------------------


@dataclass
class Batch:
    """The settings of one batch: what is graded, on which cases, within which limits, and where it goes.

    Attributes
    ----------
    submissions_dir : Path
        Resolved.
    out_dir : Path
    assignment : Assignment
    cases : Cases
        Drawn from the batch's seed.
    limits : Limits
    jobs : int
        Submissions graded at once (on this machine; a cluster's workers have their own threads).
    hidden_dir : Path or None
        The hidden checks' folder.
    only : list of str or None
        Regrade just these students (``--only``).
    progress : bool
        Show a progress bar (stderr).
    """

    submissions_dir: Path
    out_dir: Path
    assignment: Assignment
    cases: Cases
    limits: Limits
    jobs: int = 1
    hidden_dir: Path | None = None
    only: list | None = None
    progress: bool = True

    def hide(self):
        """What student code must not see on this machine: the grader's output (only unwritable would do; it is root's)."""
        return [str(Path(self.out_dir).resolve())]

    def secret(self):
        """What student code must never read on this machine: every submission and the hidden checks."""
        return [str(self.submissions_dir)] + ([str(Path(self.hidden_dir).resolve())] if self.hidden_dir else [])

    def to_grade(self, students):
        """The records kept from an earlier run (by key) and the students to grade now.

        A student is kept when their saved record matches their files, the
        checks, the seed and the limits (its fingerprint); with :attr:`only`,
        exactly the named students are graded and every other record kept.
        """
        records, todo = {}, []
        for student in students:
            try:
                saved = read_record(self.out_dir, student.key)
                if self.only is not None:  # a regrade of the named students: the others' records are kept as they are
                    if student.name in self.only or student.key in self.only:
                        todo.append(student)
                    elif saved:
                        records[student.key] = saved
                    continue
                if saved and saved.get("fingerprint") == fingerprint(
                    planning.list_submission(student.path, self.assignment.exercises), self.cases, self.limits
                ):
                    records[student.key] = saved
                    continue
            except Exception:  # anything odd about this student: grade it (and contain what happens then)
                pass
            todo.append(student)
        return records, todo


def grade(submissions_dir, out_dir, assignment, *, seed=None, jobs=1, limits=None, hidden_dir=None, progress=True,
          sandbox_options=None, sandbox_class=Sandbox, on_sandbox=None, only=None, cluster=None):  # fmt: skip
    """Grade every student of ``submissions_dir`` into ``out_dir``.

    Parameters
    ----------
    submissions_dir, out_dir : path-like
    assignment : Assignment
        From :func:`load_assignment` (with a ``source`` for ``cluster``).
    seed : int or "public", optional
        The cases' seed. Default: the one in ``out_dir/grading.json`` (a
        rerun), else a new random one.
    jobs : int
        Submissions graded at once (on this machine).
    limits : Limits, optional
    hidden_dir : path-like, optional
        The hidden checks' folder (kept out of the students' reach).
    progress : bool
        Show a progress bar (stderr).
    sandbox_options : dict, optional
        Extra keyword arguments of :class:`~k2l_course.grading.sandbox.Sandbox`.
    sandbox_class : type, optional
        What runs the student code (:class:`~k2l_course.grading.sandbox.Sandbox`;
        ``benchmarks/grading.py`` swaps in the naive design).
    on_sandbox : callable, optional
        Called with the sandbox before it is closed (to inspect it).
    only : list of str, optional
        Regrade just these students (even if their files did not change);
        every other student's saved files are left exactly as they are.
    cluster : str, optional
        Address of a Dask scheduler: grade on its workers
        (:class:`k2l_course.grading.cluster.ClusterExecutor`) instead of here.

    Returns
    -------
    Summary

    Raises
    ------
    GradingError
        For bad inputs (before anything is written).
    KeyboardInterrupt
        After saving what was finished (the gradebook lists those students).
    """
    limits = limits or Limits()
    submissions_dir = Path(submissions_dir).resolve() if Path(submissions_dir).exists() else Path(submissions_dir)
    students, skipped = find_students(submissions_dir)
    if only is not None:
        unknown = sorted(set(only) - {name for student in students for name in (student.name, student.key)})
        if unknown:
            raise GradingError(f"--only: no submission for {', '.join(map(repr, unknown))} in {submissions_dir}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GradingError(f"--out {out_dir} is a file, not a folder")
    out_resolved = out_dir.resolve()
    if out_resolved == submissions_dir or submissions_dir in out_resolved.parents:
        raise GradingError("--out must not be inside the submissions folder (it would be taken for a student)")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(out_dir, os.W_OK):
        raise GradingError(f"--out {out_dir} is not writable")
    lock = lock_out_dir(out_dir)
    try:
        if seed is None:
            seed = read_batch(out_dir).get("seed")
        if seed is None:
            seed = new_seed()
        cases = assignment.draw(seed)
        write_atomic(out_dir / "grading.json", json.dumps(batch_metadata(cases, limits), indent=1) + "\n")
        batch = Batch(submissions_dir, out_dir, assignment, cases, limits, max(1, int(jobs)),
                      Path(hidden_dir) if hidden_dir else None, only, progress)  # fmt: skip
        if cluster is None:
            executor = LocalExecutor(batch, sandbox_class, sandbox_options, on_sandbox)
        else:
            from k2l_course.grading.cluster import ClusterExecutor  # (Dask is imported only for --cluster)

            executor = ClusterExecutor(batch, cluster)
        summary = run_batch(batch, students, executor)
        summary.skipped = skipped
        return summary
    finally:
        os.close(lock)


def run_batch(batch, students, executor):
    """Grade ``students`` with ``executor`` and write everything into ``batch.out_dir``.

    Parameters
    ----------
    batch : Batch
    students : list of Student
        The whole class (those already graded are kept: :meth:`Batch.to_grade`).
    executor : LocalExecutor or k2l_course.grading.cluster.ClusterExecutor
        What grades: a context manager whose ``grade(students)`` yields
        ``(student, record, failure)`` as students finish (a ``failure``
        is contained as that student's ``grader-error``) and raises when
        nobody can be graded any more.

    Returns
    -------
    Summary
    """
    started = time.monotonic()
    out_dir = batch.out_dir
    log = GraderLog(out_dir / "grader.log")
    records, todo = batch.to_grade(students)
    reused = len(records)
    order = [student.key for student in students]
    last_write = [0.0]

    def write_gradebook(force=False):
        if not force and time.monotonic() - last_write[0] < 2.0:
            return
        last_write[0] = time.monotonic()
        rows = [records[key] for key in order if key in records]
        write_atomic(out_dir / "gradebook.csv", gradebook_csv(rows, batch.assignment))

    bar = None
    graded = 0
    try:
        if todo:
            with executor:
                if batch.progress:
                    print(executor.describe(), file=sys.stderr)
                    from tqdm import tqdm

                    bar = tqdm(total=len(todo), unit="student", desc="grading", file=sys.stderr, dynamic_ncols=True)
                results = executor.grade(todo)
                try:
                    for student, record, failure in results:
                        if failure is not None:
                            log.failed(student, failure)
                            record = error_record(student, batch.assignment, batch.cases)
                        try:
                            save_record(out_dir, record)
                        except Exception as error:
                            log.failed(student, error)
                        records[student.key] = record
                        graded += 1
                        if bar:
                            bar.update(1)
                        write_gradebook()
                except BaseException:
                    executor.stop()  # stops the runs still going (their students stay ungraded)
                    raise
                finally:
                    results.close()
    finally:
        if bar:
            bar.close()
        write_gradebook(force=True)
    missing = [key for key in order if key not in records]
    return Summary([records[key] for key in order if key in records], graded, reused, missing,
                   time.monotonic() - started, seed=batch.cases.seed)  # fmt: skip


class LocalExecutor:
    """Grades on this machine: one sandbox, ``batch.jobs`` students at once.

    Parameters
    ----------
    batch : Batch
    sandbox_class, sandbox_options, on_sandbox
        As in :func:`grade`.
    """

    def __init__(self, batch, sandbox_class=Sandbox, sandbox_options=None, on_sandbox=None):
        self.batch = batch
        self.on_sandbox = on_sandbox
        options = dict(sandbox_options or {})
        # Other students' work must stay unreadable (a submission could import a
        # classmate's answers); the output only unwritable (it is root's).
        hide = batch.hide() + list(options.pop("hide", []))
        secret = batch.secret() + list(options.pop("secret", []))
        self.sandbox = sandbox_class(jobs=batch.jobs, hide=hide, secret=secret, **options)
        self.stopping = threading.Event()

    def __enter__(self):
        self.sandbox.start()
        return self

    def __exit__(self, kind, *_):
        if kind is None and self.on_sandbox is not None:
            self.on_sandbox(self.sandbox)
        self.sandbox.close()

    def describe(self):
        """What isolation holds (one line)."""
        return self.sandbox.describe() if hasattr(self.sandbox, "describe") else "sandbox: " + type(self.sandbox).__name__

    def stop(self):
        """Stop the runs going on (their students stay ungraded)."""
        self.stopping.set()
        self.sandbox.close()

    def grade(self, students):
        """Yield ``(student, record, failure)`` as the students finish."""
        # One worker per job: each holds at most one run's outcomes at a time
        # (judged and dropped before its next run), so the grader's memory is
        # bounded by ``jobs`` runs whatever the students return.
        with ThreadPoolExecutor(max_workers=self.batch.jobs) as pool:
            pending = {pool.submit(self._one, student): student for student in students}
            try:
                while pending:
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        student = pending.pop(future)
                        outcome = future.result()
                        if outcome is not None:
                            yield (student, *outcome)
            except BaseException:
                self.stop()
                for future in pending:
                    future.cancel()
                raise

    def _one(self, student):
        """Grade one student: ``(record, None)``, ``(None, failure)`` to contain, or None if interrupted."""
        batch = self.batch
        try:
            record = grade_student(student, batch.assignment, self.sandbox, batch.limits, batch.cases)
            return None if self.stopping.is_set() else (record, None)  # (runs cut short by the interrupt: no grade)
        except SandboxError as error:
            if self.stopping.is_set() or not _alive(self.sandbox):
                raise  # the sandbox itself is gone: nobody can be graded
            return None, error  # one run's supervisor failed: this student only
        except Exception as error:
            return None if self.stopping.is_set() else (None, error)


def _alive(sandbox):
    """Whether the sandbox server still runs (a sandbox without one, like the benchmark's, always does)."""
    process = getattr(sandbox, "process", False)
    return process is False or (process is not None and process.poll() is None)




def _seed(text):
    if text == PUBLIC:
        return PUBLIC
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--seed must be a whole number or '{PUBLIC}'") from None
    if value < 0:
        raise ValueError("--seed must not be negative")
    return value


def add_arguments(parser):
    """Options of ``k2l grade``."""
    import argparse

    parser.epilog = planning.RULE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="folder with one entry (folder or file) per student")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="where the gradebook and feedback go")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="submissions graded at once (default 1)")
    parser.add_argument("--seed", metavar="N|public",
                        help="seed of the graded cases (default: the one in OUT_DIR from an earlier run, else random); "
                             "'public' grades on the cases k2l check uses")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=runner.TIMEOUT, metavar="S",
                        help="wall-clock seconds for each student's whole submission, shared fairly among "
                             "the files that count (default %(default)g)")  # fmt: skip
    parser.add_argument("--call-timeout", type=float, default=runner.CALL_TIMEOUT, metavar="S",
                        help="seconds one call of a student's function may take (default %(default)g)")  # fmt: skip
    parser.add_argument("--memory", type=int, default=runner.MEMORY_MB, metavar="MB",
                        help="memory a submission may allocate (default %(default)d)")  # fmt: skip
    parser.add_argument("--hidden-checks", metavar="DIR", help="folder of extra checks students never receive")
    parser.add_argument("--only", nargs="+", metavar="ID",
                        help="regrade only these students in an existing --out (with its seed); others stay untouched")  # fmt: skip
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="grade on the workers of the Dask scheduler at ADDRESS (e.g. tcp://host:8786) instead of "
                             "here; everything is still written into OUT_DIR (each worker's threads, not --jobs, set how many run at "
                             "once)")  # fmt: skip


def _validate(args):
    """Check the command's arguments before anything slow happens."""
    folder = Path(args.submissions)
    if not folder.exists():
        raise GradingError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise GradingError(f"{folder} is a file; give the folder that holds one entry per student")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise GradingError(f"{folder} cannot be read")
    if args.jobs < 1:
        raise GradingError("--jobs must be at least 1")
    if not args.timeout > 0 or not math.isfinite(args.timeout):
        raise GradingError("--timeout must be a positive number of seconds")
    if not args.call_timeout > 0 or not math.isfinite(args.call_timeout):
        raise GradingError("--call-timeout must be a positive number of seconds")
    if args.memory < 64:
        raise GradingError("--memory must be at least 64 (MB)")
    if getattr(args, "seed", None) is not None:
        try:
            _seed(args.seed)
        except ValueError as error:
            raise GradingError(str(error)) from None
    if args.hidden_checks:
        hidden = Path(args.hidden_checks)
        if not hidden.is_dir():
            raise GradingError(f"--hidden-checks {hidden}: no such folder")
        if not os.access(hidden, os.R_OK | os.X_OK):
            raise GradingError(f"--hidden-checks {hidden} cannot be read")


def run(args):
    """Run ``k2l grade``; returns the exit status."""
    try:
        _validate(args)
        items, exercises = load_checks(args.hidden_checks)
        cluster = getattr(args, "cluster", None)
        source = ChecksSource.of(args.hidden_checks, exercises=exercises) if cluster else None
        assignment = load_assignment(items, list(exercises), source)
        limits = Limits(timeout=args.timeout, memory_mb=args.memory, call_timeout=args.call_timeout)
        if args.only:
            _require_output(args.out)
        seed = _seed(args.seed) if getattr(args, "seed", None) is not None else None
        summary = grade(args.submissions, args.out, assignment, seed=seed, jobs=args.jobs, limits=limits,
                        hidden_dir=args.hidden_checks, only=args.only, cluster=cluster)  # fmt: skip
    except GradingError as error:
        print(planning.safe_text(f"k2l grade: {error}"), file=sys.stderr)
        return 2
    except SandboxError as error:
        print(planning.safe_text(f"k2l grade: the sandbox failed: {error}"), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("k2l grade: interrupted; finished students are saved. Run the same command to go on.", file=sys.stderr)
        return 130
    print(summary.text(args.out))
    _write_report(args)
    return 0


def _require_output(out_dir):
    """A regrade (``--only``) works on an existing output, and draws its cases from that output's seed."""
    if not (Path(out_dir) / "students").is_dir():
        raise GradingError(f"--only regrades students of an existing output; {out_dir} holds none")


def _write_report(args):
    """The class report (``OUT/report.html``); its failure never fails the grading."""
    try:
        from k2l_course.grading.report import write_report

        print(f"  class report: {write_report(args.out, args.submissions)}")
    except Exception as error:
        print(f"k2l grade: the class report could not be written ({type(error).__name__}: {error}); "
              f"the grades are saved; try k2l report {args.out}", file=sys.stderr)  # fmt: skip
