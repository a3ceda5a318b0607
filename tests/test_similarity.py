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


# --- at scale: fingerprints kept, candidates from an inverted index -------------------------------------


def _files(root, made, exercises=copies.EXERCISES):
    return {e: {s: root / s / f"{e}.py" for s in made["students"]} for e in exercises}


def _flagged(findings):
    return {((f.a, f.b), f.exercise) for f in findings.flags}


def test_the_inverted_index_flags_exactly_what_scoring_every_pair_flags_on_the_planted_class(tmp_path):
    made = copies.make_class(tmp_path / "class", n_independent=40, seed=1)
    files, store = _files(tmp_path / "class", made), tmp_path / "fingerprints.sqlite"
    every_pair = similarity.analyse_files(files, store=store, pairs="all")
    indexed = similarity.analyse_files(files, store=store)
    planted = {(pair, e) for pair, exercises in made["planted"].items() for e in exercises}
    assert _flagged(indexed) == _flagged(every_pair)
    assert planted <= _flagged(indexed)
    for exercise in copies.EXERCISES:
        assert len(indexed.scores[exercise]) < len(every_pair.scores[exercise])  # fewer pairs scored (1 in 2,400 at 10,000)...
        for pair, score in indexed.scores[exercise].items():  # ...each exactly as when every pair is scored
            assert score == every_pair.scores[exercise][pair]
        assert indexed.distribution[exercise] == every_pair.distribution[exercise]


def test_fingerprints_are_reused_from_the_store_and_recomputed_when_a_file_changes(tmp_path):
    made = copies.make_class(tmp_path / "class", n_independent=20, seed=5)
    files = _files(tmp_path / "class", made, ["ch2_activation"])
    store = tmp_path / "out" / "similarity" / "fingerprints.sqlite"
    first = similarity.analyse_files(files, store=store)
    distinct = len({path.read_bytes() for path in files["ch2_activation"].values()})
    assert first.fingerprinted == {"ch2_activation": distinct}
    again = similarity.analyse_files(files, store=store)
    assert again.fingerprinted == {"ch2_activation": 0}
    assert _flagged(again) == _flagged(first) and again.scores == first.scores
    changed = files["ch2_activation"][made["students"][0]]
    changed.write_text(changed.read_text() + "\n\ndef extra(x):\n    return [x * k for k in range(7)]\n")
    after = similarity.analyse_files(files, store=store)
    assert after.fingerprinted == {"ch2_activation": 1}
    fresh = similarity.analyse_files(files)  # no store: everything computed afresh, same answer
    assert after.scores == fresh.scores and _flagged(after) == _flagged(fresh)


def test_the_store_keeps_only_the_files_of_the_last_pass(tmp_path):
    made = copies.make_class(tmp_path / "class", n_independent=20, seed=6)
    files = _files(tmp_path / "class", made, ["ch2_activation"])
    path = tmp_path / "out" / "similarity" / "fingerprints.sqlite"
    similarity.analyse_files(files, store=path)
    current = lambda: {similarity.file_digest(p, p.read_bytes()) for p in files["ch2_activation"].values()}  # noqa: E731
    resubmitted = files["ch2_activation"][made["students"][0]]
    before = similarity.file_digest(resubmitted, resubmitted.read_bytes())
    resubmitted.write_text(resubmitted.read_text() + "\n\ndef extra(x):\n    return x + 1\n")
    del files["ch2_activation"][made["students"][1]]  # a student who left the class
    similarity.analyse_files(files, store=path)
    store = similarity.FingerprintStore(path)
    try:
        assert store.digests() == current() and before not in store.digests()
    finally:
        store.close()


def test_code_shared_by_everyone_makes_no_candidate_pairs(tmp_path):
    import random

    rng = random.Random(7)
    shared = ("\n\ndef course_helper(values, width=3):\n    out = []\n    for start in range(0, len(values), width):\n"
              "        chunk = values[start:start + width]\n        out.append(sum(chunk) / max(1, len(chunk)))\n"
              "    return out\n")  # fmt: skip
    own = [copies.own_file("ch2_activation", rng) for _ in range(3 * similarity.COMMON_FILES)]
    for name, texts in (("plain", own), ("with_helper", [text + shared for text in own])):
        for k, text in enumerate(texts):
            (tmp_path / name / f"s{k:03d}").mkdir(parents=True)
            (tmp_path / name / f"s{k:03d}" / "ch2_activation.py").write_text(text)
    found = {name: similarity.analyse_files({"ch2_activation": {f"s{k:03d}": tmp_path / name / f"s{k:03d}" /
                                             "ch2_activation.py" for k in range(len(own))}})
             for name in ("plain", "with_helper")}  # fmt: skip
    helper = similarity.fingerprints(shared)
    assert len(helper) >= 3 and all(helper <= similarity.fingerprints(t + shared) for t in own)
    assert set(found["with_helper"].scores["ch2_activation"]) == set(found["plain"].scores["ch2_activation"])
    assert found["with_helper"].flags == []


def test_the_normalised_text_is_copydetects(tmp_path):
    import random

    from copydetect.utils import filter_code

    rng = random.Random(11)
    texts = [copies.own_file(e, rng) for e in copies.EXERCISES]
    texts += ["x = f'{a!r:>{w}}' + \"\"\"doc\n\"\"\" # c\n@dec\nclass A(B):\n    def m(self): return b'\\x00'\n",
              bytes(range(256)).decode("latin-1"), "def broken(:\n    '''unterminated\n"]  # fmt: skip
    for text in texts:
        for piece in similarity._pieces(text):
            assert similarity.normalise(piece) == filter_code(piece, "x.py", language="python")[0]
