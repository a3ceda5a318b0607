"""Files that readers see whole or not at all.

Every file the course writes for others to read (gradebooks, feedback,
results, reports, caches, bundles) is written beside its final name and
renamed into place, so a reader, or a run that was killed half-way, never
sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


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
