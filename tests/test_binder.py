"""``binder/``: the environment Binder builds for the launch links, built here the same way.

Binder runs repo2docker, which reads ``binder/runtime.txt`` (the Python
version), installs ``binder/requirements.txt`` with pip and runs
``binder/postBuild``. The slow test does exactly that in a fresh virtual
environment on that Python, in a copy of the repository, then checks that the
chapter a launch link opens (``lab/tree/book/NN.md``) is served to JupyterLab
as a notebook and runs headless without an error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
#: The chapter the slow test launches (cheap to run: no training).
CHAPTER = "book/02-activation.md"


def binder_python_version():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"binder/runtime.txt: {runtime!r} is not repo2docker's python-X.Y"
    return match.group(1)


def test_binder_runs_the_python_the_stack_installs_on():
    assert binder_python_version() == "3.11"


def test_binder_installs_the_locked_set_which_has_jupytext():
    lines = [line.strip() for line in (BINDER / "requirements.txt").read_text().splitlines()]
    assert "-r ../requirements/lock.txt" in lines, "Binder must install the repository's lock"
    requirements = [line for line in lines if line and not line.startswith("#")]
    assert requirements == ["-r ../requirements/lock.txt"], "one place for the environment: the lock"
    lock = (BINDER / "../requirements/lock.txt").resolve().read_text()
    assert re.search(r"^jupytext==[\d.]+ \\\n\s+--hash=sha256:[0-9a-f]{64}", lock, re.M), "jupytext pinned with its hash"


def test_postbuild_is_an_executable_script():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK) and post.read_text().startswith("#!/bin/bash")


def _repository_copy(dest):
    """The repository's files as Binder clones them (tracked, plus new files not ignored)."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, names):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_fresh_binder_environment_opens_a_chapter_as_a_notebook_and_runs_it(tmp_path):
    version = binder_python_version()
    python = shutil.which(f"python{version}")
    if python is None:
        message = f"python{version} (binder/runtime.txt) is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    repo = _repository_copy(tmp_path / "repo")
    venv = tmp_path / "env"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        HOME=str(home),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        K2L_CACHE=str(tmp_path / "k2l-cache"),
        TF_CPP_MIN_LOG_LEVEL="3",
    )

    def run(*cmd, **kwargs):
        result = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, **kwargs)
        assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}{result.stderr[-5000:]}"
        return result

    # what repo2docker does: the runtime's Python, then pip on binder/requirements.txt, then postBuild
    run(python, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "binder/requirements.txt")
    run("bash", "binder/postBuild")
    run(venv / "bin" / "python", "-m", "pip", "check")

    # A launch link opens lab/tree/book/NN.md: JupyterLab's default viewer for
    # MyST markdown is the notebook, and the server hands the file over as one.
    overrides = json.loads((home / ".jupyter" / "labconfig" / "default_setting_overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers.get("markdown") == viewers.get("myst") == "Jupytext Notebook"
    port, token = _free_port(), "binder-test-token"
    server = subprocess.Popen(
        [venv / "bin" / "jupyter", "server", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
         "--ServerApp.open_browser=False", f"--ServerApp.root_dir={repo}"]
        + (["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),  # Binder runs as a user; CI may be root
        cwd=repo,
        env={**env, "JUPYTER_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "jupyter-server.log", "w"),
    )
    try:
        url = f"http://127.0.0.1:{port}/api/contents/{CHAPTER}?type=notebook&content=1&token={token}"
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    model = json.load(response)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    "the Binder Jupyter server did not start:\n" + (tmp_path / "jupyter-server.log").read_text()[-3000:]
                )
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(60)
    assert model["type"] == "notebook"
    assert sum(c["cell_type"] == "code" for c in model["content"]["cells"]) >= 5

    # ... and runs headless, in its own directory (jupytext executes with nbclient)
    executed = tmp_path / "executed.ipynb"
    run(venv / "bin" / "jupytext", "--to", "ipynb", "--execute", CHAPTER, "-o", executed, timeout=1800)
    notebook = nbformat.read(executed, as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    difference = re.search(r"largest difference from nengo-loihi: (\S+) Hz", text)
    assert difference and abs(float(difference.group(1))) < 1e-9, text[:500]
