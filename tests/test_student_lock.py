"""The student lock installs from wheels on every platform and Python it claims.

``requirements/student.txt`` is one universal lock (markers pick per platform
and Python). For each claimed target this test evaluates the markers for that
target and requires that every pinned package has, on PyPI, a wheel of exactly
that version whose SHA-256 is one of the lock's hashes (so ``pip install
--require-hashes`` accepts it), whose tags the target's interpreter accepts
(:mod:`packaging.tags`, the tag logic pip itself uses) and whose
``Requires-Python`` admits the target's Python. Nothing is downloaded but the
index pages (PEP 691 JSON), and nothing is installed.

(``pip install --dry-run --platform ... --python-version ...`` answers the
same question, but the pip here (23.2) downloads every wheel to hash it,
about 100 MB per target, and it evaluates the requirement markers for the
running interpreter rather than the target: 15 targets took 35 minutes.)
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging import tags
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "student.txt"

#: The Pythons the student lock claims (bootstrap.py's STUDENT_PYTHONS says the same).
PYTHONS = ("3.11", "3.12")


def _manylinux(arch, newest=28):
    return [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 16, -1)] + [f"manylinux2014_{arch}"]


#: Claimed platforms: the platform tags such a machine accepts (glibc 2.28+,
#: macOS 12+, Windows x86-64) and its environment markers.
PLATFORMS = {
    "linux-x86_64": (
        _manylinux("x86_64"),
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"},
    ),
    "linux-aarch64": (
        _manylinux("aarch64"),
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64", "os_name": "posix"},
    ),
    "macos-arm64": (
        list(tags.mac_platforms((12, 0), "arm64")),
        {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64", "os_name": "posix"},
    ),
    "macos-x86_64": (
        list(tags.mac_platforms((12, 0), "x86_64")),
        {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64", "os_name": "posix"},
    ),
    "windows-x86_64": (
        ["win_amd64"],
        {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"},
    ),
}


def locked_requirements(text):
    """``[(Requirement, [sha256, ...]), ...]`` of a pip requirements file with hashes."""
    joined = text.replace("\\\n", " ")
    result = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(" --hash=")
        hashes = [h.strip().removeprefix("sha256:") for h in parts[1:]]
        result.append((Requirement(parts[0].strip()), hashes))
    return result


def for_target(requirements, markers):
    """The locked pins that apply on a machine with these marker values."""
    return [(req, hashes) for req, hashes in requirements if req.marker is None or req.marker.evaluate(markers)]


def _markers(platform, python_full):
    environment = {
        "python_version": ".".join(python_full.split(".")[:2]),
        "python_full_version": python_full,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    environment.update(PLATFORMS[platform][1])
    return environment


def test_the_lock_is_universal_and_fully_pinned():
    requirements = locked_requirements(LOCK.read_text(encoding="utf-8"))
    assert len(requirements) > 50
    for req, hashes in requirements:
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", req
        assert hashes, f"{req} has no hash"
    names = {req.name for req, _ in requirements}
    assert {"numpy", "nengo", "nengo-loihi", "jupyterlab", "scipy", "matplotlib", "tqdm", "nbformat", "pytest"} <= names
    assert not names & {"tensorflow", "keras", "nengo-dl", "tensorflow-cpu", "tensorflow-intel"}
    # Every claimed target gets exactly one pin of each package.
    for platform in PLATFORMS:
        for python in PYTHONS:
            picked = [req.name for req, _ in for_target(requirements, _markers(platform, python + ".0"))]
            assert len(picked) == len(set(picked)), (platform, python)
            assert {"numpy", "nengo-loihi", "jupyterlab"} <= set(picked)


def test_markers_choose_numpy_per_python():
    requirements = locked_requirements(LOCK.read_text(encoding="utf-8"))
    numpy = {python: [str(r.specifier) for r, _ in for_target(requirements, _markers("linux-x86_64", python + ".0")) if r.name == "numpy"] for python in PYTHONS}
    assert numpy["3.11"] == ["==1.24.3"]  # the full stack's numpy: identical numbers to the grader's
    assert Marker('python_version >= "3.12"').evaluate(_markers("linux-x86_64", "3.12.0"))


#: Where the index is read (PEP 691 JSON of PyPI's simple API).
INDEX = "https://pypi.org/simple/{}/"


def index_files(name):
    """The files PyPI lists for a project: ``[{filename, hashes, requires-python, yanked}, ...]``."""
    request = urllib.request.Request(INDEX.format(canonicalize_name(name)), headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)["files"]


def target_tags(platform, python_full):
    """The wheel tags a CPython of this version on this platform accepts, as :mod:`packaging.tags` lists them."""
    version = tuple(int(x) for x in python_full.split(".")[:2])
    platforms = PLATFORMS[platform][0]
    return set(tags.cpython_tags(version, platforms=platforms)) | set(
        tags.compatible_tags(version, f"cp{version[0]}{version[1]}", platforms=platforms)
    )


def installable(files, requirement, hashes, accepted, python_full):
    """The wheel files of ``requirement``'s pinned version that this target would install, or []."""
    version = Version(next(iter(requirement.specifier)).version)
    found = []
    for file in files:
        filename = file["filename"]
        if not filename.endswith(".whl") or file.get("yanked"):
            continue
        name, wheel_version, _, wheel_tags = parse_wheel_filename(filename)
        if canonicalize_name(name) != canonicalize_name(requirement.name) or wheel_version != version:
            continue
        if file.get("hashes", {}).get("sha256") not in hashes:
            continue
        if file.get("requires-python") and Version(python_full) not in SpecifierSet(file["requires-python"]):
            continue
        if wheel_tags & accepted:
            found.append(filename)
    return found


@pytest.fixture(scope="module")
def index():
    """PyPI's file lists of every package in the lock (read in parallel)."""
    names = sorted({req.name for req, _ in locked_requirements(LOCK.read_text(encoding="utf-8"))})
    with ThreadPoolExecutor(8) as pool:
        return dict(zip(names, pool.map(index_files, names)))


TARGETS = [(platform, full) for platform in sorted(PLATFORMS) for full in ("3.11.0", "3.11.9", "3.12.0")]


@pytest.mark.slow
@pytest.mark.parametrize("platform, python_full", TARGETS)
def test_student_lock_resolves_to_wheels(platform, python_full, index):
    requirements = for_target(locked_requirements(LOCK.read_text(encoding="utf-8")), _markers(platform, python_full))
    accepted = target_tags(platform, python_full)
    missing = [str(req) for req, hashes in requirements if not installable(index[req.name], req, hashes, accepted, python_full)]
    assert not missing, f"no locked wheel for {platform}, Python {python_full}: {missing}"


def test_the_wheel_check_refuses_what_a_target_cannot_install():
    """The check itself can fail: a Linux-only or too-new wheel, or a hash not in the lock, does not count."""
    files = [
        {"filename": "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "hashes": {"sha256": "a"}},
        {"filename": "demo-1.0-cp311-cp311-macosx_14_0_arm64.whl", "hashes": {"sha256": "b"}},
        {"filename": "demo-1.0-py3-none-any.whl", "hashes": {"sha256": "c"}, "requires-python": ">=3.12"},
    ]
    req = Requirement("demo==1.0")
    assert installable(files, req, ["a", "b", "c"], target_tags("linux-x86_64", "3.11.0"), "3.11.0")
    assert not installable(files, req, ["a", "b", "c"], target_tags("windows-x86_64", "3.11.0"), "3.11.0")
    assert not installable(files, req, ["a", "b", "c"], target_tags("macos-arm64", "3.11.0"), "3.11.0")  # needs 14
    assert installable(files, req, ["c"], target_tags("windows-x86_64", "3.12.0"), "3.12.0")
    assert not installable(files, req, ["x"], target_tags("linux-x86_64", "3.11.0"), "3.11.0")
