"""``k2l grade`` with the stand-in checks, as a separate process (for tests that interrupt it).

Usage: ``python grade_standin.py SUBMISSIONS OUT [--jobs N] [--timeout S] [--call-timeout S] [--memory MB]
[--hidden] [--seed N] [--info FILE] [--peak]``

``--info FILE`` writes the sandbox's uids and server pid to FILE once it has
started (so a test can tell its own processes from those of other graders on
the machine); ``--peak`` prints the grader's peak resident memory (MB).
"""

import argparse
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import standin  # noqa: E402

from k2l_course.grading import grade as grading  # noqa: E402
from k2l_course.grading.sandbox import Sandbox  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("submissions")
    parser.add_argument("out")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--call-timeout", type=float, default=2)
    parser.add_argument("--memory", type=int, default=512)
    parser.add_argument("--hidden")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--info")
    parser.add_argument("--peak", action="store_true")
    args = parser.parse_args()

    class Reporting(Sandbox):
        def start(self):
            started = super().start()
            if args.info:
                info = {"uids": self.info.get("uids") or [], "server": self.process.pid}
                Path(args.info).write_text(json.dumps(info))
            return started

    assignment = grading.load_assignment(standin.items(hidden_dir=args.hidden), list(standin.EXERCISES))
    limits = grading.Limits(timeout=args.timeout, memory_mb=args.memory, call_timeout=args.call_timeout)
    try:
        summary = grading.grade(args.submissions, args.out, assignment, seed=args.seed, jobs=args.jobs, limits=limits,
                                hidden_dir=args.hidden, progress=False, sandbox_class=Reporting)  # fmt: skip
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(summary.text(args.out))
    if args.peak:
        print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
