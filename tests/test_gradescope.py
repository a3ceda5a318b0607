"""``k2l gradescope-bundle`` writes an autograder that grades /autograder/submission safely.

The bundle is run for real: its ``run_autograder`` grades a submission in a
temporary ``/autograder`` tree (``K2L_AUTOGRADER_ROOT``), with this test's
Python standing in for the one ``setup.sh`` installs, with the bundle's copy
of the package, and without mount namespaces (as in Gradescope's Docker
containers), so only file permissions keep the student's code out of the
hidden checks.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from k2l_course import cli
from k2l_course.exercises import checks

ROOT = Path(__file__).resolve().parents[1]

HIDDEN_CHECK = '''
import numpy as np
from k2l_course.exercises.checks.ch1_conversion import _spiking_output, check_accuracy
from k2l_course.exercises.checks.items import item


def cases():
    rng = np.random.default_rng(99)
    labels = rng.integers(0, 10, 7)
    return [{"output": _spiking_output(rng, labels, 5), "labels": labels.astype(np.uint8)}]


ITEMS = [item("ch1_conversion", "accuracy_unseen", function="last_step_accuracy", points=1, cases=cases,
              check=check_accuracy)]
'''

#: Grafted onto a correct ch1: tries to read the hidden checks and forge the results.
ATTACK = '''
import glob, json, os
_root = {root!r}
_stolen = []
for _path in glob.glob(_root + "/source/**/*.py", recursive=True):
    try:
        _stolen.append(open(_path).read())
    except OSError:
        pass
print("stolen files:", len(_stolen))
for _target in (_root + "/results/results.json", _root + "/source/grader.json"):
    try:
        with open(_target, "w") as _out:
            json.dump({{"score": 1000}}, _out)
    except OSError as _error:
        print("cannot write", _target, type(_error).__name__)
'''


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    hidden = folder / "hidden"
    hidden.mkdir()
    (hidden / "unseen.py").write_text(HIDDEN_CHECK)
    out = folder / "autograder.zip"
    status = cli.main(["gradescope-bundle", str(out), "--hidden-checks", str(hidden), "--timeout", "30",
                       "--call-timeout", "5"])  # fmt: skip
    assert status == 0
    return out, hidden


def test_the_bundle_holds_the_autograder_the_pinned_environment_and_no_solutions(bundle):
    out, _ = bundle
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert archive.read("requirements/lock.txt") == (ROOT / "requirements" / "lock.txt").read_bytes()
        config = json.loads(archive.read("grader.json"))
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "grader.json", "package/pyproject.toml", "hidden_checks/unseen.py"} <= set(names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert "package/k2l_course/grading/grade.py" in names and "package/k2l_course/exercises/checks/__init__.py" in names
    assert not [n for n in names if n.startswith(("solutions/", "tests/", "package/solutions", "package/tests"))]
    assert not [n for n in names if "__pycache__" in n]
    seed = config.pop("seed")
    assert config == {"timeout": 30.0, "call_timeout": 5.0, "memory_mb": 2048, "hidden_checks": True}
    assert isinstance(seed, int) and 0 <= seed < 2**32
    assert "--require-hashes -r" in setup and "python install 3.11" in setup and "bubblewrap" in setup
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0


@pytest.mark.parametrize("arguments, message", [
    (["out.txt"], "should end in .zip"),
    (["nowhere/out.zip"], "is not a folder"),
    (["out.zip", "--hidden-checks", "missing"], "--hidden-checks missing: no such folder"),
    (["out.zip", "--memory", "3"], "--memory at least 64"),
])  # fmt: skip
def test_bad_bundle_arguments_are_refused(tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["gradescope-bundle", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # grades whole classes or runs the sandbox end to end (CI runs it)
def test_run_autograder_grades_the_submission_into_results_json(bundle):
    out, hidden = bundle
    place = Path(tempfile.mkdtemp(prefix="k2l-test-autograder-"))
    try:
        place.chmod(0o755)  # world-readable: only run_autograder's own lock-down keeps students out
        root = place / "autograder"
        source, submission = root / "source", root / "submission"
        with zipfile.ZipFile(out) as archive:
            archive.extractall(source)
            for info in archive.infolist():
                (source / info.filename).chmod((info.external_attr >> 16) & 0o777)
        for folder in [root, *source.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)
        submission.mkdir()
        for exercise in checks.EXERCISES:
            if exercise != "ch2_activation":
                (submission / f"{exercise}.py").write_text((ROOT / "solutions" / f"{exercise}.py").read_text())
        (submission / "ch2_activation.ipynb").write_text((ROOT / "exercises" / "ch2_activation.ipynb").read_text())
        ch1 = submission / "ch1_conversion.py"
        ch1.write_text(ATTACK.format(root=str(root)) + ch1.read_text())
        env = {
            "PATH": os.environ["PATH"],
            "K2L_AUTOGRADER_ROOT": str(root),
            "K2L_AUTOGRADER_PYTHON": sys.executable,
            "PYTHONPATH": str(source / "package"),  # the bundle's package, not this checkout's
            "K2L_SANDBOX_NAMESPACES": "0",
        }
        which = subprocess.run([sys.executable, "-P", "-c", "import k2l_course; print(k2l_course.__file__)"],
                               env=env, capture_output=True, text=True, check=True)  # fmt: skip
        assert which.stdout.startswith(str(source / "package"))
        run = subprocess.run([str(source / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        results = json.loads((root / "results" / "results.json").read_text())
        assert json.loads((source / "grader.json").read_text())["timeout"] == 30
    finally:
        shutil.rmtree(place, ignore_errors=True)

    hidden_points = checks.total_points(hidden_dir=hidden) - checks.total_points()
    expected = checks.total_points() - checks.total_points("ch2_activation") + hidden_points
    assert results["score"] == expected == checks.ASSIGNMENT_TOTAL - checks.total_points("ch2_activation") + 1
    tests = {test["name"]: test for test in results["tests"]}
    assert len(tests) == len(checks.items(hidden_dir=hidden))
    assert tests["ch1_conversion.accuracy_unseen (hidden)"]["visibility"] == "hidden"
    assert tests["ch1_conversion.accuracy_unseen (hidden)"]["score"] == 1
    assert all(test["visibility"] == "visible" for name, test in tests.items() if "(hidden)" not in name)
    assert tests["ch2_activation.loihi_rate_formula"]["status"] == "failed"
    assert results["stdout_visibility"] == "hidden" and "execution_time" in results
    # The attack ran, and found nothing to read or overwrite:
    assert "stolen files: 0" in results["output"]
    assert results["output"].count("PermissionError") == 2


# --- the bundle in a clean Debian system ------------------------------------------------

#: Where the Debian root and the set-up roots are cached between runs: the machine's cache, so
#: that a fresh clone (CI) reuses the gigabytes of an earlier run; a new bundle is set up afresh.
DEBIAN_CACHE = Path(os.environ.get("K2L_DEBIAN_CACHE")
                    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "k2l" / "debootstrap")  # fmt: skip
DEBIAN_SUITE = "bookworm"

#: Grafted onto a correct ch1: reads what it can of the hidden checks, tries to forge its results.
HOSTILE_CH1 = '''
import glob, os
_found = 0
for _path in glob.glob("/autograder/source/**/*.py", recursive=True):
    try:
        open(_path).read()
        _found += 1
    except OSError:
        pass
print("hidden-check files read:", _found)
for _target in ("/autograder/results/results.json", "/autograder/source/grader.json"):
    try:
        open(_target, "w").write('{"score": 1000}')
        print("overwrote", _target)
    except OSError:
        pass
'''


def _debian_mirror():
    """The Debian mirror this machine's apt uses (deb.debian.org if none is named)."""
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = source.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and len(words) > 1 and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and len(words) > 2 and "security" not in words[-3 if "[" in line else 1]:
                return next(w for w in words[1:] if w.startswith("http"))
    return "http://deb.debian.org/debian"


def _skip_unless_debootstrap_can_run(mirror):
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root")
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (apt-get install debootstrap)")
    import urllib.request

    try:
        urllib.request.urlopen(f"{mirror}/dists/{DEBIAN_SUITE}/Release", timeout=20).close()
    except OSError as error:
        pytest.skip(f"the Debian mirror {mirror} cannot be reached: {error}")


def _debian_base(mirror):
    """A minimal Debian root (debootstrap --variant=minbase), built once and cached."""
    base = DEBIAN_CACHE / "base"
    if not (base / "etc" / "debian_version").is_file():
        partial = DEBIAN_CACHE / "base.partial"
        shutil.rmtree(partial, ignore_errors=True)
        DEBIAN_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(partial), mirror],
                       check=True, capture_output=True, timeout=3600)  # fmt: skip
        os.replace(partial, base)
    return base


class Chroot:
    """An overlay of cached layers with a writable top, mounted for chroot (proc, dev, DNS)."""

    def __init__(self, layers, upper):
        self.layers, self.upper = layers, Path(upper)
        self.work = self.upper.with_name(self.upper.name + ".work")
        self.root = self.upper.with_name(self.upper.name + ".root")
        self.mounts = []

    def __enter__(self):
        for folder in (self.upper, self.work, self.root):
            folder.mkdir(parents=True, exist_ok=True)
        lower = ":".join(str(layer) for layer in self.layers)
        self._mount(["-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={self.upper},workdir={self.work}"],
                    self.root)  # fmt: skip
        self._mount(["-t", "proc", "proc"], self.root / "proc")
        self._mount(["--rbind", "/dev"], self.root / "dev")
        # so that unmounting the copy never propagates to the machine's own /dev
        subprocess.run(["mount", "--make-rslave", str(self.root / "dev")], check=True)
        self._mount(["-t", "sysfs", "sysfs"], self.root / "sys")
        shutil.copy("/etc/resolv.conf", self.root / "etc" / "resolv.conf")
        # This machine's own trust: extra CAs (a TLS-inspecting egress proxy) that the
        # ca-certificates package setup.sh installs adds to the system bundle.
        local_cas = Path("/usr/local/share/ca-certificates")
        if local_cas.is_dir():
            shutil.copytree(local_cas, self.root / str(local_cas).lstrip("/"), dirs_exist_ok=True)
        return self

    def _mount(self, arguments, target):
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *arguments, str(target)], check=True)
        self.mounts.append(target)

    def bind(self, source, target):
        self._mount(["--bind", str(source)], self.root / str(target).lstrip("/"))

    def run(self, command, env=None, timeout=3600):
        environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                       "LANG": "C.UTF-8", **(env or {})}  # fmt: skip
        return subprocess.run(["chroot", str(self.root), *command], env=environment, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    def __exit__(self, *exc):
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-R", "-l", str(target)], check=False)
        shutil.rmtree(self.work, ignore_errors=True)
        self.root.rmdir() if self.root.exists() and not any(self.root.iterdir()) else None


def _bundle_key(bundle):
    import hashlib

    digest = hashlib.sha256()
    with zipfile.ZipFile(bundle) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith(("setup.sh", "requirements/", "package/")):
                digest.update(name.encode() + archive.read(name))
    return digest.hexdigest()[:16]


def _set_up_root(base, bundle):
    """The Debian root after the bundle's setup.sh (cached per setup.sh + lock + package)."""
    layer = DEBIAN_CACHE / f"setup-{_bundle_key(bundle)}"
    if (layer / "opt" / "k2l" / "venv" / "bin" / "python").exists():
        return layer
    partial = DEBIAN_CACHE / f"{layer.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    uv_cache = DEBIAN_CACHE / "uv-cache"
    uv_cache.mkdir(parents=True, exist_ok=True)
    with Chroot([base], partial) as root:
        source = root.root / "autograder" / "source"
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(source)
        (source / "setup.sh").chmod(0o755)
        root.bind(uv_cache, "/var/cache/k2l-uv")
        bundle_path = "/etc/ssl/certs/ca-certificates.crt"  # what pip and uv trust, as on this machine
        tls = {"SSL_CERT_FILE": bundle_path, "PIP_CERT": bundle_path} if os.environ.get("SSL_CERT_FILE") else {}
        setup = root.run(["bash", "/autograder/source/setup.sh"], env={"K2L_UV_CACHE": "/var/cache/k2l-uv", **tls})
        log = DEBIAN_CACHE / "setup.log"
        log.write_text(setup.stdout + "\n--- stderr ---\n" + setup.stderr)
        assert setup.returncode == 0, f"setup.sh failed in a fresh Debian {DEBIAN_SUITE} (log: {log}):\n{setup.stderr[-3000:]}"
        shutil.rmtree(source)
    for leftover in (partial / "var" / "cache" / "k2l-uv",):
        if leftover.is_dir() and not any(leftover.iterdir()):
            leftover.rmdir()
    os.replace(partial, layer)
    for stale in DEBIAN_CACHE.glob("setup-*"):  # older bundles' roots (gigabytes each)
        if stale != layer:
            shutil.rmtree(stale, ignore_errors=True)
    return layer


def _submissions(folder):
    """A correct, a partial and a hostile submission (one folder each)."""
    from k2l_course.exercises import checks

    solutions = {f"{e}.py": (ROOT / "solutions" / f"{e}.py").read_text() for e in checks.EXERCISES}
    made = {
        "correct": dict(solutions),
        "partial": {**solutions, "ch2_activation.py": (ROOT / "exercises" / "ch2_activation.py").read_text(),
                    "ch4_training.py": solutions["ch4_training.py"] + "\n\n"
                    + (ROOT / "tests" / "wrong_answers" / "ch4_training__equals_everything.py").read_text()},
        "hostile": {**solutions, "ch1_conversion.py": HOSTILE_CH1 + solutions["ch1_conversion.py"],
                    "ch2_activation.py": solutions["ch2_activation.py"]
                    + "\n\nimport os, signal\ndef loihi_rate(*args, **kwargs):\n    os.killpg(0, signal.SIGKILL)\n"},
    }  # fmt: skip
    for student, files in made.items():
        (folder / student).mkdir(parents=True)
        for name, text in files.items():
            (folder / student / name).write_text(text)
    return sorted(made)


@pytest.mark.slow
@pytest.mark.root
def test_setup_sh_and_run_autograder_work_in_a_fresh_debian_and_grade_as_k2l_grade_does(tmp_path):
    """The bundle, end to end, in a minimal Debian root: setup.sh, then run_autograder on three submissions.

    Each results.json must equal what ``k2l grade`` writes for the same files
    and the same seed (all but ``execution_time``, a wall-clock measurement).
    """
    mirror = _debian_mirror()
    _skip_unless_debootstrap_can_run(mirror)
    bundle = tmp_path / "autograder.zip"
    assert cli.main(["gradescope-bundle", str(bundle), "--timeout", "60", "--call-timeout", "10", "--seed", "20241"]) == 0
    base = _debian_base(mirror)
    layer = _set_up_root(base, bundle)
    submissions = tmp_path / "class"
    students = _submissions(submissions)

    graded = {}
    for student in students:
        with Chroot([layer, base], tmp_path / f"run-{student}") as root:
            autograder = root.root / "autograder"
            with zipfile.ZipFile(bundle) as archive:
                archive.extractall(autograder / "source")
            (autograder / "source" / "run_autograder").chmod(0o755)
            shutil.copytree(submissions / student, autograder / "submission")
            for path in [autograder, *autograder.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            (autograder / "source" / "run_autograder").chmod(0o755)
            run = root.run(["/autograder/source/run_autograder"], timeout=1800)
            assert run.returncode == 0, run.stderr[-3000:]
            graded[student] = json.loads((autograder / "results" / "results.json").read_text())

    out = tmp_path / "out"
    arguments = ["grade", str(submissions), "--out", str(out), "--timeout", "60", "--call-timeout", "10"]
    _, parser = cli.command_parser("grade")
    if "--seed" in parser._option_string_actions:  # the seeded grader (issue 9)
        arguments += ["--seed", "20241"]
    assert cli.main(arguments) == 0
    for student in students:
        expected = json.loads((out / "students" / student / "results.json").read_text())
        got = dict(graded[student])
        for payload in (expected, got):
            payload.pop("execution_time", None)
        assert got == expected, student
    assert graded["correct"]["score"] == checks_total()
    assert 0 < graded["partial"]["score"] < graded["correct"]["score"]
    assert "hidden-check files read: 0" in graded["hostile"]["output"]
    assert "overwrote" not in graded["hostile"]["output"]


def checks_total():
    from k2l_course.exercises import checks

    return checks.total_points()


def _interpreter_choice(tmp_path, python311):
    """What setup.sh's interpreter step picks on a system with or without a python3.11."""
    from k2l_course.grading import gradescope

    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "uv").write_text(f'#!/bin/sh\necho "uv $*" >> {tmp_path}/uv.log\n')
    if python311:
        (stubs / "python3.11").symlink_to(sys.executable)  # this test's Python is a 3.11
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    step = gradescope.INTERPRETER_STEP.replace(f"{gradescope.PREFIX}/bin/uv", str(stubs / "uv"))
    run = subprocess.run(["/bin/bash", "-c", step + 'echo "PYTHON=$PYTHON"'], env={"PATH": str(stubs)},
                         capture_output=True, text=True, check=True)  # fmt: skip
    uv_log = (tmp_path / "uv.log").read_text() if (tmp_path / "uv.log").exists() else ""
    return run.stdout.strip().splitlines()[-1], uv_log


def test_setup_takes_the_systems_python_3_11_where_there_is_one(tmp_path):
    chosen, uv_log = _interpreter_choice(tmp_path, python311=True)
    assert chosen == f"PYTHON={tmp_path / 'bin' / 'python3.11'}" and uv_log == ""


def test_setup_installs_python_3_11_with_uv_where_the_image_has_none(tmp_path):
    """Gradescope's Ubuntu images have no Python 3.11: uv installs one."""
    chosen, uv_log = _interpreter_choice(tmp_path, python311=False)
    assert chosen == "PYTHON=3.11" and uv_log == "uv python install 3.11\n"
