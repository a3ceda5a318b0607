"""What a graded item is, and how a check turns into a score.

A graded item is one function the student writes. Its check is "call the
student's function on these inputs (in a sandbox), then judge the returned
data (here, in the trusted process)":

* :attr:`Item.cases` makes the inputs: a list of keyword-argument dicts of
  plain data (NumPy arrays, numbers, str, bool, None, lists/tuples/dicts).
  ``cases()`` (or ``cases(None)``) gives the fixed *public* cases that
  ``k2l check`` uses and students may see; ``cases(rng)``, with a
  :class:`numpy.random.Generator`, gives fresh cases of the same kinds, sizes
  and difficulty (``k2l grade`` draws them from its seed, see
  :func:`k2l_course.exercises.checks.case_rng`), so that answers memorized for the
  public cases earn nothing;
* the sandbox calls the function once per case and reports an ``Outcome``
  per call (``ok``, ``value``, ``error``, ``seconds``);
* :attr:`Item.judge` turns the outcomes *and the very cases the calls were
  made with* into a :class:`Verdict` (a judge never recomputes the cases: it
  computes its reference from the case it is given): a score
  between 0 and :attr:`Item.points` and a message in the domain's terms that
  says what was checked and what went wrong, never the expected answer.

Checks are written with :func:`item`, which declares the points and the
partial credit of an item in one place, next to each other::

    item(EXERCISE, "loihi_rate_formula", function="loihi_rate", points=3,
         partial={"capped": 1}, cases=rate_cases, check=check_rate)

The ``check`` function raises :class:`Fail` (0 points) or returns
:func:`full` or :func:`partial` (the points declared for that level).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The judgement of one item.

    Attributes
    ----------
    score : float
        ``0 <= score <= item.points``.
    message : str
        What was checked and, when it failed, what went wrong (never the answer).
    """

    score: float
    message: str


@dataclasses.dataclass(frozen=True)
class Item:
    """One graded item: a function the student writes, and how it is judged.

    Attributes
    ----------
    exercise : str
        Exercise id, e.g. ``"ch2_activation"``.
    name : str
        Unique within the exercise, e.g. ``"loihi_rate_formula"``.
    function : str
        Name of the student's function that is called.
    points : float
        Most points the item gives.
    cases : callable
        ``cases(rng=None) -> list[dict]``: keyword arguments of each call,
        plain data only; the public cases for ``rng=None``, fresh ones drawn
        from a :class:`numpy.random.Generator` otherwise. (A function without
        parameters is accepted too, e.g. in older hidden checks: its cases are
        then the same under grading.)
    judge : callable
        ``judge(outcomes, cases) -> Verdict``; runs in the trusted process.
    hidden : bool
        An instructor's check that students never received.
    section : str or None
        The heading, in its exercise's chapter (the module's ``CHAPTER``),
        of the section that teaches what the item checks; None: the chapter.
    """

    exercise: str
    name: str
    function: str
    points: float
    cases: Callable[..., list]
    judge: Callable[[list, list], Verdict]
    hidden: bool = False
    section: str | None = None

    def __post_init__(self):
        if not _takes_arguments(self.cases, 1):
            fixed = self.cases
            object.__setattr__(self, "cases", _named(lambda rng=None: fixed(), fixed))
        if not _takes_arguments(self.judge, 2):
            one = self.judge
            object.__setattr__(self, "judge", _named(lambda outcomes, cases: one(outcomes), one))

    @property
    def id(self):
        """``"exercise.name"``, unique across the assignment."""
        return f"{self.exercise}.{self.name}"

    def verdict(self, outcomes, cases):
        """Judge ``outcomes`` of the calls made with ``cases``, without ever raising.

        The judges of this package never raise, but hidden checks come from
        elsewhere: an exception, a score outside ``[0, points]`` or something
        that is not a :class:`Verdict` gives 0 with a message saying the check
        itself is broken.

        Parameters
        ----------
        outcomes : list of Outcome
            One per case, in order.
        cases : list of dict
            The keyword arguments the calls were made with
            (``self.cases(rng)`` of the run).

        Returns
        -------
        Verdict
        """
        try:
            verdict = self.judge(list(outcomes), list(cases))
        except Exception as error:  # a broken check must not stop a grading run
            return Verdict(0.0, f"the check {self.id} failed ({type(error).__name__}: {error}); tell your instructor")
        if not isinstance(verdict, Verdict):
            kind = type(verdict).__name__
            return Verdict(0.0, f"the check {self.id} returned {kind}, not a Verdict; tell your instructor")
        score = verdict.score
        real = isinstance(score, numbers.Real) and not isinstance(score, bool)
        if not real or not math.isfinite(score) or not 0 <= score <= self.points:
            return Verdict(0.0, f"the check {self.id} gave an invalid score {score!r}; tell your instructor")
        return Verdict(float(score), str(verdict.message))


def _takes_arguments(function, n):
    """Whether ``function`` can be called with ``n`` positional arguments."""
    try:
        inspect.signature(function).bind(*range(n))
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): assume it can
        return True
    return True


def _named(wrapper, wrapped):
    wrapper.__name__ = getattr(wrapped, "__name__", "wrapped")
    wrapper.__doc__ = getattr(wrapped, "__doc__", None)
    wrapper.__wrapped__ = wrapped  # inspect.getsourcefile follows it
    return wrapper


class Fail(Exception):
    """Raised by a check: the answer earns no points; ``str(error)`` says why."""


@dataclasses.dataclass(frozen=True)
class Credit:
    """What a check returns when it does not fail.

    Attributes
    ----------
    level : str
        ``"full"``, or a key of the item's ``partial`` credit.
    message : str
    """

    level: str
    message: str


def full(message="correct"):
    """Full points."""
    return Credit("full", message)


def partial(level, message):
    """The partial credit declared for ``level`` in the item's ``partial``."""
    return Credit(level, message)


def item(exercise, name, function, points, cases, check, partial=None, hidden=False, section=None):
    """Declare a graded item: its points, partial credit, inputs and check.

    Parameters
    ----------
    exercise, name, function : str
        See :class:`Item`.
    points : float
        Full points.
    cases : callable
        ``cases(rng=None) -> list[dict]``: the public cases for ``None``
        (deterministic), fresh ones drawn from ``rng`` otherwise.
    check : callable
        ``check(outcomes, cases) -> Credit``, raising :class:`Fail` for 0
        points. Use :mod:`k2l_course.exercises.checks.validate` for the returned values.
    partial : dict of str -> float, optional
        Points of each partial-credit level the check may return.
    hidden : bool
    section : str, optional
        The heading of the chapter's section that teaches the point.

    Returns
    -------
    Item
    """
    partial = dict(partial or {})
    for level, value in partial.items():
        if not 0 < value < points:
            raise ValueError(f"{exercise}.{name}: partial credit {level!r}={value} must be between 0 and {points}")

    def judge(outcomes, cases):
        try:
            credit = check(list(outcomes), list(cases))
        except Fail as failure:
            return Verdict(0.0, str(failure))
        except Exception as error:  # a check must never raise out of the judge
            return Verdict(0.0, f"the check could not judge this answer ({type(error).__name__}: {error})")
        if isinstance(credit, Credit) and credit.level == "full":
            return Verdict(float(points), credit.message)
        if isinstance(credit, Credit) and credit.level in partial:
            return Verdict(float(partial[credit.level]), credit.message)
        return Verdict(
            0.0, f"the check {exercise}.{name} returned an undeclared credit {credit!r}; tell your instructor"
        )

    judge.__name__ = f"judge_{name}"
    judge.__doc__ = check.__doc__
    judge.partial = partial  # shown by tools that list the grading scheme
    return Item(exercise=exercise, name=name, function=function, points=points, cases=cases, judge=judge, hidden=hidden,
                section=section)  # fmt: skip
