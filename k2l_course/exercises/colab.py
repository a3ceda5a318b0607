"""Google Colab: where the course is published, the exercises' Colab links, and Colab itself.

One place for these facts:

- **Which repository the course is published in**: ``K2L_REPOSITORY_URL``
  (e.g. ``https://github.com/ORG/REPO``) and ``K2L_REPOSITORY_BRANCH``
  (default ``main``), read by :func:`published_repository`. ``conf.py`` uses
  it for the book's repository, edit, Binder and Colab links;
  ``k2l make-exercises`` writes it into the exercise notebooks (their Colab
  link and their install cell), so a committed notebook installs the
  package from the repository it was generated for. Unset, there is no link,
  and the install cell says on Colab what to do.
- **The Colab address** of an exercise notebook (:meth:`Repository.colab_url`):
  Colab opens a notebook of a public GitHub repository at
  ``https://colab.research.google.com/github/ORG/REPO/blob/BRANCH/PATH``.
- **What installs the course's package** there (:meth:`Repository.requirement`):
  ``k2l-course @ git+URL@BRANCH``, its base dependencies being the student set.
- **Whether code runs on Colab** (:func:`on_colab`): Colab's kernel imports
  ``google.colab`` when it starts (its shell is ``google.colab._shell.Shell``),
  so the module is in ``sys.modules`` there and nowhere else (a stray
  ``google-colab`` package installed elsewhere is not imported by anything).
- **The notebook's content on Colab** (:func:`frontend_notebook`): there is no
  notebook file beside the kernel; Colab's frontend hands the notebook over
  when the kernel asks it with ``google.colab._message.blocking_request("get_ipynb")``
  (the request otter-grader and others use), as ``{"ipynb": {...}}``.

Standard library only: the checking cell imports it in the student environment.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

#: The environment variables naming the published repository and its branch.
URL_VARIABLE = "K2L_REPOSITORY_URL"
BRANCH_VARIABLE = "K2L_REPOSITORY_BRANCH"
DEFAULT_BRANCH = "main"
#: The distribution the install cell installs (pyproject's ``[project] name``).
DISTRIBUTION = "k2l-course"
#: Where the exercise notebooks are in the repository.
EXERCISES_FOLDER = "exercises"
#: How long the checking cell waits for Colab's frontend to hand the notebook over.
FRONTEND_TIMEOUT = 60

_GITHUB = re.compile(r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?$")


@dataclass(frozen=True)
class Repository:
    """Where the course is published: a git repository's URL and a branch.

    Parameters
    ----------
    url : str
        What ``git clone`` takes, e.g. ``https://github.com/ORG/REPO`` (a
        ``file://`` URL of a local repository works for the install cell, not
        for Colab's link).
    branch : str
    """

    url: str
    branch: str = DEFAULT_BRANCH

    @property
    def github(self):
        """``"ORG/REPO"`` for a GitHub repository (the ones Colab opens), else None."""
        match = _GITHUB.match(self.url)
        return f"{match['owner']}/{match['name']}" if match else None

    def colab_url(self, exercise):
        """The address that opens ``exercises/<exercise>.ipynb`` of this branch in Colab, or None.

        None when the repository is not on GitHub (Colab opens only those).
        """
        if self.github is None:
            return None
        return f"https://colab.research.google.com/github/{self.github}/blob/{self.branch}/{EXERCISES_FOLDER}/{exercise}.ipynb"

    def requirement(self):
        """The pip requirement that installs the course's package from this branch."""
        return f"{DISTRIBUTION} @ git+{self.url}@{self.branch}"


def published_repository(environ=None):
    """The repository named by ``K2L_REPOSITORY_URL`` / ``K2L_REPOSITORY_BRANCH``, or None.

    Parameters
    ----------
    environ : mapping, optional
        Default: ``os.environ``.

    Returns
    -------
    Repository or None
        None when ``K2L_REPOSITORY_URL`` is unset or empty.
    """
    environ = os.environ if environ is None else environ
    url = environ.get(URL_VARIABLE, "").strip().rstrip("/")
    if not url:
        return None
    return Repository(url, environ.get(BRANCH_VARIABLE, "").strip() or DEFAULT_BRANCH)


def on_colab():
    """Whether this process is a Colab kernel (see the module's doc).

    The exercises' install cell, which runs before the course's package is
    installed, tests the same expression: :data:`DETECTION`.
    """
    return "google.colab" in sys.modules


#: The test of :func:`on_colab`, as the generated install cell writes it.
DETECTION = '"google.colab" in sys.modules'


def frontend_notebook(timeout=FRONTEND_TIMEOUT):
    """The notebook Colab's frontend holds (nbformat JSON as a dict), or None if it did not answer.

    Only on Colab (:func:`on_colab`). Colab's notebook is its document (it
    saves it to Drive or GitHub from there): what the frontend returns is the
    notebook as the student sees it.

    Parameters
    ----------
    timeout : float
        Seconds to wait for the frontend.
    """
    from google.colab import _message

    reply = _message.blocking_request("get_ipynb", request="", timeout_sec=timeout)
    notebook = reply.get("ipynb") if isinstance(reply, dict) else None
    return notebook if isinstance(notebook, dict) and isinstance(notebook.get("cells"), list) else None
