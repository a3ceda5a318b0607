"""``k2l grade --cluster`` grades on Dask workers exactly what one machine grades, and loses nothing when they fail.

A real scheduler and real workers run as separate processes on 127.0.0.1
(the ``dask scheduler`` / ``dask worker`` commands, without nannies, so a
killed worker stays dead). The class is the hostile one of
``tests/classes/standin.py`` plus students who take a while to load (so a
worker is seen, through its own staging folder, in the middle of one). A
worker is killed when it has started its third student; the scheduler is
killed when its only worker has started its second.
"""

import csv
import os
import signal
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from k2l_course.grading import grade as grading

import standin

distributed = pytest.importorskip("distributed")  # the optional extra `cluster`

pytestmark = pytest.mark.slow  # (runs real schedulers, workers and sandboxes)

CLASSES = Path(__file__).parent / "classes"
BIN = Path(sys.executable).parent
LIMITS = grading.Limits(timeout=6, memory_mb=512, call_timeout=2)
SEED = 20261207
#: Loads in about a second, then answers ch1 correctly.
SLOW_CH1 = "import time\ntime.sleep(1.0)\n" + standin.CH1


def slow_students(root, count):
    for index in range(count):
        folder = root / f"slow_{index:02d}"
        folder.mkdir(parents=True)
        (folder / "ch1_conversion.py").write_text(SLOW_CH1)


class Cluster:
    """A scheduler and workers, each its own process; every one of them is stopped at the end."""

    def __init__(self, place):
        self.place = Path(tempfile.mkdtemp(dir=place, prefix="cluster-"))
        self.file = self.place / "scheduler.json"
        self.processes = []
        self.scheduler = self._start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--scheduler-file", str(self.file)], "scheduler",
                                     dict(os.environ, TMPDIR=str(self.place)))  # fmt: skip
        self.address = self._address()

    def _start(self, command, name, env=None):
        log = open(self.place / f"{name}.log", "wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append(process)
        return process

    def _address(self):
        for _ in range(600):  # (up to a minute on a loaded machine)
            if self.file.exists():
                try:
                    return json.loads(self.file.read_text())["address"]
                except ValueError:
                    pass
            assert self.scheduler.poll() is None, (self.place / "scheduler.log").read_text()
            time.sleep(0.1)
        raise AssertionError("the scheduler did not start")

    def worker(self, name, pythonpath=()):
        """Start a worker (one thread, no nanny) whose temporary folders go under ``self.place / name``."""
        tmp = self.place / name
        tmp.mkdir()
        env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=os.pathsep.join([*map(str, pythonpath), str(CLASSES)]))
        process = self._start([str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--no-nanny",
                               "--no-dashboard", "--host", "127.0.0.1", "--name", name,
                               "--local-directory", str(tmp)], name, env)  # fmt: skip
        process.tmp = tmp
        return process

    def wait_for_workers(self, count):
        with distributed.Client(self.address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=120)

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def started(worker):
    """How many students ``worker`` has started (its staging folders are numbered)."""
    numbers = [int(path.name.split("-", 1)[0]) for path in worker.tmp.glob("**/k2l-grade-worker-*/[0-9]*-*")]
    return max(numbers, default=0)


def kill_when_started(process, worker, count, stop):
    """Kill ``process`` (SIGKILL) once ``worker`` has started its ``count``-th student."""
    while not stop.is_set():
        if started(worker) >= count:
            os.kill(process.pid, signal.SIGKILL)
            process.killed = True
            return
        time.sleep(0.02)


@pytest.fixture(scope="module")
def place():
    path = Path(tempfile.mkdtemp(prefix="k2l-test-cluster-"))
    path.chmod(0o755)
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def course(place):
    """The hostile class (with slow students), its checks as a worker loads them, and a one-machine run."""
    hidden = place / "hidden-checks"
    hidden.mkdir()
    (hidden / "extra.py").write_text("ITEMS = []\n")
    solutions = place / "solutions"
    solutions.mkdir()
    (solutions / "ch1_conversion.py").write_text(standin.CH1)
    marker = place / "marker.txt"
    marker.write_text("keep me")
    import k2l_course

    secrets = dict(solutions=solutions, hidden=hidden, out=place / "out", course=Path(k2l_course.__file__).parent,
                   marker=marker)  # fmt: skip
    submissions = place / "class"
    expected = standin.make_class(submissions, secrets)
    slow_students(submissions, 6)
    source = grading.ChecksSource.of(hidden, loader="standin:items", exercises=standin.EXERCISES)
    assignment = grading.load_assignment(standin.items(hidden_dir=hidden), list(standin.EXERCISES), source)
    local = place / "one-machine"
    grading.grade(submissions, local, assignment, seed=SEED, jobs=2, limits=LIMITS, hidden_dir=hidden, progress=False)
    return dict(submissions=submissions, hidden=hidden, assignment=assignment, local=local, expected=expected)


def rows(out):
    with open(out / "gradebook.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_killed_worker_loses_nothing_and_the_gradebook_is_the_one_machines(course, place):
    cluster = Cluster(place)
    try:
        doomed, other = cluster.worker("doomed"), cluster.worker("other")
        cluster.wait_for_workers(2)
        stop = threading.Event()
        doomed.killed = False
        killer = threading.Thread(target=kill_when_started, args=(doomed, doomed, 3, stop), daemon=True)
        killer.start()
        out = place / "on-the-cluster"
        try:
            summary = grading.grade(course["submissions"], out, course["assignment"], seed=SEED, limits=LIMITS,
                                    hidden_dir=course["hidden"], progress=False, cluster=cluster.address)  # fmt: skip
        finally:
            stop.set()
            killer.join()
        assert doomed.killed and doomed.wait(timeout=60) == -signal.SIGKILL  # it died in the middle of the batch
        assert other.poll() is None  # (and graded the rest: every student is in the gradebook)
        names = [row["student"] for row in rows(out)]
        assert len(names) == len(set(names)) == len(course["expected"]) + 6  # each student once
        assert summary.graded == len(names) and summary.missing == []
        assert (out / "gradebook.csv").read_bytes() == (course["local"] / "gradebook.csv").read_bytes()
        for student in ("hangs_in_one", "partly_wrong", "slow_03"):  # the same feedback, word for word
            assert (out / "students" / student / "feedback.txt").read_text() == (
                course["local"] / "students" / student / "feedback.txt").read_text()  # fmt: skip
        again = grading.grade(course["submissions"], out, course["assignment"], limits=LIMITS,
                              hidden_dir=course["hidden"], progress=False, cluster=cluster.address)  # fmt: skip
        assert (again.graded, again.reused, again.seed) == (0, len(names), SEED)  # the seed was kept; nobody regraded
        only = grading.grade(course["submissions"], out, course["assignment"], limits=LIMITS, only=["partly_wrong"],
                             hidden_dir=course["hidden"], progress=False, cluster=cluster.address)  # fmt: skip
        assert (only.graded, only.reused) == (1, len(names) - 1)
        assert (out / "gradebook.csv").read_bytes() == (course["local"] / "gradebook.csv").read_bytes()
    finally:
        cluster.stop()


def test_students_finished_on_a_worker_that_dies_before_they_are_fetched_are_graded_again_as_themselves(course, place):
    """A dead worker takes the results it held with it: each such student is graded again, and gets their own record.

    The client is held after its first student while the worker finishes
    the next ones; the worker is killed before the client fetches them.
    """
    from k2l_course.grading.assignment import find_students
    from k2l_course.grading.cluster import ClusterExecutor

    submissions = place / "finished-then-lost"
    slow_students(submissions, 6)  # (graded again on the other worker, each takes over a second)
    students, _ = find_students(submissions)
    batch = grading.Batch(submissions, place / "not-written", course["assignment"], course["assignment"].draw(SEED),
                          LIMITS, progress=False)  # fmt: skip
    cluster = Cluster(place)
    try:
        doomed = cluster.worker("doomed")
        cluster.wait_for_workers(1)
        with ClusterExecutor(batch, cluster.address) as executor:
            results = executor.grade(students)
            first = next(results)
            held = executor.client.futures  # (key -> state of each student sent, not yet given back)
            waiting = list(held)
            assert len(waiting) >= 3  # (sent ahead)

            def states():
                return {held[key].status for key in waiting}

            wait_until(lambda: states() == {"finished"}, "the worker finished the students sent ahead")
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait()
            wait_until(lambda: "finished" not in states(), "the client learnt that their results are lost")
            cluster.worker("other")
            graded = [first, *results]
    finally:
        cluster.stop()
    assert [student.name for student, _, _ in graded] == [student.name for student in students]
    for student, record, failure in graded:
        assert failure is None
        assert (record["student"], record["key"], record["total"]) == (student.name, student.key, 5)


def wait_until(condition, what, timeout=300):
    """Poll ``condition`` (a generous time-out: a loaded machine is slow, not wrong)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for this: {what}"
        time.sleep(0.05)


def test_a_worker_with_another_environment_is_refused_before_anyone_is_graded(course, place):
    cluster = Cluster(place)
    try:
        other_packages = place / "another-environment"
        info = other_packages / "some_other_package-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: some-other-package\nVersion: 1.0\n")
        cluster.worker("same")
        cluster.worker("different", pythonpath=[other_packages])
        cluster.wait_for_workers(2)
        out = place / "refused"
        with pytest.raises(grading.GradingError, match="refused: 1 of the 2 workers") as refusal:
            grading.grade(course["submissions"], out, course["assignment"], seed=SEED, limits=LIMITS,
                          hidden_dir=course["hidden"], progress=False, cluster=cluster.address)  # fmt: skip
        assert "some-other-package 1.0 (here missing)" in str(refusal.value)
        assert not (out / "students").exists()  # nobody was graded
    finally:
        cluster.stop()


def test_a_scheduler_that_goes_away_stops_the_batch_and_a_rerun_resumes(course, place):
    submissions = place / "slow-class"
    slow_students(submissions, 6)
    out = place / "interrupted"
    cluster = Cluster(place)
    try:
        worker = cluster.worker("only")
        cluster.wait_for_workers(1)
        stop = threading.Event()
        cluster.scheduler.killed = False
        killer = threading.Thread(target=kill_when_started, args=(cluster.scheduler, worker, 3, stop), daemon=True)
        killer.start()
        try:
            with pytest.raises(grading.GradingError, match="went away"):
                grading.grade(submissions, out, course["assignment"], seed=SEED, limits=LIMITS,
                              hidden_dir=course["hidden"], progress=False, cluster=cluster.address)  # fmt: skip
        finally:
            stop.set()
            killer.join()
        assert cluster.scheduler.killed
    finally:
        cluster.stop()
    saved = [row["student"] for row in rows(out)]
    assert len(saved) < 6  # not all could be graded (those that were are saved)
    cluster = Cluster(place)
    try:
        cluster.worker("next")
        cluster.wait_for_workers(1)
        summary = grading.grade(submissions, out, course["assignment"], limits=LIMITS, hidden_dir=course["hidden"],
                                progress=False, cluster=cluster.address)  # fmt: skip
    finally:
        cluster.stop()
    assert (summary.reused, summary.graded) == (len(saved), 6 - len(saved))
    assert [row["student"] for row in rows(out)] == [f"slow_{index:02d}" for index in range(6)]
    assert {row["total"] for row in rows(out)} == {"5"}


def test_the_environment_compared_is_the_interpreters_not_what_the_process_imported_since():
    """setuptools puts its vendored packages (jaraco.*, autocommand...) on sys.path when imported: not installed ones."""
    code = (
        "import json, sys\n"
        "if sys.argv[1] == 'setuptools':\n"
        "    import setuptools\n"
        "from k2l_course.grading import cluster\n"
        "print(json.dumps(cluster.environment()))\n"
    )
    seen = {what: json.loads(subprocess.run([sys.executable, "-c", code, what], capture_output=True, text=True,
                                            check=True).stdout) for what in ("plain", "setuptools")}  # fmt: skip
    assert seen["setuptools"] == seen["plain"]


def test_without_cluster_dask_is_never_imported(tmp_path):
    code = (
        "import sys\n"
        "from k2l_course import cli\n"
        "from k2l_course.grading import grade\n"
        "import standin\n"
        "(tmp := __import__('pathlib').Path(sys.argv[1]))\n"
        "(tmp / 'class' / 'alice').mkdir(parents=True)\n"
        "(tmp / 'class' / 'alice' / 'ch1_conversion.py').write_text(standin.CH1)\n"
        "assignment = grade.load_assignment(standin.items(), list(standin.EXERCISES))\n"
        "summary = grade.grade(tmp / 'class', tmp / 'out', assignment, progress=False)\n"
        "assert summary.records[0]['total'] == 5, summary.records\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('dask', 'distributed')))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(CLASSES))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
