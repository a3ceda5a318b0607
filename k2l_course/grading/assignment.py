"""What a batch grades: the students of a submissions folder, the graded items and their cases.

Shared by every part of ``k2l grade`` (:mod:`k2l_course.grading.grade`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from k2l_course.exercises import checks
from k2l_course.grading import planning, runner
from k2l_course.grading.sandbox import wire

SUFFIXES = planning.SUFFIXES
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
    for path in sorted(s for s in sources if s):
        try:
            digest.update(Path(path).read_bytes())
        except OSError:
            pass
    return Assignment(list(items), digest.hexdigest(), list(exercises) if exercises else None)


def new_seed():
    """A random seed for a batch's cases (unguessable: :mod:`secrets`)."""
    return secrets.randbits(48)


def load_checks(hidden_dir=None):
    """The course's graded items (plus hidden ones) and its exercise ids."""

    try:
        return checks.items(hidden_dir=hidden_dir), list(checks.EXERCISES)
    except Exception as error:
        raise GradingError(f"the checks could not be loaded: {type(error).__name__}: {error}") from None
