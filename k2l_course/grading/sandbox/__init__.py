"""Run untrusted student code in an isolated child and call its functions.

The grader (``k2l grade``) and the student's checker (``k2l check``) both use
:class:`Sandbox`, kept open for a whole batch (``k2l check`` keeps one per
process: :func:`k2l_course.grading.runner.shared_run`): the student's ``.py`` or ``.ipynb`` is loaded in a separate, isolated process,
each :class:`Call` is made there, and only plain data comes back
(:mod:`k2l_course.grading.sandbox.wire`: NumPy arrays, numbers, strings, bools,
None and lists/tuples/dicts of those; never pickle). The trusted process
then judges that data.

Isolation (what holds where: :mod:`k2l_course.grading.sandbox.isolation`; the
process tree: :mod:`k2l_course.grading.sandbox.server`): the student's code never
runs in the calling process; it runs in a child forked from a pre-warmed
server, in its own session, with a wall-clock budget for the whole run and a
limit per call, a memory limit, capped output, everything it spawns killed
afterwards, and ``k2l_course``, ``solutions`` and the ``forbidden`` names
refused (:mod:`k2l_course.grading.sandbox.guard`). When the caller is root: an
unprivileged uid per concurrent run, the server inside a bubblewrap
allow-list view (only the Python installation), and per run a private
``/tmp``, IPC and network namespaces and one memory cgroup. What comes back
is bounded and validated (:mod:`k2l_course.grading.sandbox.wire`); hidden calls'
inputs reach the child only when the call starts, after every visible call,
and nothing printed during them is returned. :meth:`Sandbox.describe` says
in one line which of these hold.

This module imports nothing POSIX-only (the Linux machinery is imported when
a server starts), so ``import k2l_course.grading.sandbox`` works on every OS.

Example
-------
>>> from k2l_course.grading.sandbox import Call, Sandbox
>>> with Sandbox().start() as sandbox:  # doctest: +SKIP
...     result = sandbox.run("alice/ch2_activation.py",
...                          [Call("loihi_rate", {"current": [0.5, 2.0], "dt": 0.001})])
>>> result.status, result.outcomes[0].value  # doctest: +SKIP
('ok', array([...]))
"""

from __future__ import annotations

import functools
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

import k2l_course
from k2l_course.grading.sandbox import wire

__all__ = ["Limits", "Call", "Outcome", "SandboxResult", "Sandbox", "SandboxError", "STATUSES",
           "MAX_SUBMISSION_BYTES", "defined_functions", "read_submission"]  # fmt: skip

#: Every status a run can end with, best first.
STATUSES = ("ok", "syntax-error", "timeout", "memory", "crashed", "no-submission", "unreadable")

#: Largest submission file accepted (bytes): the one place this is decided.
MAX_SUBMISSION_BYTES = 20 * 2**20

#: Default uid of the first sandboxed child (see :mod:`k2l_course.grading.sandbox.isolation`).
DEFAULT_UID_BASE = 64100


@dataclass(frozen=True)
class Limits:
    """What one submission may use: the defaults of ``k2l check``, ``k2l grade`` and the Gradescope bundle.

    Attributes
    ----------
    timeout : float
        Wall-clock seconds for the whole submission (the grader shares it among a student's files).
    memory_mb : int
        Memory it may hold (MB).
    call_timeout : float
        Seconds one call of a student's function may take.
    """

    timeout: float = 60.0
    memory_mb: int = 2048
    call_timeout: float = 10.0


@dataclass
class Call:
    """Call ``function(**kwargs)`` in the student's file (kwargs: plain data).

    A ``hidden`` call's output is never shown (not in
    :attr:`SandboxResult.output`), its error is reduced to its kind, and its
    arguments reach the student's process only when the call starts, after
    every visible call.
    """

    function: str
    kwargs: dict
    hidden: bool = False


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


def default_hidden():
    """What student code should not see: the course's source checkout.

    The installed package itself and the Python environment stay visible
    (they are bound back into the view).
    """
    root = k2l_course.checkout()
    return [str(root)] if root else []


def default_secret():
    """What student code must never read: the course's solutions."""
    root = k2l_course.checkout()
    return [str(root / "solutions")] if root and (root / "solutions").exists() else []


def _within(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def environment_folders():
    """The folders of the Python environment that runs the check (real paths).

    Its prefixes (the venv and the base installation) and their library
    folders (``stdlib``, ``platstdlib``, ``purelib``, ``platlib``); a prefix
    that holds the course checkout itself counts by its library folders only.
    """
    import sysconfig

    root = k2l_course.checkout()
    folders = set()
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        real = os.path.realpath(prefix)
        if root is None or not _within(str(root), real):
            folders.add(real)
    for scheme_vars in ({}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            path = sysconfig.get_paths(vars=scheme_vars or None).get(key)
            if path and os.path.isdir(path):
                folders.add(os.path.realpath(path))
    if root is not None:  # never the checkout (solutions, tests, .git) itself
        folders = {f for f in folders if not _within(str(root), f)}
    return sorted(folders)


@functools.lru_cache(maxsize=8)
def _isolated_path(executable):
    """``sys.path`` of ``executable -I``: the interpreter's own import path (site-packages, ``.pth`` additions)."""
    try:
        done = subprocess.run(
            [executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k in ("PATH", "SYSTEMROOT", "LANG")},
        )  # fmt: skip
        path = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        path = None
    if type(path) is not list or not all(type(p) is str for p in path):
        return None
    return tuple(path)


def import_path(hide=(), secret=()):
    """Where student code imports from: everything installed in the environment that runs the check.

    The import path this interpreter has on its own (``python -I``: the
    standard library, ``site-packages`` and what its ``.pth`` files add),
    whether the environment lies inside the course checkout (``.venv``,
    ``.venv-student``) or anywhere else, without:

    * the checkout itself and anything in it outside the environment's own
      folders (:func:`environment_folders`): ``solutions``, ``tests`` and the
      course's sources are never importable by path;
    * anything in ``secret``, and anything in ``hide`` outside the environment.

    Both sandboxes give student code exactly this ``sys.path``. What it
    finds there is then imported normally, however the import is spelled;
    :mod:`k2l_course.grading.sandbox.guard` refuses ``k2l_course``,
    ``solutions`` and the exercise's forbidden names on top.

    Parameters
    ----------
    hide, secret : iterable of path
        Folders student code should not see / must never read, besides
        the checkout.

    Returns
    -------
    list of str
    """
    root = k2l_course.checkout()
    environment = environment_folders()
    hidden = [os.path.realpath(h) for h in hide] + ([str(root)] if root else [])
    secrets = [os.path.realpath(s) for s in secret]
    path = _isolated_path(sys.executable)
    if path is None:  # (an interpreter that cannot be run again: what of ours lies in the environment)
        path = [p for p in sys.path if p and any(_within(os.path.realpath(p), f) for f in environment)]
    kept = []
    for entry in path:
        if not entry or not os.path.isabs(entry) or entry in kept:
            continue
        real = os.path.realpath(entry)
        if any(_within(real, s) for s in secrets):
            continue
        if any(_within(real, h) for h in hidden) and not any(_within(real, f) for f in environment):
            continue
        kept.append(entry)
    return kept


def environment_description():
    """The environment student code imports from, as a student should read it (for missing-module errors)."""
    return f"the Python {sys.version_info[0]}.{sys.version_info[1]} environment {sys.prefix}"


def allowed_paths():
    """What the sandbox's allow-list view shows read-only: the Python installation.

    The environment's folders (:func:`environment_folders`), every folder of
    its import path (:func:`import_path`), the interpreter's own folder, and
    the ``k2l_course`` package (the server's own code; each child covers it
    before student code runs).
    """
    paths = {str(k2l_course.PACKAGE), os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(environment_folders())
    paths.update(os.path.realpath(p) for p in import_path() if os.path.exists(p))
    root = k2l_course.checkout()
    if root is not None:  # never the checkout (solutions, tests, .git) itself
        paths = {p for p in paths if not _within(str(root), p)}
    return sorted(paths)


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
    allow : iterable of path
        Paths student code may read besides the Python installation
        (:func:`allowed_paths`), e.g. data files an exercise opens.

    Notes
    -----
    Use as a context manager, or call :meth:`close`. :meth:`run` may be
    called from several threads at once.
    """

    def __init__(self, jobs=1, hide=(), secret=(), preload=(), uid_base=DEFAULT_UID_BASE, namespaces=None,
                 course_defaults=True, separate_user=True, allow=()):  # fmt: skip
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
        self.allow = [os.path.realpath(p) for p in allow]
        self.process = None
        self.info = {}
        self._lock = threading.Lock()
        self._slots = queue.Queue()
        self._stderr = bytearray()
        self._closed = False  # (close() was called: a run no longer starts a server by itself)

    # -- lifecycle -------------------------------------------------------------

    def start(self):
        """Start the server (imports NumPy; returns when it is ready)."""
        if self.process is not None:
            return self
        self._closed = False
        from k2l_course.grading.sandbox import isolation  # (Linux only: imported when a sandbox starts)

        separate = self.separate_user and isolation.is_root()
        uids, locks = isolation.claim_ids(self.jobs, self.uid_base) if separate else ([], [])
        for slot in range(self.jobs):
            self._slots.put(uids[slot] if uids else None)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cgroup = isolation.own_memory_cgroup() if separate else None
        allowed = allowed_paths() + self.allow
        wrapper = None
        if separate and self.namespaces:
            root = k2l_course.checkout()
            wrapper = isolation.bwrap_command(allowed, [cgroup] if cgroup else [], str(root) if root else None)
        config = {"hide": self.hide, "secret": self.secret, "preload": self.preload, "uids": uids,
                  "namespaces": self.namespaces, "cgroup": cgroup, "allow_list": wrapper is not None,
                  "package": str(k2l_course.PACKAGE), "allowed": allowed,
                  "import_path": import_path(self.hide, self.secret)}  # fmt: skip
        package_parent = str(k2l_course.ROOT)
        bootstrap = (
            "import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from k2l_course.grading.sandbox.server import main; main()"
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
            [*(wrapper or []), sys.executable, "-I", "-c", bootstrap, package_parent, str(theirs.fileno())],
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
        """One line on what isolation holds here (for the grader's log and ``k2l check``)."""
        if self.process is None:
            return "sandbox not started"
        if not self.info.get("uids"):
            return (
                "sandbox: not root (or told not to change user), so student code runs as your own user: time, "
                "memory (address space) and output limits, process clean-up, a fresh folder, data-only results "
                "and the refusal of k2l_course, solutions and forbidden names hold; no private view of the files "
                "and no hidden-input secrecy (fine for checking your own work; grade a class as root)"
            )
        uids = f"student code runs as unprivileged uids {self.info.get('uids')}"
        if self.info.get("allow_list"):
            view = ("a bubblewrap allow-list view (the Python installation only; no /home, /srv, /run, other "
                    "checkouts), a private /tmp, /dev/shm, IPC and network per run")  # fmt: skip
        elif self.info.get("namespaces"):
            covered = ", ".join(self.info.get("covered", [])) or "nothing"
            view = (f"no bubblewrap: a deny-list view hides {covered}; private /tmp, IPC and network per run "
                    "(install bubblewrap for the allow-list view)")  # fmt: skip
        else:
            view = ("no namespaces (a container without them, e.g. Gradescope's): file permissions alone keep "
                    "secrets out (checked), no private /tmp or IPC")  # fmt: skip
        memory = ("one memory cgroup per run counts all it holds (memfd, shared memory, tmpfs)"
                  if self.info.get("cgroup") else "memory limited by address space only (no writable memory cgroup)")  # fmt: skip
        unreadable = self.info.get("unreadable")
        imports = (f"; student code cannot read {', '.join(unreadable)} (part of the Python environment): only what "
                   "the server imported before is importable from there (chmod -R a+rX to open it)" if unreadable else "")  # fmt: skip
        return f"sandbox: {uids}; {view}; {memory}{imports}"

    @staticmethod
    def defined_functions(path):
        """Top-level function names of ``path``: the module-level :func:`defined_functions`."""
        return defined_functions(path)

    def _collect_stderr(self):
        for line in self.process.stderr:
            self._stderr += line
            del self._stderr[:-65536]

    def close(self):
        """Stop the server (and with it every run still going); later runs raise :class:`SandboxError`."""
        self._closed = True
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
                # The server had no time to stop its runs: stop them here, so that no student
                # process outlives the batch (and holds a run's reply pipe open, which would keep
                # the grader waiting for its answer).
                self._kill_runs()
            self.process = None

    def _kill_runs(self):
        """Kill every process left under this sandbox's own student uids."""
        import signal

        from k2l_course.grading.sandbox import isolation

        for uid in self.info.get("uids") or []:
            for pid in isolation.processes_of(uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

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

    def run(self, path, calls, timeout=Limits.timeout, memory_mb=Limits.memory_mb, call_timeout=Limits.call_timeout,
            output_limit=64 * 1024, forbidden=None):  # fmt: skip
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
        forbidden : dict of str to str, optional
            ``{dotted name of a module or callable: reason}`` refused to the
            student's code (:mod:`k2l_course.grading.sandbox.guard`); ``k2l_course``
            and ``solutions`` are always refused.

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
            return self._run(fd, path.name, calls, timeout, memory_mb, call_timeout, output_limit, forbidden)
        finally:
            os.close(fd)

    def _run(self, fd, name, calls, timeout, memory_mb, call_timeout, output_limit, forbidden):
        if self.process is None:
            if self._closed:  # (a grader thread that was not told yet must not bring a server back)
                raise SandboxError("the sandbox was closed")
            self.start()
        # Visible calls travel in one memfd; each hidden call's arguments in
        # a second one, which the supervisor copies to the child only when
        # that call starts (never into its own memory, which children inherit).
        hidden, hidden_data = {}, bytearray()
        try:
            listed = []
            for index, call in enumerate(calls):
                if call.hidden:
                    tree, blobs = wire.encode(dict(call.kwargs))
                    data = wire.frame(b"C", wire.pack_outcome({"tree": tree}, blobs))
                    hidden[str(index)] = [len(hidden_data), len(data)]
                    hidden_data += data
                    listed.append((call.function, None, True))
                else:
                    listed.append((call.function, dict(call.kwargs), False))
            tree, blobs = wire.encode(listed)
        except wire.UnsupportedValue as error:
            raise TypeError(f"the kwargs of a call must be plain data: {error}") from None
        forbidden = {str(k): str(v) for k, v in (forbidden or {}).items()}
        calls_fd = os.memfd_create("k2l-calls", os.MFD_CLOEXEC)
        hidden_fd = os.memfd_create("k2l-hidden", os.MFD_CLOEXEC)
        response_r, response_w = os.pipe2(os.O_CLOEXEC)
        uid = self._slots.get()
        try:
            with os.fdopen(os.dup(calls_fd), "wb") as handle:
                handle.write(wire.pack_outcome({"tree": tree}, blobs))
            with os.fdopen(os.dup(hidden_fd), "wb") as handle:
                handle.write(hidden_data)
            del hidden_data
            request = {
                "op": "run", "name": name, "uid": uid, "timeout": float(timeout), "memory_mb": int(memory_mb),
                "call_timeout": float(call_timeout), "output_limit": int(output_limit),
                "max_bytes": MAX_SUBMISSION_BYTES, "forbidden": forbidden, "hidden": hidden,
            }  # fmt: skip
            try:
                with self._lock:
                    socket.send_fds(self.socket, [json.dumps(request).encode()], [fd, calls_fd, hidden_fd, response_w])
            except OSError as error:
                raise SandboxError(f"the sandbox server is gone ({error}): {self._stderr.decode(errors='replace')[-3000:]}")
            os.close(response_w)
            response_w = None
            return self._receive(response_r, len(calls))
        finally:
            self._slots.put(uid)
            os.close(calls_fd)
            os.close(hidden_fd)
            os.close(response_r)
            if response_w is not None:
                os.close(response_w)

    def _receive(self, response_r, count):
        # (The supervisor already bounded and validated everything; this is the second wall.)
        reader = wire.FrameReader(max_frame=wire.MAX_RESULT_BYTES + (16 << 20))
        outcomes, final, received = [], None, 0
        try:
            while True:
                data = os.read(response_r, 1 << 20)
                if not data:
                    break
                received += len(data)
                if received > 2 * wire.MAX_RESULT_BYTES + (64 << 20):
                    raise wire.WireError("too much data")
                for kind, payload in reader.feed(data):
                    if kind == b"O" and len(outcomes) < count:
                        outcomes.append(_outcome(payload))
                    elif kind == b"R":
                        final = wire.loads(payload)
        except wire.WireError as error:
            raise SandboxError(f"a sandbox supervisor sent a malformed response: {error}") from None
        if type(final) is not dict or len(outcomes) != count:
            raise SandboxError(f"a sandbox supervisor died: {self._stderr.decode(errors='replace')[-3000:]}")
        if final.get("internal"):
            raise SandboxError(final["internal"])
        return SandboxResult(final["status"], outcomes, final["output"], list(final.get("notes", [])))


def _outcome(payload):
    try:
        header, blobs = wire.unpack_outcome(payload)
    except wire.WireError as error:
        return Outcome(False, None, f"returned a value that cannot be graded: {error}", 0.0)
    seconds = header.get("seconds")
    seconds = float(seconds) if type(seconds) in (int, float) else 0.0
    if header.get("ok") is True:
        try:
            return Outcome(True, wire.decode(header.get("tree"), blobs), None, seconds)
        except wire.WireError as error:
            return Outcome(False, None, f"returned a value that cannot be graded: {error}", seconds)
    error = header.get("error")
    return Outcome(False, None, error if type(error) is str and error else "failed", seconds)


def _missing(calls, reason):
    return SandboxResult("no-submission", [Outcome(False, None, reason, 0.0) for _ in calls], "", [])


def read_submission(path, limit=MAX_SUBMISSION_BYTES):
    """The bytes of a student's file, read with a bound, or None.

    None when ``path`` is missing, not a regular file, a symbolic link, or
    larger than ``limit`` (:data:`MAX_SUBMISSION_BYTES`).
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


_PARSER = """
import json, sys
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]) << 20,) * 2)
except Exception:
    pass
import importlib.util
spec = importlib.util.spec_from_file_location("k2l_submission_parser", sys.argv[1])
module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
text = sys.stdin.buffer.read().decode("utf-8", "replace")
sys.stdout.write(json.dumps(module.top_level_functions(sys.argv[2], text)))
"""


def defined_functions(path, timeout=20, memory_mb=1024):
    """Names of the top-level functions a student's file defines (parsed, never run).

    The file is read with a bound (:func:`read_submission`) and parsed in a
    separate, short-lived Python process with a memory and time limit (never
    in the caller's process: a hostile file can make the parser take
    gigabytes). Works without a running sandbox server and on any OS.

    Returns
    -------
    frozenset of str
        Empty when the file is missing, too large, unreadable or does not parse.
    """
    data = read_submission(path)
    if data is None:
        return frozenset()
    parser = str(Path(__file__).with_name("submission.py"))
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _PARSER, parser, os.path.basename(os.fspath(path)), str(int(memory_mb))],
            input=data, capture_output=True, timeout=timeout,
            env={"PYTHONDONTWRITEBYTECODE": "1", **{k: os.environ[k] for k in ("SYSTEMROOT",) if k in os.environ}},
        )  # fmt: skip
        names = wire.loads(done.stdout, 1 << 22) if done.returncode == 0 else []
    except (subprocess.TimeoutExpired, OSError, wire.WireError):
        return frozenset()
    if type(names) is not list:
        return frozenset()
    return frozenset(name for name in names if type(name) is str and name.isidentifier())


