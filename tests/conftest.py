"""Shared fixtures: the real MNIST, and a small trained network.

Tests that train use a private cache directory, so they never read parameters
trained by a previous run or by the book, and never write into them.
"""

import pytest


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST (loaded once per test session)."""
    from k2l_course.pipeline.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def private_cache(tmp_path_factory):
    """A fresh K2L_CACHE for the whole session."""
    import os

    path = tmp_path_factory.mktemp("k2l-cache")
    old = os.environ.get("K2L_CACHE")
    os.environ["K2L_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("K2L_CACHE", None)
    else:
        os.environ["K2L_CACHE"] = old


#: A small but real training run: 6,000 images, 1 epoch (a few seconds).
SMALL = dict(n_train=6000, epochs=1)


@pytest.fixture(scope="session")
def small_relu(mnist, private_cache):
    """The seed network trained with ReLU on a small subset."""
    from k2l_course.pipeline.training import TrainingConfig, load_or_train

    return load_or_train(TrainingConfig(neuron="relu", **SMALL), mnist, progress=False)


@pytest.fixture(scope="session")
def small_loihi(mnist, private_cache):
    """The seed network trained with Loihi neurons at scale 100 on a small subset."""
    from k2l_course.pipeline.training import TrainingConfig, load_or_train

    return load_or_train(TrainingConfig(neuron="loihi-relu", scale_firing_rates=100, **SMALL), mnist, progress=False)


@pytest.fixture(scope="session")
def seed_net():
    """The seed's Keras network (untrained)."""
    from k2l_course.pipeline.model import build_seed_model

    return build_seed_model()


@pytest.fixture
def edited_package(tmp_path, monkeypatch):
    """Point a module's ``__file__`` at a copy of its package in which one file has changed.

    ``edited_package(module, name)`` copies the folder of ``module``, appends a
    comment to ``name`` in the copy and sets ``module.__file__`` there, so
    code that hashes its package's sources (the cache keys) reads the copy.
    """
    import shutil
    from pathlib import Path

    def edit(module, name):
        copy = tmp_path / "edited" / module.__name__
        shutil.copytree(Path(module.__file__).parent, copy)
        with open(copy / name, "a") as f:
            f.write("\n# changed\n")
        monkeypatch.setattr(module, "__file__", str(copy / Path(module.__file__).name))

    return edit
