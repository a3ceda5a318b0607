"""``k2l grade``: autograde a whole class, safely and resumably.

::

    k2l grade SUBMISSIONS_DIR --out OUT_DIR [--jobs N] [--timeout S] [--seed N|public]
              [--memory MB] [--call-timeout S] [--hidden-checks DIR]

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

import csv
import hashlib
import inspect
import io
import json
import math
import os
import secrets
import statistics
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from k2l_course import __version__
from k2l_course.exercises import checks
from k2l_course.files import write_atomic
from k2l_course.grading import planning, runner
from k2l_course.grading.sandbox import Limits, Sandbox, SandboxError, wire

SUFFIXES = planning.SUFFIXES
#: Status of a student, from worst to best (the gradebook shows the worst).
STATUS_ORDER = ("grader-error", "timeout", "memory", "crashed", "unreadable", "syntax-error", "no-submission", "ok")
#: Bumped when the grading logic changes (records of older versions are regraded).
RECORD_VERSION = 2
#: ``--seed public``: the public cases (what ``k2l check`` uses).
PUBLIC = "public"


class GradingError(Exception):
    """A problem with the grader's inputs (reported, non-zero exit)."""


# --- finding the students ---------------------------------------------------------------------


@dataclass
class Student:
    """One submission: who, and where (a folder or a single file).

    ``id`` is the file-system name (``os.fsdecode``: undecodable bytes as
    surrogates); :attr:`name` shows it, :attr:`key` names its output folder.
    """

    id: str
    path: Path

    @property
    def name(self):
        return planning.display_name(self.id)

    @property
    def key(self):
        return planning.safe_key(self.id)


def find_students(submissions_dir, exercises=None):
    """The students of a submissions folder, sorted by id.

    Parameters
    ----------
    submissions_dir : Path
        The folder given to ``k2l grade``.
    exercises : list of str, optional
        Unused (kept for callers of the old signature).

    Returns
    -------
    students : list of Student
    skipped : list of planning.Skipped
        Entries that are no student (other files, archives...).

    Raises
    ------
    GradingError
        If the folder is missing, unreadable, empty, or two entries give the
        same student id.
    """
    folder = Path(submissions_dir)
    if not folder.exists():
        raise GradingError(f"{planning.display_name(folder)}: no such folder")
    if not folder.is_dir():
        raise GradingError(f"{planning.display_name(folder)} is a file; give the folder that holds one entry per student")
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: os.fsencode(entry.name))
    except OSError as error:
        raise GradingError(f"{planning.display_name(folder)} cannot be read: {error.strerror}") from None
    students, skipped = {}, []
    for entry in entries:
        shown = planning.display_name(entry.name)
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            student = Student(entry.name, Path(entry.path))
        elif entry.name.endswith(SUFFIXES):
            student = Student(entry.name.rsplit(".", 1)[0], Path(entry.path))
        else:
            why = "an archive: unpack it into a folder" if entry.name.lower().endswith(planning.ARCHIVES) else (
                "a symbolic link" if entry.is_symlink() else "neither a folder nor a .py / .ipynb file")
            skipped.append(planning.Skipped(shown, why))
            continue
        if student.id in students:
            raise GradingError(
                f"two submissions in {planning.display_name(folder)} belong to student {student.name!r} "
                f"({planning.display_name(students[student.id].path.name)} and {shown}); keep one"
            )
        students[student.id] = student
    if not students:
        raise GradingError(f"{planning.display_name(folder)} holds no submissions (folders, .py or .ipynb files)")
    return [students[key] for key in sorted(students, key=os.fsencode)], skipped


# --- the checks -----------------------------------------------------------------------------------


@dataclass
class Cases:
    """Every item's cases for one batch, drawn from one seed."""

    seed: object  # int, or PUBLIC
    by_item: dict  # (exercise, name) -> list of kwargs
    signature: str  # changes when the checks, their cases or the grading logic change


@dataclass
class Assignment:
    """The graded items."""

    items: list
    signature: str  # of the checks' code and declarations
    all_exercises: list = None  # every exercise id, even one without items

    @property
    def exercises(self):
        if self.all_exercises:
            return list(self.all_exercises)
        seen = []
        for item in self.items:
            if item.exercise not in seen:
                seen.append(item.exercise)
        return seen

    def of(self, exercise):
        return [item for item in self.items if item.exercise == exercise]

    def functions(self):
        """``{exercise: {function names}}`` (for planning)."""
        return {exercise: {item.function for item in self.of(exercise)} for exercise in self.exercises}

    @property
    def max_points(self):
        return sum(item.points for item in self.items)

    def draw(self, seed):
        """Every item's cases for ``seed`` (an int, or :data:`PUBLIC`).

        Raises
        ------
        GradingError
            If a check's cases cannot be computed or are not plain data.
        """
        digest = hashlib.sha256(self.signature.encode())
        digest.update(json.dumps(seed).encode())
        by_item = {}
        for item in self.items:
            try:
                kwargs_list = runner.cases_of(item, None if seed == PUBLIC else seed)
                tree, blobs = wire.encode(kwargs_list)
            except Exception as error:
                raise GradingError(f"the cases of check {item.exercise}/{item.name} failed: {error}") from None
            by_item[(item.exercise, item.name)] = kwargs_list
            digest.update(json.dumps([item.exercise, item.name, tree]).encode())
            for blob in blobs:
                digest.update(blob)
        return Cases(seed, by_item, digest.hexdigest())


def load_assignment(items, exercises=None):
    """The graded items, checked, with a signature of the checks.

    Parameters
    ----------
    items : list of Item
        From :func:`k2l_course.exercises.checks.items`.
    exercises : list of str, optional
        All exercise ids (even those without items); default: those of items.

    Raises
    ------
    GradingError
        If two checks have the same name.
    """
    digest = hashlib.sha256(f"k2l-grade {RECORD_VERSION}".encode())
    sources = set()
    names = set()
    for item in items:
        key = (item.exercise, item.name)
        if key in names:
            raise GradingError(f"two checks are named {item.exercise}/{item.name}")
        names.add(key)
        digest.update(json.dumps([item.exercise, item.name, item.function, item.points, item.hidden]).encode())
        for function in (item.judge, item.cases):
            try:
                sources.add(inspect.getsourcefile(function))
            except TypeError:
                pass
    for source in sorted(s for s in sources if s):
        try:
            digest.update(Path(source).read_bytes())
        except OSError:
            pass
    return Assignment(list(items), digest.hexdigest(), list(exercises) if exercises else None)


def new_seed():
    """A random seed for a batch's cases (unguessable: :mod:`secrets`)."""
    return secrets.randbits(48)


# --- grading one student -----------------------------------------------------


def fingerprint(listing, cases, limits):
    """What a student's grade depends on: their files, the checks and cases, the limits."""
    digest = hashlib.sha256(cases.signature.encode())
    digest.update(json.dumps([limits.timeout, limits.memory_mb, limits.call_timeout]).encode())
    digest.update(json.dumps([str(s) for s in listing.skipped] + listing.notes).encode())
    for path in listing.candidates():
        digest.update(os.fsencode(os.path.relpath(path, listing.root)) + b"\0")
        try:
            with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW | os.O_NONBLOCK)) as handle:
                info = os.fstat(handle.fileno())
                digest.update(f"{info.st_mtime_ns} {info.st_size}".encode())
                digest.update(hashlib.sha256(handle.read(planning.max_bytes() + 1)).digest())
        except OSError as error:
            digest.update(f"unreadable {error.errno}".encode())
    return digest.hexdigest()


def grade_student(student, assignment, sandbox, limits, cases=None):
    """Grade one student; returns their record (a JSON-ready dict).

    Parameters
    ----------
    student : Student
    assignment : Assignment
    sandbox : Sandbox
    limits : Limits
    cases : Cases, optional
        Default: fresh cases from a new seed.
    """
    started = time.monotonic()
    if cases is None:
        cases = assignment.draw(new_seed())
    exercises = assignment.exercises
    listing = planning.list_submission(student.path, exercises)
    the_plan = planning.plan(listing, assignment.functions())
    record = {
        "version": RECORD_VERSION,
        "student": student.name,
        "key": student.key,
        "seed": cases.seed,
        "fingerprint": fingerprint(listing, cases, limits),
        "notes": list(the_plan.notes),
        "skipped": [{"name": s.name, "reason": s.reason} for s in the_plan.skipped],
        "files": {},
    }
    by_item = {}  # (exercise, name) -> entry
    statuses = {}
    # One budget per student, shared fairly: each file may use its share of
    # what is left (a file that loops forever costs only its share). Only the
    # time the student's code runs counts (not waiting for a judge).
    spent = 0.0
    for index, (path, run_exercises) in enumerate(the_plan.runs.items()):
        name = the_plan.names[path]
        items = [item for exercise in run_exercises for item in assignment.of(exercise)]
        remaining = (limits.timeout - spent) / (len(the_plan.runs) - index)
        if remaining <= 0.1:
            reason = f"not run: this submission's time budget ({limits.timeout:g} s) was used up by its other files"
            record["files"][name] = {"status": "timeout", "output": "", "notes": [reason], "budget": 0.0}
            statuses[name] = "timeout"
            for item in items:
                by_item[(item.exercise, item.name)] = _entry(item, 0.0, reason, name)
            continue
        def timed_run(*args, **kwargs):
            nonlocal spent
            began = time.monotonic()
            try:
                return sandbox.run(*args, **kwargs)
            finally:
                spent += time.monotonic() - began

        result = runner.run_file(
            timed_run, path, items, [cases.by_item[(item.exercise, item.name)] for item in items],
            timeout=remaining, memory_mb=limits.memory_mb, call_timeout=limits.call_timeout,
            forbidden=runner.forbidden_of(run_exercises),
        )  # fmt: skip
        record["files"][name] = {"status": result.status, "output": result.output[-4000:], "notes": result.notes,
                                 "budget": round(remaining, 3)}  # fmt: skip
        statuses[name] = result.status
        for one in result.results:
            score = float(one.verdict.score)
            if not math.isfinite(score) or score < 0:
                score = 0.0
            score = min(score, float(one.item.points))
            by_item[(one.item.exercise, one.item.name)] = _entry(one.item, score, str(one.verdict.message), name)
    chosen = {exercise: the_plan.names[path] for exercise, path in the_plan.chosen().items()}
    entries = [by_item.get((item.exercise, item.name)) or _missing_entry(item) for item in assignment.items]
    record["items"] = entries
    record["chosen"] = {exercise: chosen[exercise] for exercise in exercises if exercise in chosen}
    record["total"] = round(sum(entry["score"] for entry in entries), 6)
    record["max"] = round(sum(entry["points"] for entry in entries), 6)
    record["status"] = _worst(statuses.values()) if statuses else "no-submission"
    record["seconds"] = round(time.monotonic() - started, 3)
    return _clean(record)


def error_record(student, assignment, cases):
    """The record of a student the grader failed on (status ``grader-error``; regraded by a rerun)."""
    message = "not graded: the grader itself failed on this submission (not your fault); your instructor has the details"
    entries = [_entry(item, 0.0, message, None) for item in assignment.items]
    return _clean({
        "version": RECORD_VERSION, "student": student.name, "key": student.key,
        "seed": cases.seed if cases else None, "fingerprint": None, "notes": [message], "skipped": [],
        "files": {}, "items": entries, "chosen": {}, "total": 0.0,
        "max": round(sum(entry["points"] for entry in entries), 6), "status": "grader-error", "seconds": 0.0,
    })  # fmt: skip


def _entry(item, score, message, file):
    return {
        "exercise": item.exercise,
        "name": item.name,
        "points": float(item.points),
        "score": score,
        "message": message,
        "hidden": bool(item.hidden),
        "file": file,
    }


def _missing_entry(item):
    exercise = item.exercise
    return _entry(item, 0.0, f"no work found for {exercise} (expected {exercise}.ipynb or {exercise}.py)", None)


def _worst(statuses):
    statuses = set(statuses)
    for status in STATUS_ORDER:
        if status in statuses:
            return status
    return "crashed"  # a status this grader does not know


def _clean(value):
    """``value`` with every string valid UTF-8 (lone surrogates escaped), keys included."""
    if isinstance(value, str):
        return planning.safe_text(value)
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


# --- writing -----------------------------------------------------------------------


def _number(value):
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def item_label(entry):
    """Column/test name of an item: its id ``exercise.name`` (``(hidden)`` appended)."""
    return f"{entry['exercise']}.{entry['name']}" + (" (hidden)" if entry["hidden"] else "")


STATUS_MEANING = {
    "timeout": "it ran out of time",
    "memory": "it ran out of memory",
    "crashed": "it ended abruptly",
    "unreadable": "the file could not be read as a notebook or Python file",
    "syntax-error": "it has a syntax error",
    "no-submission": "nothing was found to grade",
    "grader-error": "the grader failed on it (not your fault; your instructor has the details)",
}


def feedback_text(record):
    """The readable feedback of one student."""
    lines = [
        f"k2l grade: feedback for {record['student']}",
        f"Total: {_number(record['total'])} / {_number(record['max'])} points (status: {record['status']})",
        "",
    ]
    by_exercise = {}
    for entry in record["items"]:
        by_exercise.setdefault(entry["exercise"], []).append(entry)
    for exercise, entries in by_exercise.items():
        got = sum(entry["score"] for entry in entries)
        of = sum(entry["points"] for entry in entries)
        source = record.get("chosen", {}).get(exercise)
        lines.append(f"{exercise}: {_number(got)} / {_number(of)}" + (f"  (graded file: {source})" if source else ""))
        for entry in entries:
            mark = "pass" if entry["score"] >= entry["points"] else ("part" if entry["score"] > 0 else "FAIL")
            hidden = " (hidden check)" if entry["hidden"] else ""
            lines.append(f"  [{mark}] {entry['name']}{hidden}: {_number(entry['score'])} / {_number(entry['points'])}")
            if entry["message"]:
                lines.extend(f"         {line}" for line in entry["message"].splitlines())
        lines.append("")
    for name, info in record.get("files", {}).items():
        if info["status"] != "ok" or info["notes"]:
            meaning = STATUS_MEANING.get(info["status"])
            lines.append(f"{name}: {info['status']}" + (f" ({meaning})" if meaning else ""))
            lines.extend(f"  - {note}" for note in info["notes"])
    if record.get("skipped"):
        lines.append("Not graded (skipped):")
        lines.extend(f"  - {entry['name']}: {entry['reason']}" for entry in record["skipped"])
    for note in record.get("notes", []):
        lines.append(f"Note: {note}")
    outputs = [(name, info["output"]) for name, info in record.get("files", {}).items() if info["output"].strip()]
    for name, output in outputs:
        lines += ["", f"What {name} printed (last 4000 characters at most):", output.rstrip()]
    return planning.safe_text("\n".join(lines).rstrip() + "\n")


def gradescope_results(record):
    """The Gradescope ``results.json`` content of one student (a dict)."""
    tests = []
    for number, entry in enumerate(record["items"], start=1):
        tests.append(
            {
                "name": item_label(entry),
                "number": str(number),
                "score": entry["score"],
                "max_score": entry["points"],
                "status": "passed" if entry["score"] >= entry["points"] else "failed",
                "output": entry["message"],
                "visibility": "hidden" if entry["hidden"] else "visible",
            }
        )
    summary = f"Status: {record['status']}."
    notes = list(record.get("notes", []))
    for name, info in record.get("files", {}).items():
        notes += [f"{name}: {note}" for note in info["notes"]]
    notes += [f"not graded: {entry['name']}: {entry['reason']}" for entry in record.get("skipped", [])]
    if notes:
        summary += "\n" + "\n".join(f"- {note}" for note in notes)
    for name, info in record.get("files", {}).items():
        if info["output"].strip():
            summary += f"\n\nWhat {name} printed (at most its last 4000 characters):\n{info['output'].rstrip()}"
    return _clean({
        "score": record["total"],
        "execution_time": record.get("seconds", 0),
        "output": summary,
        "stdout_visibility": "hidden",
        "tests": tests,
    })  # fmt: skip


def gradebook_csv(records, assignment):
    """The gradebook (CSV text): one row per record, columns per item."""
    columns = [item_label({"exercise": i.exercise, "name": i.name, "hidden": i.hidden}) for i in assignment.items]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "status", *columns, "total", "max"])
    for record in records:
        scores = {item_label(entry): entry["score"] for entry in record["items"]}
        writer.writerow(
            [
                _cell(record["student"]),
                record["status"],
                *(_number(scores.get(column, 0.0)) for column in columns),
                _number(record["total"]),
                _number(record["max"]),
            ]
        )
    return buffer.getvalue()


def _cell(text):
    """A spreadsheet cell that cannot be taken for a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _student_dir(out_dir, key):
    return Path(out_dir) / "students" / key


def read_record(out_dir, key):
    """A student's saved record (by :attr:`Student.key`), or None."""
    try:
        return json.loads((_student_dir(out_dir, key) / "record.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_record(out_dir, record):
    """Write feedback, results.json, then the record (which marks 'done')."""
    folder = _student_dir(out_dir, record["key"])
    write_atomic(folder / "feedback.txt", feedback_text(record))
    write_atomic(folder / "results.json", json.dumps(gradescope_results(record), indent=2, ensure_ascii=False) + "\n")
    write_atomic(folder / "record.json", json.dumps(_clean(record), indent=1, ensure_ascii=False) + "\n")


class GraderLog:
    """``OUT/grader.log``: the grader's own problems, for the instructor (appended, UTF-8)."""

    def __init__(self, path):
        self.path = Path(path)
        self.lock = threading.Lock()
        self.count = 0

    def write(self, text):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.lock:
            with open(self.path, "a", encoding="utf-8", errors="backslashreplace") as log:
                log.write(f"{stamp} {planning.safe_text(text).rstrip()}\n")

    def failed(self, student, error):
        self.count += 1
        reason = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.write(f"grader-error for student {student.name} (folder students/{student.key}):\n{reason}")


# --- the batch -------------------------------------------------------------------------


@dataclass
class Summary:
    """What a batch did."""

    records: list
    graded: int  # graded in this run
    reused: int  # taken from a previous run
    missing: list  # students not finished (interrupted)
    seconds: float
    seed: object = None
    skipped: list = field(default_factory=list)  # entries of the submissions folder that are no student

    def counts(self):
        counts = {}
        for record in self.records:
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        return counts

    def text(self, out_dir=None):
        """The end-of-run report."""
        totals = [record["total"] for record in self.records]
        maximum = max((record["max"] for record in self.records), default=0)
        counts = self.counts()
        failed = sum(n for status, n in counts.items() if status not in ("ok", "timeout"))
        lines = [
            f"Graded {len(self.records)} students in {self.seconds:.1f} s "
            f"({self.graded} now, {self.reused} kept from an earlier run).",
            f"  ok: {counts.get('ok', 0)}   timed out: {counts.get('timeout', 0)}   failed: {failed}"
            + (
                " (" + ", ".join(f"{s} {counts[s]}" for s in STATUS_ORDER if s in counts and s not in ("ok", "timeout")) + ")"
                if failed
                else ""
            ),
        ]
        if totals:
            spread = statistics.pstdev(totals) if len(totals) > 1 else 0.0
            lines.append(
                f"  score out of {_number(maximum)}: mean {statistics.mean(totals):.2f}, sd {spread:.2f}, "
                f"min {_number(min(totals))}, median {_number(statistics.median(totals))}, max {_number(max(totals))}"
            )
        if self.seed is not None:
            lines.append(f"  cases drawn from seed {self.seed} (--seed {self.seed} grades on the same cases again)")
        with_skipped = [record for record in self.records if record.get("skipped")]
        if with_skipped:
            entries = sum(len(record["skipped"]) for record in with_skipped)
            lines.append(f"  skipped entries: {entries} in {len(with_skipped)} submissions (listed in their feedback)")
        for entry in self.skipped:
            lines.append(f"  not a submission: {entry}")
        if counts.get("grader-error"):
            where = Path(out_dir) / "grader.log" if out_dir is not None else "grader.log"
            names = ", ".join(record["student"] for record in self.records if record["status"] == "grader-error")
            lines.append(f"  grader errors (reasons in {where}; a rerun grades them again): {names}")
        if self.missing:
            lines.append(f"  not graded yet (interrupted): {len(self.missing)}; run the same command again to finish")
        if out_dir is not None:
            lines.append(f"  gradebook: {Path(out_dir) / 'gradebook.csv'}")
        return planning.safe_text("\n".join(lines))


def grade(submissions_dir, out_dir, assignment, *, seed=None, jobs=1, limits=None, hidden_dir=None, progress=True,
          sandbox_options=None, sandbox_class=Sandbox, on_sandbox=None, only=None):  # fmt: skip
    """Grade every student of ``submissions_dir`` into ``out_dir``.

    Parameters
    ----------
    submissions_dir, out_dir : path-like
    assignment : Assignment
        From :func:`load_assignment`.
    seed : int or "public", optional
        The cases' seed. Default: the one in ``out_dir/grading.json`` (a
        rerun), else a new random one.
    jobs : int
        Submissions graded at once.
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
    lock = _lock_out_dir(out_dir)
    try:
        if seed is None:
            seed = read_batch(out_dir).get("seed")
        if seed is None:
            seed = new_seed()
        cases = assignment.draw(seed)
        write_atomic(out_dir / "grading.json", json.dumps(batch_metadata(cases, limits), indent=1) + "\n")
        summary = _grade(students, submissions_dir, out_dir, out_resolved, assignment, cases, jobs, limits, hidden_dir,
                         progress, sandbox_options, sandbox_class, on_sandbox, only)  # fmt: skip
        summary.skipped = skipped
        return summary
    finally:
        os.close(lock)


def read_batch(out_dir):
    """``OUT/grading.json`` of an earlier run (``{}`` if none)."""
    try:
        meta = json.loads((Path(out_dir) / "grading.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def batch_metadata(cases, limits):
    """What ``OUT/grading.json`` holds."""

    return {
        "seed": cases.seed,
        "limits": {"timeout": limits.timeout, "memory_mb": limits.memory_mb, "call_timeout": limits.call_timeout},
        "checks": cases.signature,
        "k2l_version": __version__,
        "record_version": RECORD_VERSION,
    }


def _lock_out_dir(out_dir):
    """Refuse a second grader writing into the same folder at the same time."""
    import fcntl

    fd = os.open(Path(out_dir) / ".k2l-grade.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise GradingError(f"another k2l grade is writing into {out_dir}; wait for it to finish") from None
    return fd


def _grade(students, submissions_dir, out_dir, out_resolved, assignment, cases, jobs, limits, hidden_dir, progress,
           sandbox_options, sandbox_class, on_sandbox, only=None):  # fmt: skip
    started = time.monotonic()
    log = GraderLog(out_dir / "grader.log")
    records, todo = {}, []
    for student in students:
        try:
            saved = read_record(out_dir, student.key)
            if only is not None:  # a regrade of the named students: the others' records are kept as they are
                if student.name in only or student.key in only:
                    todo.append(student)
                elif saved:
                    records[student.key] = saved
                continue
            if saved and saved.get("fingerprint") == fingerprint(
                planning.list_submission(student.path, assignment.exercises), cases, limits
            ):
                records[student.key] = saved
                continue
        except Exception:  # anything odd about this student: grade it (and contain what happens then)
            pass
        todo.append(student)
    reused = len(records)
    order = [student.key for student in students]
    lock = threading.Lock()
    last_write = [0.0]

    def write_gradebook(force=False):
        with lock:
            if not force and time.monotonic() - last_write[0] < 2.0:
                return
            last_write[0] = time.monotonic()
            rows = [records[key] for key in order if key in records]
            write_atomic(out_dir / "gradebook.csv", gradebook_csv(rows, assignment))

    stopping = threading.Event()

    def one(student):
        """Grade and save one student; whatever goes wrong becomes their grader-error."""
        try:
            record = grade_student(student, assignment, sandbox, limits, cases)
            if stopping.is_set():
                return None  # its runs were cut short by the interrupt: not a grade
            save_record(out_dir, record)
            return record
        except SandboxError as error:
            if stopping.is_set() or not _alive(sandbox):
                raise  # the sandbox itself is gone: nobody can be graded
            failure = error  # one run's supervisor failed: this student only
        except Exception as error:
            if stopping.is_set():
                return None
            failure = error
        log.failed(student, failure)
        record = error_record(student, assignment, cases)
        try:
            save_record(out_dir, record)
        except Exception as again:
            log.failed(student, again)
        return record

    bar = None
    options = dict(sandbox_options or {})
    # Other students' work must stay unreadable (a submission could import a
    # classmate's answers); the output only unwritable (it is root's).
    hide = [str(out_resolved), *options.pop("hide", [])]
    secret = [str(submissions_dir)] + ([str(Path(hidden_dir).resolve())] if hidden_dir else [])
    secret += list(options.pop("secret", []))
    graded = 0
    sandbox = sandbox_class(jobs=jobs, hide=hide, secret=secret, **options)
    try:
        if todo:
            sandbox.start()
            if progress and hasattr(sandbox, "describe"):
                print(sandbox.describe(), file=sys.stderr)
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=len(todo), unit="student", desc="grading", file=sys.stderr, dynamic_ncols=True)
        # One worker per job: each holds at most one run's outcomes at a time
        # (judged and dropped before its next run), so the grader's memory is
        # bounded by ``jobs`` runs whatever the students return.
        with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
            pending = {pool.submit(one, student): student for student in todo}
            try:
                while pending:
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        student = pending.pop(future)
                        record = future.result()
                        if record is None:
                            continue
                        records[student.key] = record
                        graded += 1
                        if bar:
                            bar.update(1)
                        write_gradebook()
            except BaseException:
                stopping.set()
                for future in pending:
                    future.cancel()
                sandbox.close()  # stops the runs still going (their students stay ungraded)
                raise
        if on_sandbox is not None:
            on_sandbox(sandbox)
    finally:
        sandbox.close()
        if bar:
            bar.close()
        write_gradebook(force=True)
    missing = [key for key in order if key not in records]
    return Summary([records[key] for key in order if key in records], graded, reused, missing,
                   time.monotonic() - started, seed=cases.seed)  # fmt: skip


def _alive(sandbox):
    """Whether the sandbox server still runs (a sandbox without one, like the benchmark's, always does)."""
    process = getattr(sandbox, "process", False)
    return process is False or (process is not None and process.poll() is None)


# --- the command ------------------------------------------------------------------------


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


def load_checks(hidden_dir=None):
    """The course's graded items (plus hidden ones) and its exercise ids."""

    try:
        return checks.items(hidden_dir=hidden_dir), list(checks.EXERCISES)
    except Exception as error:
        raise GradingError(f"the checks could not be loaded: {type(error).__name__}: {error}") from None


def run(args):
    """Run ``k2l grade``; returns the exit status."""
    try:
        _validate(args)
        items, exercises = load_checks(args.hidden_checks)
        assignment = load_assignment(items, list(exercises))
        limits = Limits(timeout=args.timeout, memory_mb=args.memory, call_timeout=args.call_timeout)
        if args.only:
            _require_output(args.out)
        seed = _seed(args.seed) if getattr(args, "seed", None) is not None else None
        summary = grade(args.submissions, args.out, assignment, seed=seed, jobs=args.jobs, limits=limits,
                        hidden_dir=args.hidden_checks, only=args.only)  # fmt: skip
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
