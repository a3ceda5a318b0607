"""The sandbox server: a pre-warmed zygote that forks one supervisor per run.

Process tree (grader = the trusted process that judges)::

    grader ──socket──> bwrap (allow-list view, PID/IPC/net namespaces; as root)
                        └── zygote (imports NumPy, and the TensorFlow/nengo stack
                              │  the first time a submission mentions it)
                              ├── supervisor (one per run; root if the grader is)
                              │     └── child (student code: own session, rlimits,
                              │                memory cgroup, unprivileged uid,
                              │                own mount/IPC/net namespaces, private /tmp)
                              └── supervisor ...

Forking from the zygote avoids importing TensorFlow, nengo-dl and
nengo-loihi again in a fresh interpreter for every submission (seconds and
hundreds of megabytes each time; ``benchmarks/grading.py`` measures it).
The supervisor holds no secrets and runs no student code: it copies the
submission (from a file descriptor the grader opened) into the child's
private directory, watches the time, restarts the child after a call that
hung or crashed, caps what comes back, kills everything the child left behind
and sends the grader plain frames.

Request (one SEQPACKET message, JSON) with four file descriptors: the
submission, the encoded calls (a memfd: visible calls' arguments), the hidden
calls' arguments (a memfd the supervisor copies to the child with
``sendfile`` only when that call starts, never into its own memory) and the
write end of a response pipe. Response frames: ``O`` per call (an outcome, in order), then ``R``
(``{"status", "output", "notes", "internal"}``).
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import re
import select
import shutil
import signal
import socket
import sys
import tempfile
import time

from k2l_course.grading.sandbox import child, guard, isolation, wire  # (child: imported now, read before privileges drop)

#: Modules every child finds already imported (cheap, often used).
PRELOAD = (
    "numpy", "math", "cmath", "json", "collections", "itertools", "functools", "dataclasses", "typing",
    "re", "statistics", "random", "fractions", "decimal", "string", "textwrap", "copy", "operator",
    "enum", "warnings", "contextlib", "pathlib", "io", "time", "datetime", "traceback", "ast", "types",
    "numbers", "heapq", "bisect", "struct", "array", "csv", "pprint", "inspect", "abc", "weakref",
    "unittest", "unittest.mock", "numpy.linalg", "numpy.fft", "numpy.random",
)  # fmt: skip

#: Third-party packages the zygote imports when a submission mentions them
#: (trusted, installed code; the standard library is always allowed).
#: (Never ``k2l_course``: its reference code must not be in the memory children inherit.)
PRELOADABLE = {"numpy", "scipy", "tensorflow", "keras", "nengo", "nengo_dl", "nengo_loihi", "nengo_extras",
               "matplotlib"}  # fmt: skip
_STACK = {"tensorflow", "keras", "nengo", "nengo_dl", "nengo_loihi"}
#: Standard-library modules whose import does something (opens a browser,
#: starts IDLE, runs tests...): never imported in the server.
_NEVER = {"antigravity", "this", "idlelib", "turtle", "turtledemo", "tkinter", "pydoc", "webbrowser", "ensurepip",
          "venv", "lib2to3", "pdb", "code", "site", "sitecustomize", "usercustomize", "test", "unittest.main"}  # fmt: skip
_IMPORTS = re.compile(r"\b(?:from[ \t]+([\w\.]+)[ \t]+import[ \t]+([\w \t,\(\)]+)|import[ \t]+([\w\. \t,]+))")

#: Seconds a hung call may overrun its limit before its process is killed.
GRACE = 0.5
#: Largest amount of data (MB) one run may send back (all outcomes together).
RESULT_MB = wire.MAX_RESULT_BYTES >> 20
#: Longest note or error message kept from the child (characters).
TEXT_LIMIT = 2000
_BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
)


class _Corrupt(wire.WireError):
    """The result channel carries something no child of ours writes: stop trusting it."""


def clean(text, limit=TEXT_LIMIT):
    """Untrusted text made safe to show and store: str, valid UTF-8, bounded."""
    text = text if type(text) is str else repr(text)
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def hidden_error(error, function):
    """What may be shown of a hidden call's error: its kind, never its text.

    The text of an error is the student's (it could spell out the hidden
    input), so only fixed sentences and built-in exception names pass.
    """
    error = error if type(error) is str else ""
    if error.startswith("raised "):
        name = re.match(r"raised ([A-Za-z_]\w*)", error)
        name = name.group(1) if name else ""
        return f"raised {name}" if name in _BUILTIN_EXCEPTIONS else "raised an exception"
    if error.startswith("refused:"):
        return "refused a forbidden name (see the notes)"
    for fixed in ("ran out of memory", "did not finish within", "called exit"):
        if error.startswith(fixed):
            return fixed
    if child.UNDEFINED in error:
        return f"the file {child.UNDEFINED} {function}"
    return "failed (a hidden check: details are not shown)"


def mentioned_modules(text):
    """Module names a source (or notebook JSON) seems to import."""
    names = set()
    for match in _IMPORTS.finditer(text):
        if match.group(1):
            base = match.group(1)
            names.add(base)
            for member in re.split(r"[\s,\(\)]+", match.group(2)):
                if member.isidentifier():
                    names.add(f"{base}.{member}")
        else:
            for part in match.group(3).split(","):
                words = part.split()
                if words:
                    names.add(words[0])
    return names


def preload(names):
    """Import, in the zygote, the allowed modules among ``names``."""
    wanted = set()
    for name in names:
        parts = name.split(".")
        if any(not part.isidentifier() or part.startswith("_") for part in parts):
            continue  # (private modules, and __main__ modules, which run when imported)
        if name in _NEVER or parts[0] in _NEVER:
            continue
        if parts[0] in PRELOADABLE or parts[0] in sys.stdlib_module_names:
            wanted.add(name)
    mentioned = {name.split(".")[0] for name in wanted} & _STACK
    if mentioned:
        from k2l_course import stack

        for attribute, package in stack.PACKAGES.items():  # quietly, each only if named and installed
            if package in mentioned and package not in sys.modules:
                try:
                    getattr(stack, attribute)
                except ImportError:  # not in this environment (the student one has no TensorFlow)
                    pass
    for name in sorted(wanted):
        if name in sys.modules:
            continue
        if name.split(".")[0] == "k2l_course" and name.startswith("k2l_course.grading.sandbox"):
            continue
        try:
            importlib.import_module(name)
        except BaseException:  # a name that is not a module (a function...), or broken: the child will say
            pass


def environment_paths(config=None):
    """Paths the child must be able to read: the Python installation (and the allow-list)."""
    import k2l_course

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update((config or {}).get("allowed", ()))
    paths.update(p for p in (config or {}).get("import_path", ()) if os.path.isdir(p))
    paths.add(os.path.dirname(k2l_course.__file__))
    return sorted(os.path.realpath(p) for p in paths)


# --- the supervisor -----------------------------------------------------------


class _Output:
    """Captured stdout/stderr: keeps the first ``limit`` bytes, counts the rest."""

    def __init__(self, limit):
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0

    def add(self, data):
        room = self.limit - len(self.kept)
        self.kept += data[:room]
        self.dropped += max(0, len(data) - room)

    def text(self):
        text = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes of output not shown]"
        return text


def _describe_exit(status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"killed by {name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Supervisor:
    """Runs one submission's calls in sandboxed children (see module doc)."""

    def __init__(self, request, content, calls, response_fd, config, hidden_fd=None):
        self.request = request
        self.content = content
        # Run order: visible calls first, hidden calls last, so no visible
        # outcome (value, error, output) can carry a hidden input.
        self.order = [i for i, c in enumerate(calls) if not c[2]] + [i for i, c in enumerate(calls) if c[2]]
        self.calls = [calls[i] for i in self.order]
        self.hidden = {int(k): v for k, v in (request.get("hidden") or {}).items()}  # index -> [offset, length]
        self.hidden_fd = hidden_fd
        self.hidden_seen = False  # a hidden input reached a child: drop its output and notes from now on
        self.forbidden = {str(k): str(v) for k, v in (request.get("forbidden") or {}).items()}
        self.refused = []
        self.result_bytes = 0
        self.cgroup = None
        self.response_fd = response_fd
        self.config = config
        self.uid = request.get("uid")
        self.timeout = float(request["timeout"])
        self.call_timeout = float(request["call_timeout"])
        self.memory_mb = int(request["memory_mb"])
        self.output = _Output(int(request.get("output_limit", 64 * 1024)))
        self.outcomes = [None] * len(calls)
        self.notes = []
        self.flags = set()  # "timeout", "memory", "crashed", "syntax-error"
        self.deadline = time.monotonic() + self.timeout
        self.internal = None
        self.pid = os.getpid()

    # -- the child ---------------------------------------------------------

    def _child(self, start, results_w, output_w, hidden_r, workdir):
        """In the forked child: isolate, then run the student's code. Never returns."""
        try:
            os.setsid()
            isolation.die_with_parent()
            isolation.prctl(isolation.PR_SET_DUMPABLE, 1)  # (its own /proc/self works again)
            if os.getppid() != self.pid:  # the supervisor died before the line above
                os._exit(70)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(output_w, 1)
            os.dup2(output_w, 2)
            os.dup2(results_w, 3)
            os.dup2(hidden_r, 4)
            isolation.close_fds_except([0, 1, 2, 3, 4])
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            if self.cgroup is not None:
                self.cgroup.join()  # before anything is allocated: all it holds counts
            private = self.uid is not None and self.config.get("namespaces") and isolation.new_mount_namespace(network=True)
            if private:
                for path in ("/tmp", "/var/tmp", "/dev/shm"):
                    if os.path.isdir(path):
                        isolation.private_tmp(path, size_mb=self.config.get("tmp_mb", 256),
                                              keep=self.config.get("allowed", ()))  # fmt: skip
                if self.config.get("package"):
                    isolation.cover(self.config["package"])  # (its runtime is loaded: the sources go)
                if self.config.get("allow_list") and os.path.isdir("/sys"):
                    isolation.cover("/sys")  # (only the memory cgroup was there; the child has joined its group)
                workdir = tempfile.mkdtemp(prefix="k2l-", dir="/tmp")
            name = self.request["name"]
            path = os.path.join(workdir, name)
            with open(path, "wb") as handle:
                handle.write(self.content)
            os.chmod(path, 0o644)
            if self.uid is not None:
                os.chown(workdir, self.uid, self.uid)
                os.chmod(workdir, 0o700)
            isolation.limit_resources(self.memory_mb, processes=128 if self.uid is not None else None)
            if self.uid is not None:
                isolation.drop_privileges(self.uid)
            os.chdir(workdir)
            os.environ.clear()
            os.environ.update(
                HOME=workdir, TMPDIR=workdir, PATH="/usr/local/bin:/usr/bin:/bin", LANG="C.UTF-8",
                OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
                MPLCONFIGDIR=workdir, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1",
            )  # fmt: skip
            sys.path[:] = self.config["import_path"]  # the whole environment, never the checkout
            sys.argv[:] = [name]
            sys.stdin = open(0, closefd=False)
            sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")
            sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
            os.write(3, wire.frame(b"R"))
        except BaseException as error:
            try:
                os.write(2, f"sandbox setup failed: {type(error).__name__}: {error}\n".encode())
            finally:
                os._exit(71)
        try:
            child.UNREADABLE[:] = self.config.get("unreadable", [])
            child.main(path, name, self.calls, start, 3, self.call_timeout, self.forbidden, 4,
                       self.request.get("guard_locations"))  # fmt: skip
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            os._exit(72)
        os._exit(0)

    def _spawn(self, start):
        results_r, results_w = os.pipe()
        output_r, output_w = os.pipe()
        hidden_r, hidden_w = os.pipe()
        workdir = tempfile.mkdtemp(prefix="k2l-run-", dir=self.config.get("rundir"))
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(results_r)
            os.close(output_r)
            os.close(hidden_w)
            self._child(start, results_w, output_w, hidden_r, workdir)
        os.close(results_w)
        os.close(output_w)
        os.close(hidden_r)
        os.set_blocking(hidden_w, False)
        return pid, results_r, output_r, hidden_w, workdir

    # -- supervising ---------------------------------------------------------

    def _set(self, index, ok, error, seconds=0.0, tree=None, blobs=()):
        """Record the outcome of the call at run position ``index`` (first record wins)."""
        if not (0 <= index < len(self.outcomes)) or self.outcomes[index] is not None:
            return
        function, _, hidden = self.calls[index]
        if error is not None:
            error = clean(error)
            if hidden:
                error = hidden_error(error, function)
        self.outcomes[index] = ({"ok": ok, "error": error, "seconds": round(seconds, 4), "tree": tree}, list(blobs))

    def _fill(self, start, error):
        for index in range(start, len(self.outcomes)):
            self._set(index, False, error)

    def run(self):
        start = 0
        first = True
        while first or start < len(self.calls):
            first = False
            start, again = self._attempt(start)
            if not again:
                break
        self._fill(0, "not run")
        return self._status()

    def _status(self):
        for status in ("unreadable", "syntax-error", "timeout", "memory", "crashed"):
            if status in self.flags:
                return status
        return "ok"

    def _attempt(self, start):
        """One child; returns (next call to run, whether to start another child)."""
        if self.uid is not None:
            isolation.kill_uid(self.uid, _reap)
        memory = isolation.MemoryCgroup.create(self.config.get("cgroup"), self.memory_mb) if self.uid is not None else None
        self.cgroup = memory
        pid, results_r, output_r, hidden_w, workdir = self._spawn(start)
        reader = wire.FrameReader(max_frame=wire.MAX_RESULT_BYTES + (1 << 20))
        state = {"phase": "setup", "current": None, "began": time.monotonic(), "start": start, "received": 0,
                 "send": None}  # fmt: skip
        killed_for = None  # "call-timeout" | "timeout" | "too-much-data" | "corrupt" | "memory"
        exited = os.pidfd_open(pid)

        def consume(data):
            state["received"] += len(data)
            if state["received"] > wire.MAX_RESULT_BYTES + (4 << 20):
                raise wire.WireError(f"more than {RESULT_MB} MB")
            try:
                frames, problem = reader.feed(data), None
            except wire.WireError as error:  # a frame announcing too much: ours only ever for a result
                frames, problem = getattr(error, "frames", []), error
            for kind, payload in frames:
                self._handle(kind, payload, state)
            if problem is not None:
                raise problem if bytes(reader.buffer[:1]) == b"D" else _Corrupt("an unknown message")

        streams = [results_r, output_r, exited]
        try:
            while True:
                now = time.monotonic()
                limit = self.deadline
                if state["current"] is not None:
                    limit = min(limit, state["began"] + self.call_timeout + GRACE)
                if now >= limit:
                    killed_for = "call-timeout" if limit < self.deadline else "timeout"
                    break
                writers = [hidden_w] if state["send"] else []
                ready, writable, _ = select.select(streams, writers, [], limit - now)
                if writable:
                    self._send_hidden(hidden_w, state)
                if output_r in ready:
                    data = os.read(output_r, 1 << 16)
                    if data:
                        if not self.hidden_seen:
                            self.output.add(data)
                    else:
                        streams.remove(output_r)
                if results_r in ready:
                    data = os.read(results_r, 1 << 16)
                    if not data:
                        break
                    consume(data)
                if exited in ready:
                    # The child is gone: read what it managed to send, then
                    # stop (a process it left behind may hold the pipe open).
                    os.set_blocking(results_r, False)
                    try:
                        while data := os.read(results_r, 1 << 16):
                            consume(data)
                    except BlockingIOError:
                        pass
                    break
        except _Corrupt:
            killed_for = "corrupt"
        except wire.WireError:
            killed_for = "too-much-data"
        phase, current, began, start = state["phase"], state["current"], state["began"], state["start"]
        # The child is done, or must be: kill its whole group, then reap it.
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        _, status = os.waitpid(pid, 0)
        self._drain(output_r)
        for fd in (results_r, output_r, hidden_w, exited):
            os.close(fd)
        isolation.kill_adopted(_reap)
        if self.uid is not None:
            isolation.kill_uid(self.uid, _reap)
        if memory is not None:
            memory.kill()
            if memory.out_of_memory() and killed_for is None:
                killed_for = "memory"
            memory.remove()
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        return self._after(status, killed_for, phase, current, began, start)

    def _send_hidden(self, hidden_w, state):
        """Send (more of) the current hidden call's arguments, straight from the grader's memfd."""
        offset, remaining = state["send"]
        try:
            sent = os.sendfile(hidden_w, self.hidden_fd, offset, remaining)
        except BlockingIOError:
            return
        except OSError:
            state["send"] = None
            return
        state["send"] = (offset + sent, remaining - sent) if 0 < sent < remaining else None

    def _handle(self, kind, payload, state):
        """Update ``state`` (phase, current call, its start time, next call) for one frame.

        Every frame is untrusted (student code can write its own): a frame
        that is malformed, out of turn or about another call than the current
        one changes nothing but the current call's outcome, and nothing here
        raises but :class:`wire.WireError` for a stream too large.
        """
        now = time.monotonic()
        phase, current, start = state["phase"], state["current"], state["start"]
        if kind not in (b"R", b"L", b"S", b"D"):
            raise _Corrupt("an unknown message")
        if kind == b"R" and phase == "setup":
            state["phase"] = "loading"
        elif kind == b"L" and phase == "loading":
            try:
                report = wire.loads(payload, 1 << 20)
                if type(report) is not dict:
                    raise wire.WireError("not an object")
            except wire.WireError:
                report = {"problems": ["the submission sent a malformed load report"]}
            problems = report.get("problems") if type(report.get("problems")) is list else []
            fatal = report.get("fatal")
            self._note_refused(report.get("refused"))
            if not self.hidden_seen:  # (a restarted child after hidden calls: nothing of it is shown)
                for note in problems[:50]:
                    note = clean(note)
                    if note not in self.notes and len(self.notes) < 100:
                        self.notes.append(note)
            for flag in ("syntax", "memory", "unreadable"):
                if report.get(flag) is True:
                    self.flags.add({"syntax": "syntax-error"}.get(flag, flag))
            state["phase"] = "calls"
            if fatal:
                self._fill(start, clean(fatal) if not self.hidden_seen else "not run: the file could not be loaded")
                if not report.get("syntax") and not report.get("unreadable"):
                    self.flags.add("crashed")
                state["phase"], state["start"] = "done", len(self.calls)
        elif kind == b"S" and phase == "calls" and current is None:
            try:
                index = wire.loads(payload, 1024)["call"]
            except (wire.WireError, KeyError, TypeError):
                index = None
            if type(index) is int and index == start and index < len(self.calls):
                state["current"], state["began"] = index, now
                if self.calls[index][2]:
                    self.hidden_seen = True
                    offset, length = self.hidden.get(self.order[index], (0, 0))
                    state["send"] = (int(offset), int(length))
        elif kind == b"D" and phase == "calls" and current is not None:
            try:
                header, blobs = wire.unpack_outcome(payload)
                if header.get("call") != current:
                    raise wire.WireError("malformed result: out of order")
                self._note_refused(header.get("refused"))
                ok = header.get("ok") is True
                error = header.get("error")
                error = None if ok else (error if type(error) is str and error else "failed")
                if header.get("memory") is True:
                    self.flags.add("memory")
                if header.get("timeout") is True:
                    self.flags.add("timeout")
                tree = header.get("tree") if ok else None
                if ok:
                    size = sum(len(blob) for blob in blobs) + len(payload) // 8
                    if self.result_bytes + size > wire.MAX_RESULT_BYTES:
                        raise wire.WireError(f"more than {RESULT_MB} MB of results in this run")
                    try:
                        wire.decode(tree, blobs)  # validated here; the grader decodes again
                    except wire.WireError as problem:
                        raise wire.WireError(f"returned a value that cannot be graded: {problem}") from None
                    self.result_bytes += size
                self._set(current, ok, error, now - state["began"], tree, blobs if ok else ())
            except wire.WireError as problem:
                message = str(problem)
                if not message.startswith("returned"):
                    message = f"returned a value that cannot be graded: {message}"
                self._set(current, False, message, now - state["began"])
            except Exception as problem:  # never let a frame stop the supervisor
                self._set(current, False, f"returned a value that cannot be graded ({type(problem).__name__})",
                          now - state["began"])  # fmt: skip
            state["current"], state["start"], state["send"] = None, current + 1, None

    def _note_refused(self, names):
        """Note each forbidden name the child says it refused (only names we gave it count)."""
        if type(names) is not list:
            return
        for name in names[:100]:
            reason = self.forbidden.get(name) if type(name) is str else None
            if reason is None and type(name) is str and name in guard.BLOCKED:
                reason = guard.BLOCKED[name]
            if reason is not None and name not in self.refused:
                self.refused.append(name)
                self.notes.append(f"refused: {name} ({reason})")

    def _after(self, status, killed_for, phase, current, began, start):
        """Decide what the end of a child means; returns (next start, again)."""
        how = _describe_exit(status)
        if phase == "setup":
            self.internal = f"the sandbox could not start ({how}): {self.output.text()[-2000:]}"
            self._fill(start, "not run: the sandbox could not start")
            return start, False
        if killed_for == "timeout":
            self.flags.add("timeout")
            if phase == "loading":
                self._fill(start, f"not run: loading the file took longer than the time limit of {self.timeout:g} s")
            else:
                if current is not None:
                    self._set(current, False, f"did not finish: the submission's time limit of {self.timeout:g} s ran out")
                self._fill(start, f"not run: the submission's time limit of {self.timeout:g} s ran out")
            return start, False
        if killed_for == "memory":
            self.flags.add("memory")
            message = f"ran out of memory (the limit of {self.memory_mb} MB covers all the process holds: shared memory and files in /tmp too)"
            if phase == "loading":
                self._fill(start, f"not run: {message} while loading")
                return start, False
            index = current if current is not None else start
            self._set(index, False, message)
            return index + 1, index + 1 < len(self.calls) and time.monotonic() < self.deadline
        if killed_for == "corrupt":
            self.flags.add("crashed")
            message = "wrote malformed data on the sandbox's result channel (file descriptor 3)"
            if phase in ("setup", "loading"):
                self._fill(start, f"not run: the file {message} while loading")
                return start, False
            index = current if current is not None else start
            self._set(index, False, f"the call {message}")
            return index + 1, index + 1 < len(self.calls) and time.monotonic() < self.deadline
        if killed_for == "too-much-data":
            self.flags.add("crashed")
            index = current if current is not None else start
            self._set(index, False, f"returned more than {RESULT_MB} MB of data")
            return index + 1, True
        if killed_for == "call-timeout":
            self.flags.add("timeout")
            self._set(current, False, f"did not finish within {self.call_timeout:g} s")
            return current + 1, time.monotonic() < self.deadline
        if phase == "loading":
            self.flags.add("crashed")
            self._fill(start, f"not run: the submission's process {how} while loading")
            return start, False
        if current is not None:
            self.flags.add("crashed")
            self._set(current, False, f"the submission's process {how} during this call")
            return current + 1, True
        if phase == "calls" and start < len(self.calls):
            self.flags.add("crashed")
            self.notes.append(f"the submission's process {how} between calls")
            return start, start < len(self.calls) and self._restarts_left()
        return start, False

    def _restarts_left(self):
        self._restarts = getattr(self, "_restarts", 0) + 1
        return self._restarts <= 3

    def _drain(self, fd):
        os.set_blocking(fd, False)
        try:
            while True:
                data = os.read(fd, 1 << 16)
                if not data:
                    break
                self.output.add(data)
        except (BlockingIOError, OSError):
            pass

    def respond(self, status):
        by_index = [None] * len(self.outcomes)
        for position, index in enumerate(self.order):
            by_index[index] = self.outcomes[position]
        with open(self.response_fd, "wb", closefd=True) as out:
            for header, blobs in by_index:
                out.write(wire.frame(b"O", wire.pack_outcome(header, blobs)))
            final = {"status": status, "output": self.output.text(), "notes": self.notes, "internal": self.internal}
            out.write(wire.frame(b"R", json.dumps(final).encode()))


def _read_all(fd, limit):
    chunks, total = [], 0
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            break
        total += len(data)
        if total > limit:
            raise ValueError(f"larger than {limit} bytes")
        chunks.append(data)
    return b"".join(chunks)


def supervise(request, fds, config):
    """Entry of a supervisor process (forked from the zygote)."""
    submission_fd, calls_fd, hidden_fd, response_fd = fds
    isolation.die_with_parent()
    if os.getppid() != request["zygote"]:
        os._exit(70)
    isolation.become_subreaper()
    # Not dumpable: a child of the same uid (not root: `k2l check`) cannot
    # read this process's memory or open its file descriptors via /proc.
    isolation.prctl(isolation.PR_SET_DUMPABLE, 0)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    content = _read_all(submission_fd, int(request["max_bytes"]))
    os.close(submission_fd)
    os.lseek(calls_fd, 0, os.SEEK_SET)
    header, blobs = wire.unpack_outcome(_read_all(calls_fd, 1 << 31))
    os.close(calls_fd)
    calls = [(name, kwargs, bool(hidden)) for name, kwargs, hidden in wire.decode(header["tree"], blobs)]
    supervisor = Supervisor(request, content, calls, response_fd, config, hidden_fd)
    supervisor.respond(supervisor.run())


# --- the zygote -------------------------------------------------------------------


_located = {}


def _guard_locations(forbidden):
    """:func:`guard.locate` for ``forbidden``, computed once per set of names and of loaded modules.

    (Only the names of packages imported here: the child guards the others
    when, if ever, it imports their package.)
    """
    if not forbidden:
        return []
    key = (tuple(sorted(forbidden.items())), len(sys.modules))
    if key not in _located:
        _located.clear()
        _located[key] = guard.locate(forbidden)
    return _located[key]


def _reap_supervisors(supervisors, block=False):
    for pid in list(supervisors):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            supervisors.discard(pid)


def main(argv=None):
    """Entry of the zygote: ``python -m k2l_course.grading.sandbox.server FD``.

    The configuration is the first message on the socket ``FD`` (not in the
    command line, which every process on the machine can read).
    """
    argv = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(argv[0]))
    config = json.loads(sock.recv(1 << 20))
    # No parent-death signal here: it fires when the *thread* that started us
    # ends. The grader's end (even kill -9) closes its socket instead, which
    # ends the loop below and cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    os.chdir("/")
    # A home of its own, removed at the end: Keras, Matplotlib... write there on import.
    home = tempfile.mkdtemp(prefix="k2l-sandbox-home-")
    os.environ.update(HOME=home, KERAS_HOME=os.path.join(home, ".keras"), MPLCONFIGDIR=os.path.join(home, "mpl"))
    preload(PRELOAD)
    from k2l_course.nengo_loihi_numpy2 import apply_on_import as fix_nengo_loihi_for_numpy2

    fix_nengo_loihi_for_numpy2()  # here and in every child, however nengo-loihi is imported (no-op on NumPy 1)
    preload(config.get("preload", ()))
    info = {"ready": True, "root": isolation.is_root(), "namespaces": False, "covered": [], "exposed": [],
            "cgroup": bool(config.get("cgroup"))}  # fmt: skip
    uids = config.get("uids") or []
    info["uids"] = uids
    if uids and isolation.is_root():
        hide = list(config.get("hide", ())) + list(config.get("secret", ()))
        if config.get("allow_list"):  # bubblewrap made the view: nothing but the allow-list is there
            info["namespaces"] = info["allow_list"] = True
            info["covered"] = isolation.arrange_view(hide, environment_paths(config), uid=uids[0])
        elif config.get("namespaces", True) and isolation.new_mount_namespace():
            info["namespaces"] = True
            info["covered"] = isolation.arrange_view(hide, environment_paths(config), uid=uids[0])
        info["exposed"] = [path for path in config.get("secret", ()) if isolation.readable_by(uids[0], path)]
        # What student code imports from must be readable by its uid (else an installed module looks missing).
        info["unreadable"] = [path for path in config.get("import_path", ())
                              if os.path.isdir(path) and not isolation.readable_by(uids[0], path)]  # fmt: skip
        for uid in uids:
            isolation.kill_uid(uid, _reap)
    config["namespaces"] = info["namespaces"]
    config["unreadable"] = info.get("unreadable", [])
    config["rundir"] = tempfile.mkdtemp(prefix="k2l-sandbox-")
    if config.get("cgroup"):  # a group of this server's own: each run's group goes inside, all removed at the end
        config["cgroup"] = os.path.join(config["cgroup"], f"k2l-sandbox-{os.urandom(6).hex()}")
        os.mkdir(config["cgroup"])
    os.chmod(config["rundir"], 0o711)
    import gc

    gc.freeze()  # (fewer copy-on-write pages charged to each child)
    sock.sendall(json.dumps(info).encode())
    sock.settimeout(0.5)
    supervisors = set()
    try:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
            except socket.timeout:
                _reap_supervisors(supervisors)
                continue
            if not message:
                break
            request = json.loads(message)
            if request.get("op") == "modules" and len(fds) == 1:
                loaded = sorted(name for name in sys.modules if "." not in name)
                with open(fds.pop(), "w") as reply:
                    json.dump(loaded, reply)
            if request.get("op") == "run" and len(fds) == 4:
                try:
                    # The whole file (bounded by the grader): an import after a large
                    # notebook output must be found too.
                    head = os.pread(fds[0], int(request["max_bytes"]), 0).decode("utf-8", errors="replace")
                    # Only what the file names: the forbidden names of a package it
                    # does not name are guarded in the child if it imports that package.
                    preload(mentioned_modules(head))
                    request["guard_locations"] = _guard_locations(request.get("forbidden") or {})
                except OSError:
                    pass
                request["zygote"] = os.getpid()
                pid = os.fork()
                if pid == 0:
                    try:
                        sock.close()
                        supervise(request, fds, config)
                    except BaseException:
                        import traceback

                        traceback.print_exc()
                        os._exit(1)
                    os._exit(0)
                supervisors.add(pid)
            for fd in fds:
                os.close(fd)
            _reap_supervisors(supervisors)
    finally:
        # The grader is gone or done: stop every run still going, then
        # everything the children left behind.
        for pid in supervisors:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap_supervisors(supervisors, block=True)
        if isolation.is_root():
            for uid in uids:
                isolation.kill_uid(uid, _reap)
        if config.get("cgroup"):
            for entry in os.scandir(config["cgroup"]):
                if entry.is_dir() and entry.name.startswith("k2l-run-"):
                    group = isolation.MemoryCgroup(entry.path)
                    group.kill()
                    group.remove()
            isolation.MemoryCgroup(config["cgroup"]).remove()
        for folder in (config.get("rundir"), home):
            if folder:
                shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
