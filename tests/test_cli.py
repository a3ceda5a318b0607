"""The k2l command line."""

import subprocess
import sys

from k2l_course.cli import COMMANDS


def k2l(*args):
    return subprocess.run([sys.executable, "-m", "k2l_course.cli", *args], capture_output=True, text=True)


def test_help_lists_every_command_without_importing_tensorflow():
    code = "import sys; from k2l_course.cli import main; main(['--help'])"
    result = subprocess.run(
        [sys.executable, "-c", code + "\n"], capture_output=True, text=True
    )
    for name in COMMANDS:
        assert name in result.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom k2l_course import cli\nprint('tensorflow' in sys.modules)"],
        capture_output=True, text=True,
    )
    assert probe.stdout.strip() == "False"


def test_unknown_command_fails_clearly():
    result = k2l("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_reproduce_has_its_own_help():
    result = k2l("reproduce", "--help")
    assert result.returncode == 0
    assert "--n-test" in result.stdout and "--n-chip" in result.stdout
