"""``k2l check`` where the Linux sandbox is not available (Windows, macOS).

:class:`PortableSandbox` has the interface of :class:`k2l_course.grading.sandbox.Sandbox`
(``start`` / ``run`` / ``describe`` / ``close``) and gives the same outcomes
for the same submission, with what every operating system offers:

- the student's code runs in a separate Python process (a ``subprocess`` of
  ``sys.executable``, the same interpreter), never in the checker's;
- the file is loaded by the Linux sandbox's own loader
  (:func:`k2l_course.grading.sandbox.child.load`, which reads notebooks with
  :mod:`k2l_course.grading.sandbox.submission`), and values come back through
  :mod:`k2l_course.grading.sandbox.wire` (plain data, never pickle), as bytes over a
  :mod:`multiprocessing.connection` channel (a named pipe on Windows, a Unix
  socket elsewhere) that the checker reads with a size limit;
- a call that runs past its time limit is stopped by killing the child; a new
  child then goes on with the next call (the whole run has a time budget too);
- what the code prints is kept up to a limit, the rest read and dropped;
- memory: on Linux the child's address space is limited (``RLIMIT_AS``, so an
  allocation too large raises ``MemoryError``, as in the Linux sandbox); on
  macOS and Windows, which enforce no such limit, the checker watches the
  child's resident memory (psutil) and kills it beyond the limit.

What it does not do: change user, hide files or cut the network. That is fine
for checking your own work on your own machine; a class is graded with the
Linux sandbox (``k2l grade``).

:func:`choose` picks the sandbox for ``k2l check``: the Linux one on Linux,
this one elsewhere, or as forced by ``--sandbox`` / ``K2L_SANDBOX``.

Nothing here imports a POSIX-only module at import time.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import k2l_course
from k2l_course.grading.sandbox import Limits, guard, import_path, wire

#: The child's own JSON encoder, bound before student code could replace ``json.dumps``.
_dumps = json.dumps

__all__ = ["PortableSandbox", "choose", "MODES", "ENVIRONMENT_VARIABLE"]

#: Values of ``k2l check --sandbox``.
MODES = ("auto", "linux", "portable")
#: Environment variable that forces a mode when ``--sandbox`` is not given.
ENVIRONMENT_VARIABLE = "K2L_SANDBOX"

#: Seconds a call may overrun its limit before the child is killed (start-up jitter).
GRACE = 0.5
#: Largest message the child may send (one call's value).
MAX_MESSAGE = 256 * 2**20
#: Seconds between two looks at the child's memory where it is watched.
WATCH_INTERVAL = 0.05


def linux_sandbox_available():
    """Whether :class:`k2l_course.grading.sandbox.Sandbox` can run here (Linux: fork, memfd, SCM_RIGHTS)."""
    import socket

    return sys.platform.startswith("linux") and hasattr(os, "memfd_create") and hasattr(socket, "send_fds")


def choose(mode=None, **options):
    """The sandbox ``k2l check`` uses, not yet started.

    Parameters
    ----------
    mode : {"auto", "linux", "portable"}, optional
        None: the environment variable ``K2L_SANDBOX``, else ``"auto"`` (the
        Linux sandbox where it runs, this portable one elsewhere).
    **options
        Passed to the sandbox's constructor.

    Returns
    -------
    Sandbox or PortableSandbox

    Raises
    ------
    ValueError
        For an unknown mode, or ``"linux"`` where the Linux sandbox cannot run.
    """
    mode = mode or os.environ.get(ENVIRONMENT_VARIABLE) or "auto"
    if mode not in MODES:
        raise ValueError(f"unknown sandbox {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "linux" if linux_sandbox_available() else "portable"
    if mode == "linux":
        if not linux_sandbox_available():
            raise ValueError(f"the Linux sandbox does not run on {sys.platform}: use --sandbox portable")
        from k2l_course.grading.sandbox import Sandbox

        return Sandbox(**options)
    return PortableSandbox(**options)


class PortableSandbox:
    """Runs a submission's calls in a spawned child, on any operating system.

    Parameters
    ----------
    jobs : int
        Accepted for the interface of :class:`~k2l_course.grading.sandbox.Sandbox`
        (each :meth:`run` starts its own child, so runs may go on in parallel).
    memory : {"auto", "rlimit", "watch"}
        How the memory limit is enforced: ``"rlimit"`` (Linux's ``RLIMIT_AS``
        in the child), ``"watch"`` (the checker polls the child's resident
        memory with psutil and kills it beyond the limit), ``"auto"`` (rlimit
        on Linux, watch elsewhere). Tests use ``"watch"`` on Linux.
    **ignored
        Other :class:`~k2l_course.grading.sandbox.Sandbox` options (isolation), which
        have no meaning here.
    """

    def __init__(self, jobs=1, memory="auto", **ignored):
        if memory == "auto":
            memory = "rlimit" if sys.platform.startswith("linux") else "watch"
        if memory not in ("rlimit", "watch"):
            raise ValueError(f"unknown memory mode {memory!r}")
        self.jobs = max(1, int(jobs))
        self.memory = memory
        self.started = False

    def start(self):
        """Nothing to start (each run spawns its child); returns self."""
        self.started = True
        return self

    def close(self):
        """Nothing to stop: every child ends with its run."""
        self.started = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def describe(self):
        """One line on what this sandbox does."""
        memory = (
            "a memory limit (RLIMIT_AS)"
            if self.memory == "rlimit"
            else "a memory limit (the child is stopped beyond it)"
        )
        why = "chosen with --sandbox / K2L_SANDBOX" if linux_sandbox_available() else "the Linux sandbox does not run here"
        return (
            f"sandbox: portable ({why}): your code runs in a separate Python process "
            f"with time limits, capped output and {memory}, as your own user"
        )

    def run(self, path, calls, *, timeout=Limits.timeout, memory_mb=Limits.memory_mb, call_timeout=Limits.call_timeout,
            forbidden=None, output_limit=64 * 1024):  # fmt: skip
        """Load ``path`` in a child process and make ``calls`` there.

        Parameters are those of :meth:`k2l_course.grading.sandbox.Sandbox.run`;
        ``forbidden`` maps dotted names (modules or callables) to the reason
        student code may not use them.

        Returns
        -------
        k2l_course.grading.sandbox.SandboxResult

        Raises
        ------
        k2l_course.grading.sandbox.SandboxError
            If the child cannot be started at all (never because of the student's code).
        TypeError
            If a call's kwargs are not plain data.
        """
        from k2l_course.grading.sandbox import MAX_SUBMISSION_BYTES, Outcome, SandboxResult

        calls = list(calls)
        path = Path(path)
        problem = None
        if path.is_symlink():
            problem = "is a symbolic link, not a file"
        elif not path.exists():
            problem = "does not exist"
        elif not path.is_file():
            problem = "is not a regular file"
        elif path.stat().st_size > MAX_SUBMISSION_BYTES:
            problem = f"is larger than {MAX_SUBMISSION_BYTES >> 20} MB"
        if problem:
            reason = f"no submission: {path.name} {problem}"
            return SandboxResult("no-submission", [Outcome(False, None, reason, 0.0) for _ in calls], "", [])
        try:
            tree, blobs = wire.encode(
                [(call.function, dict(call.kwargs), bool(getattr(call, "hidden", False))) for call in calls]
            )
        except wire.UnsupportedValue as error:
            raise TypeError(f"the kwargs of a call must be plain data: {error}") from None
        request = {
            "calls": wire.pack_outcome({"tree": tree}, blobs).hex(),
            "forbidden": dict(forbidden or {}),
            "memory_mb": int(memory_mb) if self.memory == "rlimit" else None,
            "import_path": import_path(),
        }
        with tempfile.TemporaryDirectory(prefix="k2l-portable-") as workdir:
            copy = Path(workdir) / path.name
            copy.write_bytes(path.read_bytes())
            run = _Run(self, copy, path.name, request, len(calls), timeout, memory_mb, call_timeout, output_limit)
            status = run.run()
        outcomes = [_outcome(*one) for one in run.outcomes]
        hidden = [bool(getattr(call, "hidden", False)) for call in calls]
        for index, outcome in enumerate(outcomes):
            if hidden[index] and not outcome.ok and outcome.error:
                outcome.error = outcome.error.split(":", 1)[0].split(" [at", 1)[0][:200]
        return SandboxResult(status, outcomes, run.output.text(), run.notes)


def _outcome(ok, value, error, seconds):
    from k2l_course.grading.sandbox import Outcome

    return Outcome(ok, value, error, seconds)


class _Output:
    """What the child prints: the first ``limit`` bytes kept, the rest read and dropped."""

    def __init__(self, limit):
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0
        self.lock = threading.Lock()

    def pump(self, stream):
        while True:
            chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
            if not chunk:
                return
            with self.lock:
                room = self.limit - len(self.data)
                self.data += chunk[: max(room, 0)]
                self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self):
        with self.lock:
            text = self.data.decode("utf-8", errors="replace")
            if self.dropped:
                text += f"\n[... {self.dropped} more bytes of output not shown]"
            return text


class _Run:
    """One submission: children started until every call has an outcome (see Supervisor in server.py)."""

    def __init__(self, sandbox, path, name, request, count, timeout, memory_mb, call_timeout, output_limit):
        self.sandbox = sandbox
        self.path = path
        self.name = name
        self.request = request
        self.count = count
        self.timeout = float(timeout)
        self.memory_mb = int(memory_mb)
        self.call_timeout = float(call_timeout)
        self.output = _Output(int(output_limit))
        self.outcomes = [None] * count
        self.notes = []
        self.flags = set()
        self.deadline = time.monotonic() + self.timeout
        self.restarts = 0

    def set(self, index, ok, value, error, seconds=0.0):
        if 0 <= index < self.count and self.outcomes[index] is None:
            self.outcomes[index] = (ok, value, error, round(seconds, 4))

    def fill(self, start, error):
        for index in range(start, self.count):
            self.set(index, False, None, error)

    def run(self):
        start, again = 0, True
        while again:
            start, again = self.attempt(start)
            again = again and start < self.count
        self.fill(0, "not run")
        for status in ("syntax-error", "timeout", "memory", "crashed"):
            if status in self.flags:
                return status
        return "ok"

    def attempt(self, start):
        """One child from call ``start``; returns (next call, whether to start another child)."""
        from multiprocessing.connection import Listener

        from k2l_course.grading.sandbox import SandboxError

        authkey = secrets.token_bytes(32)
        with Listener(authkey=authkey) as listener:
            package_parent = str(k2l_course.ROOT)
            env = dict(os.environ, PYTHONIOENCODING="utf-8", MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1",
                       OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")  # fmt: skip
            env.pop("PYTHONPATH", None)
            creation = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
            child = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOTSTRAP, package_parent],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                cwd=str(self.path.parent), env=env, creationflags=creation,
                start_new_session=os.name == "posix",
            )  # fmt: skip
            pump = threading.Thread(target=self.output.pump, args=(child.stdout,), daemon=True)
            pump.start()
            try:
                hello = json.dumps({
                    "address": listener.address if isinstance(listener.address, str) else list(listener.address),
                    "authkey": authkey.hex(), "path": str(self.path), "name": self.name, "start": start,
                    **self.request,
                })  # fmt: skip
                child.stdin.write(hello.encode("utf-8"))
                child.stdin.close()
            except OSError:
                pass
            connection = self._accept(listener, child)
            if connection is None:
                self._kill(child)
                pump.join(5)
                if self.output.text().strip() or child.returncode not in (0, None):
                    raise SandboxError(f"the portable sandbox's child did not start: {self.output.text()[-2000:]}")
                raise SandboxError("the portable sandbox's child did not start")
            try:
                return self._supervise(child, connection, start)
            finally:
                connection.close()
                self._kill(child)
                pump.join(5)

    def _accept(self, listener, child):
        """Wait for the child to connect (it imports NumPy first); None if it died or took too long."""
        result = {}

        def accept():
            try:
                result["connection"] = listener.accept()
            except (OSError, EOFError, ValueError) as error:  # includes a failed authentication
                result["error"] = error

        waiter = threading.Thread(target=accept, daemon=True)
        waiter.start()
        limit = time.monotonic() + max(120.0, self.timeout)
        while waiter.is_alive() and time.monotonic() < limit:
            waiter.join(0.1)
            if child.poll() is not None and waiter.is_alive():
                waiter.join(1.0)
                break
        return result.get("connection")

    def _kill(self, child):
        if child.poll() is None:
            child.kill()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def _over_memory(self, child, process):
        """Whether the watched child uses more resident memory than allowed."""
        if process is None:
            return False
        try:
            rss = process.memory_info().rss
            for sub in process.children(recursive=True):
                rss += sub.memory_info().rss
        except Exception:  # the process is gone, or psutil cannot look
            return False
        return rss > self.baseline + self.memory_mb * 2**20

    def _supervise(self, child, connection, start):
        phase, current, began = "loading", None, time.monotonic()
        killed_for = None
        process, looked = None, time.monotonic()
        if self.sandbox.memory == "watch":
            try:
                import psutil

                process = psutil.Process(child.pid)
                self.baseline = 0
            except Exception:
                process = None
        while True:
            now = time.monotonic()
            limit = self.deadline
            if current is not None:
                limit = min(limit, began + self.call_timeout + GRACE)
            if now >= limit:
                killed_for = "call-timeout" if limit < self.deadline else "timeout"
                break
            wait = min(limit - now, WATCH_INTERVAL) if process is not None else limit - now
            try:
                ready = connection.poll(wait)
            except (OSError, EOFError):
                break
            # Memory is judged once the messages already sent are read (so the
            # call that is running is known), and at least every second.
            if process is not None and (not ready or time.monotonic() - looked > 1.0):
                looked = time.monotonic()
                if self._over_memory(child, process):
                    killed_for = "memory"
                    break
            if not ready:
                if child.poll() is not None and not connection.poll(0.2):
                    break
                continue
            try:
                message = connection.recv_bytes(MAX_MESSAGE)
            except (OSError, EOFError):
                break
            kind, payload = message[:1], message[1:]
            if kind == b"B" and phase == "loading" and process is not None:
                try:
                    self.baseline = int(json.loads(payload)["rss"])
                except (ValueError, KeyError, TypeError):
                    self.baseline = 0
            elif kind == b"L" and phase == "loading":
                phase = self._loaded(payload, start)
                if phase == "done":
                    start = self.count
            elif kind == b"S" and phase == "calls" and current is None:
                try:
                    index = json.loads(payload)["call"]
                except (ValueError, KeyError, TypeError):
                    index = None
                if index == start:
                    current, began = index, time.monotonic()
            elif kind == b"D" and phase == "calls" and current is not None:
                self._done(payload, current, time.monotonic() - began)
                current, start = None, current + 1
                if start >= self.count:
                    break
        return self._after(child, killed_for, phase, current, start)

    def _loaded(self, payload, start):
        try:
            report = json.loads(payload)
            problems = [str(p)[:2000] for p in report.get("problems", [])][:50]
            fatal = report.get("fatal")
        except (ValueError, AttributeError, TypeError):
            report, problems, fatal = {}, ["the submission sent a malformed load report"], None
        for note in problems:
            if note not in self.notes:
                self.notes.append(note)
        self._note_refused(report.get("refused") if isinstance(report, dict) else None)
        if report.get("syntax"):
            self.flags.add("syntax-error")
        if report.get("memory"):
            self.flags.add("memory")
        if fatal:
            self.fill(start, str(fatal)[:2000])
            if not report.get("syntax"):
                self.flags.add("crashed")
            return "done"
        return "calls"

    def _done(self, payload, current, seconds):
        try:
            header, blobs = wire.unpack_outcome(payload)
            if header.get("call") != current:
                raise ValueError("out of order")
            if header.get("memory") is True:
                self.flags.add("memory")
            if header.get("timeout") is True:
                self.flags.add("timeout")
            self._note_refused(header.get("refused"))
            if header.get("ok") is True:
                try:
                    self.set(current, True, wire.decode(header.get("tree"), blobs), None, seconds)
                except ValueError as error:
                    self.set(current, False, None, f"returned data that could not be read ({error})", seconds)
            else:
                error = header.get("error")
                self.set(current, False, None, str(error)[:2000] if error else "failed", seconds)
        except ValueError as problem:
            self.set(current, False, None, f"sent a malformed result ({problem})", seconds)

    def _note_refused(self, names):
        """Note once each forbidden name the child says it refused (only names we gave it count)."""
        forbidden = self.request.get("forbidden") or {}
        for name in names if isinstance(names, list) else []:
            reason = forbidden.get(name) if isinstance(name, str) else None
            note = f"refused: {name} ({reason})"
            if reason is not None and note not in self.notes:
                self.notes.append(note)

    def _after(self, child, killed_for, phase, current, start):
        """What the end of a child means (as the Linux sandbox's supervisor decides it)."""
        self._kill(child)
        how = "was stopped" if killed_for else _describe_exit(child.returncode)
        if killed_for == "memory":
            self.flags.add("memory")
            if phase == "loading":
                self.fill(start, f"not run: loading the file used more than {self.memory_mb} MB of memory")
                return start, False
            index = current if current is not None else start
            self.set(index, False, None, "ran out of memory")
            return index + 1, time.monotonic() < self.deadline
        if killed_for == "timeout":
            self.flags.add("timeout")
            if phase == "loading":
                self.fill(start, f"not run: loading the file took longer than the time limit of {self.timeout:g} s")
            else:
                if current is not None:
                    self.set(current, False, None, f"did not finish: the submission's time limit of {self.timeout:g} s ran out")
                self.fill(start, f"not run: the submission's time limit of {self.timeout:g} s ran out")
            return start, False
        if killed_for == "call-timeout":
            self.flags.add("timeout")
            self.set(current, False, None, f"did not finish within {self.call_timeout:g} s")
            return current + 1, time.monotonic() < self.deadline
        if phase == "loading":
            self.flags.add("crashed")
            self.fill(start, f"not run: the submission's process {how} while loading")
            return start, False
        if current is not None:
            self.flags.add("crashed")
            self.set(current, False, None, f"the submission's process {how} during this call")
            return current + 1, True
        if phase == "calls" and start < self.count:
            self.flags.add("crashed")
            self.notes.append(f"the submission's process {how} between calls")
            self.restarts += 1
            return start, self.restarts <= 3
        return start, False


def _describe_exit(code):
    if code is None:
        return "was stopped"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


# -- the child -------------------------------------------------------------------------------

#: What the child runs (``python -I -c``): put the package's parent on the path, run :func:`child_main`.
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from k2l_course.grading.sandbox.portable import child_main; child_main()"
)


def child_main():
    """In the child: read the request on stdin, load the file, make the calls, report each over the channel."""
    from multiprocessing.connection import Client

    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    sys.stdin = open(os.devnull, encoding="utf-8")
    address = request["address"] if isinstance(request["address"], str) else tuple(request["address"])
    connection = Client(address, authkey=bytes.fromhex(request["authkey"]))
    header, blobs = wire.unpack_outcome(bytes.fromhex(request["calls"]))
    calls = wire.decode(header["tree"], blobs)
    import numpy  # noqa: F401  (before the memory baseline: the interpreter's own share)

    from k2l_course.grading.sandbox import child as loader
    from k2l_course.nengo_loihi_numpy2 import apply_on_import as fix_nengo_loihi_for_numpy2

    fix_nengo_loihi_for_numpy2()  # before student code: nengo-loihi 1.1 on NumPy 2 (no-op on 1)

    _limit_memory(request.get("memory_mb"))
    connection.send_bytes(b"B" + _dumps({"rss": _resident_bytes()}).encode())
    guard.install(request.get("forbidden") or {})  # as the Linux sandbox refuses them
    sys.stdout.reconfigure(errors="backslashreplace", line_buffering=True)
    sys.stderr.reconfigure(errors="backslashreplace", line_buffering=True)
    sys.argv[:] = [request["name"]]
    sys.path[:] = request["import_path"]  # the whole environment, not the checkout the bootstrap put first
    module, report = loader.load(request["path"], request["name"])
    report["refused"] = list(guard.REFUSED)
    connection.send_bytes(b"L" + _dumps(report).encode())
    if report["fatal"]:
        return
    for index in range(int(request["start"]), len(calls)):
        function_name, kwargs, hidden = calls[index]
        connection.send_bytes(b"S" + _dumps({"call": index}).encode())
        connection.send_bytes(b"D" + loader.call(module, request["name"], index, function_name, kwargs, quiet=hidden))
    sys.stdout.flush()
    sys.stderr.flush()


def _resident_bytes():
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:
        return 0


def _limit_memory(memory_mb):
    """Linux: cap the address space at what is mapped now plus ``memory_mb``."""
    if not memory_mb or not sys.platform.startswith("linux"):
        return
    import resource

    with open("/proc/self/statm", encoding="ascii") as handle:
        mapped = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = mapped + int(memory_mb) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


