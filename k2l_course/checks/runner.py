"""Check one student file: run its functions in the sandbox, judge the results here.

All the calls of an exercise's items go to the sandbox in one run (the file
is loaded once); the outcomes are then split back per item and judged in this
trusted process by :meth:`k2l_course.checks.items.Item.verdict`.
"""

from __future__ import annotations

import dataclasses

#: Defaults of a student's check: the whole file, one call, and its memory.
TIMEOUT = 60.0
CALL_TIMEOUT = 10.0
MEMORY_MB = 2048


@dataclasses.dataclass
class ItemResult:
    """The verdict of one item.

    Attributes
    ----------
    item : k2l_course.checks.Item
    verdict : k2l_course.checks.Verdict
    """

    item: object
    verdict: object

    @property
    def passed(self):
        """Full points."""
        return self.verdict.score >= self.item.points


@dataclasses.dataclass
class FileResult:
    """What checking one exercise file gave.

    Attributes
    ----------
    exercise : str
    path : pathlib.Path
    status : str
        The sandbox's status (``"ok"``, ``"syntax-error"``, ``"timeout"`` ...).
    notes : list of str
        Problems met while loading the file.
    output : str
        What the student's code printed (capped).
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


def plan(items):
    """The sandbox calls of ``items`` and, per item, the slice of outcomes that are its own.

    Returns
    -------
    calls : list of k2l_course.sandbox.Call
    slices : list of slice
    """
    from k2l_course.sandbox import Call

    calls, slices = [], []
    for item in items:
        cases = item.cases()
        slices.append(slice(len(calls), len(calls) + len(cases)))
        calls.extend(Call(item.function, case) for case in cases)
    return calls, slices


def check_file(
    path, exercise, items=None, run_calls=None, timeout=TIMEOUT, call_timeout=CALL_TIMEOUT, memory_mb=MEMORY_MB
):
    """Check one student file against the items of one exercise.

    Parameters
    ----------
    path : path-like
        The student's ``.py`` or ``.ipynb``.
    exercise : str
    items : list of Item, optional
        Defaults to ``k2l_course.checks.items(exercise)``.
    run_calls : callable, optional
        ``run_calls(path, calls, timeout=, memory_mb=, call_timeout=)``;
        :func:`k2l_course.sandbox.run_calls` by default.
    timeout, call_timeout : float
        Seconds for the whole file and for one call.
    memory_mb : int

    Returns
    -------
    FileResult
    """
    from k2l_course import checks

    if items is None:
        items = checks.items(exercise)
    if run_calls is None:
        from k2l_course.sandbox import run_calls
    calls, slices = plan(items)
    result = run_calls(path, calls, timeout=timeout, memory_mb=memory_mb, call_timeout=call_timeout)
    results = [
        ItemResult(item, item.verdict(result.outcomes[part], [call.kwargs for call in calls[part]]))
        for item, part in zip(items, slices)
    ]
    return FileResult(
        exercise=exercise,
        path=path,
        status=result.status,
        notes=list(getattr(result, "notes", []) or []),
        output=result.output,
        results=results,
    )
