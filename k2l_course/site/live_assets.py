"""The live-code script of the book's pages, brought in from npm at build time.

``live/`` holds a small npm project: ``src/k2l-live.js`` (the "Live code"
control of every chapter page, see ``k2l serve``) and its pinned dependencies
(``package-lock.json``, with integrity hashes: Jupyter's own client library
``@jupyterlab/services`` and the bundler ``esbuild``; and, for the site's
tests only, the accessibility checker ``axe-core``). The book build runs
``npm ci`` (only when ``live/node_modules`` does not match the lock) and
bundles the script into one file that the site serves itself from
``_static/``: pages load no script from another site.

``conf.py`` connects :func:`setup_build` to Sphinx. This module imports no
TensorFlow.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import k2l_course

#: The npm project of the live-code script.
LIVE = k2l_course.ROOT / "live"
#: The bundle's file name (in the site's ``_static/``).
BUNDLE = "k2l-live.js"
#: axe-core's script (the site tests inject it into every page; it is not on the site).
AXE = Path("node_modules") / "axe-core" / "axe.min.js"
_STAMP = ".k2l-lock-sha256"


class LiveAssetsError(RuntimeError):
    """The live-code script could not be built (no npm, or npm or esbuild failed)."""


def _run(cmd, cwd):
    try:
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise LiveAssetsError(
            f"'{cmd[0]}' not found: the book's live-code script is built with Node.js and npm "
            "(install Node.js 20 with npm, e.g. 'apt-get install nodejs npm')"
        ) from None
    if result.returncode != 0:
        raise LiveAssetsError(f"{' '.join(cmd)} failed in {cwd}:\n{result.stdout[-2000:]}{result.stderr[-4000:]}")


def install_packages(live=LIVE):
    """``npm ci`` in ``live/`` unless ``node_modules`` already matches ``package-lock.json``.

    ``npm ci`` installs exactly the lock, checking every package's integrity
    hash, and runs no package's install scripts (``--ignore-scripts``).

    Parameters
    ----------
    live : path-like
        The npm project.
    """
    live = Path(live)
    wanted = hashlib.sha256((live / "package-lock.json").read_bytes()).hexdigest()
    stamp = live / "node_modules" / _STAMP
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    npm = shutil.which("npm") or "npm"
    _run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=live)
    stamp.write_text(wanted + "\n")


def build_bundle(live=LIVE):
    """Install the pinned packages and bundle the live-code script (``npm run build``).

    The bundler's options are in ``live/package.json`` (its ``build`` script).

    Parameters
    ----------
    live : path-like

    Returns
    -------
    pathlib.Path
        The bundle, ``live/dist/k2l-live.js``.
    """
    live = Path(live)
    install_packages(live)
    _run([shutil.which("npm") or "npm", "run", "--silent", "build", "--", "--log-level=warning"], cwd=live)
    return live / "dist" / BUNDLE


def axe_script(live=LIVE):
    """axe-core's script, installed from the lock (for the accessibility tests).

    Parameters
    ----------
    live : path-like

    Returns
    -------
    pathlib.Path
    """
    install_packages(live)
    return Path(live) / AXE


def setup_build(app):
    """Sphinx ``builder-inited`` hook: bundle the script and add it to every HTML page."""
    if app.builder.format != "html":
        return
    bundle = build_bundle()
    app.config.html_static_path.append(str(bundle.parent))
    app.add_js_file(BUNDLE, loading_method="defer")
