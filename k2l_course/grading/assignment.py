"""What a batch grades: the students of a submissions folder, the graded items and their cases.

Shared by every way of running ``k2l grade`` (:mod:`k2l_course.grading.grade`
on this machine, :mod:`k2l_course.grading.cluster` on Dask workers).
"""

from __future__ import annotations

import hashlib
import importlib
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
#: Where the course's graded items come from (``module:function``, called with ``hidden_dir=``).
COURSE_CHECKS = "k2l_course.exercises.checks:items"

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
    source: object = None  # a ChecksSource: how a grading worker loads the same items

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
def load_assignment(items, exercises=None, source=None):
    """The graded items, checked, with a signature of the checks.

    Parameters
    ----------
    items : list of Item
        From :func:`k2l_course.exercises.checks.items`.
    exercises : list of str, optional
        All exercise ids (even those without items); default: those of items.
    source : ChecksSource, optional
        How another machine loads the same items (needed by ``--cluster``).

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
    return Assignment(list(items), digest.hexdigest(), list(exercises) if exercises else None, source)


def new_seed():
    """A random seed for a batch's cases (unguessable: :mod:`secrets`)."""
    return secrets.randbits(48)


@dataclass(frozen=True)
class ChecksSource:
    """How a grading worker loads the batch's items: a loader and the hidden checks' files.

    The hidden checks travel as data (``{file name: bytes}``), so a worker
    needs no shared file system; it writes them into a folder of its own
    (kept from student code) and calls ``loader(hidden_dir=that folder)``.

    Attributes
    ----------
    loader : str
        ``"module:function"`` returning the items (default: the course's checks).
    exercises : tuple of str
        Every exercise id.
    hidden : tuple of (bytes, bytes)
        The hidden checks' ``.py`` files: (file name, content), or empty.
    """

    loader: str = COURSE_CHECKS
    exercises: tuple = ()
    hidden: tuple = ()

    @classmethod
    def of(cls, hidden_dir=None, loader=COURSE_CHECKS, exercises=None):
        """The source of ``loader``'s items with the hidden checks of ``hidden_dir`` (read now, size-bounded)."""
        files, total = [], 0
        if hidden_dir is not None:
            for path in sorted(Path(hidden_dir).iterdir(), key=lambda p: os.fsencode(p.name)):
                if path.is_file() and path.suffix == ".py":
                    content = path.read_bytes()
                    total += len(content)
                    if total > HIDDEN_CHECKS_BYTES:
                        raise GradingError(f"--hidden-checks holds more than {HIDDEN_CHECKS_BYTES >> 20} MB of checks")
                    files.append((os.fsencode(path.name), content))
        exercises = tuple(exercises) if exercises is not None else tuple(checks.EXERCISES)
        return cls(loader, exercises, tuple(files))

    def load(self, folder):
        """The :class:`Assignment` these checks give, the hidden ones written into ``folder`` (an empty folder)."""
        hidden_dir = None
        if self.hidden:
            hidden_dir = Path(folder)
            for name, content in self.hidden:
                (hidden_dir / os.fsdecode(name)).write_bytes(content)
        module, _, function = self.loader.partition(":")
        items = getattr(importlib.import_module(module), function)(hidden_dir=hidden_dir)
        return load_assignment(items, list(self.exercises), self)


#: Largest total size of the hidden checks sent to grading workers.
HIDDEN_CHECKS_BYTES = 4 * 2**20


def load_checks(hidden_dir=None):
    """The course's graded items (plus hidden ones) and its exercise ids."""

    try:
        return checks.items(hidden_dir=hidden_dir), list(checks.EXERCISES)
    except Exception as error:
        raise GradingError(f"the checks could not be loaded: {type(error).__name__}: {error}") from None
