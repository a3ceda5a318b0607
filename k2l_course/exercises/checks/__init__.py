"""The graded checks of the course's exercises, and their registry.

One module per exercise (``ch1_conversion`` ... ``ch5_chip``) declares its
``EXERCISE`` id, its ``CHAPTER`` (the book page that teaches it, and its
title), the calls it refuses (``FORBIDDEN``) and its graded items in
``ITEMS`` with :func:`~k2l_course.exercises.checks.items.item`: the student's function,
the inputs it is called with, the points and partial credit, the judge and
the section of the chapter that teaches the point. :data:`EXERCISES` is the
one registration: everything else (``k2l check``, ``k2l grade``, the
generated exercises, the report, the tests) finds the exercises there. Student code never runs here: the sandbox
(:mod:`k2l_course.grading.sandbox`) calls the functions in an isolated child and
returns plain data, which the judges examine in this, trusted, process.

Importing this package is cheap (NumPy and the course's NumPy modules); only
the block-shape check of chapter 5 imports nengo-loihi (and TensorFlow), when
it judges an answer.

Registry
--------
:data:`EXERCISES`
    Exercise ids, in course order (the one registration).
:func:`chapter`
    The book page that teaches an exercise, and its title.
:func:`items`
    The graded items, optionally of one exercise and with an instructor's
    hidden checks.
:func:`total_points`
    Their points.
:func:`case_rng`
    The random generator of an item's fresh cases under grading, from the
    run's seed.
:func:`forbidden`
    The calls refused to student code (each exercise module's ``FORBIDDEN``).

Public and fresh cases
----------------------
``item.cases()`` gives an item's fixed public cases (``k2l check``);
``item.cases(case_rng(seed, item))`` gives fresh ones of the same kinds,
sizes and difficulty (``k2l grade``), and the judges receive the cases the
calls were made with: ``item.verdict(outcomes, cases)``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import operator
import sys
from pathlib import Path

import numpy as np

from k2l_course.exercises.checks.items import Item, Verdict

__all__ = [
    "EXERCISES", "ASSIGNMENT_TOTAL", "Item", "Verdict", "items", "total_points", "HiddenChecksError",
    "case_rng", "forbidden", "chapter",
]  # fmt: skip

#: Exercise ids, one per chapter 1-5, in course order: the one registration of
#: an exercise (its module ``k2l_course/exercises/checks/<id>.py``, ``solutions/<id>.py``).
EXERCISES = ("ch1_conversion", "ch2_activation", "ch3_scaling", "ch4_training", "ch5_chip")

#: What the whole assignment is graded out of (the syllabus's number); the
#: items' points must add up to it, which the test suite asserts.
ASSIGNMENT_TOTAL = 30


class HiddenChecksError(ValueError):
    """A hidden-checks directory is missing or holds malformed checks."""


def _module(exercise):
    return importlib.import_module(f"k2l_course.exercises.checks.{exercise}")


def _visible():
    result = []
    for exercise in EXERCISES:
        result.extend(_module(exercise).ITEMS)
    return result


def load_hidden(hidden_dir):
    """Load an instructor's hidden checks.

    Parameters
    ----------
    hidden_dir : path-like
        A directory of ``.py`` modules, each defining ``ITEMS``, a list of
        :class:`Item` (in the format of this package's modules).

    Returns
    -------
    list of Item
        Marked ``hidden=True``, in file-name order.

    Raises
    ------
    HiddenChecksError
        If the directory does not exist, a module fails to import or defines
        no ``ITEMS``, an item names an unknown exercise, or two items share
        an id.
    """
    import dataclasses

    directory = Path(hidden_dir)
    if not directory.is_dir():
        raise HiddenChecksError(f"hidden checks directory not found: {directory}")
    loaded = []
    for path in sorted(directory.glob("*.py")):
        name = f"k2l_hidden_checks.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        try:
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(name, None)
            raise HiddenChecksError(f"{path}: could not be loaded ({type(error).__name__}: {error})") from error
        module_items = getattr(module, "ITEMS", None)
        if not isinstance(module_items, (list, tuple)) or not all(isinstance(i, Item) for i in module_items):
            raise HiddenChecksError(f"{path}: should define ITEMS, a list of k2l_course.exercises.checks.Item")
        for hidden in module_items:
            if hidden.exercise not in EXERCISES:
                raise HiddenChecksError(f"{path}: item {hidden.name!r} names an unknown exercise {hidden.exercise!r}")
            loaded.append(dataclasses.replace(hidden, hidden=True))
    return loaded


def items(exercise=None, hidden_dir=None):
    """The graded items.

    Parameters
    ----------
    exercise : str, optional
        Only this exercise's items.
    hidden_dir : path-like, optional
        Add the hidden checks found there (see :func:`load_hidden`).

    Returns
    -------
    list of Item
        In course order (exercise, then declaration); hidden items follow the
        visible ones of their exercise.

    Raises
    ------
    ValueError
        For an unknown exercise id.
    HiddenChecksError
        For a bad hidden-checks directory.
    """
    if exercise is not None and exercise not in EXERCISES:
        raise ValueError(f"unknown exercise {exercise!r}; exercises are {', '.join(EXERCISES)}")
    result = _visible()
    if hidden_dir is not None:
        result += load_hidden(hidden_dir)
    seen = set()
    for one in result:
        if one.id in seen:
            raise HiddenChecksError(f"two checks are named {one.id}")
        seen.add(one.id)
    result.sort(key=lambda one: EXERCISES.index(one.exercise))  # stable: declaration order within
    if exercise is not None:
        result = [one for one in result if one.exercise == exercise]
    return result


def total_points(exercise=None, hidden_dir=None):
    """Sum of the items' points (of one exercise, if given)."""
    return float(sum(one.points for one in items(exercise, hidden_dir)))


def chapter(exercise):
    """``(page, title)``: the book page that teaches ``exercise`` (``book/<page>.md``) and its title."""
    return _module(exercise).CHAPTER



def case_rng(seed, item):
    """The generator of ``item``'s fresh cases in a grading run with ``seed``.

    Derived from the seed and the item's id (``"exercise.name"``, hashed with
    SHA-256), so it is the same in every run, process and Python version, and
    independent for every item: adding or reordering items, or hidden
    checks, changes no other item's cases.

    Parameters
    ----------
    seed : int or None
        The run's seed (a non-negative integer).
    item : Item

    Returns
    -------
    numpy.random.Generator or None
        None when ``seed`` is None (the public cases).

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer.
    """
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)):
        raise ValueError(f"a seed is a non-negative integer, not {seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise ValueError(f"a seed is a non-negative integer, not {type(seed).__name__}") from None
    if seed < 0:
        raise ValueError(f"a seed is a non-negative integer, not {seed!r}")
    digest = hashlib.sha256(item.id.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([seed, *words])


def forbidden(exercises=None):
    """The calls refused to student code, merged over exercises.

    Each exercise module declares ``FORBIDDEN``, a dict from the dotted name
    of a module, function, class or method of the installed stack to the
    reason shown to the student: the calls that would skip the point of the
    exercise. (The course library itself, :mod:`k2l_course`, is out of
    reach of student code in any case.)

    Parameters
    ----------
    exercises : iterable of str, optional
        Exercise ids; all by default.

    Returns
    -------
    dict of str -> str
        When two exercises forbid the same name, their reasons are joined.

    Raises
    ------
    ValueError
        For an unknown exercise id.
    """
    merged = {}
    for exercise in EXERCISES if exercises is None else exercises:
        if exercise not in EXERCISES:
            raise ValueError(f"unknown exercise {exercise!r}; exercises are {', '.join(EXERCISES)}")
        for name, reason in getattr(_module(exercise), "FORBIDDEN", {}).items():
            if name in merged and reason not in merged[name]:
                merged[name] = f"{merged[name]}; {reason}"
            else:
                merged.setdefault(name, reason)
    return merged
