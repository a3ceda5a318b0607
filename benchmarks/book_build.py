"""Cold and warm builds of the book, timed, with their CPU use.

Usage::

    .venv/bin/python benchmarks/book_build.py [--fresh-params] [--no-warm] [--keep DIR]
        [--repo PATH [--python PATH]] [--json OUT.json]

1. **cold**: ``k2l book`` (strict) with an empty execution cache, so every
   chapter is executed. Trained parameters and the whole-test-set chip results
   come from ``$K2L_CACHE`` (``<repo>/.k2l`` by default) as they are, unless
   ``--fresh-params`` gives the build an empty ``K2L_CACHE`` too: then it also
   trains every network and runs the chip over the whole test set, as a build
   from a fresh clone does.
2. **warm**: the same build again, with nothing changed (skip with ``--no-warm``).

For each build the script reports the wall time, the CPU time of the build and
all its processes (user + system, from ``getrusage(RUSAGE_CHILDREN)``), and
their ratio, the average number of busy cores (1.0 = one core all the time).
On a machine shared with other work, wall time is inflated by the others' load
while CPU seconds are not (much): report both.

``--repo`` builds another checkout of the course (e.g. a ``git worktree`` of
an older commit, to compare before and after in one session) with its own
interpreter (``<repo>/.venv/bin/python`` unless ``--python`` says otherwise).
The build and the chapters' kernels import that checkout's ``k2l_course``
(``PYTHONPATH``), even when the interpreter has another checkout installed in
editable mode; the script checks this before it builds.

Every build writes into a temporary directory (output, doctrees and execution
cache: see ``K2L_JUPYTER_CACHE`` in :mod:`k2l_course.site.book`), so the
repository's own ``_build`` is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def children_cpu_seconds():
    """User + system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_build(repo, python, output, env):
    """Run ``k2l book`` of ``repo`` into ``output``.

    Returns
    -------
    dict
        ``seconds`` (wall), ``cpu_seconds``, ``cores`` (their ratio) and ``status``.
    """
    cpu = children_cpu_seconds()
    start = time.perf_counter()
    result = subprocess.run([str(python), "-m", "k2l_course.cli", "book", "--strict", "--output", str(output)], cwd=repo, env=env)
    seconds = time.perf_counter() - start
    cpu = children_cpu_seconds() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "cores": cpu / seconds, "status": result.returncode}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh-params", action="store_true", help="also start from an empty K2L_CACHE (a fresh clone)")
    parser.add_argument("--no-warm", action="store_true", help="only the cold build")
    parser.add_argument("--keep", type=Path, default=None, help="build here and keep it (default: a temporary directory)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to build (default: this one)")
    parser.add_argument("--python", type=Path, default=None, help="its interpreter (default <repo>/.venv/bin/python)")
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements here")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    python = args.python or repo / ".venv" / "bin" / "python"

    with tempfile.TemporaryDirectory(prefix="k2l-book-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        # The chapters' kernels import the checkout's package too, not the one
        # an editable install of the interpreter points to (another checkout's).
        path = os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, K2L_JUPYTER_CACHE=str(work / "jupyter_cache"), PYTHONPATH=path)
        imported = subprocess.run(
            [str(python), "-c", "import k2l_course; print(k2l_course.__file__)"],
            cwd=work, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()
        if not Path(imported).resolve().is_relative_to(repo):
            raise SystemExit(f"{python} imports k2l_course from {imported}, not from {repo}")
        if args.fresh_params:
            env["K2L_CACHE"] = str(work / "k2l-cache")
        else:
            env.setdefault("K2L_CACHE", str(repo / ".k2l"))
        output = work / "html"
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        report = {"repo": str(repo), "commit": commit, "fresh_params": args.fresh_params, "cpu_count": os.cpu_count()}
        report["cold"] = timed_build(repo, python, output, env)
        if report["cold"]["status"]:
            print(f"cold build failed (exit status {report['cold']['status']})", file=sys.stderr)
            return report["cold"]["status"]
        if not args.no_warm:
            report["warm"] = timed_build(repo, python, output, env)
            if report["warm"]["status"]:
                print(f"warm build failed (exit status {report['warm']['status']})", file=sys.stderr)
                return report["warm"]["status"]
        kind = "empty K2L_CACHE and execution cache (fresh clone)" if args.fresh_params else "empty execution cache, cached parameters"
        print(f"\n{repo} at {commit}")
        for name in ("cold", "warm"):
            if name in report:
                r = report[name]
                print(
                    f"{name} build: {r['seconds']:7.1f} s wall, {r['cpu_seconds']:7.1f} s CPU, "
                    f"{100 * r['cores']:.0f}% CPU on average ({os.cpu_count()} cores)"
                    + (f"  ({kind})" if name == "cold" else "  (nothing changed)")
                )
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
