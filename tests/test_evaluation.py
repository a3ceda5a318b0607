"""What a cached nengo-dl evaluation is keyed by (the evaluations themselves: test_pipeline.py)."""

import shutil

import numpy as np
import pytest

from k2l_course.pipeline import evaluation


@pytest.fixture
def arguments(tmp_path, monkeypatch):
    """Arguments of an evaluation: a parameter file and three images (nothing is simulated)."""
    monkeypatch.setenv("K2L_CACHE", str(tmp_path / "cache"))
    params = tmp_path / "params"
    np.savez(f"{params}.npz", weights=np.arange(6.0))
    images = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    return dict(params=params, images=images, labels=np.array([7, 2, 1]), neuron="loihi-relu")


def test_the_key_follows_everything_that_decides_the_result(seed_net, arguments, tmp_path):
    def path(**changes):
        return evaluation.evaluation_path(seed_net, **{**arguments, **changes})

    base = path()
    pixel = arguments["images"].copy()
    pixel[2, 14, 14] += 0.5
    other_params = tmp_path / "other"
    np.savez(f"{other_params}.npz", weights=np.arange(6.0) + 1)
    changes = [
        dict(neuron="spiking-relu"),
        dict(scale_firing_rates=100),
        dict(scale_firing_rates={"to-spikes": 10, "conv0": 100, "conv1": 100, "dense0": 100}),
        dict(synapse=0.005),
        dict(n_steps=31),
        dict(minibatch=10),
        dict(n_keep=3),
        dict(n_rates=2),
        dict(layers=False),
        dict(seed=1),
        dict(images=pixel),
        dict(images=arguments["images"][:2], labels=arguments["labels"][:2]),
        dict(labels=np.array([7, 2, 2])),
        dict(params=other_params),
    ]
    keys = [path(**change) for change in changes]
    assert base not in keys
    assert len(set(keys)) == len(keys)


def test_the_key_ignores_what_does_not_change_the_result(seed_net, arguments, tmp_path):
    base = evaluation.evaluation_path(seed_net, **arguments)
    copy = tmp_path / "copy"
    shutil.copy(f"{arguments['params']}.npz", f"{copy}.npz")
    assert evaluation.evaluation_path(seed_net, **{**arguments, "params": copy}) == base  # contents, not the name
    assert evaluation.evaluation_path(seed_net, **arguments, progress=True) == base
    assert evaluation.evaluation_path(seed_net, **arguments, n_steps=30, synapse=None) == base  # the defaults


def test_the_key_follows_the_code_that_evaluates(seed_net, arguments, edited_package):
    base = evaluation.evaluation_path(seed_net, **arguments)
    edited_package(evaluation, "conversion.py")
    assert evaluation.evaluation_path(seed_net, **arguments) != base


def test_a_neuron_object_has_no_key(seed_net, arguments):
    from k2l_course import stack

    with pytest.raises(TypeError, match="neuron name"):
        evaluation.evaluation_path(seed_net, **{**arguments, "neuron": stack.nengo.RectifiedLinear()})
