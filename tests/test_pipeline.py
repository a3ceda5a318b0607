"""The whole pipeline, end to end, on a small real subset of MNIST.

Training uses 6,000 real images for one epoch, so accuracies are lower than at
full size but far above chance (10%): each assertion uses the lower bound of
the 95% interval.
"""

import dataclasses

import numpy as np
import pytest

from k2l_course.chip import loihi as chip
from k2l_course.pipeline import evaluation, rates, training
from k2l_course.pipeline.training import TrainingConfig, load_or_train

pytestmark = pytest.mark.slow  # real trainings, in minutes

N = 200


def test_training_is_saved_and_reused(small_relu, mnist):
    assert training.params_file(small_relu.params).exists()
    again = load_or_train(small_relu.config, mnist, progress=False)
    assert again.from_cache and again.params == small_relu.params
    assert again.accuracy == small_relu.accuracy


def test_the_parameter_key_follows_the_configuration():
    a = TrainingConfig(neuron="relu")
    assert a.key() == TrainingConfig(neuron="relu").key()
    assert a.key() != TrainingConfig(neuron="loihi-relu", scale_firing_rates=100).key()
    assert a.key() != TrainingConfig(neuron="relu", seed=1).key()


def test_training_is_reproducible(small_relu, mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("K2L_CACHE", str(tmp_path))
    rerun = training.train(small_relu.config, mnist, progress=False)
    first = np.load(training.params_file(small_relu.params))
    second = np.load(training.params_file(rerun.params))
    assert first.files == second.files
    for name in first.files:
        assert np.array_equal(first[name], second[name]), name


def test_a_quiet_training_draws_no_progress_bar(mnist, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("K2L_CACHE", str(tmp_path))
    training.train(TrainingConfig(neuron="relu", n_train=600, epochs=1), mnist, progress=False)
    assert "training (" not in capfd.readouterr().err


def test_an_evaluation_does_not_depend_on_what_ran_before_it(small_relu, seed_net, mnist):
    """Spiking neurons start from the same seeded voltages, whatever drew from NumPy's global generator before."""

    def run():
        return evaluation.evaluate(seed_net, small_relu.params, mnist.test_images[:N], mnist.test_labels[:N],
                                   neuron="spiking-relu", synapse=0.005, n_steps=30)  # fmt: skip

    first = run()
    np.random.random(1000)  # anything else in the process that draws from it
    second = run()
    assert np.array_equal(first.output, second.output)
    assert first.rates == second.rates


def test_a_cached_evaluation_is_the_evaluation_it_saved(small_relu, seed_net, mnist, tmp_path, monkeypatch):
    """load_or_evaluate runs nengo-dl once; the next call loads every field as computed."""
    monkeypatch.setenv("K2L_CACHE", str(tmp_path))
    images, labels = mnist.test_images[:N], mnist.test_labels[:N]
    scales = {"to-spikes": 50.0, "conv0": 100.0, "conv1": 100.0, "dense0": 150.0}
    kwargs = dict(neuron="loihi-relu", scale_firing_rates=scales, synapse=0.005, n_keep=3)
    computed = evaluation.load_or_evaluate(seed_net, small_relu.params, images, labels, **kwargs)

    monkeypatch.setattr(evaluation, "convert", lambda *args, **kw: pytest.fail("evaluated again"))
    loaded = evaluation.load_or_evaluate(seed_net, small_relu.params, images, labels, progress=True, **kwargs)

    assert (computed.from_cache, loaded.from_cache) == (False, True)
    assert computed.seconds > 0
    for field in dataclasses.fields(evaluation.Evaluation):
        if field.name == "from_cache":
            continue
        a, b = getattr(computed, field.name), getattr(loaded, field.name)
        if isinstance(a, dict) and any(isinstance(v, np.ndarray) for v in a.values()):
            assert a.keys() == b.keys(), field.name
            assert all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a), field.name
        elif isinstance(a, np.ndarray):
            assert np.array_equal(a, b) and a.dtype == b.dtype, field.name
        else:
            assert a == b, field.name


def test_relu_network_classifies(small_relu, seed_net, mnist):
    ev = evaluation.evaluate(seed_net, small_relu.params, mnist.test_images[:N], mnist.test_labels[:N], n_steps=10)
    assert ev.accuracy.n == N
    assert ev.accuracy.interval[0] > 0.8
    assert all(ev.rates[name] > 0 for name in ev.rates)
    assert ev.output.shape == (2, 10, 10)
    assert ev.activities["conv0"].shape == (2, 10, 13 * 13 * 32)


def test_spiking_network_with_per_layer_scales(small_relu, seed_net, mnist):
    relu = evaluation.evaluate(seed_net, small_relu.params, mnist.test_images[:N], mnist.test_labels[:N], n_steps=10)
    scales = rates.scales_for_target(relu.rates, 200)
    ev = evaluation.evaluate(
        seed_net, small_relu.params, mnist.test_images[:N], mnist.test_labels[:N],
        neuron="loihi-relu", scale_firing_rates=scales, synapse=0.005,
    )
    assert ev.accuracy.interval[0] > 0.5
    # Loihi neurons never exceed one spike per step.
    assert all(0 < r <= 1000 for r in ev.rates.values())


def test_loihi_trained_network_on_the_emulated_chip(small_loihi, seed_net, mnist):
    n = 20
    deployment = chip.deploy(seed_net, small_loihi.params, mnist.test_images[:n])
    run = chip.run(deployment, mnist.test_labels[:n])
    assert run.predictions.shape == (n,)
    assert run.output.shape == (n * 30, 10)
    assert run.accuracy.interval[0] > 0.1


def test_presentation_predictions_read_the_last_step():
    output = np.zeros((6, 3))
    output[0, 2] = 5  # early in presentation 0: ignored
    output[2, 1] = 5  # last step of presentation 0
    output[5, 0] = 5  # last step of presentation 1
    assert chip.presentation_predictions(output, 3).tolist() == [1, 0]
    with pytest.raises(ValueError, match="whole presentations"):
        chip.presentation_predictions(np.zeros((7, 3)), 3)


def test_last_step_predictions():
    output = np.zeros((2, 4, 3))
    output[0, 0, 2] = 9
    output[0, -1, 1] = 1
    output[1, -1, 0] = 1
    assert evaluation.last_step_predictions(output).tolist() == [1, 0]


def test_rate_regularized_training_is_plain_training_plus_rate_losses(mnist, private_cache):
    import json

    from k2l_course.pipeline import regularization

    config = regularization.RegularizationConfig(n_train=2000, epochs=1)
    trained = regularization.load_or_train(config, mnist, progress=False)
    assert trained.params.name.startswith("regularized-loihi-relu-x1-")
    assert trained.config == config.training_config()
    info = json.loads(trained.params.with_suffix(".json").read_text())
    # One loss per regularized layer besides the output's cross-entropy.
    assert all(f"{name}_loss" in info["final_losses"] for name in config.layers)
    assert regularization.load_or_train(config, mnist, progress=False).from_cache
