"""The full course's locks: pyproject's whole set, resolved per platform; Apple silicon's installs there.

``requirements/lock.txt`` (Linux x86-64, the course environment) and
``requirements/lock-macos-arm64.txt`` (Apple silicon: tensorflow-macos 2.12.0
instead of TensorFlow) are compiled from pyproject.toml with all its extras
(README). The fast tests check that each lock satisfies every requirement
pyproject declares for its platform; the slow one asks PyPI's index whether a
macOS 12+ arm64 machine with CPython 3.11 can install every pin of its lock:
a wheel it accepts or a source distribution (built there, as nengo-dl's is),
each with a hash the lock holds (:mod:`locks`; nothing is installed). That
lock is resolved, not run, here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from environments import load_bootstrap
from locks import for_target, installable, locked_requirements, markers, read_index, target_tags, unsatisfied
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
#: Each full lock and the platform it is compiled for.
LOCKS = {"lock.txt": "linux-x86_64", "lock-macos-arm64.txt": "macos-arm64"}
PYTHON = "3.11.7"


def lock(name):
    return locked_requirements((ROOT / "requirements" / name).read_text(encoding="utf-8"))


def full_set():
    """pyproject's base dependencies and every extra, as Requirements."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_each_full_lock_satisfies_pyproject_on_its_platform(name):
    requirements = lock(name)
    assert all(hashes for _, hashes in requirements) and len(requirements) > 150
    assert all(req.marker is None for req, _ in requirements), "one platform per lock: no markers"
    assert unsatisfied(full_set(), requirements, markers(LOCKS[name], PYTHON)) == []


def test_apple_silicon_gets_tensorflow_macos_and_the_rest_the_course_pins():
    linux = {req.name: str(req.specifier) for req, _ in lock("lock.txt")}
    mac = {req.name: str(req.specifier) for req, _ in lock("lock-macos-arm64.txt")}
    assert "tensorflow" not in mac and mac["tensorflow-macos"] == "==2.12.0"
    assert "tensorflow-macos" not in linux and linux["tensorflow"] == "==2.12.1"
    for name in ("nengo", "nengo-dl", "nengo-loihi", "nengo-extras", "keras"):
        assert mac[name] == linux[name], name
    assert mac["numpy"] == "==1.23.5"  # tensorflow-macos 2.12.0 wants numpy < 1.24


def test_bootstrap_installs_tensorflow_macos_first_from_the_lock():
    """nengo-dl's setup.py asks for tensorflow unless tensorflow-macos is installed: bootstrap installs it alone first."""
    bootstrap = load_bootstrap()
    entries = bootstrap.lock_entries((ROOT / "requirements" / "lock-macos-arm64.txt").read_text())
    first = [entries[name] for name in bootstrap.FIRST if name in entries]
    assert len(first) == 1 and first[0].startswith("tensorflow-macos==2.12.0 \\\n    --hash=sha256:")
    (parsed,) = locked_requirements("\n".join(first))
    assert parsed[1] == dict((r.name, h) for r, h in lock("lock-macos-arm64.txt"))["tensorflow-macos"]
    assert not [name for name in bootstrap.FIRST if name in bootstrap.lock_entries((ROOT / "requirements" / "lock.txt").read_text())]


@pytest.mark.slow
def test_the_apple_silicon_lock_resolves_for_macos_arm64_cpython_3_11():
    requirements = for_target(lock("lock-macos-arm64.txt"), markers("macos-arm64", PYTHON))
    index = read_index(req.name for req, _ in requirements)
    accepted = target_tags("macos-arm64", PYTHON)
    found = {str(req): installable(index[req.name], req, hashes, accepted, PYTHON, sdists=True) for req, hashes in requirements}
    assert not [pin for pin, files in found.items() if not files], "no locked wheel or sdist for macOS arm64, CPython 3.11"
    assert found["tensorflow-macos==2.12.0"] == ["tensorflow_macos-2.12.0-cp311-cp311-macosx_12_0_arm64.whl"]
    assert found["nengo-dl==3.6.0"] == ["nengo-dl-3.6.0.tar.gz"]


@pytest.mark.slow
def test_nengo_dl_built_in_place_requires_tensorflow_macos_once_that_is_installed(tmp_path):
    """bootstrap.py's Apple-silicon order, run here: after tensorflow-macos, nengo-dl's metadata asks for it, not tensorflow.

    tensorflow-macos has no Linux wheel, so its installed metadata is made by
    hand (a dist-info folder, as pip leaves it); nengo-dl is the lock's own
    sdist, with setuptools and wheel from the lock, all hash-checked.
    """
    import subprocess
    import sys

    bootstrap = load_bootstrap()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    installed = Path(purelib) / "tensorflow_macos-2.12.0.dist-info"
    installed.mkdir()
    (installed / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow-macos\nVersion: 2.12.0\n")
    (installed / "RECORD").write_text("")
    entries = bootstrap.lock_entries((ROOT / "requirements" / "lock-macos-arm64.txt").read_text())
    bootstrap.install_in_order(python, {name: entries[name] for name in ("setuptools", "wheel", "nengo-dl")}, venv)
    requires = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.requires('nengo-dl'))"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "'tensorflow-macos>=2.3.4'" in requires and "'tensorflow>=" not in requires
    assert (venv / "src" / "nengo-dl-3.6.0" / "setup.py").exists()
