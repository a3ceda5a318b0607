"""``k2l book``: build the course's website, executing every chapter.

The book is a Sphinx project: ``conf.py`` at the repository root, the chapters
(MyST notebooks) in ``book/``. Building it runs::

    python -m sphinx -b html -c <repo> <repo>/book <output> -d <doctrees> -j <cores> [-W --keep-going] [-t solutions]

Chapters are executed by myst-nb through jupyter-cache, so an unchanged
chapter is not executed again. jupyter-cache keys a notebook on its code cells
only; a change in ``k2l_course`` (which the chapters call) or in the locked
environment would otherwise leave stale outputs on the site. The cache
therefore lives in a directory named after :func:`execution_cache_key`, a hash
of those files (every module the chapters import, followed through the
package's own imports, and the lock file): when one changes, the chapters run
again in a fresh cache (and the old one is removed).

A cold build (empty caches, as from a fresh clone) spends most of its time
training networks and running the chip, which chapters share through the
library's caches (``K2L_CACHE``). :func:`prefill` fills those caches with
that shared work in parallel processes (one per core): the trainings, in the
order the chapters need them, and the whole-test-set chip evaluations as soon
as their training is done. Sphinx executes the chapters at the same time, as
many at once as there are cores, so no core idles while a chain of work
(training, then the chip) runs. A chapter that needs a result the prefill is
computing waits for it (:func:`k2l_course.files.computed_once`) instead of
computing it again. The pages never depend on the prefill: a chapter computes
(and caches) whatever is missing, exactly as without it; the prefill only
decides when and where the work runs.

This module imports no TensorFlow: ``conf.py`` imports it too.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from jupyter_cache import get_cache

import k2l_course
from k2l_course import reproduce
from k2l_course.chip import evaluate
from k2l_course.files import cache_dir
from k2l_course.pipeline import regularization, training
from k2l_course.quiet import silence

#: The repository (the directory holding ``conf.py``, ``book/`` and ``k2l_course/``).
ROOT = k2l_course.ROOT
#: Where executed notebooks are cached, one subdirectory per key (relative to the
#: repository; the environment variable ``K2L_JUPYTER_CACHE`` overrides it, e.g.
#: for a benchmark's cold build).
CACHE_PARENT = Path("_build") / ".jupyter_cache"
#: Sphinx tag of the instructor build (chapters include solutions under ``{only} solutions``).
SOLUTIONS_TAG = "solutions"
#: Default output directories, relative to the repository.
DEFAULT_OUTPUT = Path("_build") / "html"
INSTRUCTOR_OUTPUT = Path("_build") / "instructor" / "html"

_KEY_PATTERN = re.compile(r"^[0-9a-f]{16}$")


PACKAGE = "k2l_course"
_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


def _module_file(root, module):
    """The source file of module ``k2l_course.x.y`` under ``root``, or None."""
    parts = module.split(".")
    base = Path(root).joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(source, current=None, is_package=False):
    """The ``k2l_course`` modules a piece of Python source imports (anywhere in it).

    ``from k2l_course import chip`` counts ``k2l_course`` and
    ``k2l_course.chip.loihi`` (whichever of them is a module); relative imports
    are resolved against ``current``, the importing module's name
    (a package's ``__init__`` if ``is_package``). Source that does not parse
    counts as importing every module of the package, to be safe.
    """
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {"*"}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level and current:
                parts = current.split(".")
                base = parts[: len(parts) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([module] if module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def chapter_modules(root=ROOT):
    """The ``k2l_course`` modules that the book's code cells import, directly or not.

    Starts from the imports in every code cell of ``book/*.md`` (IPython
    magics removed) and follows the imports inside the package's modules,
    including those inside functions, until no new module appears.

    Parameters
    ----------
    root : path-like

    Returns
    -------
    set of str
        Module names, e.g. ``{"k2l_course", "k2l_course.chip.loihi", ...}``.
    """
    root = Path(root)
    todo = {PACKAGE}
    for chapter in sorted((root / "book").glob("*.md")):
        for cell in _CELL.findall(chapter.read_text()):
            code = "\n".join(
                "" if line.lstrip().startswith(("%", "!", ":")) else line for line in cell.splitlines()
            )
            code = re.sub(r"^---\n.*?^---\n", "", code, flags=re.S | re.M)  # cell options
            todo |= _imported_modules(code)
    seen = set()
    while todo:
        module = todo.pop()
        seen.add(module)
        path = _module_file(root, module)
        if path is not None:
            todo |= _imported_modules(path.read_text(), current=module, is_package=path.name == "__init__.py") - seen
    if "*" in seen:  # some source did not parse: every module counts
        return {_module_name(root, p) for p in (root / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts}
    return {m for m in seen if _module_file(root, m) is not None}


def _module_name(root, path):
    """``k2l_course/x/y.py`` -> ``k2l_course.x.y`` (a package's ``__init__.py`` -> the package)."""
    parts = list(Path(path).relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def execution_inputs(root=ROOT):
    """The files whose content decides whether cached chapter outputs are still valid.

    The source of every ``k2l_course`` module the chapters import, directly
    or through other modules (:func:`chapter_modules`), and the environment's
    lock file (the chapters run on it). Modules the chapters never reach (the
    grader, the sandbox, the command line) are not inputs, so working on them
    does not re-execute the book; byte-code caches are not inputs either.

    Parameters
    ----------
    root : path-like
        The repository.

    Returns
    -------
    list of pathlib.Path
        Sorted, so the key does not depend on the file system's order.
    """
    root = Path(root)
    package = root / PACKAGE
    if not package.is_dir():
        raise FileNotFoundError(f"{package} not found: is {root} the k2l repository?")
    files = [_module_file(root, m) for m in chapter_modules(root)]
    lock = root / "requirements" / "lock.txt"
    if lock.exists():
        files.append(lock)
    return sorted(set(files), key=lambda p: p.relative_to(root).as_posix())


def execution_cache_key(root=ROOT):
    """A short hash of :func:`execution_inputs` (their paths and contents).

    Parameters
    ----------
    root : path-like

    Returns
    -------
    str
        16 hexadecimal digits.
    """
    root = Path(root)
    h = hashlib.sha256()
    for path in execution_inputs(root):
        data = path.read_bytes()
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(str(len(data)).encode() + b"\0")
        h.update(data)
    return h.hexdigest()[:16]


def execution_cache_path(root=ROOT, prune=True):
    """The jupyter-cache directory for the current sources, removing stale ones.

    Parameters
    ----------
    root : path-like
    prune : bool
        Delete the sibling caches of other keys (they can never be used again
        unless the sources are reverted, and each holds every chapter's outputs).

    Returns
    -------
    pathlib.Path
        ``<root>/_build/.jupyter_cache/<key>``, or ``$K2L_JUPYTER_CACHE/<key>``
        (not created here: :func:`create_execution_cache` does, before a build).
    """
    root = Path(root)
    parent = Path(os.environ.get("K2L_JUPYTER_CACHE") or root / CACHE_PARENT)
    path = parent / execution_cache_key(root)
    if prune and parent.is_dir():
        for other in parent.iterdir():
            if other != path and other.is_dir() and _KEY_PATTERN.match(other.name):
                shutil.rmtree(other, ignore_errors=True)
    return path


def create_execution_cache(path):
    """Create the jupyter-cache directory and its database, if missing.

    jupyter-cache creates its SQLite database on first use: it checks whether
    the file exists, then creates the tables. When ``sphinx-build -j`` starts two
    chapters at once on an empty cache, both find no file, both create the tables,
    and the second fails (``table settings already exists``). Creating the
    database before Sphinx starts leaves its parallel readers only rows to write,
    which SQLite serialises.

    Parameters
    ----------
    path : path-like
        The cache directory (:func:`execution_cache_path`).
    """
    get_cache(path).db.dispose()


def _train(config):
    """Prefill task: one training, through the library's cache."""

    silence()
    training.load_or_train(config, progress=False)
    return config


def prefill_tasks():
    """What the chapters share through ``K2L_CACHE``, in the order to start it.

    Returns
    -------
    trainings : list of k2l_course.pipeline.training.TrainingConfig
        Loihi-neuron training first (the chip evaluations need it).
    chip_evaluations : list of dict
        Keyword arguments of :func:`k2l_course.chip.evaluate.evaluate_chip`.
    """
    trainings = [
        training.TrainingConfig(neuron="loihi-relu", scale_firing_rates=100),  # chapters 4, 5, 6
        training.TrainingConfig(neuron="relu"),  # chapters 1, 3, 6
        regularization.RegularizationConfig().training_config(),  # chapter 4
    ]
    trainings += [training.TrainingConfig(neuron="relu", seed=seed) for seed in reproduce.STUDY_SEEDS]  # chapter 3
    trainings = list(dict.fromkeys(trainings))
    # chapters 5 and 6: the whole test set in sequence, and with a rested chip per image
    chip_evaluations = [dict(), dict(chunk=1)]
    return trainings, chip_evaluations


def prefill(jobs=None, stream=None):
    """Fill the library's caches with the chapters' shared work, in parallel processes.

    Trainings run in a pool of ``jobs`` spawned processes; as soon as the
    Loihi-neuron training is done, the chip evaluations run beside the other
    trainings (with ``jobs`` worker processes of their own). Each result is
    written atomically to the cache under its own key, so the chapters find it,
    and computed under its lock, so a chapter that asks for it meanwhile waits.

    Parameters
    ----------
    jobs : int, optional
        Processes (default: one per core).
    stream : file, optional
        Where to print progress (default: stdout).

    Returns
    -------
    float
        Seconds taken.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    stream = stream or sys.stdout
    jobs = jobs or os.cpu_count() or 1
    trainings, chip_evaluations = prefill_tasks()
    start = time.perf_counter()

    todo = [config for config in trainings if not training.is_trained(config)]
    print(f"filling the caches: {len(todo)} trainings, then {len(chip_evaluations)} chip runs; {jobs} processes", file=stream, flush=True)
    with ProcessPoolExecutor(max(1, min(jobs, len(todo))), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_train, config) for config in todo]
        if todo and todo[0] == trainings[0]:
            futures[0].result()  # the chip runs need the Loihi-neuron training
        for kwargs in chip_evaluations:
            evaluate.evaluate_chip(progress=False, jobs=jobs, **kwargs)
        wait(futures)
        for future in futures:
            future.result()
    seconds = time.perf_counter() - start
    print(f"  caches filled in {seconds:.0f} s", file=stream, flush=True)
    return seconds


def sphinx_command(output, solutions=False, strict=True, root=ROOT, python=None, jobs=None):
    """The sphinx-build command line for one build.

    Sphinx reads (and so executes) the chapters in ``jobs`` processes at once:
    every extension the book uses declares itself safe for parallel reading.

    Parameters
    ----------
    output : path-like
        HTML output directory.
    solutions : bool
        Instructor build: set the ``solutions`` tag.
    strict : bool
        Turn warnings into errors (``-W --keep-going``), as CI does.
    root : path-like
    python : str, optional
        Interpreter to run Sphinx with (default: this one).
    jobs : int, optional
        Processes reading the chapters (default: one per core).

    Returns
    -------
    list of str
    """
    root = Path(root)
    output = Path(output)
    doctrees = output.parent / (output.name + ".doctrees")
    cmd = [
        python or sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-c",
        str(root),
        str(root / "book"),
        str(output),
        "-d",
        str(doctrees),
        "-q",  # Sphinx's own progress is one line per page; warnings still show
        "-j",
        str(jobs or os.cpu_count() or 1),
    ]
    if strict:
        cmd += ["-W", "--keep-going"]
    if solutions:
        cmd += ["-t", SOLUTIONS_TAG]
    return cmd


def build_environment(environ=None):
    """Environment variables for the build: ``K2L_CACHE`` as :func:`k2l_course.files.cache_dir` says.

    Parameters
    ----------
    environ : mapping, optional
        Starting environment (default: ``os.environ``).

    Returns
    -------
    dict
    """
    env = dict(os.environ if environ is None else environ)
    env["K2L_CACHE"] = str(cache_dir(env))
    # Keep the kernels' start-up quiet and off any GPU.
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def _stop(process):
    """Stop a process started in its own process group, with everything it started."""
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def build(output=None, solutions=False, strict=True, root=ROOT, stream=None, prefill_jobs=None):
    """Build the website.

    Parameters
    ----------
    output : path-like, optional
        HTML output directory; ``_build/html`` (``_build/instructor/html``
        for the solutions build) by default.
    solutions : bool
    strict : bool
    root : path-like
    stream : file, optional
        Where to print the summary (default: stdout).
    prefill_jobs : int, optional
        Processes for :func:`prefill` (default one per core); 0 skips it.

    Returns
    -------
    int
        0 on success, else sphinx-build's exit status, or the prefill's.
    """
    root = Path(root)
    stream = stream or sys.stdout
    if output is None:
        output = root / (INSTRUCTOR_OUTPUT if solutions else DEFAULT_OUTPUT)
    output = Path(output).resolve()
    env = build_environment()
    cmd = sphinx_command(output, solutions=solutions, strict=strict, root=root)
    kind = "instructor site (with solutions)" if solutions else "site"
    print(f"building the {kind}: every chapter is executed unless its cached outputs are current", file=stream)
    print(f"  trained parameters: {env['K2L_CACHE']}", file=stream)
    executed = execution_cache_path(root, prune=False)
    print(f"  executed chapters:  {executed}", file=stream, flush=True)
    start = time.perf_counter()
    create_execution_cache(executed)
    filler = None
    if prefill_jobs != 0:
        code = f"from k2l_course.site import book; book.prefill(jobs={prefill_jobs!r})"
        # Its own process group, so that stopping it stops its workers too.
        filler = subprocess.Popen([sys.executable, "-c", code], cwd=str(root), env=env, process_group=0)
    try:
        result = subprocess.run(cmd, cwd=str(root), env=env)
    except BaseException:  # Ctrl-C reaches only the terminal's process group
        _stop(filler)
        raise
    if result.returncode != 0:
        _stop(filler)  # the build failed: the caches it was filling can wait
    filled = filler.wait() if filler is not None else 0
    seconds = time.perf_counter() - start
    if result.returncode == 0 and filled != 0:
        print(f"\nfilling the caches FAILED (exit status {filled}); see the messages above.", file=stream)
        return filled
    if result.returncode != 0:
        print(
            f"\nthe book build FAILED after {seconds:.0f} s (sphinx-build exit status {result.returncode}); "
            "see the messages above. A failing chapter's traceback is in the log file they name.",
            file=stream,
        )
        return result.returncode
    index = output / "index.html"
    print(f"\nbuilt in {seconds:.0f} s. Open the site: {index.as_uri()}", file=stream)
    print(f"  or serve it: python -m http.server --directory {output} 8000  (then http://127.0.0.1:8000/)", file=stream)
    return 0


def add_arguments(parser):
    """Options of ``k2l book``."""
    parser.add_argument(
        "--solutions",
        action="store_true",
        help="instructor build that includes the exercises' solutions "
        f"(default output {INSTRUCTOR_OUTPUT}/)",
    )
    parser.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="treat Sphinx warnings as errors, as CI does (default; --no-strict to only report them)",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help=f"HTML output directory (default {DEFAULT_OUTPUT}/)"
    )
    parser.add_argument(
        "--prefill-jobs",
        type=int,
        default=None,
        help="processes that fill the trainings' and chip runs' caches before the chapters run "
        "(default: one per core; 0 to skip)",
    )


def run(args):
    """Run ``k2l book``."""
    return build(output=args.output, solutions=args.solutions, strict=args.strict, prefill_jobs=args.prefill_jobs)

