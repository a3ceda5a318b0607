"""Which file counts for which exercise: one rule for ``k2l check`` and ``k2l grade``."""

import os

import pytest

from k2l_course.grading import planning

FUNCTIONS = {"ch1_conversion": {"flatten_images"}, "ch2_activation": {"loihi_rate"}, "ch3_scaling": {"scale"}}


def defines_by_content(path):
    """A stand-in for the sandbox's parser: the names after 'def ' in the file."""
    return {line[4:].split("(")[0] for line in path.read_text(errors="replace").splitlines() if line.startswith("def ")}


def plan_of(path, exercise=None):
    listing = planning.list_submission(path, list(FUNCTIONS))
    return planning.plan(listing, FUNCTIONS, exercise=exercise, defines=defines_by_content)


def touch(path, text="", when=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if when is not None:
        os.utime(path, (when, when))
    return path


def counted(result):
    return {exercise: result.names[path] for exercise, path in result.chosen().items()}


def test_a_file_named_for_an_exercise_counts_and_the_newer_format_wins(tmp_path):
    touch(tmp_path / "ch1_conversion.py", when=2_000_000)
    touch(tmp_path / "ch1_conversion.ipynb", when=1_000_000)
    touch(tmp_path / "ch2_activation.py", when=1_000_000)
    touch(tmp_path / "ch2_activation.ipynb", when=1_000_000)
    result = plan_of(tmp_path)
    assert counted(result) == {"ch1_conversion": "ch1_conversion.py", "ch2_activation": "ch2_activation.ipynb"}
    reasons = {s.name: s.reason for s in result.skipped}
    assert "ch1_conversion.py is newer than ch1_conversion.ipynb" in reasons["ch1_conversion.ipynb"]
    assert "modified at the same time: the notebook counts" in reasons["ch2_activation.py"]


def test_only_the_top_of_a_submission_counts_unless_it_is_one_wrapping_folder(tmp_path):
    touch(tmp_path / "a" / "deep" / "ch1_conversion.py")
    touch(tmp_path / "a" / "ch2_activation.py")
    result = plan_of(tmp_path / "a")
    assert counted(result) == {"ch2_activation": "ch2_activation.py"}
    assert [str(s) for s in result.skipped] == ["deep: a folder: only files at the top of the submission count"]
    touch(tmp_path / "b" / "lab" / "ch1_conversion.py")
    touch(tmp_path / "b" / "__MACOSX" / "lab" / "._ch1_conversion.py")
    touch(tmp_path / "b" / ".DS_Store")
    result = plan_of(tmp_path / "b")
    assert counted(result) == {"ch1_conversion": "ch1_conversion.py"}
    assert "the work was found in the folder lab" in result.notes


def test_other_files_count_for_exercises_they_define_the_newest_first(tmp_path):
    touch(tmp_path / "ch1_conversion.py", "def flatten_images(x):\n")
    for index in range(4):
        touch(tmp_path / f"copy{index}.py", "def loihi_rate(j, dt):\ndef flatten_images(x):\n", when=1_000_000 + index)
    touch(tmp_path / "notes.py", "x = 1\n")
    result = plan_of(tmp_path)
    assert counted(result) == {"ch1_conversion": "ch1_conversion.py", "ch2_activation": "copy3.py"}
    reasons = {s.name: s.reason for s in result.skipped}
    assert reasons["copy0.py"] == "does not count: other files that define the same functions are newer"
    assert reasons["notes.py"] == "does not count: defines none of the graded functions (or could not be parsed)"


def test_at_most_a_dozen_other_files_are_looked_at(tmp_path):
    for index in range(15):
        touch(tmp_path / f"f{index:02d}.py", "def scale(x):\n")
    result = plan_of(tmp_path)
    assert len(result.runs) == 1
    assert sum("only the first 12 are looked at" in s.reason for s in result.skipped) == 3


def test_entries_that_cannot_count_are_skipped_with_a_reason(tmp_path):
    touch(tmp_path / ".hidden.py")
    touch(tmp_path / "work.ZIP")
    touch(tmp_path / "data.csv")
    (tmp_path / "ch3_scaling.py").write_bytes(b"#" * (planning.max_bytes() + 1))
    os.symlink("/etc/passwd", tmp_path / "ch1_conversion.py")
    os.mkfifo(tmp_path / "ch2_activation.py")
    reasons = {s.name: s.reason for s in plan_of(tmp_path).skipped}
    assert reasons == {
        ".hidden.py": "a hidden entry",
        "work.ZIP": "an archive: unpack it into the submission instead",
        "data.csv": "not a .py or .ipynb file",
        "ch3_scaling.py": "larger than 20 MB",
        "ch1_conversion.py": "a symbolic link",
        "ch2_activation.py": "not a regular file",
    }


def test_a_single_file_counts_for_its_name_else_for_what_it_defines(tmp_path):
    named = touch(tmp_path / "ch3_scaling.py", "def loihi_rate(j, dt):\n")
    assert counted(plan_of(named)) == {"ch3_scaling": "ch3_scaling.py"}
    mine = touch(tmp_path / "mine.ipynb", "def loihi_rate(j, dt):\ndef scale(x):\n")
    assert counted(plan_of(mine)) == {"ch2_activation": "mine.ipynb", "ch3_scaling": "mine.ipynb"}
    assert counted(plan_of(mine, exercise="ch1_conversion")) == {"ch1_conversion": "mine.ipynb"}


@pytest.mark.parametrize("raw", [b"caf\xe9", b"a\nb", b"\xff\xfe", "日本".encode(), b"%41", b".x", b"a/b"[:1] + b"\\"])
def test_names_of_any_bytes_are_shown_as_utf8_and_keyed_uniquely_and_reversibly(raw):
    import urllib.parse

    shown = planning.display_name(os.fsdecode(raw))
    shown.encode("utf-8")  # strict
    assert "\n" not in shown
    key = planning.safe_key(os.fsdecode(raw))
    assert key.isascii() and "/" not in key and not key.startswith(".")
    assert urllib.parse.unquote_to_bytes(key) == raw


def test_safe_text_escapes_lone_surrogates_only():
    assert planning.safe_text("caf\u00e9 \ud800") == "caf\u00e9 \\ud800"
    assert planning.safe_text("plain") == "plain"
