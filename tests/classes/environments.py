"""The student environments the tests build with each Python on this machine.

A student environment is ``.venv-student-3.X`` beside the checkout, made by
``python3.X bootstrap.py student`` (which reuses it while the lock and the
Python are unchanged), so every test that needs one shares a single build.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_bootstrap():
    """``bootstrap.py`` as a module (its constants and helpers), without running it."""
    spec = importlib.util.spec_from_file_location("k2l_bootstrap", ROOT / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_python(version):
    """An interpreter of ``version`` (e.g. "3.12") that really runs, or None.

    ``python3.X`` on PATH counts only when it runs that version (a pyenv shim
    whose version is not selected fails); pyenv's installed versions are
    looked for too.
    """
    candidates = [shutil.which(f"python{version}")]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")), reverse=True)
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def student_venv(version):
    """Where the student environment of Python ``version`` lives."""
    return ROOT / f".venv-student-{version}"


def student_env(version):
    """The environment variables that point ``bootstrap.py student`` at ``student_venv(version)``."""
    env = dict(os.environ, K2L_STUDENT_VENV=str(student_venv(version)))
    env.pop("PYTHONPATH", None)
    return env


def build_student_environment(version):
    """Build (or reuse) the student environment of Python ``version``.

    Returns
    -------
    subprocess.CompletedProcess
        ``bootstrap.py student``'s run, its output captured.

    Skips the calling test when that Python is not on this machine.
    """
    python = find_python(version)
    if python is None:
        pytest.skip(f"Python {version} is not on this machine")
    return subprocess.run(
        [python, "bootstrap.py", "student"], cwd=ROOT, env=student_env(version),
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip


def student_python(version):
    """The interpreter of the built student environment of Python ``version`` (built if needed)."""
    built = build_student_environment(version)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    venv = student_venv(version)
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
