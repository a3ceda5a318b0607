"""``k2l check`` and ``k2l grade`` are one pipeline: same files, same runs, same judges.

``k2l check`` gives every solution, stub and typical wrong answer exactly the
per-item scores ``k2l grade --seed public`` gives it, and its report lists what
it skipped, whatever the names.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from k2l_course.grading import check as checking
from k2l_course.grading import grade as grading

# the generated classes, from tests/classes (pytest's pythonpath)
import course

ROOT = Path(__file__).resolve().parents[1]


def k2l(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "k2l_course.cli", *map(os.fsdecode, args)], cwd=cwd,
                          capture_output=True, timeout=600)  # fmt: skip


@pytest.mark.slow
def test_check_gives_every_item_the_score_grading_gives_on_the_public_cases(tmp_path):
    builder = course.ClassBuilder(tmp_path / "class")
    builder.correct("solutions")
    builder.untouched("stubs")
    for wrong in sorted(course.WRONG_ANSWERS.glob("*.py")):
        builder.wrong(wrong.stem, wrong.name)
    items, exercises = grading.load_checks()
    assignment = grading.load_assignment(items, exercises)
    limits = grading.Limits(timeout=300, call_timeout=1)
    summary = grading.grade(tmp_path / "class", tmp_path / "out", assignment, seed=grading.PUBLIC, jobs=2,
                            limits=limits, progress=False)  # fmt: skip
    assert len(summary.records) == len(builder.expected)
    for record in summary.records:
        targets, skipped = checking.find_plan(path=tmp_path / "class" / record["student"])
        assert not skipped
        results = checking.check(targets, timeout=300, call_timeout=1)
        checked = {f"{r.item.exercise}.{r.item.name}": r.verdict.score for result in results for r in result.results}
        graded = {f"{e['exercise']}.{e['name']}": e["score"] for e in record["items"] if e["file"] is not None}
        assert (record["student"], checked) == (record["student"], graded)
        expected = builder.expected[record["student"]][1]
        assert (record["student"], graded) == (record["student"], {k: expected[k] for k in graded})


def test_the_report_lists_what_was_skipped_and_why_whatever_the_names(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "ch4_training.py").write_text((ROOT / "solutions" / "ch4_training.py").read_text())
    (work / "ch4_training.ipynb").write_text("{}")
    os.utime(work / "ch4_training.ipynb", (1_000_000, 1_000_000))
    (work / "answers.zip").write_bytes(b"PK")
    open(os.fsencode(work) + b"/caf\xe9.txt", "wb").close()
    (work / "old").mkdir()
    run = k2l("check", work)
    out = run.stdout.decode("utf-8")  # strict: valid UTF-8 whatever the names
    assert run.returncode == 0, out + run.stderr.decode()
    assert "Skipped (not checked):" in out
    assert "answers.zip: an archive: unpack it into the submission instead" in out
    assert "caf\\xe9.txt: not a .py or .ipynb file" in out
    assert "old: a folder: only files at the top of the submission count" in out
    assert "ch4_training.ipynb: another copy of ch4_training: ch4_training.py is newer" in out
    assert "Total: 5/5 points (2 of 2 items pass)" in out


def test_a_lone_surrogate_in_a_students_error_reaches_the_report_escaped(tmp_path):
    mine = tmp_path / "ch4_training.py"
    mine.write_text("def rate_penalty(*args, **kwargs):\n    raise ValueError('\\ud800')\n")
    run = k2l("check", mine)
    out = run.stdout.decode("utf-8")
    assert run.returncode == 1 and "Total: 0/5 points" in out, out + run.stderr.decode()


@pytest.mark.parametrize("command", ["check", "grade"])
def test_the_file_rule_is_in_the_help_of_both_commands(command):
    run = k2l(command, "--help")
    out = " ".join(run.stdout.decode().split())
    assert run.returncode == 0
    assert "which file counts for an exercise (k2l check and k2l grade apply the same rule)" in out
    assert "the more recently modified counts (the notebook on a tie)" in out


def test_a_runs_returned_values_are_dropped_as_soon_as_they_are_judged():
    """What a student returns is judged and let go at once (the grader holds one run per job, never a class's)."""
    import weakref

    import numpy as np

    from k2l_course.grading import runner
    from k2l_course.grading.sandbox import Outcome, SandboxResult

    import standin

    returned = []

    def run(path, calls, **limits):
        values = [np.ones(1000) for _ in calls]
        returned.extend(weakref.ref(value) for value in values)
        return SandboxResult("ok", [Outcome(True, value, None, 0.0) for value in values], "", [])

    items = standin.items()
    result = runner.run_file(run, Path("x.py"), items, [runner.cases_of(item) for item in items])
    assert len(returned) == 6 and result.status == "ok"
    assert [ref() for ref in returned] == [None] * 6
