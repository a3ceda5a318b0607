"""Operating-system walls around the student's process (Linux).

Everything here is called in the sandbox server or processes it forks, never
in the grader itself (except :func:`bwrap_command`, :func:`claim_ids` and
:func:`own_memory_cgroup`, which prepare the server's start). What holds
depends on where the grader runs:

As root, with namespaces and bubblewrap (this machine, CI, a VM):
    the server runs inside one bubblewrap **allow-list** view per batch
    (:func:`bwrap_command`): ``/usr`` and its links, a few files of ``/etc``,
    the Python installation (venv and base interpreter) and the package
    read-only, a minimal ``/dev``, its own ``/proc`` (PID namespace), an
    empty ``/tmp``, no network, its own IPC namespace; nothing else of the
    machine exists there (``/home``, ``/srv``, ``/root``, ``/run``, other
    checkouts anywhere). Pre-warming is kept: the stack is imported once in
    the server, inside the view, and each child is forked from it. Each
    child then gets, before student code runs: a memory cgroup of its own
    (:class:`MemoryCgroup`: one limit on anonymous memory, memfd, SysV and
    POSIX shared memory and tmpfs pages together; over it the kernel kills
    the child), new mount, IPC and network namespaces (its SysV segments and
    message queues die with it), private size-limited ``/tmp``, ``/var/tmp``
    and ``/dev/shm`` (tmpfs), the ``k2l_course`` package covered (its
    runtime is already loaded), a dedicated unprivileged uid/gid (one per
    concurrent slot, claimed exclusively, no supplementary groups,
    ``no_new_privs``), rlimits; after each run every process of that uid
    and of the cgroup is killed and the cgroup removed.
As root, with namespaces but no bubblewrap:
    the same per-child walls, but the view is a deny-list: the course
    checkout and the given folders are covered by empty tmpfs
    (:func:`arrange_view`); other folders of the machine stay visible to the
    extent their permissions allow.
As root, without namespaces (a container without ``CAP_SYS_ADMIN``, such
as Gradescope's):
    the unprivileged uid, rlimits (address space, file size, processes),
    the kill of every process of the uid, the fresh working folder and the
    refusals of :mod:`~k2l_course.grading.sandbox.guard` hold; the view is the whole
    container filtered by file permissions (the server checks that secrets
    are unreadable to the sandbox uid and refuses to start otherwise), there
    is no private ``/tmp`` or IPC namespace, and memory is limited by address
    space only unless the container's memory cgroup is writable (memfd or
    shared memory can then exceed the limit, within the container's own).
Not root (a student running ``k2l check`` on their own machine):
    the child keeps the user's uid, so file permissions do not separate it
    from the user's files (nor from its supervisor: a student can stop their
    own check); resource limits, the session/process-group kill, the fresh
    working directory, the cleaned environment and ``sys.path`` and the
    refusals of :mod:`~k2l_course.grading.sandbox.guard` still hold.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import stat
import time

_libc = ctypes.CDLL(None, use_errno=True)

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

#: First uid/gid used for sandboxed children when the grader is root (one per
#: concurrent slot). Below 65536 so it also works in containers that map only
#: 65536 ids; uids that exist in the user database are skipped.
DEFAULT_UID_BASE = 64100


def _check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def prctl(option, value):
    """Call ``prctl(option, value)``; raise OSError on failure."""
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def die_with_parent():
    """Be killed (SIGKILL) as soon as the parent process dies."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def become_subreaper():
    """Adopt orphaned descendants, so they can be found and killed."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def is_root():
    """Whether this process can drop to another uid."""
    return os.geteuid() == 0


def sandbox_ids(count, base=DEFAULT_UID_BASE):
    """Up to ``count`` uids (each also used as the gid) absent from the user database, from ``base`` up.

    A generator: each uid is looked up only when the caller asks for the
    next one (a lookup reads the user database: claiming two uids must not
    cost thousands of them).
    """
    import pwd

    found = 0
    candidate = base
    while found < count:
        try:
            pwd.getpwuid(candidate)
        except KeyError:
            found += 1
            yield candidate
        candidate += 1


def _lock_dir():
    """A root-only folder for the uid claims (refuses one others could tamper with)."""
    for parent in ("/run", "/var/run", "/tmp"):
        if os.path.isdir(parent) and os.access(parent, os.W_OK):
            path = os.path.join(parent, "k2l-sandbox")
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o077:
                return path
    raise RuntimeError("no safe place for the sandbox's uid locks (/run/k2l-sandbox)")


def claim_ids(count, base=DEFAULT_UID_BASE, limit=4096):
    """Claim ``count`` sandbox uids for this process and its descendants.

    Each uid is locked (``flock`` on ``/run/k2l-sandbox/uid-N.lock``) so that
    two graders running at once never share a uid: each kills every process
    of its uids after a run, which must never hit the other's students. The
    locks last as long as the returned file descriptors stay open in some
    process (pass them to the sandbox server).

    Returns
    -------
    ids : list of int
    fds : list of int
        The lock file descriptors (inheritable).
    """
    import fcntl

    folder = _lock_dir()
    ids, fds = [], []
    for candidate in sandbox_ids(limit, base):
        if len(ids) == count:
            break
        fd = os.open(os.path.join(folder, f"uid-{candidate}.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.set_inheritable(fd, True)
        ids.append(candidate)
        fds.append(fd)
    if len(ids) < count:
        for fd in fds:
            os.close(fd)
        raise RuntimeError(f"could not claim {count} free sandbox uids from {base}")
    return ids, fds


def limit_resources(memory_mb, *, file_mb=64, open_files=256, processes=None):
    """Set the child's rlimits (they are inherited by all it spawns).

    Parameters
    ----------
    memory_mb : int
        Address space the student's code may add to what the process already
        maps (the pre-imported interpreter is not charged to the student).
    file_mb : int
        Largest file it may write.
    open_files : int
        Most open file descriptors.
    processes : int or None
        Most processes and threads of the child's uid; only meaningful for a
        dedicated uid (as non-root it would count all the user's processes).
    """
    current = _address_space()
    limit = current + int(memory_mb) * 2**20
    _lower(resource.RLIMIT_AS, limit)
    _lower(resource.RLIMIT_CORE, 0)
    _lower(resource.RLIMIT_FSIZE, int(file_mb) * 2**20)
    _lower(resource.RLIMIT_NOFILE, int(open_files))
    if processes is not None:
        _lower(resource.RLIMIT_NPROC, int(processes))


def _lower(which, value):
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _address_space():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def drop_privileges(uid):
    """Become ``uid`` (and gid ``uid``) for good, with no supplementary groups.

    Also sets ``no_new_privs``, so no setuid program can give privileges back.
    Verifies that root cannot be regained.
    """
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    # The uid change made the process non-dumpable, which hides its own
    # /proc/self from it and breaks some libraries; it has nothing to hide.
    prctl(PR_SET_DUMPABLE, 1)
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise RuntimeError("privileges could not be dropped")


# --- mount namespaces --------------------------------------------------------


def _mount(source, target, fstype, flags, data=None):
    _check(
        _libc.mount(
            None if source is None else os.fsencode(source),
            os.fsencode(target),
            None if fstype is None else os.fsencode(fstype),
            ctypes.c_ulong(flags),
            None if data is None else os.fsencode(data),
        ),
        f"mount {target}",
    )


def new_mount_namespace(network=False):
    """Enter a private mount namespace; False when the kernel refuses.

    With ``network=True``, also a new network namespace (the process then
    has no network at all, not even a working loopback) and a new IPC
    namespace (its SysV shared memory, semaphores and message queues are its
    own, and vanish with it), when possible.
    """
    if not is_root():
        return False
    if not (network and _libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) == 0):
        if _libc.unshare(CLONE_NEWNS) != 0:
            return False
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    return True


def cover(path):
    """Hide a folder behind an empty read-only tmpfs (in this mount namespace)."""
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0755")


def private_tmp(path="/tmp", size_mb=256, mode="1777", keep=()):
    """Mount a fresh, size-limited tmpfs at ``path`` (in this namespace).

    Paths of ``keep`` inside ``path`` (a Python environment under ``/tmp``)
    are bound back, read-only, at the same place.
    """
    inside = sorted(p for p in {os.path.realpath(k) for k in keep} if _within(p, path) and p != path and os.path.exists(p))
    handles = {p: os.open(p, os.O_PATH) for p in inside}
    try:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(size_mb)}m,mode={mode}")
        for kept, handle in handles.items():
            if stat.S_ISDIR(os.fstat(handle).st_mode):
                os.makedirs(kept, 0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(kept), 0o755, exist_ok=True)
                open(kept, "w").close()
            _mount(f"/proc/self/fd/{handle}", kept, None, MS_BIND | MS_REC)
            _mount(None, kept, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
    finally:
        for handle in handles.values():
            os.close(handle)


def _blocked_ancestors(path, uid):
    """Directories on the way to ``path`` that ``uid`` may not traverse."""
    blocked = []
    parts = os.path.abspath(path).split(os.sep)[1:]
    current = "/"
    for part in parts[:-1] if os.path.isfile(path) else parts:
        try:
            info = os.stat(current)
        except OSError:
            break
        if stat.S_ISDIR(info.st_mode) and not _may(info, uid, 0o1):
            blocked.append(current)
        current = os.path.join(current, part)
    return blocked


def _may(info, uid, bit):
    if info.st_uid == uid:
        return bool(info.st_mode & (bit << 6))
    if info.st_gid == uid:
        return bool(info.st_mode & (bit << 3))
    return bool(info.st_mode & bit)


def _within(path, directory):
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def arrange_view(hide, keep, uid=None):
    """Hide directories from this mount namespace, keeping some paths inside.

    Each directory of ``hide`` (and, when ``uid`` is given, each directory on
    the way to a ``keep`` path that ``uid`` could not traverse, such as a
    Python installed under ``/root``) is covered by an empty read-only tmpfs;
    the first component below it of every ``keep`` path inside it is bound
    back, read-only. Call only in a private mount namespace, as root.

    Parameters
    ----------
    hide : iterable of str
        Directories to make empty.
    keep : iterable of str
        Paths that must stay reachable (the Python environment).
    uid : int or None
        The sandbox uid, to open the way to ``keep`` for it.

    Returns
    -------
    list of str
        The directories covered.
    """
    keep = sorted({os.path.realpath(p) for p in keep if os.path.exists(p)})
    targets = {os.path.realpath(h) for h in hide if os.path.isdir(h)}
    if uid is not None:
        for path in keep:
            targets.update(_blocked_ancestors(path, uid))
    covered = []
    for target in sorted(targets, key=lambda p: (p.count(os.sep), p)):
        if not os.path.isdir(target) or target == "/":
            continue
        # Anything of `keep` inside the target: bind back its first component.
        components = {}
        for path in keep:
            if _within(path, target) and path != target:
                first = path[len(target.rstrip(os.sep)) + 1 :].split(os.sep)[0]
                components[first] = os.path.join(target, first)
        handles = {name: os.open(full, os.O_PATH) for name, full in components.items()}
        try:
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
            for name, handle in handles.items():
                point = os.path.join(target, name)
                if stat.S_ISDIR(os.fstat(handle).st_mode):
                    os.mkdir(point)
                else:
                    open(point, "w").close()
                _mount(f"/proc/self/fd/{handle}", point, None, MS_BIND | MS_REC)
                _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
            _mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        finally:
            for handle in handles.values():
                os.close(handle)
        covered.append(target)
    return covered


def readable_by(uid, path):
    """Whether ``uid`` could see anything in a directory, or read a file."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            if os.path.isdir(path):
                if not os.listdir(path):
                    os._exit(1)
            else:
                open(path, "rb").close()
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


# --- killing everything a run left behind ------------------------------------


def processes_of(uid):
    """Pids of the live (not zombie) processes whose real uid is ``uid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as handle:
                fields = dict(line.split(b":", 1) for line in handle.read().splitlines() if b":" in line)
        except OSError:
            continue
        if int(fields.get(b"Uid", b"-1 ").split()[0]) == uid and not fields.get(b"State", b"").strip().startswith(b"Z"):
            found.append(int(entry))
    return found


def kill_uid(uid, reap, attempts=200):
    """Kill every process of ``uid`` (wherever it moved: new sessions too).

    A helper process becomes ``uid`` and signals everything it may signal,
    i.e. exactly the processes of that uid, until none is left.

    Parameters
    ----------
    uid : int
        A dedicated sandbox uid (never a real user's).
    reap : callable
        Called between attempts to reap our own dead children.
    attempts : int
        Upper bound on rounds (each waits ~5 ms).
    """
    for _ in range(attempts):
        if not processes_of(uid):
            return
        pid = os.fork()
        if pid == 0:  # helper
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:
                os._exit(1)
            os._exit(0)
        os.waitpid(pid, 0)
        reap()
        time.sleep(0.005)


def kill_adopted(reap):
    """Kill orphaned descendants that were re-parented to this subreaper."""
    me = os.getpid()
    for _ in range(100):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != b"Z":
                try:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
                except OSError as error:
                    if error.errno != errno.ESRCH:
                        raise
        reap()
        if not found:
            return
        time.sleep(0.005)


def close_fds_except(keep):
    """Close every file descriptor but those in ``keep``."""
    top = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    top = 1 << 20 if top == resource.RLIM_INFINITY else min(int(top), 1 << 20)
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, top)


# --- one memory limit for everything a run holds ---------------------------------


def own_memory_cgroup():
    """This process's cgroup-v1 memory directory, if we may create groups in it (else None)."""
    try:
        with open("/proc/self/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = os.path.join("/sys/fs/cgroup/memory", path.lstrip("/"))
            probe = os.path.join(folder, f"k2l-probe-{os.getpid()}")
            try:
                os.mkdir(probe)
                os.rmdir(probe)
            except OSError:
                return None
            return folder
    return None


class MemoryCgroup:
    """A cgroup-v1 memory group for one child: one limit on all it holds.

    The kernel charges a group for every page its processes bring in:
    anonymous memory, memfd and shared memory (SysV and POSIX), files in a
    tmpfs (its private ``/tmp``), page cache. Over the limit, the kernel's
    OOM killer ends the child; :meth:`out_of_memory` tells so afterwards.
    """

    def __init__(self, path):
        self.path = path

    @classmethod
    def create(cls, parent, memory_mb):
        """A new group under ``parent`` limited to ``memory_mb`` MB (None when ``parent`` is None)."""
        if not parent:
            return None
        path = os.path.join(parent, f"k2l-run-{os.getpid()}-{time.monotonic_ns()}")
        os.mkdir(path)
        limit = str(int(memory_mb) * 2**20)
        group = cls(path)
        group._write("memory.limit_in_bytes", limit)
        if os.path.exists(os.path.join(path, "memory.memsw.limit_in_bytes")):
            try:
                group._write("memory.memsw.limit_in_bytes", limit)  # no escape into swap either
            except OSError:
                pass
        return group

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as handle:
            handle.write(value)

    def join(self):
        """Move the calling process into the group (call in the child, before it drops root)."""
        self._write("cgroup.procs", str(os.getpid()))

    def out_of_memory(self):
        """Whether the kernel's OOM killer acted in this group."""
        try:
            with open(os.path.join(self.path, "memory.oom_control")) as handle:
                for line in handle:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1]) > 0
            with open(os.path.join(self.path, "memory.failcnt")) as handle:
                return int(handle.read()) > 0
        except (OSError, ValueError):
            return False

    def kill(self):
        """Kill every process still in the group."""
        for _ in range(200):
            try:
                with open(os.path.join(self.path, "cgroup.procs")) as handle:
                    pids = [int(p) for p in handle.read().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.005)

    def remove(self):
        """Remove the group (its processes must be gone)."""
        for _ in range(200):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.005)


# --- the allow-list view (bubblewrap) ----------------------------------------------

#: Files of /etc the Python stack may read (the rest of /etc is not in the view).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf", "passwd",
             "group", "hosts", "mime.types", "ssl", "fonts", "matplotlibrc", "os-release")  # fmt: skip


def bwrap_command(allowed, writable=(), hidden_root=None):
    """The ``bwrap`` command line of the sandbox server's allow-list view, or None.

    The server (and every child it forks) then sees only: ``/usr`` and the
    usual links into it, a few files of ``/etc``, the ``allowed`` paths
    read-only, the ``writable`` ones (the memory cgroup) read-write, a fresh
    ``/proc`` (its own PID namespace), a minimal ``/dev``, an empty private
    ``/tmp``; no network, its own IPC namespace. Nothing else of the machine
    (``/home``, ``/srv``, ``/root``, ``/run``, other checkouts) exists in it.

    Parameters
    ----------
    allowed : iterable of str
        Paths (files or folders) to show read-only at the same place.
    writable : iterable of str
        Paths to show read-write.
    hidden_root : str or None
        A folder none of ``allowed`` may contain (the course checkout); a
        path that does contain it is refused (ValueError).
    """
    import shutil
    import subprocess

    bwrap = shutil.which("bwrap")
    if bwrap is None or not is_root():
        return None
    command = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]  # fmt: skip
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for name in ETC_FILES:
        if os.path.exists(os.path.join("/etc", name)):
            command += ["--ro-bind", os.path.join("/etc", name), os.path.join("/etc", name)]
    for path in sorted({os.path.realpath(p) for p in allowed if os.path.exists(p)}):
        if hidden_root and _within(hidden_root, path):
            raise ValueError(f"{path} contains {hidden_root}")
        command += ["--ro-bind", path, path]
    for path in writable:
        command += ["--bind", path, path]
    command += ["--chdir", "/"]
    try:  # (a container without namespaces, e.g. Gradescope's: no bubblewrap there)
        probe = subprocess.run([*command, "true"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return command if probe.returncode == 0 else None
