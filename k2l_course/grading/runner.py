"""Run one student file and judge it: the step ``k2l check`` and ``k2l grade`` share.

All the calls of a file's items go to the sandbox in one run (the file is
loaded once), with the whole run's time budget, the refused calls of its
exercises and, for hidden items, ``hidden=True`` (what the student's code
prints then never comes back). The outcomes are then split per item and
judged at once in this trusted process by :meth:`Item.verdict
<k2l_course.exercises.checks.items.Item.verdict>`, against the very cases the calls
were made with; only the verdicts are kept (a run's returned values are
dropped as soon as they are judged, so what the grader holds is bounded by
the runs going on at once).

Cases: ``seed=None`` gives the public cases (``k2l check``); a seed gives
fresh cases drawn with :func:`k2l_course.exercises.checks.case_rng` (``k2l grade``).
"""

from __future__ import annotations

import dataclasses
import threading

from k2l_course.exercises import checks
from k2l_course.exercises.checks.items import Verdict
from k2l_course.grading.sandbox import Call, Limits, Sandbox

#: The default limits (one place: :class:`k2l_course.grading.sandbox.Limits`).
TIMEOUT, CALL_TIMEOUT, MEMORY_MB = Limits.timeout, Limits.call_timeout, Limits.memory_mb


@dataclasses.dataclass
class ItemResult:
    """The verdict of one item.

    Attributes
    ----------
    item : k2l_course.exercises.checks.Item
    verdict : k2l_course.exercises.checks.Verdict
    """

    item: object
    verdict: object

    @property
    def passed(self):
        """Full points."""
        return self.verdict.score >= self.item.points


@dataclasses.dataclass
class FileResult:
    """What checking one student file gave.

    Attributes
    ----------
    exercise : str
        The exercise (or exercises, joined by ", ") the file was run for.
    path : pathlib.Path
    status : str
        The sandbox's status (``"ok"``, ``"syntax-error"``, ``"timeout"`` ...).
    notes : list of str
        Problems met while loading the file, refused calls.
    output : str
        What the student's code printed outside hidden calls (capped).
    results : list of ItemResult
    """

    exercise: str
    path: object
    status: str
    notes: list
    output: str
    results: list

    @property
    def score(self):
        return sum(r.verdict.score for r in self.results)

    @property
    def points(self):
        return sum(r.item.points for r in self.results)


# --- the contract with the checks and the sandbox (issue 9) ------------------------------------


def cases_of(item, seed=None):
    """The cases ``item`` is called with: public for ``seed=None``, else drawn from ``seed``."""

    return list(item.cases(checks.case_rng(seed, item)))


def verdict_of(item, outcomes, cases):
    """``item.verdict(outcomes, cases)``, judged one item at a time; never raises."""

    try:
        with _JUDGING:
            return item.verdict(outcomes, cases)
    except Exception as error:  # a judge from elsewhere (hidden checks) must not stop the batch
        return Verdict(0.0, f"the check {item.exercise}.{item.name} failed ({type(error).__name__}); tell your instructor")


def forbidden_of(exercises):
    """The calls refused while running the exercises' functions (``{dotted name: reason}``)."""

    return dict(checks.forbidden(list(exercises)))


def make_call(function, kwargs, hidden=False):
    """A sandbox call (``hidden``: its output never reaches the student)."""

    return Call(function, dict(kwargs), hidden=bool(hidden))


_shared = None
_shared_lock = threading.Lock()


def shared_run(path, calls, **limits):
    """:meth:`Sandbox.run <k2l_course.grading.sandbox.Sandbox.run>` of one sandbox kept for this process.

    Started on first use (``k2l check`` pays its start-up once for all the
    files it checks) and closed at exit.
    """
    global _shared
    import atexit

    with _shared_lock:
        if _shared is None or _shared.process is None or _shared.process.poll() is not None:
            _shared = Sandbox().start()
            atexit.register(_shared.close)
    return _shared.run(path, calls, **limits)


#: Judges run one at a time: some build networks with TensorFlow / nengo-loihi,
#: which are not meant to be driven from several threads (and the GIL would
#: serialize them anyway); the sandboxes still run in parallel.
_JUDGING = threading.Lock()


# --- one file --------------------------------------------------------------------------------


def run_file(run, path, items, cases, *, timeout=TIMEOUT, call_timeout=CALL_TIMEOUT, memory_mb=MEMORY_MB,
             forbidden=None, exercise=""):  # fmt: skip
    """Run ``items``' calls on one file and judge them.

    Parameters
    ----------
    run : callable
        ``run(path, calls, timeout=, memory_mb=, call_timeout=[, forbidden=])``:
        :meth:`Sandbox.run <k2l_course.grading.sandbox.Sandbox.run>` or
        :meth:`~k2l_course.grading.sandbox.Sandbox.run`.
    path : path-like
    items : list of Item
    cases : list of list of dict
        Each item's cases (:func:`cases_of`).
    timeout : float
        Wall-clock seconds for the whole run.
    forbidden : dict, optional
        Calls refused in the child (:func:`forbidden_of`).

    Returns
    -------
    FileResult
    """
    calls, spans = [], []
    for item, item_cases in zip(items, cases):
        spans.append(slice(len(calls), len(calls) + len(item_cases)))
        calls.extend(make_call(item.function, case, hidden=bool(item.hidden)) for case in item_cases)
    extra = {"forbidden": dict(forbidden)} if forbidden else {}
    result = run(path, calls, timeout=timeout, memory_mb=memory_mb, call_timeout=call_timeout, **extra)
    outcomes = result.outcomes
    results = []
    for index, (item, span) in enumerate(zip(items, spans)):
        results.append(ItemResult(item, verdict_of(item, outcomes[span], cases[index])))
        outcomes[span] = [None] * (span.stop - span.start)  # drop judged values at once
    return FileResult(
        exercise=exercise,
        path=path,
        status=result.status,
        notes=list(getattr(result, "notes", []) or []),
        output=result.output,
        results=results,
    )


def check_file(path, exercise, items=None, run_calls=None, timeout=TIMEOUT, call_timeout=CALL_TIMEOUT,
               memory_mb=MEMORY_MB, seed=None):  # fmt: skip
    """Check one student file against the items of one exercise (public cases by default).

    Parameters
    ----------
    path : path-like
        The student's ``.py`` or ``.ipynb``.
    exercise : str
    items : list of Item, optional
        Defaults to ``k2l_course.exercises.checks.items(exercise)``.
    run_calls : callable, optional
        Defaults to :func:`shared_run`.
    timeout, call_timeout : float
        Seconds for the whole file and for one call.
    memory_mb : int
    seed : int, optional
        Draw fresh cases (as ``k2l grade`` does) instead of the public ones.

    Returns
    -------
    FileResult
    """

    if items is None:
        items = checks.items(exercise)
    if run_calls is None:
        run_calls = shared_run
    cases = [cases_of(item, seed) for item in items]
    return run_file(run_calls, path, items, cases, timeout=timeout, call_timeout=call_timeout, memory_mb=memory_mb,
                    forbidden=forbidden_of([exercise]), exercise=exercise)  # fmt: skip
