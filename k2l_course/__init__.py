"""k2l_course: the companion library of the Keras-to-Loihi course.

Its subpackages follow the course, and import one way, from the bottom up:

- top level: ``stack`` (the heavy stack, imported in one place), ``quiet``,
  ``nengo_loihi_numpy2`` (nengo-loihi 1.1 made to build on NumPy 2, applied
  by ``stack``), ``files``, ``stats``, ``seed`` (the seed notebook's numbers);
- ``pipeline``: from Keras to a spiking network (data, model, training,
  conversion, evaluation, rates);
- ``chip``: the network on Loihi (deployment, fit, emulators, energy);
- ``reproduce``: the seed's whole pipeline, end to end;
- ``exercises``: the students' exercises and their checks (the registry);
- ``grading``: ``k2l check`` and ``k2l grade``, their sandbox, the
  instructors' report, similarity and exports;
- ``site``: the website (build, figures, live code);
- ``cli``: the ``k2l`` command.

Importing this package is cheap: TensorFlow, nengo-dl and nengo-loihi are
imported only when a module uses :mod:`k2l_course.stack`, after
:mod:`k2l_course.quiet` has silenced their start-up logs.
"""

from pathlib import Path

__version__ = "0.1.0"

#: This package's folder.
PACKAGE = Path(__file__).resolve().parent
#: The folder holding the package: the course's source checkout (with
#: ``solutions/``, ``exercises/``, ``book/``...) when it runs from one, or
#: ``site-packages`` when it is installed.
ROOT = PACKAGE.parent


def checkout():
    """The course's source checkout the package runs from (with ``solutions/``...), or None.

    None when the package is installed (in ``site-packages``), as in the
    Gradescope image or a student environment built from a wheel.
    """
    if {"site-packages", "dist-packages"} & set(ROOT.parts):
        return None
    if (ROOT / "pyproject.toml").is_file():
        return ROOT
    return None
