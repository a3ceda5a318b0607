"""What a student runs: ``k2l check`` and the notebooks' checking cell, in either sandbox.

These tests run in the full environment (``bootstrap.py test``) and, through
``tests/test_platforms.py``, inside the student environment built with every
Python on the machine (no TensorFlow there). In both sandbox modes the
solutions earn full marks, the untouched exercises nothing, and every typical
wrong answer of ``tests/wrong_answers/`` exactly its designed points; the
portable mode gives the very outcome of the Linux sandbox.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from k2l_course.exercises import checks
from k2l_course.grading.runner import check_file
from k2l_course.grading.sandbox import portable

ROOT = Path(__file__).resolve().parents[1]
WRONG_ANSWERS = sorted((ROOT / "tests" / "wrong_answers").glob("*.py"))
MODES = ("linux", "portable")
#: What student code may never import on the student path.
NOT_ON_THE_STUDENT_PATH = ("tensorflow", "nengo_dl", "keras")

pytestmark = [
    pytest.mark.skipif(not portable.linux_sandbox_available(), reason="compares with the Linux sandbox"),
    # In the full environment these would only repeat what tests/test_platforms.py runs in every student one.
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None,
                       reason="student-environment tests: tests/test_platforms.py runs them in each student environment"),
    pytest.mark.slow,  # every exercise in both sandboxes, in minutes
]


@pytest.fixture(scope="module", params=MODES)
def sandbox(request):
    with portable.choose(request.param) as box:
        yield box


def run_calls(sandbox):
    return lambda path, calls, **limits: sandbox.run(path, calls, **limits)


def scores(result):
    return {r.item.name: r.verdict.score for r in result.results}


def outcome(result):
    """Everything the student sees of a check, to compare between sandboxes."""
    return result.status, result.notes, [(r.item.name, r.verdict.score, r.verdict.message) for r in result.results]


def expected_scores(path):
    """``EXPECTED`` of a wrong answer, read without running the file."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXPECTED":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} has no EXPECTED")


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_solution_earns_full_marks_in_both_sandboxes(exercise, sandbox):
    result = check_file(ROOT / "solutions" / f"{exercise}.py", exercise, run_calls=run_calls(sandbox))
    assert result.status == "ok" and not result.notes, result.notes
    assert scores(result) == {i.name: i.points for i in checks.items(exercise)}, [r.verdict.message for r in result.results]


@pytest.mark.parametrize("suffix", [".py", ".ipynb"])
@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_untouched_exercise_earns_nothing_in_both_sandboxes(exercise, suffix, sandbox):
    result = check_file(ROOT / "exercises" / f"{exercise}{suffix}", exercise, run_calls=run_calls(sandbox))
    assert result.status == "ok" and not result.notes, result.notes
    assert all(r.verdict.score == 0 for r in result.results)


@pytest.mark.slow
@pytest.mark.parametrize("wrong", WRONG_ANSWERS, ids=[p.stem for p in WRONG_ANSWERS])
def test_wrong_answer_earns_its_designed_points_and_the_same_outcome_in_both_sandboxes(wrong, tmp_path):
    exercise = wrong.stem.split("__")[0]
    expected = expected_scores(wrong)
    submission = tmp_path / f"{exercise}.py"
    solution = (ROOT / "solutions" / f"{exercise}.py").read_text(encoding="utf-8")
    submission.write_text(solution + "\n\n" + wrong.read_text(encoding="utf-8"), encoding="utf-8")
    seen = {}
    for mode in MODES:
        with portable.choose(mode) as box:
            result = check_file(submission, exercise, run_calls=run_calls(box), call_timeout=1)
        got = scores(result)
        for one in checks.items(exercise):
            assert got[one.name] == expected.get(one.name, one.points), (mode, one.name, result.results)
        seen[mode] = outcome(result)
    assert seen["portable"] == seen["linux"]


# -- the student path: no TensorFlow, no POSIX-only module ----------------------------------


def _run_python(code, *args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, encoding="utf-8", cwd=cwd,
        env=dict(os.environ, **(env or {})), timeout=900,
    )  # fmt: skip


#: A meta-path finder that makes modules unavailable, as on another OS (or without TensorFlow).
BLOCKER = """
import sys
class Blocker:
    def __init__(self, names):
        self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
sys.meta_path.insert(0, Blocker(set(sys.argv.pop(1).split(","))))
"""


def test_k2l_check_never_imports_tensorflow(tmp_path):
    """``k2l --help`` and a whole ``k2l check`` run with TensorFlow, nengo-dl and Keras unavailable."""
    code = BLOCKER + (
        "from k2l_course import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "sys.exit(cli.main(['check', '--sandbox', sys.argv[1], sys.argv[2]]))\n"
    )
    for mode in MODES:
        done = _run_python(code, ",".join(NOT_ON_THE_STUDENT_PATH), mode, str(ROOT / "solutions"), cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "usage: k2l" in done.stdout
        assert f"Total: {checks.total_points():g}/{checks.total_points():g} points" in done.stdout


#: Modules a student's check goes through.
STUDENT_PATH = (
    "k2l_course.cli", "k2l_course.grading.check", "k2l_course.exercises.checks", *(f"k2l_course.exercises.checks.{e}" for e in checks.EXERCISES),
    "k2l_course.grading.runner", "k2l_course.grading.sandbox", "k2l_course.grading.sandbox.wire", "k2l_course.grading.sandbox.submission",
    "k2l_course.grading.sandbox.child", "k2l_course.grading.sandbox.portable", "k2l_course.exercises.notebook_check", "k2l_course.exercises.generate",
)  # fmt: skip
POSIX_ONLY = ("resource", "fcntl", "pwd", "grp", "termios")


def test_student_path_imports_no_posix_only_module_and_checks_portably(tmp_path):
    """As on Windows: import every student-path module, then check a solution in the portable sandbox."""
    code = BLOCKER + (
        "import importlib, json\n"
        "failed = {}\n"
        "for name in sys.argv[1].split(','):\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except ImportError as error:\n        failed[name] = str(error)\n"
        "print(json.dumps(failed))\n"
        "if failed:\n    sys.exit(0)\n"
        "from k2l_course.grading.sandbox.portable import PortableSandbox\n"
        "from k2l_course.grading.runner import check_file\n"
        "with PortableSandbox(memory='watch') as box:\n"
        "    result = check_file(sys.argv[2], 'ch2_activation', run_calls=box.run)\n"
        "print(json.dumps([result.status, result.score, result.points]))\n"
    )
    done = _run_python(code, ",".join(POSIX_ONLY), ",".join(STUDENT_PATH), str(ROOT / "solutions" / "ch2_activation.py"))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    failed = json.loads(lines[0])
    assert failed == {}
    status, score, points = json.loads(lines[1])
    assert status == "ok" and score == points


# -- the notebooks' checking cell -----------------------------------------------------------


def _execute(notebook_path, env, cells=None):
    """Run a notebook's cells (all, or these indices) in a fresh kernel, as JupyterLab would."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(notebook_path, as_version=4)
    if cells is not None:
        notebook.cells = [notebook.cells[i] for i in cells]
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebook_path.parent)}})
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return "".join(
        output.get("text", "") for output in notebook.cells[-1].get("outputs", []) if output.get("output_type") == "stream"
    )


def _solved_notebook(tmp_path, exercise):
    """The exercise notebook with the solution's code in place of each stub cell."""
    import nbformat

    from k2l_course.exercises.generate import parse_cells

    notebook = nbformat.read(ROOT / "exercises" / f"{exercise}.ipynb", as_version=4)
    solved = [c for c in parse_cells((ROOT / "solutions" / f"{exercise}.py").read_text(encoding="utf-8")) if c.kind == "code"]
    code = [c for c in notebook.cells if c.cell_type == "code" and "k2l-check" not in c.metadata.get("tags", [])]
    assert len(code) == len(solved)
    for cell, solution in zip(code, solved):
        cell.source = solution.source
    path = tmp_path / f"{exercise}.ipynb"
    nbformat.write(notebook, path)
    return path


def test_every_exercise_notebook_ends_with_the_tagged_checking_cell():
    import nbformat

    for exercise in checks.EXERCISES:
        last = nbformat.read(ROOT / "exercises" / f"{exercise}.ipynb", as_version=4).cells[-1]
        assert last.cell_type == "code" and last.metadata.get("tags") == ["k2l-check"]
        assert f'check_this("{exercise}", globals())' in last.source


@pytest.mark.slow
def test_notebook_cell_prints_the_k2l_check_report_of_the_saved_notebook(tmp_path):
    path = _solved_notebook(tmp_path, "ch2_activation")
    env = {"JPY_SESSION_NAME": str(path), "K2L_SANDBOX": "portable"}
    shown = _execute(path, env)
    cli = subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", "check", "ch2_activation", str(path)], capture_output=True, text=True,
        encoding="utf-8", env=dict(os.environ, K2L_SANDBOX="portable"),
    )  # fmt: skip
    assert cli.returncode == 0
    assert shown.strip() == cli.stdout.strip()
    assert "sandbox: portable" in shown and "Total: " in shown


@pytest.mark.slow
def test_notebook_cell_refuses_to_check_unsaved_changes_or_an_unsaved_notebook(tmp_path):
    import nbformat

    path = _solved_notebook(tmp_path, "ch2_activation")
    # The kernel runs an edited cell that the saved file does not hold.
    edited = nbformat.read(path, as_version=4)
    code = [i for i, c in enumerate(edited.cells) if c.cell_type == "code"]
    edited.cells[code[0]].source += "\nx_unsaved = 1"
    run_copy = tmp_path / "running.ipynb"
    nbformat.write(edited, run_copy)
    shown = _execute(run_copy, {"JPY_SESSION_NAME": str(path)})
    assert "unsaved changes" in shown and "Total:" not in shown
    shown = _execute(run_copy, {"JPY_SESSION_NAME": str(tmp_path / "Untitled.ipynb")})
    assert "never been saved" in shown and "Total:" not in shown
