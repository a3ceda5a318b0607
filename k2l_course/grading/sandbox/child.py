"""What runs in the sandboxed child: load the student's file, call functions.

Messages go to the supervisor over a pipe (``results``), framed by
:func:`~k2l_course.grading.sandbox.wire.frame`:

``L``  loaded: ``{"fatal": str|None, "syntax": bool, "unreadable": bool,
       "problems": [str], "refused": [str]}``
``S``  call started: ``{"call": i}``
``D``  call done: :func:`~k2l_course.grading.sandbox.wire.pack_outcome` of
       ``{"call": i, "ok": bool, "error": str|None, "memory": bool,
       "refused": [str], "tree": ...}``

``i`` is the position in the list of calls the child was given (the
supervisor's run order: visible calls first, hidden calls last). A hidden
call's arguments are not in that list: after its ``S`` message, the child
reads them from ``hidden_fd`` (one frame, sent by the supervisor only then),
so student code never holds a hidden input before that call starts.

Everything here is under the student's control once their code runs (they
could write anything to the pipe); the supervisor and the grader treat every
message as untrusted data.
"""

from __future__ import annotations
import __future__

import json
import os
import signal
import sys
import traceback
import types

from k2l_course.grading.sandbox import environment_description, guard, wire
from k2l_course.grading.sandbox.submission import neutralize_magics, read_units

#: How a call to a function the file does not define is reported (the grader
#: uses it to tell an exercise that was not attempted).
UNDEFINED = "does not define a function named"

#: Where student code imports from, named in a missing module's message (bound before student code runs).
_ENVIRONMENT = environment_description()

#: Folders of that environment the sandbox's user cannot read (set by the supervisor: no namespaces, closed modes).
UNREADABLE = []

#: Name the student's module gets (so ``if __name__ == "__main__":`` demo
#: code in a ``.py`` does not run while grading).
MODULE_NAME = "k2l_submission"


class CallTimeout(BaseException):
    """Raised in the child when a call runs past its time limit."""


def _on_alarm(signum, frame):
    raise CallTimeout()


def _send(fd, kind, payload):
    data = wire.frame(kind, payload)
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _describe(error, filename, known=None):
    """``ExcType: message`` plus where in the student's file it happened."""
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    if isinstance(error, ModuleNotFoundError):  # (a refusal is an ImportError, never this)
        text += f" (it is not installed in {_ENVIRONMENT}"
        if UNREADABLE:
            text += f", or it is in {', '.join(UNREADABLE)}, which the sandbox's user cannot read here"
        text += ")"
    where = [
        frame.filename[len(filename) :].lstrip(", ") + f" line {frame.lineno}" + (f" ({frame.name})" if frame.name != "<module>" else "")
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename.startswith(filename)
    ]
    if where and where[-1].strip() != known:
        text += f" [at {where[-1].strip()}]"
    return text[:2000]


def load(path, display_name):
    """Run the student's file as a module.

    Every top-level statement runs on its own, so one that fails (a demo
    line with an error) costs only itself: the functions defined elsewhere
    still count. A syntax error in a ``.py`` stops everything; in a
    notebook, it skips that cell.

    Returns
    -------
    module : types.ModuleType
    report : dict
        ``fatal`` (why nothing could run, or None), ``syntax`` (a syntax
        error was found), ``problems`` (readable notes), ``memory``.
    """
    import ast

    module = types.ModuleType(MODULE_NAME)
    module.__file__ = display_name
    module.__builtins__ = __builtins__
    module.get_ipython = lambda: None
    sys.modules[MODULE_NAME] = module
    report = {"fatal": None, "syntax": False, "unreadable": False, "problems": [], "memory": False}
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
        units = read_units(path, text)
    except (OSError, ValueError, RecursionError, MemoryError) as error:
        report["fatal"] = f"could not read {display_name}: {error}"[:2000]
        report["unreadable"] = True
        return module, report
    future_flags = 0
    for unit in units:
        where = f"{unit.label}, " if unit.label else ""
        filename = f"{display_name}, {unit.label}" if unit.label else display_name
        tree, first_error = None, None
        try:
            tree = ast.parse(unit.source, filename=filename)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            first_error = error
            rewritten = neutralize_magics(unit.source)
            if rewritten is None:  # a non-Python cell magic (%%bash ...): skip the cell
                continue
            try:
                tree = ast.parse(rewritten, filename=filename)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                pass
        if tree is None:
            line = getattr(first_error, "lineno", None)
            message = f"syntax error ({where}line {line}): {getattr(first_error, 'msg', first_error)}"
            report["syntax"] = True
            report["problems"].append(message)
            if not unit.label:
                report["fatal"] = f"{display_name} has a {message}, so none of it could run"
                return module, report
            continue
        for statement in tree.body:
            if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
                for alias in statement.names:
                    future_flags |= getattr(getattr(__future__, alias.name, None), "compiler_flag", 0)
            try:
                code = compile(
                    ast.Module([statement], type_ignores=[]), filename, "exec", flags=future_flags, dont_inherit=True
                )
                exec(code, module.__dict__)
            except SystemExit as error:
                report["problems"].append(
                    f"{where}line {statement.lineno}: the code called exit ({error.code!r}) while loading; "
                    "the rest of the file was not run"
                )
                return module, report
            except MemoryError:
                report["memory"] = True
                report["problems"].append(f"{where}line {statement.lineno}: ran out of memory while loading")
            except CallTimeout:
                raise
            except BaseException as error:
                report["problems"].append(
                    f"{where}line {statement.lineno}: "
                    + _describe(error, display_name, known=f"{where.rstrip(', ')} line {statement.lineno}".strip())
                )
    return module, report


def _receive_hidden(fd):
    """Read one call's arguments (a frame of the supervisor) from ``fd``."""
    def exactly(count):
        data = bytearray()
        while len(data) < count:
            chunk = os.read(fd, count - len(data))
            if not chunk:
                raise EOFError("the supervisor sent no arguments")
            data += chunk
        return bytes(data)

    _, length = wire._HEADER.unpack(exactly(wire._HEADER.size))
    header, blobs = wire.unpack_outcome(exactly(length))
    return wire.decode(header["tree"], blobs)


def main(path, display_name, calls, start, results_fd, call_timeout, forbidden=None, hidden_fd=None, locations=None):
    """Load the file and run ``calls[start:]``, reporting to ``results_fd``.

    Parameters
    ----------
    path : str
        The private copy of the student's file.
    display_name : str
        Its name as the student knows it (for messages).
    calls : list of (str, dict or None, bool)
        Function name, keyword arguments (plain data; None for a hidden
        call, whose arguments come from ``hidden_fd`` when it starts) and
        whether the call is hidden.
    start : int
        Index of the first call to run (after a restart).
    results_fd : int
        Write end of the pipe to the supervisor.
    call_timeout : float
        Seconds per call before :class:`CallTimeout` is raised in it.
    forbidden : dict, optional
        ``{dotted name: reason}`` refused to student code (:mod:`guard`).
    hidden_fd : int, optional
        Where hidden calls' arguments arrive.
    locations : list, optional
        Where loaded modules hold the forbidden objects (:func:`guard.locate`).
    """
    signal.signal(signal.SIGALRM, _on_alarm)
    guard.install(forbidden, locations)
    module, report = load(path, display_name)
    report["refused"] = list(guard.REFUSED)
    _send(results_fd, b"L", json.dumps(report).encode())
    if report["fatal"]:
        return
    for index in range(start, len(calls)):
        function_name, kwargs, hidden = (*calls[index], False)[:3]  # ((name, kwargs) pairs: not hidden)
        _send(results_fd, b"S", json.dumps({"call": index}).encode())
        if hidden:
            kwargs = _receive_hidden(hidden_fd)
        payload = call(module, display_name, index, function_name, kwargs, call_timeout=call_timeout)
        _send(results_fd, b"D", payload)


def call(module, display_name, index, function_name, kwargs, call_timeout=None, quiet=False):
    """Call one of the student's functions; the packed outcome (the ``D`` message's payload).

    Both sandboxes make their calls here: this child and the portable one
    (:mod:`k2l_course.grading.sandbox.portable`).

    Parameters
    ----------
    module : module
        The loaded student file.
    display_name : str
        Its name as the student knows it (for messages).
    index : int
        The call's position in the run order.
    function_name : str
    kwargs : dict
    call_timeout : float, optional
        Seconds before :class:`CallTimeout` is raised in the call (a POSIX
        interval timer); None leaves the time limit to the caller.
    quiet : bool
        Send what the call prints to ``os.devnull`` (a hidden call's output
        never reaches the student).

    Returns
    -------
    bytes
        :func:`~k2l_course.grading.sandbox.wire.pack_outcome` of the outcome.
    """
    header = {"call": index, "ok": False, "error": None, "memory": False, "tree": None}
    blobs = []
    guard.settle()  # (a package imported past the guard's hook meets its refusals now)
    function = module.__dict__.get(function_name)
    if function is None:
        header["error"] = f"{display_name} {UNDEFINED} {function_name}"
    elif not callable(function):
        header["error"] = f"{function_name} in {display_name} is not a function"
    else:
        saved = sys.stdout, sys.stderr
        try:
            if quiet:
                sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")
            if call_timeout:
                signal.setitimer(signal.ITIMER_REAL, call_timeout)
            try:
                value = function(**kwargs)
            finally:
                if call_timeout:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                sys.stdout, sys.stderr = saved
            header["tree"], blobs = wire.encode(value)
            header["ok"] = True
        except CallTimeout:
            header["error"] = f"did not finish within {call_timeout:g} s"
            header["timeout"] = True
        except wire.UnsupportedValue as error:
            header["error"] = str(error)
        except SystemExit as error:
            header["error"] = f"called exit ({error.code!r}) instead of returning a value"
        except MemoryError:
            header["error"] = "ran out of memory"
            header["memory"] = True
        except RecursionError as error:
            header["error"] = _describe(error, display_name)
        except BaseException as error:
            message = str(error) if isinstance(error, Exception) else ""
            header["error"] = message[:2000] if message.startswith("refused:") else f"raised {_describe(error, display_name)}"
    header["refused"] = list(guard.REFUSED)
    try:
        return wire.pack_outcome(header, blobs)
    except (ValueError, TypeError, MemoryError) as error:
        header.update(ok=False, tree=None, error=f"returned data that could not be sent: {error}")
        return wire.pack_outcome(header, [])
