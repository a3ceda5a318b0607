"""Grading one student into a record: prepared where the files are, run where a sandbox is.

A student's grading has two halves. :func:`prepare` reads the submission
(which files count, for which exercises: :mod:`k2l_course.grading.planning`)
and fixes the record's head, including the :func:`fingerprint` a rerun
compares. :func:`execute` runs the files that count in a sandbox and judges
them. On one machine both happen in the same thread
(:func:`grade_student`); with ``k2l grade --cluster`` the first happens on
the instructor's machine and the second on a Dask worker, which receives
the files' contents with the task (:mod:`k2l_course.grading.cluster`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field

from k2l_course.grading import planning, runner
from k2l_course.grading.assignment import RECORD_VERSION, new_seed

#: Status of a student, from worst to best (the gradebook shows the worst).
STATUS_ORDER = ("grader-error", "timeout", "memory", "crashed", "unreadable", "syntax-error", "no-submission", "ok")


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



@dataclass
class Work:
    """One student's grading, prepared: the record's head and the files to run.

    Attributes
    ----------
    head : dict
        The record's first fields (version, student, key, seed, fingerprint, notes, skipped).
    runs : list of (str, path, list of str)
        Each file that counts: its name as shown, its path, the exercises it is run for.
    chosen : dict
        ``{exercise: name of the file that counts}``, in course order.
    seconds : float
        Time the preparation took.
    """

    head: dict
    runs: list = field(default_factory=list)
    chosen: dict = field(default_factory=dict)
    seconds: float = 0.0


def prepare(student, assignment, cases, limits):
    """Which of ``student``'s files run for which exercises, and the record's head (see :class:`Work`)."""
    started = time.monotonic()
    exercises = assignment.exercises
    listing = planning.list_submission(student.path, exercises)
    the_plan = planning.plan(listing, assignment.functions())
    head = {
        "version": RECORD_VERSION,
        "student": student.name,
        "key": student.key,
        "seed": cases.seed,
        "fingerprint": fingerprint(listing, cases, limits),
        "notes": list(the_plan.notes),
        "skipped": [{"name": s.name, "reason": s.reason} for s in the_plan.skipped],
    }
    runs = [(the_plan.names[path], path, list(run_exercises)) for path, run_exercises in the_plan.runs.items()]
    chosen = {exercise: the_plan.names[path] for exercise, path in the_plan.chosen().items()}
    chosen = {exercise: chosen[exercise] for exercise in exercises if exercise in chosen}
    return Work(head, runs, chosen, time.monotonic() - started)


def execute(work, assignment, cases, limits, run):
    """Run a prepared student's files and judge them; returns their record (a JSON-ready dict).

    Parameters
    ----------
    work : Work
    assignment : Assignment
    cases : Cases
    limits : Limits
    run : callable
        :meth:`Sandbox.run <k2l_course.grading.sandbox.Sandbox.run>` (of the sandbox this runs in).
    """
    started = time.monotonic()
    record = dict(work.head, files={})
    by_item = {}  # (exercise, name) -> entry
    statuses = {}
    # One budget per student, shared fairly: each file may use its share of
    # what is left (a file that loops forever costs only its share). Only the
    # time the student's code runs counts (not waiting for a judge).
    spent = 0.0
    for index, (name, path, run_exercises) in enumerate(work.runs):
        items = [item for exercise in run_exercises for item in assignment.of(exercise)]
        remaining = (limits.timeout - spent) / (len(work.runs) - index)
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
                return run(*args, **kwargs)
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
    entries = [by_item.get((item.exercise, item.name)) or _missing_entry(item) for item in assignment.items]
    record["items"] = entries
    record["chosen"] = dict(work.chosen)
    record["total"] = round(sum(entry["score"] for entry in entries), 6)
    record["max"] = round(sum(entry["points"] for entry in entries), 6)
    record["status"] = _worst(statuses.values()) if statuses else "no-submission"
    record["seconds"] = round(work.seconds + time.monotonic() - started, 3)
    return _clean(record)


def grade_student(student, assignment, sandbox, limits, cases=None):
    """Grade one student in ``sandbox``; returns their record (a JSON-ready dict).

    Parameters
    ----------
    student : Student
    assignment : Assignment
    sandbox : Sandbox
    limits : Limits
    cases : Cases, optional
        Default: fresh cases from a new seed.
    """
    if cases is None:
        cases = assignment.draw(new_seed())
    return execute(prepare(student, assignment, cases, limits), assignment, cases, limits, sandbox.run)


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

