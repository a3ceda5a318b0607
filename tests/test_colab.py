"""The exercises on Google Colab: its links, and each notebook run as Colab runs it.

With the course's repository known (``K2L_REPOSITORY_URL``), every exercise
notebook and every chapter's exercise offer "Open in Colab" on the notebook
of the published branch; unknown, none does. On Colab the notebook's first
code cell installs the course's package from that repository, and its last
cell checks the notebook that Colab's frontend holds.

The fast tests check the links, the install cell off Colab, and the checking
cell against a fake frontend; the slow test runs each exercise notebook, solved and as given, top to
bottom with nbclient in what Colab is: a Python 3.13 environment holding
Colab's preinstalled versions (:data:`COLAB_PREINSTALLED`), a kernel that has
imported ``google.colab`` when it starts, no notebook file beside the kernel.
``tests/colab_standin/`` is the test's stand-in for the part of Colab that is
not Python packages: the kernel launcher and the frontend's ``get_ipynb``
answer (it returns the notebook as saved). The notebooks are those
``k2l make-exercises`` writes, for a repository that is this checkout
committed to a local git repository (a ``file://`` URL), so the install cell
runs exactly as on Colab, pip installing ``k2l-course @ git+URL@BRANCH``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from environments import find_python
from k2l_course.exercises import checks
from k2l_course.exercises.colab import Repository, published_repository
from k2l_course.exercises.generate import INSTALL_TAG, generate, parse_cells

ROOT = Path(__file__).resolve().parents[1]
STANDIN = Path(__file__).resolve().parent / "colab_standin"
PUBLISHED = {"K2L_REPOSITORY_URL": "https://github.com/example-org/k2l", "K2L_REPOSITORY_BRANCH": "fall-2026"}
COLAB = "https://colab.research.google.com/github/example-org/k2l/blob/fall-2026/exercises/{}.ipynb"

#: What Colab's Python 3.13 runtime has installed before a notebook runs, where it
#: matters here: the numerical stack the course's package must accept as it is
#: (NumPy 2.1.3, SciPy 1.16.3, Matplotlib), and the kernel side (IPython,
#: ipykernel, jupyter-client, pyzmq, tornado) with the packages the checker uses.
COLAB_PREINSTALLED = {
    "numpy": "2.1.3",
    "scipy": "1.16.3",
    "matplotlib": "3.10.0",
    "ipython": "7.34.0",
    "ipykernel": "6.17.1",
    "jupyter-client": "7.4.9",
    "pyzmq": "26.2.1",
    "tornado": "6.4.2",
    "tqdm": "4.67.1",
    "nbformat": "5.10.4",
    "psutil": "5.9.5",
}


# -- the links (fast) ------------------------------------------------------------------------------


def _links(text):
    return re.findall(r"https://colab\.research\.google\.com/[^\s)\"']+", text)


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_a_published_exercise_opens_in_colab_from_its_branch_and_installs_from_it(exercise):
    files = generate(ROOT, environ=PUBLISHED)
    for name in (f"{exercise}.ipynb", f"{exercise}.py"):
        assert _links(files[name]) == [COLAB.format(exercise)], name
    notebook = nbformat.reads(files[f"{exercise}.ipynb"], as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    install = code[0]
    assert install.metadata.tags == ["k2l-check", INSTALL_TAG]  # graders skip it
    assert "'k2l-course @ git+https://github.com/example-org/k2l@fall-2026'" in install.source
    assert '"google.colab" in sys.modules' in install.source
    assert COLAB.format(exercise) in files["README.md"]


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_an_unpublished_exercise_has_no_colab_link_and_says_on_colab_how_to_install(exercise):
    files = generate(ROOT, environ={})
    assert published_repository({}) is None
    for name in (f"{exercise}.ipynb", f"{exercise}.py", "README.md"):
        assert not _links(files[name]), name
    install = [c for c in nbformat.reads(files[f"{exercise}.ipynb"], as_version=4).cells if c.cell_type == "code"][0]
    assert "raise RuntimeError(" in install.source and "K2L_REPOSITORY_URL=" in install.source
    assert "pip" not in install.source.split("raise", 1)[0]  # it installs nothing from nowhere


def test_the_install_cell_does_nothing_off_colab(tmp_path):
    # The exercises' Python files run it as a script: no google.colab, no install, no error.
    for repository in (None, Repository("https://github.com/example-org/k2l")):
        files = generate(ROOT, repository=repository, environ={})
        install = [c for c in parse_cells(files["ch1_conversion.py"]) if c.kind == "code"][0]
        done = subprocess.run([sys.executable, "-c", install.source], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0 and not done.stdout and not done.stderr, done


def test_only_github_repositories_get_a_colab_link():
    assert Repository("https://github.com/org/repo.git", "b").colab_url("ch2_activation") == (
        "https://colab.research.google.com/github/org/repo/blob/b/exercises/ch2_activation.ipynb"
    )
    assert Repository("https://gitlab.com/org/repo").colab_url("ch2_activation") is None
    assert Repository("file:///srv/k2l", "x").requirement() == "k2l-course @ git+file:///srv/k2l@x"
    assert published_repository({"K2L_REPOSITORY_URL": " https://github.com/o/r/ ", "K2L_REPOSITORY_BRANCH": ""}) == (
        Repository("https://github.com/o/r", "main")
    )


def _book_doctrees(tmp_path, environ):
    """The book's pages as Sphinx resolves them with the real conf.py (chapters not executed).

    The pseudo-XML builder writes every resolved doctree (after the
    ``doctree-resolved`` event that adds the Colab links) without the HTML
    theme's assets: seconds, not a book build.
    """
    output = tmp_path / "pseudoxml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("K2L_REPOSITORY_")} | environ
    env["K2L_JUPYTER_CACHE"] = str(tmp_path / "jupyter-cache")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "pseudoxml", "-q", "-c", str(ROOT), str(ROOT / "book"), str(output),
         "-d", str(tmp_path / "doctrees"), "-D", "nb_execution_mode=off"],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return {path.stem: path.read_text() for path in output.glob("*.pseudoxml")}


def test_each_chapter_links_its_exercise_to_colab_exactly_when_published(tmp_path):
    published = _book_doctrees(tmp_path / "published", PUBLISHED)
    unpublished = _book_doctrees(tmp_path / "unpublished", {})
    for exercise in checks.EXERCISES:
        chapter = checks.chapter(exercise)[0]
        assert _links(published[chapter]) == [COLAB.format(exercise)], chapter
    assert sum(len(_links(page)) for page in published.values()) == len(checks.EXERCISES)
    assert not any(_links(page) for page in unpublished.values())


# -- on Colab (slow) -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def colab_python(tmp_path_factory):
    """A Python 3.13 environment with Colab's preinstalled versions (built once per test session)."""
    python = find_python("3.13")
    if python is None:
        if os.environ.get("CI"):
            pytest.fail("Python 3.13 (Colab's) is not installed")
        pytest.skip("Python 3.13 (Colab's) is not installed")
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pins = [f"{name}=={version}" for name, version in COLAB_PREINSTALLED.items()]
    done = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return venv / "bin" / "python"


@pytest.fixture(scope="session")
def published_checkout(tmp_path_factory):
    """This checkout (tracked files and new ones not ignored) committed to a local git repository."""
    repo = tmp_path_factory.mktemp("published") / "k2l"
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, names):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = repo / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "init", "--quiet", "--initial-branch", "fall-2026"], check=True)
    subprocess.run([*git, "add", "--all"], check=True)
    subprocess.run([*git, "commit", "--quiet", "--message", "the course as published"], check=True)
    return Repository(repo.as_uri(), "fall-2026")


def _solved(notebook, exercise):
    """The exercise notebook with the solution's code in each of the student's cells."""
    solved = [c for c in parse_cells((ROOT / "solutions" / f"{exercise}.py").read_text(encoding="utf-8")) if c.kind == "code"]
    code = [c for c in notebook.cells if c.cell_type == "code" and "k2l-check" not in c.metadata.get("tags", [])]
    assert len(code) == len(solved)
    for cell, solution in zip(code, solved):
        cell.source = solution.source
    return notebook


def _run_on_colab(notebook, folder, python, monkeypatch, allow_errors=False):
    """Save ``notebook``, then run it top to bottom in a Colab-like kernel.

    Returns
    -------
    report : str
        What the checking cell printed.
    errors : list of str
        The names of the exceptions cells raised (only with ``allow_errors``).
    """
    from nbclient import NotebookClient

    folder.mkdir(parents=True)
    saved = folder / "saved.ipynb"  # what the stand-in frontend hands over
    nbformat.write(notebook, saved)
    content = folder / "content"  # the kernel's working directory, as /content on Colab: no notebook there
    content.mkdir()
    spec = folder / "jupyter" / "kernels" / "colab"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "colab_kernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (Colab stand-in)", "language": "python",
        "env": {"PYTHONPATH": str(STANDIN), "K2L_COLAB_STANDIN_NOTEBOOK": str(saved), "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
    }))  # fmt: skip
    monkeypatch.setenv("JUPYTER_PATH", str(folder / "jupyter"))
    for variable in ("JPY_SESSION_NAME", "K2L_SANDBOX", "PYTHONPATH", "VIRTUAL_ENV"):
        monkeypatch.delenv(variable, raising=False)
    client = NotebookClient(notebook, timeout=900, kernel_name="colab", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(content)}})  # fmt: skip
    client.execute()
    outputs = notebook.cells[-1].get("outputs", [])
    errors = [o.ename for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream"), errors


@pytest.mark.slow
@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_on_colab_a_solution_earns_full_marks_and_an_untouched_exercise_its_hints(
    exercise, colab_python, published_checkout, tmp_path, monkeypatch
):
    files = generate(ROOT, repository=published_checkout)
    items = checks.items(exercise)
    total = f"{checks.total_points(exercise):g}"

    given = nbformat.reads(files[f"{exercise}.ipynb"], as_version=4)
    report, _ = _run_on_colab(_solved(given, exercise), tmp_path / "solved", colab_python, monkeypatch)
    assert "sandbox: portable" in report.lower(), report
    assert f"Total: {total}/{total} points ({len(items)} of {len(items)} items pass)" in report, report

    given = nbformat.reads(files[f"{exercise}.ipynb"], as_version=4)
    # As given, the try-it cells raise NotImplementedError (run all goes on past them here,
    # as a student running the checking cell would); the checking cell still reports.
    report, errors = _run_on_colab(given, tmp_path / "given", colab_python, monkeypatch, allow_errors=True)
    assert set(errors) <= {"NotImplementedError"}, errors
    for item in items:
        assert re.search(rf"FAIL\s+0/{item.points:g}\s+{item.name}: {item.function}\(\)", report), report
    assert report.count("hint: not implemented yet") == len(items), report
    assert f"Total: 0/{total} points (0 of {len(items)} items pass)" in report, report


# -- the checking cell on Colab, without a kernel (fast) ----------------------------------------------


@pytest.fixture
def colab_frontend(monkeypatch):
    """``google.colab`` imported (this process is "on Colab"); set ``.reply`` to what the frontend answers."""
    import types

    frontend = types.SimpleNamespace(reply=None, requests=[])

    def blocking_request(request_type, request="", timeout_sec=5, parent=None):
        frontend.requests.append(request_type)
        return frontend.reply

    message = types.ModuleType("google.colab._message")
    message.blocking_request = blocking_request
    colab = types.ModuleType("google.colab")
    colab._message = message
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab._message", message)
    # Colab's server names a session (e.g. "fileId=..."), never a notebook file beside the kernel.
    monkeypatch.setenv("JPY_SESSION_NAME", "fileId=1a2b3c.ipynb")
    return frontend


def _shell(executed):
    import types

    return types.SimpleNamespace(user_ns={"In": ["", *executed, "check_this(...)"]}, transform_cell=lambda s: s)


def test_on_colab_the_checking_cell_says_when_the_frontend_does_not_answer(colab_frontend, capsys):
    from k2l_course.exercises.notebook_check import check_notebook

    assert check_notebook("ch2_activation", shell=_shell([])) == 2
    assert colab_frontend.requests == ["get_ipynb"]
    assert "did not hand this notebook over" in capsys.readouterr().out


def test_on_colab_the_checking_cell_refuses_code_the_notebook_no_longer_holds(colab_frontend, capsys):
    from k2l_course.exercises.notebook_check import check_notebook

    colab_frontend.reply = {"ipynb": json.loads((ROOT / "exercises" / "ch2_activation.ipynb").read_text())}
    assert check_notebook("ch2_activation", shell=_shell(["def loihi_rate(current, dt=0.001):\n    return 0"])) == 2
    out = capsys.readouterr().out
    assert "no longer holds" in out and "run your edited cells again" in out and "Total" not in out
