"""The student environment, built with every Python on this machine, runs the student-facing tests.

For each Python the student lock claims, found as ``python3.X`` on PATH or
in pyenv (a pyenv shim whose version is not selected does not count), this
builds ``.venv-student-3.X`` with ``python3.X bootstrap.py student`` (reused
while the lock is unchanged) and runs ``tests/test_student_env.py`` in it:
solutions full marks, stubs nothing, wrong answers their designed points, in
both sandbox modes, with no TensorFlow installed. A missing Python is skipped
with a message; fewer than two Pythons is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

import pytest
from environments import build_student_environment, find_python, student_env, student_venv

ROOT = Path(__file__).resolve().parents[1]


def _bootstrap():
    spec = importlib.util.spec_from_file_location("k2l_bootstrap", ROOT / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STUDENT_PYTHONS = ["%d.%d" % v for v in _bootstrap().STUDENT_PYTHONS]


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
    versions = subprocess.run(
        [str(venv_python), "-c", "import sys, importlib.util as u; print('%d.%d' % sys.version_info[:2], u.find_spec('tensorflow') is None, u.find_spec('nengo_dl') is None)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert versions.stdout.split() == [version, "True", "True"]
    tests = subprocess.run(
        [str(venv_python), "-m", "pytest", "tests/test_student_env.py", "tests/test_student_imports.py", "-q", "-p", "no:cacheprovider", "-x",
         "-m", "slow or not slow"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-5000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and " failed" not in tests.stdout


def test_bootstrap_allows_the_student_job_on_every_claimed_python_and_the_rest_on_3_11_only(monkeypatch):
    bootstrap = _bootstrap()
    for version in [(3, 11), (3, 12)]:
        monkeypatch.setattr(bootstrap.sys, "version_info", version + (0, "final", 0))
        bootstrap.require_python("student")
    monkeypatch.setattr(bootstrap.sys, "version_info", (3, 12, 0, "final", 0))
    with pytest.raises(SystemExit, match="needs Python 3.11.*bootstrap.py student"):
        bootstrap.require_python("book")
    monkeypatch.setattr(bootstrap.sys, "version_info", (3, 13, 0, "final", 0))
    with pytest.raises(SystemExit, match="locked for Python 3.11 and 3.12, but this is Python 3.13"):
        bootstrap.require_python("student")


def test_every_requirement_the_student_lock_leaves_out_is_declared_full_course_only():
    """A dependency added to pyproject.toml but not to student.in must be named in FULL_ONLY, or the student setup fails."""
    import tomllib

    from packaging.requirements import Requirement

    def name(requirement):
        return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    student_in = (ROOT / "requirements" / "student.in").read_text().splitlines()
    student = {name(line) for line in student_in if line.strip() and not line.startswith("#")}
    left_out = {name(r) for r in pyproject["project"]["dependencies"]} - student
    assert left_out <= set(_bootstrap().FULL_ONLY), sorted(left_out - set(_bootstrap().FULL_ONLY))


def test_pip_check_lines_about_the_full_course_only_are_expected():
    bootstrap = _bootstrap()
    assert bootstrap._names_full_only("k2l-course 0.1.0 requires tensorflow, which is not installed.")
    assert bootstrap._names_full_only("k2l-course 0.1.0 has requirement numpy==1.24.3, but you have numpy 1.26.4.")
    assert not bootstrap._names_full_only("k2l-course 0.1.0 requires scipy, which is not installed.")
    assert not bootstrap._names_full_only("nengo-loihi 1.1.0 requires tensorflow, which is not installed.")
