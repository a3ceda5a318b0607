"""The ``k2l`` command line.

Each subcommand lives in the module that does its work; this file only lists
them. A command module provides ``add_arguments(parser)`` and ``run(args)``
(returning the exit status), and is imported only when its command runs, so
``k2l --help`` answers at once without importing TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from k2l_course import __version__

#: name -> (module, one-line help)
COMMANDS = {
    "reproduce": ("k2l_course.reproduce", "run the seed's whole pipeline at full size and compare with its numbers"),
    "book": ("k2l_course.site.book", "build the course website (executes every chapter)"),
    "serve": ("k2l_course.site.serve", "serve the built website with live code on a Jupyter kernel on this machine"),
    "check": ("k2l_course.grading.check", "check your exercise answers and show points and hints"),
    "make-exercises": ("k2l_course.exercises.generate", "generate exercises/ from solutions/ (maintainers)"),
    "grade": ("k2l_course.grading.grade", "autograde a folder of student submissions (instructors)"),
    "gradescope-bundle": ("k2l_course.grading.gradescope", "write a Gradescope autograder zip (instructors)"),
    "report": ("k2l_course.grading.report", "rebuild the class report (report.html) of a graded output (instructors)"),
    "export": ("k2l_course.grading.export", "write a graded output as a Canvas, Moodle or plain CSV gradebook (instructors)"),
    "chip-eval": ("k2l_course.chip.evaluate", "run the emulated chip over the whole MNIST test set"),
    "mnist": ("k2l_course.pipeline.data", "say where MNIST comes from here, verified (--fetch: get it at setup)"),
}


def build_parser():
    """The top-level parser: lists the commands without importing them."""
    parser = argparse.ArgumentParser(
        prog="k2l",
        description="Keras to Loihi: the course's companion tool.",
        epilog="Run 'k2l COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"k2l {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def command_parser(name):
    """The parser of one command, with the options its module declares."""
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"k2l {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    return module, parser


def main(argv=None):
    """Entry point of the ``k2l`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        parser = build_parser()
        parser.parse_args(argv)  # handles --help, --version and unknown commands
        parser.print_help()
        return 2
    module, parser = command_parser(argv[0])
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
