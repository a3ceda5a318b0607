"""Student code may import everything installed in the environment that runs the check.

Specification (issue 21, section 1). In the child that runs a student's
file, in every sandbox (the Linux one as the grader runs it, the Linux one
as a student who is not root runs it, the portable one):

* every package installed in the environment that runs ``k2l check`` /
  ``k2l grade`` is importable, however the import is spelled (at the top of
  the file, inside a graded function, ``importlib.import_module``,
  ``__import__``), whether the sandbox's server happened to import it first
  or not, and whether the environment lies inside the course checkout
  (``.venv``, ``.venv-student``) or outside it;
* ``k2l_course``, ``solutions`` and what an exercise declares ``FORBIDDEN``
  are refused with ``refused: ...`` by every spelling, never reported as
  missing;
* nothing of the checkout outside the environment is on the import path;
* a module that is not installed says so, and names the environment searched.

These tests run in the course environment (``.venv``, directly) and, through
``tests/test_platforms.py``, in each student environment: every package used
below is in both locks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import k2l_course
from k2l_course.exercises import checks
from k2l_course.grading import runner
from k2l_course.grading.sandbox import Call, Sandbox, portable

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = "ch2_activation"
SOLUTION = (ROOT / "solutions" / f"{EXERCISE}.py").read_text()
FULL_MARKS = sum(item.points for item in checks.items(EXERCISE))

#: The sandboxes student code meets: the Linux one as ``k2l grade`` runs it (as root: unprivileged uid,
#: allow-list view, namespaces), the Linux one as a student who is not root runs ``k2l check``, the portable one.
MODES = {
    "linux": lambda: Sandbox(jobs=1),
    "linux-own-user": lambda: Sandbox(jobs=1, separate_user=False),
    "portable": lambda: portable.PortableSandbox(),
}
if os.geteuid() == 0:
    # As in a container without namespaces (Gradescope's): an unprivileged uid and file permissions only. (No
    # secrets here: that mode refuses to start while the checkout's solutions are readable by others.)
    MODES["linux-no-namespaces"] = lambda: Sandbox(jobs=1, namespaces=False, course_defaults=False)

pytestmark = [
    pytest.mark.skipif(not portable.linux_sandbox_available(), reason="the Linux sandbox runs on Linux only"),
    pytest.mark.slow,  # a sandbox per mode, a fresh interpreter per portable run
]

#: Imports of installed third-party packages in every spelling, each used inside a graded function. The
#: dynamic names are seen by no pattern the sandbox's server could match to import them first.
IMPORTING = '''
import importlib

import matplotlib
from tqdm.auto import trange

matplotlib.use("Agg")


def _use_the_packages(values):
    from scipy import special
    import scipy.sparse

    plt = importlib.import_module(".".join(["matplotlib", "pyplot"]))
    nbformat = __import__("nb" + "format")
    ndimage = importlib.import_module("scipy." + "ndimage")
    figure, axes = plt.subplots()
    axes.plot(values.ravel())
    plt.close(figure)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    assert len(notebook.cells) == 1 and special.expit(0.0) == 0.5
    assert scipy.sparse.csr_matrix(np.eye(2)).nnz == 2 and ndimage.shift(np.ones(3), 0).sum() == 3
    return sum(1 for _ in trange(2, disable=True))
'''


def importing_solution():
    """The course's solution of ch2_activation, importing and using installed packages in its graded functions."""
    source = SOLUTION.replace("import numpy as np\n", "import numpy as np\n" + IMPORTING, 1)
    source = source.replace("    # BEGIN SOLUTION\n", "    # BEGIN SOLUTION\n    assert _use_the_packages(np.zeros(3)) == 2\n")
    assert source.count("_use_the_packages(np.zeros(3))") == 2
    return source


@pytest.fixture(scope="module", params=list(MODES))
def sandbox(request):
    with MODES[request.param]() as box:
        unreadable = box.info.get("unreadable") if isinstance(box, Sandbox) else None
        if unreadable:
            # Without namespaces, only file permissions decide what the student's uid reads: the sandbox says
            # so at start (here, e.g., a Python under /root), and a missing module's message names those folders.
            assert f"student code cannot read {', '.join(unreadable)}" in box.describe()
            pytest.skip(f"this machine's Python is not readable by other users: {box.describe()}")
        yield box


def check(sandbox, path, seed=None):
    """``k2l check`` (public cases) or ``k2l grade`` (fresh cases of ``seed``) of one file in ``sandbox``."""
    return runner.check_file(path, EXERCISE, run_calls=lambda p, calls, **limits: sandbox.run(p, calls, **limits),
                             seed=seed)  # fmt: skip


def write(folder, source, name=f"{EXERCISE}.py"):
    path = Path(folder) / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.mark.parametrize("seed", [None, 20261207], ids=["public cases", "fresh cases"])
def test_a_correct_answer_that_imports_installed_packages_gets_full_marks(sandbox, tmp_path, seed):
    if seed is not None and isinstance(sandbox, portable.PortableSandbox):
        pytest.skip("k2l grade (fresh cases) runs in the Linux sandbox only")
    result = check(sandbox, write(tmp_path, importing_solution()), seed)
    assert result.status == "ok", result.notes
    assert not result.notes, result.notes
    assert result.score == FULL_MARKS, [(r.item.name, r.verdict.message) for r in result.results]


PROBE = '''
import importlib


def spelled(name, how):
    if how == "import":
        exec(f"import {name}", {})
    elif how == "from":
        parent, _, child = name.rpartition(".")
        exec(f"from {parent or name} import {child or '*'}", {})
    elif how == "importlib":
        importlib.import_module(name)
    else:
        __import__(name)
    return "imported"


def call_forbidden(how):
    if how == "from":
        from nengo_loihi.neurons import loihi_rates
        function = loihi_rates
    elif how == "importlib":
        function = getattr(importlib.import_module("nengo_loihi.neurons"), "loihi_rates")
    else:
        function = __import__("nengo_loihi.neurons", fromlist=["loihi_rates"]).loihi_rates
    return function()


def import_path():
    import sys

    return list(sys.path)
'''
SPELLINGS = ("import", "from", "importlib", "__import__")
REFUSED = ("k2l_course", "k2l_course.exercises.checks", "k2l_course.grading.sandbox", "solutions",
           f"solutions.{EXERCISE}")  # fmt: skip


def test_the_course_library_solutions_and_forbidden_names_are_refused_by_every_spelling(sandbox, tmp_path):
    calls = [Call("spelled", {"name": name, "how": how}) for name in REFUSED for how in SPELLINGS]
    calls += [Call("call_forbidden", {"how": how}) for how in ("from", "importlib", "__import__")]
    result = sandbox.run(write(tmp_path, PROBE, "probe.py"), calls, forbidden=runner.forbidden_of([EXERCISE]))
    assert result.status == "ok"
    for call, outcome in zip(calls, result.outcomes):
        assert not outcome.ok and outcome.error.startswith("refused: "), (call.kwargs, outcome.error)
        assert "No module named" not in outcome.error
    top = {name.split(".")[0] for name in REFUSED}
    assert {note.split(" ")[1] for note in result.notes} >= {"nengo_loihi.neurons.loihi_rates"}
    assert all(f"refused: {name}" in " ".join(o.error for o in result.outcomes) for name in top)


def test_the_checkout_is_not_on_the_import_path_but_the_environment_is(sandbox, tmp_path):
    result = sandbox.run(write(tmp_path, PROBE, "probe.py"), [Call("import_path", {})]
                         + [Call("spelled", {"name": name, "how": "importlib"}) for name in ("tests", "bootstrap")])  # fmt: skip
    path = result.outcomes[0].value
    environment = os.path.realpath(sys.prefix)
    checkout = k2l_course.checkout()
    for entry in path:
        real = os.path.realpath(entry)
        inside = checkout is not None and (real == str(checkout) or real.startswith(str(checkout) + os.sep))
        assert not inside or real.startswith(environment + os.sep), entry
    assert any("site-packages" in entry for entry in path)
    for outcome in result.outcomes[1:]:  # the checkout's own folders and files are not modules to student code
        assert "ModuleNotFoundError" in outcome.error


def test_a_module_that_is_not_installed_says_so_and_names_the_environment(sandbox, tmp_path):
    source = SOLUTION + "\n\nimport k2l_not_installed_anywhere\n\n\ndef later():\n    import k2l_nor_this\n"
    result = sandbox.run(write(tmp_path, source), [Call("later", {})])
    where = f"it is not installed in the Python {sys.version_info[0]}.{sys.version_info[1]} environment {sys.prefix}"
    assert any("No module named 'k2l_not_installed_anywhere'" in note and where in note for note in result.notes)
    assert "No module named 'k2l_nor_this'" in result.outcomes[0].error and where in result.outcomes[0].error


def copy_of_the_checkout(folder):
    """The course's checkout copied to ``folder`` (its package, solutions and project file): one the environment is not in."""
    copy = Path(folder) / "k2l-checkout"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "k2l_course", copy / "k2l_course", ignore=ignore)
    shutil.copytree(ROOT / "solutions", copy / "solutions", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    for part in (copy, *copy.parents):
        if part.stat().st_mode & 0o005 != 0o005:  # (tmp_path is private: the sandbox's uid must reach the package)
            part.chmod(part.stat().st_mode | 0o005)
        if part == Path(folder).parent:
            break
    return copy


@pytest.mark.parametrize("mode", ["linux", "portable"])
def test_an_environment_outside_the_checkout_is_importable_too(tmp_path, mode):
    """``k2l check`` run from a checkout the environment does not lie in (as with ``pip install -e`` into a venv
    kept elsewhere): the same answer gets full marks."""
    copy = copy_of_the_checkout(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(copy))
    where = subprocess.run([sys.executable, "-c", "import k2l_course, sys; print(k2l_course.checkout()); print(sys.prefix)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split("\n")  # fmt: skip
    assert where[0] == str(copy) and not os.path.realpath(where[1]).startswith(str(copy))
    (tmp_path / "work").mkdir()
    submission = write(tmp_path / "work", importing_solution())
    done = subprocess.run([sys.executable, "-m", "k2l_course.cli", "check", EXERCISE, str(submission), "--sandbox", mode],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0 and f"Total: {FULL_MARKS}/{FULL_MARKS} points" in done.stdout, done.stdout + done.stderr
