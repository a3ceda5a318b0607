"""Where the library keeps its files, and files that readers see whole or not at all.

:func:`cache_dir` is the one place that decides where computed results
(trained parameters, nengo-dl evaluations, chip runs) are kept. Every file the course writes for
others to read (gradebooks, feedback, results, reports, caches, bundles) is
written beside its final name and renamed into place, so a reader, or a run
that was killed half-way, never sees half a file. :func:`computed_once` makes
processes that want the same cached result at once (the book's prefill and its
chapters) wait for one of them to compute it instead of computing it twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows, where the full stack (TensorFlow 2.12, nengo-dl) does not install
    fcntl = None

import k2l_course


def cache_dir(environ=None):
    """Where the library keeps what it computes once: trained parameters, evaluations, chip runs.

    ``$K2L_CACHE`` if set; else ``.k2l`` in the course's source checkout when
    the package runs from one (so a fresh clone starts empty, like its
    ``_build``); else ``~/.cache/k2l``. Entries are keyed by what produced
    them, so a stale one is never reused.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read ``K2L_CACHE`` from (default: ``os.environ``).

    Returns
    -------
    pathlib.Path
        Not created here.
    """
    environ = os.environ if environ is None else environ
    if environ.get("K2L_CACHE"):
        return Path(environ["K2L_CACHE"])
    checkout = k2l_course.checkout()
    return checkout / ".k2l" if checkout else Path.home() / ".cache" / "k2l"


def source_digest(directory, modules):
    """A hash of the source of ``modules`` in ``directory``, for the keys of cached results.

    Parameters
    ----------
    directory : path-like
        A package's folder (``Path(__file__).parent`` of one of its modules).
    modules : iterable of str
        File names, hashed in this order.

    Returns
    -------
    str
        Hexadecimal SHA-256 of the files' bytes, one after another.
    """
    h = hashlib.sha256()
    for module in modules:
        h.update((Path(directory) / module).read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path``, renamed to ``path`` when the block ends without error.

    For writers that want a path (``zipfile``, ``numpy.save``...); the
    temporary file is removed if the block raises.

    Parameters
    ----------
    path : path-like
        The final file; its folder is created if needed.

    Yields
    ------
    pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_atomic(path, data):
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half.

    Parameters
    ----------
    path : path-like
    data : str or bytes
        Text is written as UTF-8, with anything unencodable (a lone
        surrogate) escaped.
    """
    with atomic_path(path) as temporary:
        if isinstance(data, str):
            data = data.encode("utf-8", errors="backslashreplace")
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())


@contextlib.contextmanager
def computed_once(result):
    """Hold the lock of a cached ``result`` while the block checks for it and computes it.

    The processes that enter the block for the same result run it one after
    another, so the second finds what the first wrote: check for the result
    inside the block, compute it only if it is still missing. The lock is an
    advisory ``flock`` on ``<result>.lock``, released when its holder leaves
    the block or dies. Where ``fcntl`` is missing (Windows) the block is not
    locked: concurrent processes may compute the same result twice, and atomic
    writes keep it whole.

    Parameters
    ----------
    result : path-like
        The cached file or folder; its parent folder is created if needed.
    """
    lock = Path(f"{result}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
