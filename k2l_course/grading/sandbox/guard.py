"""Keep reference code out of reach of student code, inside the child.

Installed in the sandboxed child after the sandbox's own runtime is loaded
and before the student's first statement runs (:func:`install`):

* ``k2l_course`` (the course library, its checks and references) and
  ``solutions`` can never be imported: their modules are dropped from
  ``sys.modules`` and an import hook refuses them, however the import is
  spelled (``import``, ``__import__``, ``importlib``). This is the second
  wall: in the Linux sandbox their files are not in the child's view either,
  so removing the hook (``sys.meta_path`` games) cannot bring them back.
* Each ``forbidden`` name (``{"dotted.name": "reason"}``, declared by the
  exercises' checks) is refused however it is reached. A forbidden module:
  the import hook refuses it and every module attribute holding it is
  replaced by a refusing stand-in. A forbidden callable: every module
  attribute holding it is replaced by a refusing stand-in (so ``from x import
  y``, ``x.y``, ``getattr``, ``sys.modules[...]`` all meet it), and a plain
  Python function also has its code replaced, so even a reference found some
  other way (``gc``, a registry) refuses.

  A name in a third-party package not imported yet (the sandbox's server
  imports NumPy only, unless a file names the stack) is guarded the moment
  that package's import finishes, however the import is spelled: the import
  hook wraps the package's modules' loaders and, once the outermost of them
  has run, applies the refusals above to all loaded modules. So no package
  is imported just to refuse a name in it (nengo-loihi would bring
  TensorFlow). A forbidden top-level package is refused at import. Names of
  the standard library are guarded at once (importing it is cheap). Code
  that takes the hook off ``sys.meta_path`` before importing the package
  meets the refusals all the same before its first graded call
  (:func:`settle`, which the child calls before every call).

A refusal raises :class:`Refused` (an ``ImportError``) whose message starts
with ``refused:``, names the thing and gives the reason. :data:`REFUSED`
lists what was refused so far (the child reports it).

Pure Python (the portable sandbox reuses it). Not a wall on its own: student
code could still copy a library's source text and run it, which is the same
as writing the code themselves.
"""

from __future__ import annotations

import importlib
import sys
import types

from k2l_course.import_hooks import spec_around

#: Top-level packages student code may never import.
BLOCKED = {
    "k2l_course": "it is the course's own library (its references and checks), not available to exercises",
    "solutions": "it holds the course's solutions",
}

#: Dotted names refused so far in this process, in order.
REFUSED = []

#: The hooks :func:`install` put on ``sys.meta_path`` for names guarded on import (see :func:`settle`).
_ON_IMPORT = []


class Refused(ImportError):
    """Raised when student code reaches something it may not use."""


Refused.__module__ = "builtins"  # shown as "Refused: refused: ..." in feedback


def _message(name, reason):
    return f"refused: {name} ({reason})"


def _refuse(name, reason):
    if name not in REFUSED:
        REFUSED.append(name)
    raise Refused(_message(name, reason), name=name)


class _Finder:
    """A ``sys.meta_path`` entry that refuses blocked and forbidden modules."""

    def __init__(self, modules):
        self.modules = modules  # {dotted name: reason}

    def find_spec(self, fullname, path=None, target=None):
        for name, reason in self.modules.items():
            if fullname == name or fullname.startswith(name + "."):
                _refuse(name, reason)
        return None


class _RefusedModule(types.ModuleType):
    """Stands in for a forbidden module wherever a module held it: any attribute refuses."""

    def __getattr__(self, attribute):
        _refuse(self.__name__, self.__dict__["_k2l_reason"])


def _stand_in(name, reason, original):
    """A refusing callable that looks like ``original`` (name, docs)."""

    def refused(*args, **kwargs):
        _refuse(name, reason)

    refused.__name__ = getattr(original, "__name__", name.rsplit(".", 1)[-1])
    refused.__qualname__ = refused.__name__
    refused.__doc__ = _message(name, reason)
    return refused


def _disarm(function, name, reason):
    """Replace the code of a plain Python function so every reference refuses."""
    if not isinstance(function, types.FunctionType) or function.__closure__:
        return
    message = _message(name, reason)
    source = f"def _refused(*args, **kwargs):\n    raise ImportError({message!r})\n"
    scope = {}
    exec(compile(source, "<refused>", "exec"), scope)
    function.__code__ = scope["_refused"].__code__
    function.__defaults__ = function.__kwdefaults__ = None


def _deferred(name):
    """Whether ``name`` is guarded only once its package is imported: a third-party package not imported yet."""
    top = name.partition(".")[0]
    return top not in sys.modules and top not in sys.stdlib_module_names


def _originals(forbidden):
    """``{id(original): (original, stand_in, name, reason)}`` for the forbidden names importable here.

    Not the names guarded later (:func:`_deferred`): nothing is imported for them.
    """
    replacements = {}
    for name, reason in forbidden.items():
        if _deferred(name):
            continue
        try:
            module = importlib.import_module(name)
        except BaseException:
            module = None
        if isinstance(module, types.ModuleType) and module.__name__ == name:
            stand_in = _RefusedModule(name)
            stand_in._k2l_reason = reason
            replacements[id(module)] = (module, stand_in, name, reason)
            continue
        try:
            original = _resolve(name)
        except BaseException:
            continue  # not importable here: nothing to refuse
        replacements[id(original)] = (original, _stand_in(name, reason, original), name, reason)
    return replacements


def _resolve(name):
    """The object ``name`` denotes: its longest importable module, then attributes (a class's method too)."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(name)


def locate(forbidden):
    """Where the loaded modules hold each forbidden object: ``[(module name, attribute)]``.

    Scanning every module takes a while once the stack is loaded (thousands
    of modules), so the sandbox server does it once per set of names, and
    each child it forks only replaces what this found (:func:`install`).
    """
    forbidden = {str(k): str(v) for k, v in (forbidden or {}).items()}
    originals = {key: entry[0] for key, entry in _originals(forbidden).items()}
    found = []
    for module_name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if type(namespace) is not dict:
            continue
        for key, value in namespace.items():
            if id(value) in originals and originals[id(value)] is value:
                found.append((module_name, key))
    return found


def _replace(forbidden, locations, finder):
    """Refuse the ``forbidden`` names importable now: stand-ins where loaded modules hold them."""
    replacements = _originals(forbidden) if forbidden else {}
    if replacements:
        for module_name, key in locate(forbidden) if locations is None else locations:
            namespace = getattr(sys.modules.get(module_name), "__dict__", None)
            found = replacements.get(id(namespace.get(key))) if type(namespace) is dict else None
            if found is not None and found[0] is namespace.get(key):
                namespace[key] = found[1]
    for original, stand_in, name, reason in replacements.values():
        if isinstance(stand_in, _RefusedModule):  # out of sys.modules: an import meets the hook
            finder.modules[name] = reason
            for loaded in list(sys.modules):
                if loaded == name or loaded.startswith(name + "."):
                    del sys.modules[loaded]
        else:
            _disarm(original, name, reason)


class _GuardOnImport:
    """A ``sys.meta_path`` entry that guards forbidden names once their package is imported.

    It finds the modules of those packages with the finders after it and
    wraps each one's ``exec_module``; when the outermost of them has run
    (the package and everything its import pulled in), the names whose
    package is now imported are refused as :func:`install` refuses them.
    """

    def __init__(self, pending, finder):
        self.pending = pending  # {dotted name: reason} not guarded yet
        self.finder = finder
        self.depth = 0

    def find_spec(self, fullname, path=None, target=None):
        if not any(fullname.partition(".")[0] == name.partition(".")[0] for name in self.pending):
            return None
        return spec_around(self, fullname, path, target, self._execute)

    def _execute(self, execute, module):
        self.depth += 1
        try:
            execute(module)
        finally:
            self.depth -= 1
            if self.depth == 0:
                self.guard()

    def guard(self):
        """Refuse the pending names whose package is imported now."""
        ready = {name: reason for name, reason in self.pending.items() if not _deferred(name)}
        if not ready:
            return
        for name in ready:
            del self.pending[name]
        self.depth += 1  # (what this imports is guarded here, not again on its way)
        try:
            _replace(ready, None, self.finder)
        finally:
            self.depth -= 1
        importlib.invalidate_caches()


def install(forbidden=None, locations=None):
    """Install the refusals (see the module doc). Call once, before student code.

    Parameters
    ----------
    forbidden : dict of str to str, optional
        ``{dotted name of a module or callable: reason shown to the student}``.
    locations : list of (str, str), optional
        What :func:`locate` found for these names in this process's modules
        (found now when None).
    """
    forbidden = {str(k): str(v) for k, v in (forbidden or {}).items()}
    finder = _Finder(dict(BLOCKED))
    now = {name: reason for name, reason in forbidden.items() if not _deferred(name)}
    _replace(now, locations, finder)
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
    pending = {name: reason for name, reason in forbidden.items() if name not in now and "." in name}
    finder.modules.update((name, reason) for name, reason in forbidden.items() if name not in now and "." not in name)
    if pending:
        _ON_IMPORT.append(_GuardOnImport(pending, finder))
        sys.meta_path.insert(0, _ON_IMPORT[-1])
    sys.meta_path.insert(0, finder)
    importlib.invalidate_caches()


def settle():
    """Refuse now the pending names whose package is imported, whatever became of the import hook.

    The hook guards a package as its import finishes; code that took the
    hook off ``sys.meta_path`` first imports the package unguarded. Called
    before every graded call, this applies the refusals then (a reference
    kept from before is a plain function whose code is replaced too).
    """
    for hook in _ON_IMPORT:
        if hook.depth == 0 and hook.pending:
            hook.guard()
