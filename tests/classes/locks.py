"""Reading the course's hash locks and asking PyPI's index whether a target can install them.

A lock (``requirements/*.txt``) is a pip requirements file of exact pins with
hashes, its markers choosing per platform and Python. For a target (a
platform of :data:`PLATFORMS` and a CPython version) :func:`for_target` picks
the pins that apply, and :func:`installable` says which of PyPI's files of a
pin the target would install: a wheel of exactly that version whose SHA-256
is one of the lock's hashes (so ``pip install --require-hashes`` accepts it),
whose tags the target's interpreter accepts (:mod:`packaging.tags`, the tag
logic pip itself uses) and whose ``Requires-Python`` admits the target's
Python; with ``sdists=True`` also such a source distribution, which pip
builds on the target. Nothing is downloaded but the index pages (PEP 691
JSON), and nothing is installed.

(``pip install --dry-run --platform ... --python-version ...`` answers the
same question, but the pip here (23.2) downloads every wheel to hash it,
about 100 MB per target, and it evaluates the requirement markers for the
running interpreter rather than the target: 15 targets took 35 minutes.)
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from packaging import tags
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version


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


def markers(platform, python_full, extra=""):
    """The environment markers of a CPython ``python_full`` (e.g. "3.13.0") on ``platform``."""
    environment = {
        "python_version": ".".join(python_full.split(".")[:2]),
        "python_full_version": python_full,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": extra,
    }
    environment.update(PLATFORMS[platform][1])
    return environment


def for_target(requirements, environment):
    """The locked pins that apply on a machine with these marker values."""
    return [(req, hashes) for req, hashes in requirements if req.marker is None or req.marker.evaluate(environment)]


def pinned_version(requirement):
    """The version of an exact pin ``name==version``."""
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", requirement
    return Version(specifier.version)


def index_files(name):
    """The files PyPI lists for a project: ``[{filename, hashes, requires-python, yanked}, ...]``."""
    request = urllib.request.Request(
        f"https://pypi.org/simple/{canonicalize_name(name)}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)["files"]


def read_index(names):
    """PyPI's file lists of these projects, read in parallel: ``{name: files}``."""
    names = sorted(set(names))
    with ThreadPoolExecutor(8) as pool:
        return dict(zip(names, pool.map(index_files, names)))


def target_tags(platform, python_full):
    """The wheel tags a CPython of this version on this platform accepts, as :mod:`packaging.tags` lists them."""
    version = tuple(int(x) for x in python_full.split(".")[:2])
    platforms = PLATFORMS[platform][0]
    return set(tags.cpython_tags(version, platforms=platforms)) | set(
        tags.compatible_tags(version, f"cp{version[0]}{version[1]}", platforms=platforms)
    )


def installable(files, requirement, hashes, accepted, python_full, sdists=False):
    """The files of ``requirement``'s pinned version that this target would install, or [].

    Wheels whose tags are in ``accepted``; with ``sdists``, source
    distributions too (pip builds them on the target).
    """
    version = pinned_version(requirement)
    found = []
    for file in files:
        filename = file["filename"]
        if file.get("yanked") or file.get("hashes", {}).get("sha256") not in hashes:
            continue
        if file.get("requires-python") and Version(python_full) not in SpecifierSet(file["requires-python"]):
            continue
        if filename.endswith(".whl"):
            name, file_version, _, file_tags = parse_wheel_filename(filename)
            fits = bool(file_tags & accepted)
        elif sdists:
            try:
                name, file_version = parse_sdist_filename(filename)
            except InvalidSdistFilename:
                continue
            fits = True
        else:
            continue
        if fits and canonicalize_name(name) == canonicalize_name(requirement.name) and file_version == version:
            found.append(filename)
    return found


def unsatisfied(declared, locked, environment):
    """The declared requirements (``Requirement``s) that the pins applying to ``environment`` do not satisfy.

    A requirement whose marker is false there is not asked for; one whose
    package has no pin, or a pin outside its specifier, is listed.
    """
    pins = {canonicalize_name(req.name): pinned_version(req) for req, _ in for_target(locked, environment)}
    missing = []
    for requirement in declared:
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        version = pins.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{requirement} (locked: {version})")
    return missing
