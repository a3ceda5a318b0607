"""Run untrusted student code in an isolated child and call its functions.

The grader (``k2l grade``) and the student's checker (``k2l check``) both use
:func:`run_calls` (or a :class:`Sandbox` kept open for a whole batch): the
student's ``.py`` or ``.ipynb`` is loaded in a separate, isolated process,
each :class:`Call` is made there, and only plain data comes back
(:mod:`k2l_course.sandbox.wire`: NumPy arrays, numbers, strings, bools,
None and lists/tuples/dicts of those; never pickle). The trusted process
then judges that data.

Isolation (details in :mod:`k2l_course.sandbox.isolation` and
:mod:`k2l_course.sandbox.server`): the student's code never runs in the
calling process; it runs in a child forked from a pre-warmed server, in its
own session, with a wall-clock limit per call and per submission, a memory
limit, capped output, everything it spawns killed afterwards, and, when the
caller is root, an unprivileged uid (one per concurrent run, claimed
exclusively), no view of the course sources, solutions, hidden checks, other
submissions or the grader's output, a private ``/tmp`` and no network.

Example
-------
>>> from k2l_course.sandbox import Call, run_calls
>>> result = run_calls("alice/ch2_activation.py",
...                    [Call("loihi_rate", {"current": [0.5, 2.0], "dt": 0.001})])
>>> result.status, result.outcomes[0].value  # doctest: +SKIP
('ok', array([...]))
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import socket
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from k2l_course.sandbox import isolation, wire

__all__ = ["Call", "Outcome", "SandboxResult", "Sandbox", "SandboxError", "run_calls", "STATUSES"]

#: Every status a run can end with, best first.
STATUSES = ("ok", "syntax-error", "timeout", "memory", "crashed", "no-submission")

#: Largest submission file accepted (bytes).
MAX_SUBMISSION_BYTES = 20 * 2**20


@dataclass
class Call:
    """Call ``function(**kwargs)`` in the student's file (kwargs: plain data)."""

    function: str
    kwargs: dict


@dataclass
class Outcome:
    """What one call gave: a value (``ok``) or the reason it did not."""

    ok: bool
    value: object
    error: str | None
    seconds: float


@dataclass
class SandboxResult:
    """The outcome of running a submission's calls.

    Attributes
    ----------
    status : str
        ``"ok"``, ``"syntax-error"``, ``"timeout"``, ``"memory"``,
        ``"crashed"`` or ``"no-submission"``: the worst thing that happened
        (a call that merely raised leaves the status ``"ok"``).
    outcomes : list of Outcome
        One per call, in order; error outcomes for calls never reached.
    output : str
        What the student's code printed (stdout and stderr), capped.
    notes : list of str
        Problems met while loading the file (a top-level statement that
        raised, a syntax error in a notebook cell...), for feedback.
    """

    status: str
    outcomes: list
    output: str
    notes: list = field(default_factory=list)


class SandboxError(RuntimeError):
    """The sandbox itself could not work (never caused by student code)."""


def _course_root():
    """The source checkout the package lives in (holds solutions, tests...), if any.

    None when the package is installed (in ``site-packages``), as in the
    Gradescope image, where no solutions exist.
    """
    root = Path(__file__).resolve().parents[2]
    if {"site-packages", "dist-packages"} & set(root.parts):
        return None
    if (root / "pyproject.toml").is_file() and (root / "k2l_course").is_dir():
        return root
    return None


def default_hidden():
    """What student code should not see: the course's source checkout.

    The installed package itself and the Python environment stay visible
    (they are bound back into the view).
    """
    root = _course_root()
    return [str(root)] if root else []


def default_secret():
    """What student code must never read: the course's solutions."""
    root = _course_root()
    return [str(root / "solutions")] if root and (root / "solutions").exists() else []


class Sandbox:
    """A sandbox server kept running for many runs (a batch).

    Parameters
    ----------
    jobs : int
        How many runs may go on at once (each gets its own uid when root).
    hide : iterable of path
        Directories student code should not see, besides
        :func:`default_hidden` (e.g. the submissions, the grader's output):
        covered when mount namespaces are available.
    secret : iterable of path
        Directories student code must never read, besides
        :func:`default_secret` (e.g. the hidden checks): covered when mount
        namespaces are available; otherwise :meth:`start` checks that their
        permissions keep the sandbox user out, and refuses to run if not.
    preload : iterable of str
        Modules to import in the server at start (the TensorFlow/nengo stack
        is otherwise imported the first time a submission mentions it).
    uid_base : int
        First uid for sandboxed children when running as root.
    namespaces : bool or None
        Use mount namespaces when the kernel allows (False: rely on file
        permissions only, as in a container without CAP_SYS_ADMIN). None:
        True unless the environment variable ``K2L_SANDBOX_NAMESPACES`` is
        ``0``.
    course_defaults : bool
        Add :func:`default_hidden` and :func:`default_secret` (the course
        checkout and its solutions) to ``hide`` and ``secret``.
    separate_user : bool
        When root, run student code as unprivileged uids (default). False
        runs it as the caller's user, as when the caller is not root (for
        tests of that mode).

    Notes
    -----
    Use as a context manager, or call :meth:`close`. :meth:`run` may be
    called from several threads at once.
    """

    def __init__(self, jobs=1, hide=(), secret=(), preload=(), uid_base=isolation.DEFAULT_UID_BASE, namespaces=None,
                 course_defaults=True, separate_user=True):  # fmt: skip
        self.jobs = max(1, int(jobs))
        hide, secret = list(hide), list(secret)
        if course_defaults:
            hide, secret = default_hidden() + hide, default_secret() + secret
        self.hide = [str(Path(p).resolve()) for p in hide]
        self.secret = [str(Path(p).resolve()) for p in secret]
        self.preload = list(preload)
        self.uid_base = uid_base
        if namespaces is None:
            namespaces = os.environ.get("K2L_SANDBOX_NAMESPACES", "1") != "0"
        self.namespaces = bool(namespaces)
        self.separate_user = bool(separate_user)
        self.process = None
        self.info = {}
        self._lock = threading.Lock()
        self._slots = queue.Queue()
        self._stderr = bytearray()

    # -- lifecycle -------------------------------------------------------------

    def start(self):
        """Start the server (imports NumPy; returns when it is ready)."""
        if self.process is not None:
            return self
        separate = self.separate_user and isolation.is_root()
        uids, locks = isolation.claim_ids(self.jobs, self.uid_base) if separate else ([], [])
        for slot in range(self.jobs):
            self._slots.put(uids[slot] if uids else None)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"hide": self.hide, "secret": self.secret, "preload": self.preload, "uids": uids,
                  "namespaces": self.namespaces}
        package_parent = str(Path(__file__).resolve().parents[2])
        bootstrap = (
            "import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from k2l_course.sandbox.server import main; main()"
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_ENABLE_ONEDNN_OPTS": "0",
            "CUDA_VISIBLE_DEVICES": "-1",
            "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", bootstrap, package_parent, str(theirs.fileno())],
            pass_fds=[theirs.fileno(), *locks],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,  # Ctrl-C is for the grader, which then closes the sandbox
        )
        theirs.close()
        for fd in locks:  # the server (and every process it forks) holds the claims now
            os.close(fd)
        self.socket = ours
        ours.sendall(json.dumps(config).encode())
        threading.Thread(target=self._collect_stderr, daemon=True).start()
        try:
            ours.settimeout(300)
            ready = ours.recv(1 << 16)
            ours.settimeout(None)
        except OSError:
            ready = b""
        if not ready:
            self.close()
            raise SandboxError(f"the sandbox server did not start: {self._stderr.decode(errors='replace')[-3000:]}")
        self.info = json.loads(ready)
        if self.info.get("exposed"):
            self.close()
            raise SandboxError(
                "student code could read " + ", ".join(self.info["exposed"]) + ": make it unreadable to other "
                "users (chmod -R o-rwx PATH) or grade where mount namespaces are allowed"
            )
        return self

    def describe(self):
        """One line on what isolation holds (for the grader's log)."""
        if self.process is None:
            return "sandbox not started"
        if not self.info.get("uids"):
            return (
                "sandbox: not root (or told not to change user), so student code runs as your own user: time, memory and output limits, "
                "process clean-up and a fresh folder hold, but file permissions do not keep it from your files "
                "(fine for checking your own work; grade a class as root or in a container)"
            )
        covered = ", ".join(self.info.get("covered", [])) or "nothing"
        namespaces = (
            f"mount namespaces hide {covered} and give each run a private /tmp"
            if self.info.get("namespaces")
            else "no mount namespaces: file permissions alone keep secrets out (checked)"
        )
        return f"sandbox: student code runs as unprivileged uids {self.info.get('uids')}; {namespaces}"

    def _collect_stderr(self):
        for line in self.process.stderr:
            self._stderr += line
            del self._stderr[:-65536]

    def close(self):
        """Stop the server (and with it every run still going)."""
        if self.process is None:
            return
        try:
            self.socket.close()
        finally:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def server_modules(self):
        """Top-level modules imported in the server so far (e.g. whether TensorFlow was needed)."""
        if self.process is None:
            return []
        reply_r, reply_w = os.pipe2(os.O_CLOEXEC)
        try:
            with self._lock:
                socket.send_fds(self.socket, [json.dumps({"op": "modules"}).encode()], [reply_w])
            os.close(reply_w)
            reply_w = None
            with os.fdopen(reply_r, "rb", closefd=False) as reply:
                return json.loads(reply.read() or b"[]")
        finally:
            os.close(reply_r)
            if reply_w is not None:
                os.close(reply_w)

    # -- running -------------------------------------------------------------------

    def run(self, path, calls, timeout=60, memory_mb=2048, call_timeout=10, output_limit=64 * 1024):
        """Load ``path`` in a sandboxed child and make ``calls`` there.

        Parameters
        ----------
        path : path-like
            The student's ``.py`` or ``.ipynb``.
        calls : list of Call
            Made in order; kwargs must be plain data.
        timeout : float
            Wall-clock seconds for the whole submission (loading included).
        memory_mb : int
            Memory the student's code may allocate (on top of the
            pre-imported interpreter).
        call_timeout : float
            Seconds one call may take; a call that hangs costs only itself.
        output_limit : int
            Bytes of printed output kept.

        Returns
        -------
        SandboxResult

        Raises
        ------
        SandboxError
            If the sandbox itself fails (never because of the student's code).
        TypeError
            If a call's kwargs are not plain data (a bug in a check).
        """
        calls = list(calls)
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            reason = "is a symbolic link, not a file" if path.is_symlink() else (error.strerror or str(error)).lower()
            return _missing(calls, f"no submission: {path.name} {reason}")
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return _missing(calls, f"no submission: {path.name} is not a regular file")
            if info.st_size > MAX_SUBMISSION_BYTES:
                return _missing(calls, f"no submission: {path.name} is larger than {MAX_SUBMISSION_BYTES >> 20} MB")
            os.set_blocking(fd, True)
            return self._run(fd, path.name, calls, timeout, memory_mb, call_timeout, output_limit)
        finally:
            os.close(fd)

    def _run(self, fd, name, calls, timeout, memory_mb, call_timeout, output_limit):
        if self.process is None:
            self.start()
        try:
            tree, blobs = wire.encode([(call.function, dict(call.kwargs)) for call in calls])
        except wire.UnsupportedValue as error:
            raise TypeError(f"the kwargs of a call must be plain data: {error}") from None
        calls_fd = os.memfd_create("k2l-calls", os.MFD_CLOEXEC)
        response_r, response_w = os.pipe2(os.O_CLOEXEC)
        uid = self._slots.get()
        try:
            with os.fdopen(os.dup(calls_fd), "wb") as handle:
                handle.write(wire.pack_outcome({"tree": tree}, blobs))
            request = {
                "op": "run", "name": name, "uid": uid, "timeout": float(timeout), "memory_mb": int(memory_mb),
                "call_timeout": float(call_timeout), "output_limit": int(output_limit),
                "max_bytes": MAX_SUBMISSION_BYTES,
            }  # fmt: skip
            try:
                with self._lock:
                    socket.send_fds(self.socket, [json.dumps(request).encode()], [fd, calls_fd, response_w])
            except OSError as error:
                raise SandboxError(f"the sandbox server is gone ({error}): {self._stderr.decode(errors='replace')[-3000:]}")
            os.close(response_w)
            response_w = None
            return self._receive(response_r, len(calls))
        finally:
            self._slots.put(uid)
            os.close(calls_fd)
            os.close(response_r)
            if response_w is not None:
                os.close(response_w)

    def _receive(self, response_r, count):
        reader = wire.FrameReader(max_frame=1 << 31)
        outcomes, final = [], None
        while True:
            data = os.read(response_r, 1 << 20)
            if not data:
                break
            for kind, payload in reader.feed(data):
                if kind == b"O":
                    outcomes.append(_outcome(payload))
                elif kind == b"R":
                    final = json.loads(payload)
        if final is None or len(outcomes) != count:
            raise SandboxError(f"a sandbox supervisor died: {self._stderr.decode(errors='replace')[-3000:]}")
        if final.get("internal"):
            raise SandboxError(final["internal"])
        return SandboxResult(final["status"], outcomes, final["output"], list(final.get("notes", [])))


def _outcome(payload):
    header, blobs = wire.unpack_outcome(payload)
    seconds = float(header.get("seconds") or 0.0)
    if header.get("ok") is True:
        try:
            return Outcome(True, wire.decode(header.get("tree"), blobs), None, seconds)
        except ValueError as error:
            return Outcome(False, None, f"returned data that could not be read ({error})", seconds)
    return Outcome(False, None, str(header.get("error") or "failed"), seconds)


def _missing(calls, reason):
    return SandboxResult("no-submission", [Outcome(False, None, reason, 0.0) for _ in calls], "", [])


_shared = None
_shared_lock = threading.Lock()


def run_calls(path, calls, timeout=60, memory_mb=2048, call_timeout=10):
    """Run ``calls`` on the student's file ``path`` in an isolated child.

    A sandbox server is started on first use and kept for the process's
    lifetime, so repeated calls (one per exercise) pay its start-up once.
    See :meth:`Sandbox.run` for the parameters.

    Returns
    -------
    SandboxResult
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared.process is None or _shared.process.poll() is not None:
            _shared = Sandbox().start()
            atexit.register(_shared.close)
    return _shared.run(path, calls, timeout=timeout, memory_mb=memory_mb, call_timeout=call_timeout)
