"""``k2l check [EXERCISE] [PATH]``: check your exercise answers, with points and hints.

PATH is a file (``.py`` or ``.ipynb``) or a folder; by default the current
directory if it holds exercise files, else ``exercises/``. EXERCISE (an id
such as ``ch2_activation``) restricts the check to one exercise.

Which file counts for which exercise is the rule ``k2l grade`` applies
(:mod:`k2l_course.grading.planning`): in a folder, ``<exercise>.ipynb`` or
``<exercise>.py`` at its top (the more recently modified if both, the
notebook on a tie); another ``.py`` / ``.ipynb`` there counts for an exercise
without its own file when it defines that exercise's functions (the newest,
if several do); a single file counts for the exercise it is named after, else
for the exercises whose functions it defines. Everything else is listed as
skipped, with the reason.

Your code runs only in the sandbox (:mod:`k2l_course.grading.sandbox`), never in the
checking process, with the calls ``k2l grade`` refuses refused here too, and
on the public cases (``k2l grade`` draws fresh cases of the same kind). Each
item is judged exactly as in grading (:mod:`k2l_course.grading.runner`). The
report gives, per item, PASS / PART / FAIL, the points and a hint, then the
total. The exit status is 0 only when every item earns full points.
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from pathlib import Path

from k2l_course.exercises import checks
from k2l_course.grading import planning, runner
from k2l_course.grading.sandbox import SandboxError, portable

SUFFIXES = planning.SUFFIXES


class UsageError(ValueError):
    """Bad arguments: the message says what is wrong."""


@dataclasses.dataclass
class Target:
    """One file to check against one exercise.

    Attributes
    ----------
    exercise : str
    path : pathlib.Path
    note : str
        Why this file was chosen, when there was a choice.
    """

    exercise: str
    path: Path
    note: str = ""


def _functions():
    return {e: {item.function for item in checks.items(e)} for e in checks.EXERCISES}


def _has_exercise_files(folder):
    return any((folder / f"{e}{s}").is_file() for e in checks.EXERCISES for s in SUFFIXES)


def find_plan(exercise=None, path=None, cwd=None):
    """Decide which files to check against which exercises.

    Parameters
    ----------
    exercise : str, optional
    path : path-like, optional
    cwd : path-like, optional
        Where to look when ``path`` is not given (the current directory).

    Returns
    -------
    targets : list of Target
    skipped : list of planning.Skipped

    Raises
    ------
    UsageError
    """

    if exercise is not None and exercise not in checks.EXERCISES:
        raise UsageError(f"unknown exercise {exercise!r}; the exercises are {', '.join(checks.EXERCISES)}")
    if path is None:
        here = Path(cwd) if cwd is not None else Path.cwd()
        if _has_exercise_files(here):
            path = here
        elif (here / "exercises").is_dir():
            path = here / "exercises"
        else:
            raise UsageError(
                f"no exercise files in {planning.display_name(here)} and no exercises/ folder: give the file or "
                "folder to check, e.g. 'k2l check ch2_activation path/to/ch2_activation.ipynb'"
            )
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise UsageError(f"{planning.display_name(path)} does not exist")
    if not path.is_dir() and (not path.is_file() or path.suffix not in SUFFIXES):
        raise UsageError(f"{planning.display_name(path)} is not a .py or .ipynb file")
    listing = planning.list_submission(path, list(checks.EXERCISES))
    result = planning.plan(listing, _functions(), exercise=exercise)
    notes = {}
    for note in result.notes:
        ex, _, text = note.partition(": ")
        notes[ex] = text
    targets = [
        Target(ex, file, note=notes.get(ex, "")) for file, exercises in result.runs.items() for ex in exercises
    ]
    targets.sort(key=lambda t: checks.EXERCISES.index(t.exercise))
    if not targets:
        shown = planning.display_name(path)
        if path.is_dir():
            names = " or ".join(f"{exercise or '<exercise>'}{s}" for s in SUFFIXES)
            raise UsageError(f"no exercise file ({names}) in {shown}")
        raise UsageError(
            f"{path.name} is not named after an exercise and defines none of the graded functions; "
            f"say which exercise it is, e.g. 'k2l check ch2_activation {shown}'"
        )
    for target in targets:
        if not target.note and target.path.stem != target.exercise:
            target.note = f"{planning.display_name(target.path.name)} defines functions of {target.exercise}"
    return targets, result.skipped


def find_targets(exercise=None, path=None, cwd=None):
    """The targets of :func:`find_plan` (without the skipped entries)."""
    return find_plan(exercise, path, cwd)[0]


# -- checking ---------------------------------------------------------------------------------------


def check(targets, run=None, timeout=runner.TIMEOUT, call_timeout=runner.CALL_TIMEOUT, memory_mb=runner.MEMORY_MB,
          progress=None):  # fmt: skip
    """Run and judge the targets on the public cases; one run per file.

    Parameters
    ----------
    targets : list of Target
    run : callable, optional
        :func:`k2l_course.grading.runner.shared_run` by default.
    progress : tqdm, optional
        Advanced by one per file.

    Returns
    -------
    list of runner.FileResult
        One per target, in order.
    """

    if run is None:
        run = runner.shared_run
    by_file = {}
    for target in targets:
        by_file.setdefault(target.path, []).append(target.exercise)
    results = {}
    for path, exercises in by_file.items():
        items = [item for exercise in exercises for item in checks.items(exercise)]
        cases = [runner.cases_of(item, None) for item in items]
        whole = runner.run_file(run, path, items, cases, timeout=timeout, call_timeout=call_timeout,
                                memory_mb=memory_mb, forbidden=runner.forbidden_of(exercises))  # fmt: skip
        for exercise in exercises:
            results[(path, exercise)] = dataclasses.replace(
                whole, exercise=exercise, results=[r for r in whole.results if r.item.exercise == exercise]
            )
        if progress is not None:
            progress.update(1)
    return [results[(t.path, t.exercise)] for t in targets]


# -- the report -----------------------------------------------------------------------------------


def _points(value):
    return f"{value:g}"


def format_report(results, targets=None, skipped=(), width=88):
    """The student's report: per exercise and item, PASS/PART/FAIL, points and hint; skipped entries; the total."""
    lines = []
    total = earned = 0.0
    passed = count = 0
    targets = targets or [Target(r.exercise, Path(r.path)) for r in results]
    for target, result in zip(targets, results):
        lines.append(f"{target.exercise}  ({planning.display_name(target.path)})")
        if target.note:
            lines.append(f"  note: {target.note}")
        if result.status != "ok" or result.notes:
            for note in result.notes or [f"the run ended with status {result.status!r}"]:
                lines.extend(textwrap.wrap(f"problem: {note}", width, initial_indent="  ", subsequent_indent="    "))
        for item_result in result.results:
            item, verdict = item_result.item, item_result.verdict
            mark = "PASS" if item_result.passed else ("PART" if verdict.score > 0 else "FAIL")
            score = f"{_points(verdict.score)}/{_points(item.points)}"
            lines.append(f"  {mark}  {score:>5}  {item.name}: {item.function}()")
            if not item_result.passed:
                hint = textwrap.wrap(f"hint: {verdict.message}", width, initial_indent=" " * 8, subsequent_indent=" " * 10)
                lines.extend(hint)
            total += item.points
            earned += verdict.score
            passed += item_result.passed
            count += 1
        lines.append(f"  {target.exercise}: {_points(result.score)}/{_points(result.points)} points")
        lines.append("")
    if skipped:
        lines.append("Skipped (not checked):")
        lines.extend(f"  {entry}" for entry in skipped)
        lines.append("")
    lines.append(f"Total: {_points(earned)}/{_points(total)} points ({passed} of {count} items pass)")
    return planning.safe_text("\n".join(lines))


# -- the command ------------------------------------------------------------------------------------


def add_arguments(parser):
    import argparse

    parser.epilog = planning.RULE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("exercise", nargs="?", help="exercise id, e.g. ch2_activation (default: all found)")
    parser.add_argument("path", nargs="?", help="file or folder to check (default: here, or exercises/)")
    parser.add_argument(
        "--timeout", type=float, default=runner.TIMEOUT, help="seconds for a whole file (default %(default)g)"
    )
    parser.add_argument(
        "--call-timeout", type=float, default=runner.CALL_TIMEOUT,
        help="seconds for one call of a function (default %(default)g)",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="also show what your code printed")
    parser.add_argument(
        "--sandbox", choices=("auto", "linux", "portable"), default=None,
        help="where your code runs: the Linux sandbox, or the portable one (Windows, macOS); "
        "default: $K2L_SANDBOX, else auto (the Linux sandbox on Linux)",
    )  # fmt: skip


def _split_positionals(args):
    """``k2l check PATH`` works too: a first argument that is not an exercise id is the path."""

    exercise, path = args.exercise, args.path
    if exercise is not None and exercise not in checks.EXERCISES and path is None:
        if Path(exercise).exists() or Path(exercise).suffix in SUFFIXES or "/" in exercise:
            exercise, path = None, exercise
    return exercise, path


def run(args):
    try:
        exercise, path = _split_positionals(args)
        targets, skipped = find_plan(exercise, path)
    except UsageError as error:
        print(planning.safe_text(f"k2l check: {error}"), file=sys.stderr)
        return 2
    from tqdm.auto import tqdm

    try:
        sandbox = portable.choose(args.sandbox)
    except ValueError as error:
        print(planning.safe_text(f"k2l check: {error}"), file=sys.stderr)
        return 2
    files = len({t.path for t in targets})
    try:
        with sandbox.start(), tqdm(total=files, desc="checking", unit="file", leave=False, file=sys.stderr,
                                   disable=None) as bar:  # fmt: skip
            print(sandbox.describe(), flush=True)
            results = check(targets, run=sandbox.run, timeout=args.timeout, call_timeout=args.call_timeout,
                            progress=bar)  # fmt: skip
    except SandboxError as error:
        print(planning.safe_text(f"k2l check: the sandbox failed: {error}"), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.verbose:
        shown = set()
        for target, result in zip(targets, results):
            if result.output and target.path not in shown:
                shown.add(target.path)
                print(planning.safe_text(f"--- what {planning.display_name(target.path.name)} printed ---\n{result.output}"))
    print(format_report(results, targets, skipped))
    return 0 if all(r.passed for result in results for r in result.results) else 1
