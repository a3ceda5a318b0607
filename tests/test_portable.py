"""The portable sandbox (Windows, macOS): limits and outcomes, exercised on this machine.

Both of its memory limits are tested here: ``rlimit`` (Linux's RLIMIT_AS, what
it uses on Linux) and ``watch`` (the child's memory polled and the child
stopped beyond the limit, what it uses on macOS and Windows).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from k2l_course.grading.sandbox import Call, portable
from k2l_course.grading.sandbox.portable import PortableSandbox


def write(tmp_path, text, name="answer.py"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def box():
    with PortableSandbox() as sandbox:
        yield sandbox


def test_values_come_back_as_plain_data_and_output_is_kept(tmp_path, box):
    path = write(tmp_path, "import numpy as np\nprint('héllo')\ndef f(x):\n    print('called', x)\n    return np.arange(x) * 2\n")
    result = box.run(path, [Call("f", {"x": 3}), Call("g", {})])
    assert result.status == "ok"
    assert result.outcomes[0].ok and list(result.outcomes[0].value) == [0, 2, 4]
    assert not result.outcomes[1].ok and "does not define a function named g" in result.outcomes[1].error
    assert "héllo" in result.output and "called 3" in result.output


def test_a_call_that_hangs_costs_only_itself(tmp_path, box):
    path = write(tmp_path, "def slow():\n    while True:\n        pass\ndef fast():\n    return 1\n")
    result = box.run(path, [Call("slow", {}), Call("fast", {})], call_timeout=1)
    assert result.status == "timeout"
    assert result.outcomes[0].error == "did not finish within 1 s"
    assert result.outcomes[1].ok and result.outcomes[1].value == 1


def test_the_whole_run_has_a_time_budget(tmp_path, box):
    path = write(tmp_path, "while True:\n    pass\n")
    result = box.run(path, [Call("f", {})], timeout=2)
    assert result.status == "timeout"
    assert "loading the file took longer than the time limit of 2 s" in result.outcomes[0].error


@pytest.mark.parametrize("memory", ["rlimit", "watch"])
def test_memory_is_limited(tmp_path, memory):
    if memory == "rlimit" and not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS is Linux's")
    path = write(tmp_path, "import numpy as np\nimport time\ndef hog():\n    a = np.ones(400 * 2**20 // 8)\n    time.sleep(1)\n    return 1\ndef fine():\n    return 2\n")
    with PortableSandbox(memory=memory) as sandbox:
        result = sandbox.run(path, [Call("hog", {}), Call("fine", {})], memory_mb=150)
    assert result.status == "memory"
    assert not result.outcomes[0].ok and "memory" in result.outcomes[0].error
    assert result.outcomes[1].ok and result.outcomes[1].value == 2


def test_output_is_capped(tmp_path, box):
    path = write(tmp_path, "print('x' * 1_000_000)\ndef f():\n    return 1\n")
    result = box.run(path, [Call("f", {})], output_limit=1000)
    assert result.outcomes[0].ok
    assert len(result.output) < 1100 and "more bytes of output not shown" in result.output


def test_the_course_and_forbidden_names_are_refused(tmp_path, box):
    path = write(
        tmp_path,
        "def course():\n    import k2l_course.exercises.checks\n"
        "def sol():\n    import solutions\n"
        "def frac():\n    import fractions\n"
        "def mean():\n    from statistics import mean\n    return mean([1, 2])\n"
        "def median():\n    import statistics\n    return statistics.median([1, 2, 3])\n",
    )
    forbidden = {"fractions": "no fractions here", "statistics.mean": "write the mean yourself"}
    result = box.run(path, [Call(n, {}) for n in ("course", "sol", "frac", "mean", "median")], forbidden=forbidden)
    errors = [o.error or "" for o in result.outcomes]
    assert "refused: k2l_course" in errors[0]
    assert "refused: solutions" in errors[1]
    assert errors[2].startswith("refused: fractions") and "no fractions here" in errors[2]
    assert errors[3].startswith("refused: statistics.mean") and "write the mean yourself" in errors[3]
    assert result.outcomes[4].ok and result.outcomes[4].value == 2
    assert result.notes == ["refused: fractions (no fractions here)", "refused: statistics.mean (write the mean yourself)"]


def test_a_call_that_kills_its_process_is_reported_and_the_next_call_runs(tmp_path, box):
    path = write(tmp_path, "import os\ndef die():\n    os._exit(3)\ndef after():\n    return 5\n")
    result = box.run(path, [Call("die", {}), Call("after", {})])
    assert result.status == "crashed"
    assert "during this call" in result.outcomes[0].error
    assert result.outcomes[1].ok and result.outcomes[1].value == 5


def test_a_missing_file_or_syntax_error_is_reported(tmp_path, box):
    result = box.run(tmp_path / "nothing.py", [Call("f", {})])
    assert result.status == "no-submission" and "does not exist" in result.outcomes[0].error
    result = box.run(write(tmp_path, "def f(:\n"), [Call("f", {})])
    assert result.status == "syntax-error" and "syntax error" in result.outcomes[0].error


def test_choose_follows_the_platform_the_option_and_the_environment(monkeypatch):
    monkeypatch.delenv(portable.ENVIRONMENT_VARIABLE, raising=False)
    expected = "Sandbox" if portable.linux_sandbox_available() else "PortableSandbox"
    assert type(portable.choose()).__name__ == expected
    assert type(portable.choose("portable")).__name__ == "PortableSandbox"
    monkeypatch.setenv(portable.ENVIRONMENT_VARIABLE, "portable")
    assert type(portable.choose()).__name__ == "PortableSandbox"
    with pytest.raises(ValueError, match="unknown sandbox"):
        portable.choose("docker")


def test_k2l_check_says_which_sandbox_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", "check", "--sandbox", "portable", "ch2_activation", "nothing.py"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2 and "does not exist" in done.stderr
    solution = tmp_path / "ch4_training.py"
    from pathlib import Path

    solution.write_text((Path(__file__).resolve().parents[1] / "solutions" / "ch4_training.py").read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", "check", "--sandbox", "portable"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("sandbox: portable")
