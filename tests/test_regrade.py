"""``k2l grade --only ID ...`` regrades the named students and leaves every other file as it was."""

import hashlib
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from k2l_course.grading import grade as grading

# the generated classes, from tests/classes (pytest's pythonpath)
import standin


LIMITS = grading.Limits(timeout=20, memory_mb=512, call_timeout=5)


def digests(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture
def place():
    path = Path(tempfile.mkdtemp(prefix="k2l-test-regrade-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow  # grades whole classes or runs the sandbox end to end (CI runs it)
def test_only_regrades_the_named_students_and_leaves_the_others_byte_for_byte(place):
    submissions = place / "class"
    for name, ch1 in (("ann", standin.CH1), ("bob", standin.CH1_WRONG_TILE), ("cy", standin.CH1)):
        (submissions / name).mkdir(parents=True)
        (submissions / name / "ch1_conversion.py").write_text(textwrap.dedent(ch1))
        (submissions / name / "ch2_activation.py").write_text(textwrap.dedent(standin.CH2_NO_CAP))
    out = place / "out"
    assignment = grading.load_assignment(standin.items(), list(standin.EXERCISES))
    first = grading.grade(submissions, out, assignment, limits=LIMITS, progress=False)
    totals = {r["student"]: r["total"] for r in first.records}
    before = digests(out / "students")

    # bob fixes his tile; ann's file changes too, but only bob is regraded.
    (submissions / "bob" / "ch1_conversion.py").write_text(textwrap.dedent(standin.CH1))
    (submissions / "ann" / "ch1_conversion.py").write_text("def flatten_images(images):\n    return None\n")
    summary = grading.grade(submissions, out, assignment, limits=LIMITS, progress=False, only=["bob"])

    assert summary.graded == 1
    after = digests(out / "students")
    others = {k: v for k, v in before.items() if not k.startswith("bob/")}
    assert {k: v for k, v in after.items() if not k.startswith("bob/")} == others
    assert after["bob/record.json"] != before["bob/record.json"]
    records = {r["student"]: r for r in summary.records}
    assert records["bob"]["total"] == totals["bob"] + 3  # the tile item (3 points) now passes
    assert records["ann"]["total"] == totals["ann"]  # untouched, though her file changed
    gradebook = (out / "gradebook.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in gradebook[1:]] == ["ann", "bob", "cy"]


def test_only_with_an_unknown_student_is_refused_before_anything_is_written(place):
    submissions = place / "class"
    (submissions / "ann").mkdir(parents=True)
    (submissions / "ann" / "ch1_conversion.py").write_text(standin.CH1)
    out = place / "out"
    assignment = grading.load_assignment(standin.items(), list(standin.EXERCISES))
    with pytest.raises(grading.GradingError, match="--only: no submission for 'zed'"):
        grading.grade(submissions, out, assignment, limits=LIMITS, progress=False, only=["zed"])
    assert not out.exists()


def test_k2l_grade_writes_the_class_report_and_only_regrades_through_the_command(place, monkeypatch, capsys):
    from k2l_course import cli

    monkeypatch.setattr(grading, "load_checks", lambda hidden=None: (standin.items(), list(standin.EXERCISES)))
    submissions = place / "class"
    for name in ("ann", "bob"):
        (submissions / name).mkdir(parents=True)
        (submissions / name / "ch1_conversion.py").write_text(textwrap.dedent(standin.CH1))
    out = place / "out"
    common = ["--timeout", "20", "--call-timeout", "5", "--memory", "512"]
    assert cli.main(["grade", str(submissions), "--out", str(out), *common]) == 0
    html = (out / "report.html").read_text()
    assert "2 students graded" in html and "evidence for a person to look at" in html
    ann = (out / "students" / "ann" / "record.json").read_bytes()
    assert cli.main(["grade", str(submissions), "--out", str(out), "--only", "bob", *common]) == 0
    assert (out / "students" / "ann" / "record.json").read_bytes() == ann
    assert "class report:" in capsys.readouterr().out
    assert cli.main(["grade", str(submissions), "--out", str(place / "new"), "--only", "bob", *common]) == 2
    assert "--only regrades students of an existing output" in capsys.readouterr().err
