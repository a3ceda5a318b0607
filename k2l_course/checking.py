"""``k2l check [EXERCISE] [PATH]``: check your exercise answers, with points and hints.

PATH is a file (``.py`` or ``.ipynb``) or a folder holding files named
``<exercise>.py`` / ``<exercise>.ipynb``; by default the current directory if
it holds such files, else ``exercises/``. EXERCISE (an id such as
``ch2_activation``) restricts the check to one exercise; by default every
exercise found is checked. A file not named after an exercise is checked
against the exercises whose functions it defines.

The checks run under pytest (one test per graded item, see
:mod:`k2l_course.checks.graded_tests`); your code runs only in the sandbox
(:mod:`k2l_course.sandbox`), never in the checking process. The report gives,
per item, pass or fail, the points and a hint, then the total. The exit
status is 0 only when every item earns full points.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import sys
import tempfile
import textwrap
from pathlib import Path

from k2l_course.checks import runner

SUFFIXES = (".ipynb", ".py")


class UsageError(ValueError):
    """Bad arguments: the message says what is wrong."""


# -- finding the student's files -----------------------------------------------------


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


def defined_functions(path):
    """Names of the top-level functions a student's file defines (parsed, never run).

    Notebook code cells are parsed one by one; a cell (or file) that does not
    parse is skipped.
    """
    from k2l_course.sandbox.submission import neutralize_magics, read_units

    text = Path(path).read_text(encoding="utf-8", errors="replace")
    try:
        units = read_units(str(path), text)
    except ValueError:
        return set()
    names = set()
    for unit in units:
        for source in (unit.source, neutralize_magics(unit.source)):
            if source is None:
                continue
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            names.update(node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
            break
    return names


def exercises_defined_in(path):
    """The exercises at least one of whose graded functions ``path`` defines."""
    from k2l_course import checks

    names = defined_functions(path)
    return [e for e in checks.EXERCISES if any(item.function in names for item in checks.items(e))]


def _pick(folder, exercise):
    """The file of ``exercise`` in ``folder``: the more recently modified of
    ``.ipynb`` and ``.py`` (the notebook on a tie), or None."""
    found = [folder / f"{exercise}{suffix}" for suffix in SUFFIXES if (folder / f"{exercise}{suffix}").is_file()]
    if not found:
        return None
    if len(found) == 1:
        return Target(exercise, found[0])
    newest = max(found, key=lambda p: (p.stat().st_mtime_ns, p.suffix == ".ipynb"))
    other = next(p for p in found if p != newest)
    if newest.stat().st_mtime_ns != other.stat().st_mtime_ns:
        return Target(exercise, newest, note=f"{newest.name} is newer than {other.name}")
    return Target(exercise, newest, note=f"both {newest.name} and {other.name} exist; checking the notebook")


def _has_exercise_files(folder):
    from k2l_course import checks

    return any((folder / f"{e}{s}").is_file() for e in checks.EXERCISES for s in SUFFIXES)


def find_targets(exercise=None, path=None, cwd=None):
    """Decide which files to check against which exercises.

    Parameters
    ----------
    exercise : str, optional
    path : path-like, optional
    cwd : path-like, optional
        Where to look when ``path`` is not given (the current directory).

    Returns
    -------
    list of Target

    Raises
    ------
    UsageError
    """
    from k2l_course import checks

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
                f"no exercise files in {here} and no exercises/ folder: give the file or folder to check, "
                "e.g. 'k2l check ch2_activation path/to/ch2_activation.ipynb'"
            )
    path = Path(path)
    if path.is_dir():
        wanted = [exercise] if exercise else list(checks.EXERCISES)
        targets = [t for t in (_pick(path, e) for e in wanted) if t is not None]
        if not targets:
            names = " or ".join(f"{wanted[0] if exercise else '<exercise>'}{s}" for s in SUFFIXES)
            raise UsageError(f"no exercise file ({names}) in {path}")
        return targets
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if not path.is_file() or path.suffix not in SUFFIXES:
        raise UsageError(f"{path} is not a .py or .ipynb file")
    if exercise:
        return [Target(exercise, path)]
    if path.stem in checks.EXERCISES:
        return [Target(path.stem, path)]
    found = exercises_defined_in(path)
    if not found:
        raise UsageError(
            f"{path.name} is not named after an exercise and defines none of the graded functions; "
            "say which exercise it is, e.g. 'k2l check ch2_activation " + str(path) + "'"
        )
    return [Target(e, path, note=f"{path.name} defines functions of {e}") for e in found]


# -- running the checks under pytest ----------------------------------------------------


class _FileRun:
    """One target, run in the sandbox once (on first use) and judged item by item."""

    def __init__(self, target, timeout, call_timeout, run_calls=None):
        self.target = target
        self.run_calls = run_calls
        self.timeout = timeout
        self.call_timeout = call_timeout
        self.result = None
        self.error = None

    def check(self):
        if self.result is None and self.error is None:
            try:
                self.result = runner.check_file(
                    self.target.path, self.target.exercise, timeout=self.timeout, call_timeout=self.call_timeout,
                    run_calls=self.run_calls,
                )
            except Exception as error:  # the checker itself failed (never the student's code): say so
                self.error = f"{type(error).__name__}: {error}"
        if self.error is not None:
            raise RuntimeError(f"could not check {self.target.path.name}: {self.error}")
        return self.result


class _GradedTest:
    """One pytest test: one item of one target."""

    def __init__(self, file_run, index, item):
        self.file_run = file_run
        self.index = index
        self.item = item
        self.id = f"{file_run.target.path.name}::{item.name}"

    def run(self):
        return self.file_run.check().results[self.index]


class CheckSession:
    """The pytest plugin of ``k2l check``: the tests to generate, and progress."""

    def __init__(self, targets, timeout=runner.TIMEOUT, call_timeout=runner.CALL_TIMEOUT, progress=None, run_calls=None):
        from k2l_course import checks

        self.files = [_FileRun(t, timeout, call_timeout, run_calls) for t in targets]
        self.tests = [
            _GradedTest(file_run, index, item)
            for file_run in self.files
            for index, item in enumerate(checks.items(file_run.target.exercise))
        ]
        self.progress = progress
        self.outcomes = {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[report.nodeid] = report.outcome
            if self.progress is not None:
                self.progress.update(1)


def run_pytest(session, verbose=False):
    """Run the graded tests of ``session`` under pytest, in this process.

    Returns
    -------
    int
        pytest's exit code.
    str
        pytest's own output (shown with ``--verbose``).
    """
    import pytest

    from k2l_course.checks import graded_tests

    with tempfile.TemporaryDirectory(prefix="k2l-check-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        args = [
            graded_tests.__file__,
            "-c", str(ini), "--rootdir", tmp,
            "-p", "no:nengo", "-p", "no:cacheprovider",
            "--import-mode=importlib", "-q", "--no-header", "-rN", "--tb=line" if verbose else "--tb=no",
        ]  # fmt: skip
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), _environment(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTEST_ADDOPTS=None):
            code = pytest.main(args, plugins=[_Named(session)])
    return int(code), buffer.getvalue()


@contextlib.contextmanager
def _environment(**changes):
    """Set (or, for None, remove) environment variables for the duration of a block."""
    import os

    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Named:
    """Registers the session under :data:`graded_tests.PLUGIN` (pytest names plugins by object)."""

    def __init__(self, session):
        self.session = session

    def pytest_configure(self, config):
        from k2l_course.checks import graded_tests

        config.pluginmanager.register(self.session, graded_tests.PLUGIN)


# -- the report -----------------------------------------------------------------------------


def _points(value):
    return f"{value:g}"


def format_report(files, width=88):
    """The student's report: per file and item, pass/fail, points and hint; then the total."""
    lines = []
    total = earned = 0.0
    passed = count = 0
    for file_run in files:
        result = file_run.result
        target = file_run.target
        if result is None:
            if file_run.error is not None:
                lines.append(f"{target.exercise}  ({target.path})")
                lines.append(f"  the checker could not run: {file_run.error}")
                lines.append("")
            continue
        lines.append(f"{target.exercise}  ({target.path})")
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
    lines.append(f"Total: {_points(earned)}/{_points(total)} points ({passed} of {count} items pass)")
    return "\n".join(lines)


# -- the command ---------------------------------------------------------------------------


def add_arguments(parser):
    parser.add_argument("exercise", nargs="?", help="exercise id, e.g. ch2_activation (default: all found)")
    parser.add_argument("path", nargs="?", help="file or folder to check (default: here, or exercises/)")
    parser.add_argument(
        "--timeout", type=float, default=runner.TIMEOUT, help="seconds for a whole file (default %(default)g)"
    )
    parser.add_argument(
        "--call-timeout", type=float, default=runner.CALL_TIMEOUT,
        help="seconds for one call of a function (default %(default)g)",
    )  # fmt: skip
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also show pytest's output and what your code printed"
    )
    parser.add_argument(
        "--sandbox", choices=("auto", "linux", "portable"), default=None,
        help="where your code runs: the Linux sandbox, or the portable one (Windows, macOS); "
        "default: $K2L_SANDBOX, else auto (Linux sandbox on Linux)",
    )  # fmt: skip


def _split_positionals(args):
    """``k2l check PATH`` works too: a first argument that is not an exercise id is the path."""
    from k2l_course import checks

    exercise, path = args.exercise, args.path
    if exercise is not None and exercise not in checks.EXERCISES and path is None:
        if Path(exercise).exists() or Path(exercise).suffix in SUFFIXES or "/" in exercise:
            exercise, path = None, exercise
    return exercise, path


def run(args):
    try:
        exercise, path = _split_positionals(args)
        targets = find_targets(exercise, path)
    except UsageError as error:
        print(f"k2l check: {error}", file=sys.stderr)
        return 2
    from tqdm.auto import tqdm

    from k2l_course.sandbox import portable

    try:
        sandbox = portable.choose(getattr(args, "sandbox", None)).start()
    except ValueError as error:
        print(f"k2l check: {error}", file=sys.stderr)
        return 2
    print(sandbox.describe(), flush=True)
    session = CheckSession(targets, timeout=args.timeout, call_timeout=args.call_timeout, run_calls=sandbox.run)
    bar = tqdm(total=len(session.tests), desc="checking", unit="item", leave=False, file=sys.stderr, disable=None)
    with bar, sandbox:
        session.progress = bar
        code, output = run_pytest(session, verbose=args.verbose)
    if args.verbose:
        print(output)
        for file_run in session.files:
            if file_run.result is not None and file_run.result.output:
                print(f"--- what {file_run.target.path.name} printed ---\n{file_run.result.output}")
    if code == 2:  # pytest's "interrupted"
        print("interrupted", file=sys.stderr)
        return 130
    if code not in (0, 1):  # 1: some test failed; anything else: pytest itself failed
        print(f"k2l check: pytest could not run the checks (exit code {code}):\n{output}", file=sys.stderr)
        return 3
    print(format_report(session.files))
    everything = all(f.result is not None and all(r.passed for r in f.result.results) for f in session.files)
    return 0 if everything and code == 0 else 1
