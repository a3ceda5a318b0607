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

from k2l_course import checks, cli

ROOT = Path(__file__).resolve().parents[1]

HIDDEN_CHECK = '''
import numpy as np
from k2l_course.checks.ch1_conversion import _spiking_output, check_accuracy
from k2l_course.checks.items import item


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
    assert "package/k2l_course/grading.py" in names and "package/k2l_course/checks/__init__.py" in names
    assert not [n for n in names if n.startswith(("solutions/", "tests/", "package/solutions", "package/tests"))]
    assert not [n for n in names if "__pycache__" in n]
    assert config == {"timeout": 30.0, "call_timeout": 5.0, "memory_mb": 2048, "hidden_checks": True}
    assert "--require-hashes -r" in setup and "python install 3.11" in setup
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
