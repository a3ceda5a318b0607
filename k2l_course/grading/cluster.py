"""``k2l grade --cluster ADDRESS``: grade a class on the workers of a Dask scheduler.

The instructor's machine (the *client*) does everything but run student
code: it finds the students, decides which of their files count and
fingerprints them (:func:`k2l_course.grading.records.prepare`), draws the
cases, and writes every output (:func:`k2l_course.grading.grade.run_batch`).
Each task sent to the scheduler carries one student's files that count
(their bytes, at most :data:`~k2l_course.grading.sandbox.MAX_SUBMISSION_BYTES`
each, as on one machine), the cases of the items they are run for, the
limits, and the checks' source (:class:`~k2l_course.grading.assignment.ChecksSource`:
the hidden checks travel as data). No shared file system is assumed.

A worker grades in a sandbox of its own (:class:`GradingPlugin`: started at
its first student and kept for the worker's life, with as many runs at once
as the worker has threads), with the isolation rules of one machine
(:mod:`k2l_course.grading.sandbox`): the student's files are written into a
folder of the worker's that is secret to student code, run from there, and
removed afterwards; the hidden checks' folder is secret too.

Faults: a worker that dies takes no record with it (records are written by
the client only), and the scheduler gives its students to other workers
(those it had finished too, if the client had not fetched them yet),
so each student is written exactly once; the cases come from the client's
seed, so the gradebook is the one a single machine writes. Before any
student is sent, every worker's environment (:func:`environment`: k2l's
version and grading code, Python's version, the installed packages) is compared with the client's,
and a batch with a worker that differs is refused; a worker that joins
later and differs refuses its tasks, which stops the batch the same way.
A scheduler that goes away stops the batch with what was finished saved;
the same command run again goes on.

This module imports Dask (``pip install distributed``); nothing else in
k2l does, so ``k2l grade`` without ``--cluster`` never imports it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path

from k2l_course import __version__
from k2l_course.files import source_digest
from k2l_course.grading.assignment import Cases, GradingError
from k2l_course.grading.records import Work, execute, prepare
from k2l_course.grading.sandbox import MAX_SUBMISSION_BYTES, Sandbox, SandboxError

try:
    import distributed
    from distributed import Client, WorkerPlugin, as_completed, get_worker
except ImportError as error:  # (an optional part of k2l)
    raise GradingError(
        "--cluster needs Dask's distributed package in this environment: pip install 'k2l-course[cluster]'"
    ) from error

#: Name of the plugin holding each worker's sandbox.
PLUGIN = "k2l-grade"


class ClusterError(GradingError):
    """The cluster cannot (or can no longer) grade this batch."""


def startup_path():
    """The import path this environment's interpreter starts with (site-packages, ``.pth`` files, ``PYTHONPATH``).

    Not the running process's ``sys.path``: what a process adds while it
    runs is not the environment (setuptools, for one, puts its vendored
    packages on ``sys.path`` when it is imported, so a client that had
    imported it would see distributions no worker has).
    """
    done = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


@functools.lru_cache(maxsize=1)
def environment():
    """What must be the same on the client and every worker (computed once per process).

    Returns
    -------
    dict
        ``k2l`` (version), ``grader`` (digest of the source of
        :mod:`k2l_course.grading`), ``python`` (version), ``packages``
        (``{name: version}`` of every distribution installed on the
        interpreter's :func:`startup_path`, as importing would find them) and ``digest`` (of all that).
    """
    from importlib import metadata

    grading = Path(__file__).parent
    sources = sorted(str(path.relative_to(grading)) for path in grading.rglob("*.py"))

    packages = {}
    for distribution in metadata.distributions(path=startup_path()):
        name = (distribution.metadata["Name"] or "").lower().replace("_", "-")
        if name and name not in packages:  # the first one found is the one imported
            packages[name] = distribution.version
    facts = {"k2l": __version__, "grader": source_digest(grading, sources), "python": platform.python_version(),
             "packages": dict(sorted(packages.items()))}  # fmt: skip
    facts["digest"] = hashlib.sha256(repr(sorted(facts.items())).encode()).hexdigest()
    return facts


def differences(ours, theirs):
    """How a worker's :func:`environment` differs from the client's (readable; empty if not)."""
    found = []
    for key in ("k2l", "python"):
        if ours[key] != theirs.get(key):
            found.append(f"{key} {theirs.get(key)} (here {ours[key]})")
    if ours["grader"] != theirs.get("grader"):
        found.append("another source of k2l_course/grading")
    mine, other = ours["packages"], theirs.get("packages", {})
    for name in sorted(set(mine) | set(other)):
        if mine.get(name) != other.get(name):
            found.append(f"{name} {other.get(name, 'missing')} (here {mine.get(name, 'missing')})")
    return found


@dataclass
class Parcel:
    """One student's task: everything a worker needs, nothing else of the class.

    Attributes
    ----------
    head, chosen, seconds
        Of the student's :class:`~k2l_course.grading.records.Work`.
    runs : list of (str, bytes, bytes, list of str)
        Each file that counts: its name as shown, its file name
        (``os.fsencode``), its content, its exercises.
    cases : Cases
        Only the cases of the items these files are run for.
    limits : Limits
    source : ChecksSource
    signature : str
        The client's signature of the checks (the worker's must match).
    environment : str
        The client's environment digest (:func:`environment`).
    """

    head: dict
    chosen: dict
    seconds: float
    runs: list
    cases: Cases
    limits: object
    source: object
    signature: str
    environment: str


def pack(work, assignment, cases, limits):
    """The :class:`Parcel` of a prepared student (reads their files that count)."""
    runs, wanted = [], {}
    for name, path, exercises in work.runs:
        with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as handle:
            content = handle.read(MAX_SUBMISSION_BYTES + 1)
        if len(content) > MAX_SUBMISSION_BYTES:  # (grown since it was listed)
            raise GradingError(f"{name} is larger than {MAX_SUBMISSION_BYTES >> 20} MB")
        runs.append((name, os.fsencode(Path(path).name), content, list(exercises)))
        for exercise in exercises:
            for item in assignment.of(exercise):
                wanted[(item.exercise, item.name)] = cases.by_item[(item.exercise, item.name)]
    return Parcel(work.head, work.chosen, work.seconds, runs, Cases(cases.seed, wanted, cases.signature), limits,
                  assignment.source, assignment.signature, environment()["digest"])  # fmt: skip


class GradingPlugin(WorkerPlugin):
    """A worker's grading state: its folder, its sandbox (started at its first student) and the checks.

    Everything lives in one private folder of the worker (``mkdtemp`` in
    the worker's local directory: mode 0700), secret to student code: the students' files while they are
    graded, and the hidden checks.
    """

    name = PLUGIN

    def setup(self, worker):
        self.sandbox = None
        self.assignments = {}
        self.lock = threading.Lock()
        self.count = 0
        self.threads = max(1, int(getattr(worker.state, "nthreads", 1) if hasattr(worker, "state") else 1))
        # (in the worker's own scratch space, which Dask clears when a worker killed with it restarts)
        self.folder = Path(tempfile.mkdtemp(prefix="k2l-grade-worker-", dir=getattr(worker, "local_directory", None)))

    def teardown(self, worker):
        with self.lock:
            if self.sandbox is not None:
                self.sandbox.close()
                self.sandbox = None
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)

    def started(self):
        """The worker's sandbox (started now if it is not running)."""
        with self.lock:
            if self.sandbox is not None and self.sandbox.process is not None and self.sandbox.process.poll() is not None:
                self.sandbox.close()  # (its server died: a new one)
                self.sandbox = None
            if self.sandbox is None:
                sandbox = Sandbox(jobs=self.threads, secret=[str(self.folder)])
                sandbox.start()
                self.sandbox = sandbox
            return self.sandbox

    def assignment(self, parcel):
        """The batch's :class:`~k2l_course.grading.assignment.Assignment`, loaded once per signature."""
        with self.lock:
            if parcel.signature not in self.assignments:
                folder = Path(tempfile.mkdtemp(prefix="checks-", dir=self.folder))
                assignment = parcel.source.load(folder)
                if assignment.signature != parcel.signature:
                    raise ClusterError(f"worker {get_worker().address}: its checks differ from the client's "
                                       "(another version of the course or of the hidden checks)")  # fmt: skip
                self.assignments[parcel.signature] = assignment
            return self.assignments[parcel.signature]

    def stage(self, parcel):
        """A new folder holding the parcel's files (named ``<count>-<student key>``)."""
        with self.lock:
            self.count += 1
            folder = self.folder / f"{self.count}-{parcel.head['key']}"
        folder.mkdir(mode=0o700)
        for _, file_name, content, _ in parcel.runs:
            (folder / os.fsdecode(file_name)).write_bytes(content)
        return folder


def grade_parcel(parcel):
    """Grade one student on this worker (the task the client sends); returns ``(record, describe line, address)``."""
    worker = get_worker()
    plugin = worker.plugins[PLUGIN]
    if parcel.environment != environment()["digest"]:
        raise ClusterError(f"worker {worker.address} has another environment than the client "
                           "(k2l version or installed packages); it grades nothing")  # fmt: skip
    assignment = plugin.assignment(parcel)
    folder = plugin.stage(parcel)
    try:
        runs = [(name, folder / os.fsdecode(file_name), exercises) for name, file_name, _, exercises in parcel.runs]
        work = Work(parcel.head, runs, parcel.chosen, parcel.seconds)
        for attempt in (1, 2):
            sandbox = plugin.started()
            try:
                record = execute(work, assignment, parcel.cases, parcel.limits, sandbox.run)
                break
            except SandboxError:
                if attempt == 2 or sandbox.process is None or sandbox.process.poll() is None:
                    raise  # one run's supervisor failed: this student only (the client contains it)
                # the worker's sandbox died: start another and grade this student again
        return record, sandbox.describe(), worker.address
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _worker_environment():
    return environment()


class ClusterExecutor:
    """Grades on the workers of the Dask scheduler at ``address`` (see the module doc).

    Parameters
    ----------
    batch : k2l_course.grading.grade.Batch
    address : str
        The scheduler, e.g. ``tcp://10.0.0.5:8786``.
    timeout : float
        Seconds to wait for the scheduler to answer, and for a first worker.
    """

    def __init__(self, batch, address, timeout=60):
        if batch.assignment.source is None:
            raise GradingError("--cluster needs the checks' source (load_assignment(..., source=ChecksSource.of(...)))")
        self.batch = batch
        self.address = address
        self.timeout = timeout
        self.client = None
        self.described = set()
        self.lines = []

    def __enter__(self):
        try:
            self.client = Client(self.address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"no Dask scheduler answers at {self.address} ({error})") from None
        try:
            self.client.wait_for_workers(1, timeout=self.timeout)
            self._check_workers()
            self.client.register_plugin(GradingPlugin(), name=PLUGIN)
        except BaseException:
            self.client.close()
            raise
        return self

    def _check_workers(self):
        ours = environment()
        theirs = self.client.run(_worker_environment)
        refused = {address: differences(ours, facts) for address, facts in theirs.items()}
        refused = {address: found for address, found in refused.items() if found}
        if refused:
            lines = "; ".join(f"{address}: {', '.join(found[:5])}" + (" ..." if len(found) > 5 else "")
                              for address, found in sorted(refused.items()))  # fmt: skip
            raise ClusterError(
                f"refused: {len(refused)} of the {len(theirs)} workers of {self.address} have another environment "
                f"than this machine ({lines}); install the same k2l and lock there (nobody was graded)"
            )
        self.lines.append(f"cluster {self.address}: {len(theirs)} workers, environment {ours['digest'][:12]} "
                          f"(k2l {ours['k2l']}, Python {ours['python']})")  # fmt: skip

    def __exit__(self, *_):
        if self.client is not None:
            try:
                if self.client.status == "running":  # the workers' sandboxes are stopped (until the next batch)
                    self.client.unregister_worker_plugin(PLUGIN)
                self.client.close(timeout=10)
            except Exception:
                pass

    def describe(self):
        """The cluster and what it runs (each worker's sandbox says what holds there as it starts)."""
        return "\n".join(self.lines)

    def stop(self):
        """Cancel the students not finished (they stay ungraded)."""
        if self.client is not None:
            try:
                self.client.close(timeout=10)
            except Exception:
                pass

    def grade(self, students):
        """Yield ``(student, record, failure)`` as the workers finish students.

        At most a few students per worker thread are sent ahead, so the
        client never holds the whole class's files at once.
        """
        batch = self.batch
        threads = sum(self.client.nthreads().values()) or 1
        ahead = max(4, 2 * threads)
        queue = list(students)[::-1]
        futures = {}
        completed = as_completed([], with_results=False, loop=self.client.loop)

        def send():
            while queue and len(futures) < ahead:
                student = queue.pop()
                try:
                    work = prepare(student, batch.assignment, batch.cases, batch.limits)
                    parcel = pack(work, batch.assignment, batch.cases, batch.limits)
                except Exception as error:
                    yield student, None, error
                    continue
                future = self.client.submit(grade_parcel, parcel, key=f"k2l-grade-{student.key}-{batch.cases.signature[:12]}",
                                            pure=False, retries=0)  # fmt: skip
                futures[future] = (student, work)
                completed.add(future)

        yield from send()
        for future in completed:
            student, work = futures.pop(future)
            try:
                if future.status == "cancelled" or self.client.status != "running":
                    raise self._gone()
                # A worker that dies takes the results it holds with it: a student
                # finished there, but not fetched yet, is graded again elsewhere.
                # exception() waits for that (None once it is finished again).
                error = future.exception()
                if error is None:
                    record, line, address = future.result()
            except ClusterError:
                raise
            except (OSError, CancelledError, asyncio.CancelledError) as lost:  # (the scheduler went away while the result was fetched)
                raise self._gone() from lost
            if error is None:
                if address not in self.described:
                    self.described.add(address)
                    if batch.progress:
                        print(f"worker {address}: {line}", file=sys.stderr)
                yield student, record, None
            elif isinstance(error, ClusterError):
                raise ClusterError(str(error)) from None
            elif isinstance(error, distributed.KilledWorker):
                raise ClusterError(f"workers died grading {student.name} ({error}); the students finished so far "
                                   "are saved: run the same command again to go on") from None  # fmt: skip
            else:
                yield student, None, error
            yield from send()

    def _gone(self):
        return ClusterError(
            f"the Dask scheduler at {self.address} went away; the students finished so far are saved: "
            "run the same command again to go on"
        )
