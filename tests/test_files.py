"""Where the library keeps its files, writes that readers see whole or not at all, and results computed once."""

import fcntl
import json
import threading
from pathlib import Path

import numpy as np
import pytest

import k2l_course
from k2l_course.files import atomic_path, cache_dir, computed_once, write_atomic
from k2l_course.pipeline import training


def test_the_cache_is_k2l_cache_when_set():
    assert cache_dir({"K2L_CACHE": "/somewhere/else"}) == Path("/somewhere/else")


def test_the_cache_of_a_source_checkout_is_inside_it():
    assert k2l_course.checkout() == k2l_course.ROOT  # the tests run from the checkout
    assert cache_dir({}) == k2l_course.ROOT / ".k2l"


def test_the_cache_of_an_installed_package_is_the_users(monkeypatch):
    monkeypatch.setattr(k2l_course, "checkout", lambda: None)
    assert cache_dir({}) == Path.home() / ".cache" / "k2l"


def test_write_atomic_replaces_the_file_whole(tmp_path):
    target = tmp_path / "deep" / "gradebook.csv"
    write_atomic(target, "old")
    write_atomic(target, "new \udcff")  # a lone surrogate is escaped, not an error
    assert target.read_bytes() == b"new \\udcff"
    assert [p.name for p in target.parent.iterdir()] == ["gradebook.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.npz"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        assert temporary.suffix == ".npz" and temporary.parent == tmp_path
        temporary.write_text("half")
        raise RuntimeError("killed half-way")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.npz"]


# -- a cached result is computed once, however many processes ask for it ------------


def test_computed_once_holds_an_exclusive_lock_until_the_block_ends(tmp_path):
    result = tmp_path / "cache" / "result.npz"
    with computed_once(result):
        with open(f"{result}.lock", "a+b") as other:  # what another process would open
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(f"{result}.lock", "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_training_in_progress_elsewhere_is_waited_for_not_repeated(tmp_path, monkeypatch):
    monkeypatch.setenv("K2L_CACHE", str(tmp_path))
    config = training.TrainingConfig(neuron="relu", seed=7)
    base = training.params_path(config)
    looked = threading.Event()
    is_trained = training.is_trained

    def looking(config):
        found = is_trained(config)
        looked.set()
        return found

    def elsewhere(holding):
        # Another process's training: it holds the lock, and saves (as training does:
        # parameters, then metadata, each atomically) once this one has looked and found nothing.
        with computed_once(base):
            holding.set()
            looked.wait()
            with atomic_path(training.params_file(base)) as temporary:
                np.savez(temporary, w=np.zeros(1))
            write_atomic(training.metadata_path(base), json.dumps({"accuracy": 0.5, "n_train": 10, "seconds": 1.0}))

    def train(*args, **kwargs):
        raise AssertionError("trained again what another process was training")

    monkeypatch.setattr(training, "is_trained", looking)
    monkeypatch.setattr(training, "train", train)
    holding = threading.Event()
    other = threading.Thread(target=elsewhere, args=(holding,))
    other.start()
    holding.wait()
    loaded = training.load_or_train(config, progress=False)
    other.join()
    assert loaded.from_cache and loaded.params == base and loaded.accuracy == 0.5
