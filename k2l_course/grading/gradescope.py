"""``k2l gradescope-bundle``: the course's grader as a Gradescope autograder.

::

    k2l gradescope-bundle OUT.zip [--hidden-checks DIR] [--timeout S]
                          [--call-timeout S] [--memory MB] [--seed N]

The zip holds, at its root (Gradescope's autograder specification):

``setup.sh``
    Run once, as root, when Gradescope builds the image: installs Python 3.11
    and the pinned environment (``requirements/lock.txt``, hashes required)
    into ``/opt/k2l`` with uv, then the course package (``package/``), all
    world-readable so the unprivileged sandbox user can import them.
``run_autograder``
    Run for each submission, as root, in ``/autograder``: grades
    ``/autograder/submission`` (one student's files, as for ``k2l grade``)
    into ``/autograder/results/results.json``. Student code runs in the
    sandbox as an unprivileged user; ``/autograder/source`` (the hidden
    checks) and ``/autograder/results`` are made root-only first. Two
    environment variables let a test run it outside Gradescope:
    ``K2L_AUTOGRADER_ROOT`` (instead of ``/autograder``) and
    ``K2L_AUTOGRADER_PYTHON`` (instead of ``/opt/k2l/venv/bin/python``).
``grader.json``
    The limits, whether hidden checks are included, and the seed of the
    graded cases (``--seed``, random by default).
``hidden_checks/``
    The instructor's hidden checks (never the solutions: none are shipped).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import stat
import sys
import time
import zipfile
from pathlib import Path

import k2l_course
from k2l_course.files import atomic_path, write_atomic
from k2l_course.grading import grade as grading
from k2l_course.grading.sandbox import Limits, Sandbox

#: Where setup.sh installs everything (world-readable).
PREFIX = "/opt/k2l"
#: The uv release setup.sh installs (pinned, like everything else).
UV_VERSION = "0.13.9"

#: setup.sh's choice of interpreter: the system's Python 3.11 where there is
#: one (Debian 12), else a Python 3.11 that uv installs (Gradescope's Ubuntu
#: images have none). Sets PYTHON for ``uv venv --python``.
INTERPRETER_STEP = f"""# The interpreter: the system's Python 3.11 where there is one (Debian 12),
# else a Python 3.11 that uv installs (Gradescope's Ubuntu images have none).
if command -v python3.11 >/dev/null 2>&1 && python3.11 -c "import sys; assert sys.version_info[:2] == (3, 11)"; then
    PYTHON="$(command -v python3.11)"
else
    {PREFIX}/bin/uv python install 3.11
    PYTHON=3.11
fi
"""

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while building the autograder image.
# It installs Python 3.11 and the course's pinned environment under {PREFIX},
# readable by every user: the student's code runs as an unprivileged user and
# must be able to import NumPy (and, if it wants, TensorFlow and nengo).
# Proven end to end in a fresh Debian root by tests/test_gradescope.py.
set -euo pipefail
SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
export UV_PYTHON_INSTALL_DIR={PREFIX}/python UV_NO_CONFIG=1 DEBIAN_FRONTEND=noninteractive
# K2L_UV_CACHE: a download cache kept between builds (tests); by default a
# temporary one, removed at the end.
export UV_CACHE_DIR="${{K2L_UV_CACHE:-/tmp/k2l-uv-cache}}"
# The image's package lists may be empty or stale: refresh them first.
# python3-pip: the image's Python installs uv; bubblewrap: the sandbox's
# isolation, where the container allows namespaces.
apt-get update
apt-get install -y --no-install-recommends ca-certificates python3-pip bubblewrap
python3 -m pip install --disable-pip-version-check --target {PREFIX}/uv "uv=={UV_VERSION}"
mkdir -p {PREFIX}/bin && ln -sf {PREFIX}/uv/bin/uv {PREFIX}/bin/uv
{INTERPRETER_STEP}{PREFIX}/bin/uv venv --python "$PYTHON" {PREFIX}/venv
{PREFIX}/bin/uv pip install --python {PREFIX}/venv/bin/python --require-hashes -r "$SOURCE/requirements/lock.txt"
{PREFIX}/bin/uv pip install --python {PREFIX}/venv/bin/python --no-deps "$SOURCE/package"
if [ -z "${{K2L_UV_CACHE:-}}" ]; then rm -rf "$UV_CACHE_DIR"; fi
chmod -R a+rX {PREFIX}
# Prove the installation works.
{PREFIX}/venv/bin/python -c "import k2l_course.grading.grade, k2l_course.exercises.checks, numpy"
"""

RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# Gradescope runs this for each submission, as root, in /autograder.
# K2L_AUTOGRADER_ROOT and K2L_AUTOGRADER_PYTHON exist so that tests can run it
# against a temporary /autograder tree.
set -uo pipefail
ROOT="${{K2L_AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{K2L_AUTOGRADER_PYTHON:-{PREFIX}/venv/bin/python}}"
cd "$ROOT" && exec "$PYTHON" -P -s -m k2l_course.grading.gradescope autograde --root "$ROOT"
"""


class BundleError(Exception):
    """A problem with the bundle's inputs."""


def _course_root():
    root = k2l_course.ROOT
    if not (root / "pyproject.toml").is_file() or not (root / "requirements" / "lock.txt").is_file():
        raise BundleError(
            "the bundle is made from the course's source checkout (it needs pyproject.toml and "
            f"requirements/lock.txt next to k2l_course/); not found in {root}"
        )
    return root


def _add_file(archive, name, data, executable=False):
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    archive.writestr(info, data)


def _add_tree(archive, folder, prefix):
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo") or not path.is_file() or path.is_symlink():
            continue
        _add_file(archive, f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())


def write_bundle(out, hidden_dir=None, timeout=Limits.timeout, call_timeout=Limits.call_timeout, memory_mb=Limits.memory_mb,
                 seed=None):  # fmt: skip
    """Write the Gradescope autograder zip.

    Parameters
    ----------
    out : path-like
        The zip to write (replaced atomically).
    hidden_dir : path-like, optional
        Hidden checks to include (checked to load first).
    timeout, call_timeout, memory_mb
        Limits per submission file (see ``k2l grade``).
    seed : int, optional
        The seed of the graded cases (as ``k2l grade --seed``), the same for
        every submission of the assignment; default: a new random one. It
        stays in ``source/``, which student code cannot read.

    Returns
    -------
    list of str
        The names in the zip.

    Raises
    ------
    BundleError
        If the hidden checks do not load or the course sources are missing.
    """
    root = _course_root()
    if hidden_dir is not None:
        from k2l_course.exercises import checks

        try:
            hidden = [item for item in checks.items(hidden_dir=hidden_dir) if item.hidden]
        except Exception as error:
            raise BundleError(f"the hidden checks in {hidden_dir} do not load: {error}") from None
        if not hidden:
            raise BundleError(f"{hidden_dir} holds no hidden checks (modules defining ITEMS)")
    config = {
        "timeout": float(timeout),
        "call_timeout": float(call_timeout),
        "memory_mb": int(memory_mb),
        "hidden_checks": hidden_dir is not None,
        "seed": int(seed) if seed is not None else secrets.randbits(32),
    }
    out = Path(out)
    with atomic_path(out) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        _add_file(archive, "setup.sh", SETUP_SH, executable=True)
        _add_file(archive, "run_autograder", RUN_AUTOGRADER, executable=True)
        _add_file(archive, "grader.json", json.dumps(config, indent=2) + "\n")
        _add_file(archive, "requirements/lock.txt", (root / "requirements" / "lock.txt").read_bytes())
        for name in ("pyproject.toml", "README.md"):
            if (root / name).is_file():
                _add_file(archive, f"package/{name}", (root / name).read_bytes())
        _add_tree(archive, root / "k2l_course", "package/k2l_course")
        if hidden_dir is not None:
            _add_tree(archive, Path(hidden_dir), "hidden_checks")
        names = archive.namelist()
    return names


# --- inside Gradescope -----------------------------------------------------------------


def _lock_down(path):
    """Make a folder root-only (so the sandbox user cannot read it)."""
    if path.exists():
        os.chmod(path, 0o700)


def autograde(root):
    """Grade ``root/submission`` into ``root/results/results.json``.

    Parameters
    ----------
    root : path-like
        The autograder tree (``/autograder`` on Gradescope).

    Returns
    -------
    dict
        What was written to results.json.
    """

    root = Path(root).resolve()
    source, submission, results = root / "source", root / "submission", root / "results"
    results.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        config = json.loads((source / "grader.json").read_text())
        for folder in (source, results):
            _lock_down(folder)
        hidden_dir = source / "hidden_checks" if config.get("hidden_checks") else None
        items, exercises = grading.load_checks(hidden_dir)
        assignment = grading.load_assignment(items, list(exercises))
        limits = grading.Limits(config["timeout"], config["memory_mb"], config["call_timeout"])
        cases = assignment.draw(config["seed"]) if config.get("seed") is not None else None  # None: a fresh seed
        student = grading.Student("submission", submission)
        secret = [str(source)] + ([str(hidden_dir)] if hidden_dir else [])
        with Sandbox(jobs=1, secret=secret, hide=[str(results), str(submission)]) as sandbox:
            record = grading.grade_student(student, assignment, sandbox, limits, cases=cases)
        payload = grading.gradescope_results(record)
        if record["status"] == "no-submission":
            payload["output"] = (
                "No work was found in your submission: upload your exercise files "
                f"({', '.join(e + '.ipynb' for e in assignment.exercises)}, or .py).\n" + payload["output"]
            )
    except Exception as error:  # the grader itself failed: say so (the student is not at fault)
        payload = {
            "score": 0,
            "output": f"The autograder itself failed ({type(error).__name__}: {error}). "
            "This is not a problem with your work; please tell your instructor.",
            "stdout_visibility": "hidden",
            "tests": [],
        }
        print(f"k2l autograder failed: {type(error).__name__}: {error}", file=sys.stderr)
    payload["execution_time"] = round(time.monotonic() - started, 2)
    write_atomic(results / "results.json", json.dumps(payload, indent=2) + "\n")
    return payload


# --- the command ---------------------------------------------------------------------------


def add_arguments(parser):
    """Options of ``k2l gradescope-bundle``."""
    parser.add_argument("out", metavar="OUT.zip", help="the autograder zip to write")
    parser.add_argument("--hidden-checks", metavar="DIR", help="folder of extra checks to include (students never see them)")
    parser.add_argument("--timeout", type=float, default=Limits.timeout, metavar="S",
                        help="seconds for each student's whole submission (default %(default)g)")  # fmt: skip
    parser.add_argument("--call-timeout", type=float, default=Limits.call_timeout, metavar="S",
                        help="seconds per call (default %(default)g)")  # fmt: skip
    parser.add_argument("--memory", type=int, default=Limits.memory_mb, metavar="MB",
                        help="memory per submission (default %(default)d)")  # fmt: skip
    parser.add_argument("--seed", type=int, metavar="N", help="seed of the graded cases (default: random)")


def run(args):
    """Run ``k2l gradescope-bundle``; returns the exit status."""
    out = Path(args.out)
    problems = []
    if out.suffix != ".zip":
        problems.append(f"{out} should end in .zip")
    if not out.parent.is_dir():
        problems.append(f"{out.parent} is not a folder")
    if out.is_dir():
        problems.append(f"{out} is a folder")
    if args.hidden_checks and not Path(args.hidden_checks).is_dir():
        problems.append(f"--hidden-checks {args.hidden_checks}: no such folder")
    if not args.timeout > 0 or not args.call_timeout > 0 or args.memory < 64:
        problems.append("--timeout and --call-timeout must be positive and --memory at least 64 (MB)")
    if problems:
        for problem in problems:
            print(f"k2l gradescope-bundle: {problem}", file=sys.stderr)
        return 2
    try:
        names = write_bundle(out, args.hidden_checks, args.timeout, args.call_timeout, args.memory, args.seed)
    except BundleError as error:
        print(f"k2l gradescope-bundle: {error}", file=sys.stderr)
        return 2
    hidden = sum(1 for name in names if name.startswith("hidden_checks/"))
    print(f"wrote {out} ({len(names)} files; {hidden} hidden-check files). Upload it as the autograder of a "
          "Gradescope programming assignment (Ubuntu base image).")  # fmt: skip
    return 0


def main(argv=None):
    """``python -m k2l_course.grading.gradescope autograde --root DIR`` (what run_autograder runs)."""
    parser = argparse.ArgumentParser(prog="k2l_course.grading.gradescope")
    sub = parser.add_subparsers(dest="what", required=True)
    grade = sub.add_parser("autograde", help="grade ROOT/submission into ROOT/results/results.json")
    grade.add_argument("--root", default="/autograder")
    args = parser.parse_args(argv)
    autograde(args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
