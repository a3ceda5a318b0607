"""``k2l grade`` with the stand-in checks, as a separate process (for tests that interrupt it).

Usage: ``python grade_standin.py SUBMISSIONS OUT [--jobs N] [--timeout S] [--call-timeout S] [--memory MB] [--hidden]``
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import standin  # noqa: E402

from k2l_course import grading  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("submissions")
    parser.add_argument("out")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--call-timeout", type=float, default=2)
    parser.add_argument("--memory", type=int, default=512)
    parser.add_argument("--hidden")
    args = parser.parse_args()
    assignment = grading.load_assignment(standin.items(hidden_dir=args.hidden), list(standin.EXERCISES))
    limits = grading.Limits(timeout=args.timeout, memory_mb=args.memory, call_timeout=args.call_timeout)
    try:
        summary = grading.grade(args.submissions, args.out, assignment, jobs=args.jobs, limits=limits,
                                hidden_dir=args.hidden, progress=False)  # fmt: skip
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(summary.text(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
