"""``k2l grade``: autograde a whole class, safely and resumably.

::

    k2l grade SUBMISSIONS_DIR --out OUT_DIR [--jobs N] [--timeout S]
              [--memory MB] [--call-timeout S] [--hidden-checks DIR]

Submissions
    Each entry of ``SUBMISSIONS_DIR`` is one student: a folder (the student
    id is its name) or a single ``.py`` / ``.ipynb`` file (the id is the file
    name without its suffix). Hidden entries (``.name``) are ignored.
    In a folder (searched up to three levels deep, symbolic links ignored),
    ``<exercise>.py`` / ``<exercise>.ipynb`` is the work for that exercise;
    when both exist, each is graded and the better counts. A file not named
    for an exercise (the single-file submission, or the only files of a
    folder) is graded against every exercise; an exercise counts as
    submitted when the file defines one of its functions.

Grading
    Every graded item (:mod:`k2l_course.checks`, plus ``--hidden-checks``)
    names a function and its cases; the student's file runs in the sandbox
    (:mod:`k2l_course.sandbox`: student code never runs in this process), and
    the item's judge scores the plain data that comes back.

Output (``OUT_DIR``)
    ``gradebook.csv``
        One row per student: status, points per item, total, max.
    ``students/<id>/feedback.txt``
        Readable feedback: per item, points and the check's message.
    ``students/<id>/results.json``
        Gradescope's format (hidden checks have ``"visibility": "hidden"``).
    ``students/<id>/record.json``
        Written last, atomically: marks the student as graded. A rerun (after
        Ctrl-C, kill -9, or just again) skips students whose record matches
        their files, the checks and the limits, and rewrites the gradebook
        from the records, so nothing is graded twice or listed twice.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import io
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from k2l_course.sandbox import Call, Outcome, Sandbox, SandboxError, wire

SUFFIXES = (".ipynb", ".py")
#: Status of a student, from worst to best (the gradebook shows the worst).
STATUS_ORDER = ("timeout", "memory", "crashed", "syntax-error", "no-submission", "ok")
#: How deep into a student's folder files are looked for.
MAX_DEPTH = 3
#: Most candidate files graded per student.
MAX_FILES = 12
#: Bumped when the grading logic changes (records of older versions are regraded).
RECORD_VERSION = 1


class GradingError(Exception):
    """A problem with the grader's inputs (reported, non-zero exit)."""


# --- finding the work ----------------------------------------------------------


@dataclass
class Student:
    """One submission: who, where, and the files found in it."""

    id: str
    path: Path
    named: dict = field(default_factory=dict)  # exercise -> [files named for it]
    others: list = field(default_factory=list)  # .py/.ipynb not named for an exercise
    problems: list = field(default_factory=list)


def find_students(submissions_dir, exercises):
    """The students of a submissions folder, sorted by id.

    Parameters
    ----------
    submissions_dir : Path
        The folder given to ``k2l grade``.
    exercises : list of str
        Exercise ids (to recognise files named for them).

    Returns
    -------
    list of Student

    Raises
    ------
    GradingError
        If the folder is missing, unreadable, empty, or two entries give the
        same student id.
    """
    folder = Path(submissions_dir)
    if not folder.exists():
        raise GradingError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise GradingError(f"{folder} is a file; give the folder that holds one entry per student")
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as error:
        raise GradingError(f"{folder} cannot be read: {error.strerror}") from None
    students = {}
    for entry in entries:
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir(follow_symlinks=False):
            student = Student(entry.name, Path(entry.path))
            collect_files(student, Path(entry.path), exercises)
        elif entry.is_file(follow_symlinks=False) and entry.name.endswith(SUFFIXES):
            student = Student(entry.name.rsplit(".", 1)[0], Path(entry.path))
            _classify(student, Path(entry.path), exercises)
        elif entry.is_symlink() and entry.name.endswith(SUFFIXES):
            student = Student(entry.name.rsplit(".", 1)[0], Path(entry.path))
            student.problems.append(f"{entry.name} is a symbolic link, not a file: not graded")
        else:
            continue
        if student.id in students:
            raise GradingError(
                f"two submissions in {folder} belong to student {student.id!r} "
                f"({students[student.id].path.name} and {entry.name}); keep one"
            )
        students[student.id] = student
    if not students:
        raise GradingError(f"{folder} holds no submissions (folders, .py or .ipynb files)")
    return [students[key] for key in sorted(students)]


def collect_files(student, folder, exercises, depth=0):
    """Add the ``.py`` / ``.ipynb`` files under ``folder`` to ``student`` (symbolic links are refused)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as error:
        student.problems.append(f"{folder.name} cannot be read: {error.strerror}")
        return
    for entry in entries:
        if entry.name.startswith((".", "__")) or entry.name.endswith(".ipynb_checkpoints"):
            continue
        if entry.is_symlink():
            if entry.name.endswith(SUFFIXES):
                student.problems.append(f"{entry.name} is a symbolic link, not a file: not graded")
            continue
        if entry.is_dir() and depth + 1 < MAX_DEPTH:
            collect_files(student, Path(entry.path), exercises, depth + 1)
        elif entry.is_file() and entry.name.endswith(SUFFIXES):
            _classify(student, Path(entry.path), exercises)


def _classify(student, path, exercises):
    stem = path.name.rsplit(".", 1)[0]
    if stem in exercises:
        student.named.setdefault(stem, []).append(path)
    else:
        student.others.append(path)


def plan(student, assignment):
    """Which file is graded for which exercises: ``{file: [exercise, ...]}``.

    A file named for an exercise is graded for it. A file that is not is
    graded for every exercise one of whose functions it defines (found by
    parsing, as ``k2l check`` does), or for all when it defines none (so a
    syntax error is still reported); it counts for an exercise only when the
    student has no file named for it. At most :data:`MAX_FILES` files (those
    named for an exercise first).
    """
    from k2l_course.checking import defined_functions

    exercises = assignment.exercises
    defines = {}
    for path in student.others:
        try:
            names = defined_functions(path)
        except OSError:
            names = set()
        covered = [e for e in exercises if any(item.function in names for item in assignment.of(e))]
        defines[path] = covered or list(exercises)
    runs = {}
    for exercise in exercises:
        candidates = student.named.get(exercise) or [p for p in student.others if exercise in defines[p]]
        for path in candidates:
            runs.setdefault(path, []).append(exercise)
    if len(runs) > MAX_FILES:
        kept = sorted(runs, key=lambda p: (p.name.rsplit(".", 1)[0] not in exercises, str(p)))[:MAX_FILES]
        runs = {path: runs[path] for path in kept}
    return runs


def _count_files(student):
    return len(set(student.others) | {p for paths in student.named.values() for p in paths})


# --- the checks -----------------------------------------------------------------


@dataclass
class Assignment:
    """The graded items, with their cases computed once for the whole batch."""

    items: list
    cases: dict  # (exercise, name) -> list of kwargs
    signature: str  # changes when the checks change
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

    @property
    def max_points(self):
        return sum(item.points for item in self.items)


def load_assignment(items, exercises=None):
    """Compute every item's cases once, and a signature of the checks.

    Parameters
    ----------
    items : list of Item
        From :func:`k2l_course.checks.items`.
    exercises : list of str, optional
        All exercise ids (even those without items); default: those of items.

    Raises
    ------
    GradingError
        If a check's cases cannot be computed or are not plain data.
    """
    digest = hashlib.sha256(f"k2l-grade {RECORD_VERSION}".encode())
    cases = {}
    sources = set()
    names = set()
    for item in items:
        key = (item.exercise, item.name)
        if key in names:
            raise GradingError(f"two checks are named {item.exercise}/{item.name}")
        names.add(key)
        try:
            kwargs_list = list(item.cases())
            tree, blobs = wire.encode(kwargs_list)
        except Exception as error:
            raise GradingError(f"the cases of check {item.exercise}/{item.name} failed: {error}") from None
        cases[key] = kwargs_list
        digest.update(json.dumps([item.exercise, item.name, item.function, item.points, item.hidden, tree]).encode())
        for blob in blobs:
            digest.update(blob)
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
    return Assignment(list(items), cases, digest.hexdigest(), list(exercises) if exercises else None)


# --- grading one student -----------------------------------------------------


@dataclass
class Limits:
    """Per-submission limits passed to the sandbox."""

    timeout: float = 60.0
    memory_mb: int = 2048
    call_timeout: float = 10.0


def fingerprint(student, runs, assignment, limits):
    """What a student's grade depends on: their files, the checks, the limits."""
    digest = hashlib.sha256(assignment.signature.encode())
    digest.update(json.dumps([limits.timeout, limits.memory_mb, limits.call_timeout, student.problems]).encode())
    for path in sorted(runs):
        digest.update(str(path.relative_to(student.path.parent)).encode())
        try:
            with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
        except OSError as error:
            digest.update(f"unreadable {error.errno}".encode())
    return digest.hexdigest()


#: Judges run one at a time: some build networks with TensorFlow / nengo-loihi,
#: which are not meant to be driven from several threads (and the GIL would
#: serialize them anyway); the sandboxes still run in parallel.
_JUDGING = threading.Lock()


def _judge(item, outcomes):
    """Score one item, never trusting the judge to stay in bounds."""
    try:
        with _JUDGING:
            verdict = item.verdict(outcomes) if hasattr(item, "verdict") else item.judge(outcomes)
        score = float(verdict.score)
        message = str(verdict.message)
    except Exception as error:  # a bug in a check must not stop the batch
        return 0.0, f"this check failed inside the grader ({type(error).__name__}: {error}); tell your instructor"
    if not math.isfinite(score) or score < 0:
        score = 0.0
    return min(score, float(item.points)), message


def grade_student(student, assignment, sandbox, limits):
    """Grade one student; returns their record (a JSON-ready dict)."""
    exercises = assignment.exercises
    runs = plan(student, assignment)
    record = {
        "version": RECORD_VERSION,
        "student": student.id,
        "fingerprint": fingerprint(student, runs, assignment, limits),
        "notes": list(student.problems),
        "files": {},
    }
    if _count_files(student) > len(runs):
        record["notes"].append(f"only {len(runs)} of the {_count_files(student)} files found were graded")
    results = {}  # exercise -> {file name: item entries}
    statuses = {}  # file name -> sandbox status
    started = time.monotonic()
    for path, run_exercises in runs.items():
        items = [item for exercise in run_exercises for item in assignment.of(exercise)]
        calls, spans = [], []
        for item in items:
            kwargs_list = assignment.cases[(item.exercise, item.name)]
            spans.append((len(calls), len(calls) + len(kwargs_list)))
            calls.extend(Call(item.function, dict(kwargs)) for kwargs in kwargs_list)
        result = sandbox.run(
            path, calls, timeout=limits.timeout, memory_mb=limits.memory_mb, call_timeout=limits.call_timeout
        )
        name = str(path.relative_to(student.path)) if path != student.path else path.name
        record["files"][name] = {"status": result.status, "output": result.output[-4000:], "notes": result.notes}
        statuses[name] = result.status
        for item, (low, high) in zip(items, spans):
            outcomes = result.outcomes[low:high]
            score, message = _judge(item, outcomes)
            attempted = any(o.ok or not _undefined(o) for o in outcomes) if outcomes else result.status != "no-submission"
            results.setdefault(item.exercise, {}).setdefault(name, []).append(
                {
                    "exercise": item.exercise,
                    "name": item.name,
                    "points": float(item.points),
                    "score": score,
                    "message": message,
                    "hidden": bool(item.hidden),
                    "file": name,
                    "attempted": attempted,
                }
            )
    entries = []
    chosen = {}
    for exercise in exercises:
        by_file = results.get(exercise, {})
        best = None
        for name, item_entries in by_file.items():
            key = (sum(entry["score"] for entry in item_entries), any(entry["attempted"] for entry in item_entries))
            if best is None or key > best[0]:
                best = (key, name, item_entries)
        if best is None:
            for item in assignment.of(exercise):
                entries.append(_missing_entry(item, exercise))
            continue
        _, name, item_entries = best
        if len(by_file) > 1:
            record["notes"].append(f"{exercise}: {len(by_file)} files could count; the best, {name}, was used")
        if not any(entry["attempted"] for entry in item_entries) and student.named.get(exercise) is None:
            entries.extend(_missing_entry(item, exercise) for item in assignment.of(exercise))
            continue
        chosen[exercise] = name
        entries.extend(item_entries)
    record["items"] = entries
    record["chosen"] = chosen
    record["total"] = round(sum(entry["score"] for entry in entries), 6)
    record["max"] = round(sum(entry["points"] for entry in entries), 6)
    # The status of the files that counted (a worse file that lost to a
    # better one shows only in the notes and the feedback).
    record["status"] = _worst([statuses[name] for name in chosen.values()]) if chosen else "no-submission"
    record["seconds"] = round(time.monotonic() - started, 3)
    return record


def _undefined(outcome):
    from k2l_course.sandbox.child import UNDEFINED

    return bool(outcome.error) and UNDEFINED in outcome.error


def _missing_entry(item, exercise):
    return {
        "exercise": exercise,
        "name": item.name,
        "points": float(item.points),
        "score": 0.0,
        "message": f"no work found for {exercise} (expected {exercise}.ipynb or {exercise}.py)",
        "hidden": bool(item.hidden),
        "file": None,
        "attempted": False,
    }


def _worst(statuses):
    for status in STATUS_ORDER:
        if status in statuses:
            return status
    return "ok"


# --- writing -----------------------------------------------------------------------


def write_atomic(path, text):
    """Write ``text`` to ``path`` so readers see the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _number(value):
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def item_label(entry):
    """Column/test name of an item: its id ``exercise.name`` (``(hidden)`` appended)."""
    return f"{entry['exercise']}.{entry['name']}" + (" (hidden)" if entry["hidden"] else "")


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
            lines.append(f"{name}: {info['status']}")
            lines.extend(f"  - {note}" for note in info["notes"])
    for note in record.get("notes", []):
        lines.append(f"Note: {note}")
    outputs = [(name, info["output"]) for name, info in record.get("files", {}).items() if info["output"].strip()]
    for name, output in outputs:
        lines += ["", f"What {name} printed (last 4000 characters at most):", output.rstrip()]
    return "\n".join(lines).rstrip() + "\n"


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
    if notes:
        summary += "\n" + "\n".join(f"- {note}" for note in notes)
    for name, info in record.get("files", {}).items():
        if info["output"].strip():
            summary += f"\n\nWhat {name} printed (at most its last 4000 characters):\n{info['output'].rstrip()}"
    return {
        "score": record["total"],
        "execution_time": record.get("seconds", 0),
        "output": summary,
        "stdout_visibility": "hidden",
        "tests": tests,
    }


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
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _student_dir(out_dir, student_id):
    return Path(out_dir) / "students" / student_id


def read_record(out_dir, student_id):
    """A student's saved record, or None."""
    try:
        return json.loads((_student_dir(out_dir, student_id) / "record.json").read_text())
    except (OSError, ValueError):
        return None


def save_record(out_dir, record):
    """Write feedback, results.json, then the record (which marks 'done')."""
    folder = _student_dir(out_dir, record["student"])
    write_atomic(folder / "feedback.txt", feedback_text(record))
    write_atomic(folder / "results.json", json.dumps(gradescope_results(record), indent=2) + "\n")
    write_atomic(folder / "record.json", json.dumps(record, indent=1) + "\n")


# --- the batch -------------------------------------------------------------------------


@dataclass
class Summary:
    """What a batch did."""

    records: list
    graded: int  # graded in this run
    reused: int  # taken from a previous run
    missing: list  # students not finished (interrupted)
    seconds: float

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
        if self.missing:
            lines.append(f"  not graded yet (interrupted): {len(self.missing)}; run the same command again to finish")
        if out_dir is not None:
            lines.append(f"  gradebook: {Path(out_dir) / 'gradebook.csv'}")
        return "\n".join(lines)


def grade(submissions_dir, out_dir, assignment, *, jobs=1, limits=None, hidden_dir=None, progress=True,
          sandbox_options=None, sandbox_class=Sandbox, on_sandbox=None, only=None):  # fmt: skip
    """Grade every student of ``submissions_dir`` into ``out_dir``.

    Parameters
    ----------
    submissions_dir, out_dir : path-like
    assignment : Assignment
        From :func:`load_assignment`.
    jobs : int
        Submissions graded at once.
    limits : Limits, optional
    hidden_dir : path-like, optional
        The hidden checks' folder (kept out of the students' reach).
    progress : bool
        Show a progress bar (stderr).
    sandbox_options : dict, optional
        Extra keyword arguments of :class:`~k2l_course.sandbox.Sandbox`.
    sandbox_class : type, optional
        What runs the student code (:class:`~k2l_course.sandbox.Sandbox`;
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
    exercises = assignment.exercises
    students = find_students(submissions_dir, exercises)
    if only is not None:
        unknown = sorted(set(only) - {student.id for student in students})
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
        return _grade(students, submissions_dir, out_dir, out_resolved, assignment, jobs, limits, hidden_dir,
                      progress, sandbox_options, sandbox_class, on_sandbox, only)  # fmt: skip
    finally:
        os.close(lock)


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


def _grade(students, submissions_dir, out_dir, out_resolved, assignment, jobs, limits, hidden_dir, progress,
           sandbox_options, sandbox_class, on_sandbox, only=None):  # fmt: skip
    started = time.monotonic()
    records, todo = {}, []
    for student in students:
        saved = read_record(out_dir, student.id)
        if only is not None:  # a regrade of the named students: the others' records are kept as they are
            if student.id in only:
                todo.append(student)
            elif saved:
                records[student.id] = saved
            continue
        runs = plan(student, assignment)
        if saved and saved.get("fingerprint") == fingerprint(student, runs, assignment, limits):
            records[student.id] = saved
        else:
            todo.append(student)
    reused = len(records)
    order = [student.id for student in students]
    lock = threading.Lock()
    last_write = [0.0]

    def write_gradebook(force=False):
        with lock:
            if not force and time.monotonic() - last_write[0] < 2.0:
                return
            last_write[0] = time.monotonic()
            rows = [records[sid] for sid in order if sid in records]
            write_atomic(out_dir / "gradebook.csv", gradebook_csv(rows, assignment))

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
        with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
            pending = {pool.submit(grade_student, student, assignment, sandbox, limits): student for student in todo}
            try:
                while pending:
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        student = pending.pop(future)
                        record = future.result()
                        save_record(out_dir, record)
                        records[student.id] = record
                        graded += 1
                        if bar:
                            bar.update(1)
                        write_gradebook()
            except BaseException:
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
    missing = [sid for sid in order if sid not in records]
    return Summary([records[sid] for sid in order if sid in records], graded, reused, missing,
                   time.monotonic() - started)  # fmt: skip


# --- the command ------------------------------------------------------------------------


def add_arguments(parser):
    """Options of ``k2l grade``."""
    parser.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="folder with one entry (folder or file) per student")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="where the gradebook and feedback go")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="submissions graded at once (default 1)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="wall-clock seconds per submission file (default 60)")  # fmt: skip
    parser.add_argument("--call-timeout", type=float, default=10.0, metavar="S",
                        help="seconds one call of a student's function may take (default 10)")  # fmt: skip
    parser.add_argument("--memory", type=int, default=2048, metavar="MB",
                        help="memory a submission may allocate (default 2048)")  # fmt: skip
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
    if args.hidden_checks:
        hidden = Path(args.hidden_checks)
        if not hidden.is_dir():
            raise GradingError(f"--hidden-checks {hidden}: no such folder")
        if not os.access(hidden, os.R_OK | os.X_OK):
            raise GradingError(f"--hidden-checks {hidden} cannot be read")


def load_checks(hidden_dir=None):
    """The course's graded items (plus hidden ones) and its exercise ids."""
    from k2l_course import checks

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
            _reuse_seed(args)
        summary = grade(args.submissions, args.out, assignment, jobs=args.jobs, limits=limits,
                        hidden_dir=args.hidden_checks, only=args.only)  # fmt: skip
    except GradingError as error:
        print(f"k2l grade: {error}", file=sys.stderr)
        return 2
    except SandboxError as error:
        print(f"k2l grade: the sandbox failed: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("k2l grade: interrupted; finished students are saved. Run the same command to go on.", file=sys.stderr)
        return 130
    print(summary.text(args.out))
    _write_report(args)
    return 0


def _reuse_seed(args):
    """A regrade (``--only``) draws the cases of the output's first grading (``OUT/grading.json``)."""
    if not (Path(args.out) / "students").is_dir():
        raise GradingError(f"--only regrades students of an existing output; {args.out} holds none")
    if getattr(args, "seed", None) is None:
        try:
            args.seed = json.loads((Path(args.out) / "grading.json").read_text()).get("seed")
        except (OSError, ValueError, AttributeError):
            pass


def _write_report(args):
    """The class report (``OUT/report.html``); its failure never fails the grading."""
    try:
        from k2l_course.report import write_report

        print(f"  class report: {write_report(args.out, args.submissions)}")
    except Exception as error:
        print(f"k2l grade: the class report could not be written ({type(error).__name__}: {error}); "
              f"the grades are saved; try k2l report {args.out}", file=sys.stderr)  # fmt: skip
