"""Cold and warm builds of the book, timed.

Usage::

    .venv/bin/python benchmarks/book_build.py [--fresh-params] [--keep DIR]

1. **cold**: ``k2l book`` (strict) with an empty execution cache, so every
   chapter is executed. Trained parameters and the whole-test-set chip result
   come from ``$K2L_CACHE`` (``<repo>/.k2l`` by default) as they are, unless
   ``--fresh-params`` gives the build an empty ``K2L_CACHE`` too: then it also
   trains every network and runs the chip over the whole test set, as a build
   from a fresh clone does.
2. **warm**: the same build again, with nothing changed.

Both builds write into a temporary directory (output, doctrees and execution
cache: see ``K2L_JUPYTER_CACHE`` in :mod:`k2l_course.book`), so the
repository's own ``_build`` is left alone. Each heavy run uses the whole
machine; run it when nothing else does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed_build(output, env):
    """Run ``k2l book`` into ``output``; return (seconds, exit status)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", "book", "--strict", "--output", str(output)], cwd=REPO, env=env
    )
    return time.perf_counter() - start, result.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh-params", action="store_true", help="also start from an empty K2L_CACHE (a fresh clone)")
    parser.add_argument("--keep", type=Path, default=None, help="build here and keep it (default: a temporary directory)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="k2l-book-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, K2L_JUPYTER_CACHE=str(work / "jupyter_cache"))
        if args.fresh_params:
            env["K2L_CACHE"] = str(work / "k2l-cache")
        else:
            env.setdefault("K2L_CACHE", str(REPO / ".k2l"))
        output = work / "html"
        cold, status = timed_build(output, env)
        if status:
            print(f"cold build failed (exit status {status})", file=sys.stderr)
            return status
        warm, status = timed_build(output, env)
        if status:
            print(f"warm build failed (exit status {status})", file=sys.stderr)
            return status
        kind = "empty K2L_CACHE and execution cache (fresh clone)" if args.fresh_params else "empty execution cache, cached parameters"
        print(f"\ncold build: {cold:7.1f} s  ({kind})")
        print(f"warm build: {warm:7.1f} s  (nothing changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
