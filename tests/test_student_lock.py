"""The student lock installs from wheels on every platform and Python it claims.

``requirements/student.txt`` is one universal lock (markers pick per platform
and Python). For each claimed target this test evaluates the markers for that
target, asks pip which files it would install (``pip install --dry-run
--only-binary=:all: --platform ... --python-version ... --no-deps``, nothing is
installed) and requires that every package resolves to a wheel whose SHA-256
is one of the lock's hashes. pip is run against PyPI alone: this machine's pip
configuration adds local indexes and find-links, which a student does not
have, so they are switched off (``PIP_CONFIG_FILE`` = devnull, no
``PIP_FIND_LINKS``/``PIP_EXTRA_INDEX_URL``/``PIP_CONSTRAINT``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "student.txt"

#: The Pythons the student lock claims (bootstrap.py's STUDENT_PYTHONS says the same).
PYTHONS = ("3.11", "3.12")


def _manylinux(arch, newest=28):
    return [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 16, -1)] + [f"manylinux2014_{arch}"]


#: Claimed platforms: pip platform tags (newest first; pip also accepts older
#: macOS tags) and the environment markers of such a machine.
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
        ["macosx_11_0_arm64", "macosx_11_0_universal2"],
        {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64", "os_name": "posix"},
    ),
    "macos-x86_64": (
        ["macosx_12_0_x86_64", "macosx_12_0_universal2"],
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


def _pypi_only_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


#: (platform, full Python version) pairs to resolve: the lowest and a late patch
#: release of 3.11 (the lock changes one package at 3.11.5), and 3.12.
TARGETS = [(platform, full) for platform in sorted(PLATFORMS) for full in ("3.11.0", "3.11.9", "3.12.0")]


def resolve(platform, python_full, workdir):
    """Ask pip (PyPI only, nothing installed) which files it would install for one target.

    Returns
    -------
    requirements : list of (Requirement, list of str)
    report : dict or str
        pip's installation report, or its error output.
    """
    requirements = for_target(locked_requirements(LOCK.read_text(encoding="utf-8")), _markers(platform, python_full))
    workdir = Path(workdir) / f"{platform}-{python_full}"
    workdir.mkdir(parents=True)
    pins = workdir / "pins.txt"
    pins.write_text("".join(f"{req.name}=={next(iter(req.specifier)).version}\n" for req, _ in requirements), encoding="utf-8")
    report = workdir / "report.json"
    platform_args = [arg for tag in PLATFORMS[platform][0] for arg in ("--platform", tag)]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--no-deps",
         "--only-binary=:all:", *platform_args, "--python-version", python_full, "--implementation", "cp",
         "--target", str(workdir / "target"), "--report", str(report), "-r", str(pins)],
        capture_output=True, text=True, env=_pypi_only_environment(), timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        return requirements, done.stderr[-3000:]
    return requirements, json.loads(report.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory):
    """Every target resolved, four pip processes at a time (they mostly wait on the network)."""
    from concurrent.futures import ThreadPoolExecutor

    workdir = tmp_path_factory.mktemp("student-lock")
    with ThreadPoolExecutor(4) as pool:
        futures = {target: pool.submit(resolve, *target, workdir) for target in TARGETS}
        return {target: future.result() for target, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("platform, python_full", TARGETS)
def test_student_lock_resolves_to_wheels(platform, python_full, resolutions):
    requirements, report = resolutions[platform, python_full]
    assert not isinstance(report, str), f"{platform} Python {python_full}: pip says {report}"
    chosen = {item["metadata"]["name"].lower().replace("_", "-"): item for item in report["install"]}
    assert len(chosen) == len(requirements)
    for req, hashes in requirements:
        item = chosen[req.name.lower()]
        url = item["download_info"]["url"]
        digest = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
        assert url.endswith(".whl"), f"{req.name}: {url}"
        assert digest in hashes, f"{req.name}: pip chose {url.rsplit('/', 1)[-1]}, whose hash is not in the lock"
