"""Similarity flags find disguised copies and leave independent work alone.

The class (``tests/classes/copies.py``) has independent students, each
writing every function of the course's exercises in one of several
genuinely different correct ways and in their own style, and planted
copiers who rename, reorder, relayout and recomment a classmate's work, or
copy one exercise into otherwise own work.
"""

import json
from pathlib import Path

from k2l_course import cli
from k2l_course.grading import similarity

# the generated classes, from tests/classes (pytest's pythonpath)
import copies

ROOT = Path(__file__).resolve().parents[1]


def measure(root, n_independent, seed):
    """Recall on the planted (pair, exercise)s and the independent pairs flagged."""
    made = copies.make_class(root, n_independent=n_independent, seed=seed)
    files = {e: {s: root / s / f"{e}.py" for s in made["students"]} for e in copies.EXERCISES}
    findings = similarity.analyse_files(files)
    flagged = {((f.a, f.b), f.exercise) for f in findings.flags}
    planted = {(pair, e) for pair, exercises in made["planted"].items() for e in exercises}
    false = {(pair, e) for pair, e in flagged if (pair, e) not in planted}
    n_pairs = sum(findings.pairs.values())
    return {
        "planted": len(planted),
        "found": len(planted & flagged),
        "recall": len(planted & flagged) / len(planted),
        "false_flags": len(false),
        "independent_pairs": n_pairs - len(planted),
        "planted_pairs_found": len({pair for pair, _ in planted & flagged}),
        "planted_pairs": len(made["planted"]),
    }


def test_planted_copies_are_flagged_and_independent_work_is_not(tmp_path):
    result = measure(tmp_path, n_independent=40, seed=1)
    print("similarity measurement:", json.dumps(result))
    assert result["independent_pairs"] > 5000
    assert result["recall"] >= 0.9, result
    assert result["planted_pairs_found"] == result["planted_pairs"], result
    assert result["false_flags"] <= 0.001 * result["independent_pairs"], result


def test_renaming_reordering_relayout_and_comments_change_no_fingerprint():
    import random

    text = copies.own_file("ch2_activation", random.Random(3))
    boilerplate = similarity.starter_boilerplate("ch2_activation")
    original = similarity.fingerprints(text, boilerplate)
    assert len(original) >= similarity.MIN_FINGERPRINTS
    for how in ("renamed", "reordered", "relaid", "all"):
        disguised = copies.disguise(text, how, random.Random(4), set(copies.VARIANTS))
        assert disguised != text
        assert similarity.fingerprints(disguised, boilerplate) == original, how


def test_the_starter_code_alone_leaves_nothing_to_compare():
    for exercise in copies.EXERCISES:
        starter = (ROOT / "exercises" / f"{exercise}.py").read_text()
        assert similarity.fingerprints(starter, similarity.starter_boilerplate(exercise)) == set()


def test_hostile_files_are_read_safely(tmp_path):
    files = {
        "binary.py": bytes(range(256)) * 100,
        "surrogates.py": "def f():\n    return '\udcff'\n".encode("utf-8", "surrogateescape"),
        "deep.ipynb": b"[" * 200000,
        "huge.py": b"x = 1\n" * (similarity.MAX_FILE_BYTES // 5),
        "notebook.ipynb": json.dumps({"cells": [{"cell_type": "code", "source": ["def f(x):\n", "    return x"]}]}).encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    assert similarity.read_code(tmp_path / "deep.ipynb") == ""
    assert similarity.read_code(tmp_path / "huge.py") == ""
    assert similarity.read_code(tmp_path / "notebook.ipynb") == "def f(x):\n    return x"
    assert similarity.read_code(tmp_path / "missing.py") == ""
    for name in files:
        similarity.fingerprints(similarity.read_code(tmp_path / name))
    findings = similarity.analyse_files({"ch1_conversion": {n: tmp_path / n for n in files}})
    assert findings.flags == []


def test_the_report_shows_flagged_pairs_side_by_side_with_the_disclaimer(tmp_path):
    import records as records_module
    made = copies.make_class(tmp_path / "class", n_independent=20, seed=2)
    out = tmp_path / "out"
    for student in made["students"]:
        record = records_module.record(0)
        record["student"] = student
        record["chosen"] = {e: f"{e}.py" for e in copies.EXERCISES}
        (out / "students" / student).mkdir(parents=True)
        (out / "students" / student / "record.json").write_text(json.dumps(record))
    assert cli.main(["report", str(out), "--submissions", str(tmp_path / "class")]) == 0
    html = (out / "report.html").read_text()
    assert "evidence for a person to look at" in html
    assert 'id="flag-table"' in html and "<mark>" in html
    pair = next(iter(made["planted"]))
    assert f"{pair[0]} &amp; {pair[1]}" in html or f"{pair[1]} &amp; {pair[0]}" in html
