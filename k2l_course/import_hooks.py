"""Run code around a module's import, however the import is spelled (a ``sys.meta_path`` finder's part).

Used by the sandbox's guard (:mod:`k2l_course.grading.sandbox.guard`: refusals
applied once a package is imported) and by :mod:`k2l_course.nengo_loihi_numpy2`
(the NumPy 2 fix applied once nengo-loihi is imported).
"""

from __future__ import annotations

import sys


def spec_around(hook, fullname, path, target, around):
    """The spec the finders after ``hook`` find for ``fullname``, its module's execution wrapped.

    Parameters
    ----------
    hook : object
        The calling finder, on ``sys.meta_path``: only the finders after it are asked.
    fullname, path, target
        As :meth:`importlib.abc.MetaPathFinder.find_spec` receives them.
    around : callable
        ``around(execute, module)``: runs the module by calling ``execute(module)``,
        with whatever it does before and after.

    Returns
    -------
    importlib.machinery.ModuleSpec or None
        None when no later finder finds the module; a spec whose loader does not
        execute modules comes back as it is.
    """
    for finder in sys.meta_path[sys.meta_path.index(hook) + 1 :]:
        find = getattr(finder, "find_spec", None)
        spec = find(fullname, path, target) if find is not None else None
        if spec is not None:
            break
    else:
        return None
    if spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return spec
    execute = spec.loader.exec_module
    spec.loader.exec_module = lambda module: around(execute, module)  # this import's own loader object
    return spec
