"""k2l reproduce's pieces: the seed's reference numbers, diagnostics and tables."""

import numpy as np
import pytest

from k2l_course import reproduce, seed
from k2l_course.pipeline import evaluation
from k2l_course.pipeline.model import NEURON_LAYERS
from k2l_course.stats import Accuracy

pytestmark = pytest.mark.slow  # the seed's stages at small size, in minutes


def test_every_stage_has_the_seed_numbers():
    assert set(seed.ACCURACY) == set(seed.DESCRIPTION)
    for key, (n, text, docs) in seed.ACCURACY.items():
        assert n > 0 and 0 <= text <= 1 and 0 <= docs <= 1
    for key, rates in seed.RATES.items():
        assert key in seed.ACCURACY and len(rates) == len(NEURON_LAYERS)


def test_to_spikes_kernel_is_read_from_the_parameter_file(small_relu):
    kernel = reproduce.to_spikes_kernel(small_relu.params)
    assert kernel.shape == (3,)


def test_diagnostics_of_a_spiking_run(small_relu, seed_net, mnist):
    images, labels = mnist.test_images[:40], mnist.test_labels[:40]
    relu = evaluation.evaluate(seed_net, small_relu.params, images, labels, n_steps=10)
    loihi = evaluation.evaluate(
        seed_net, small_relu.params, images, labels, neuron="loihi-relu", scale_firing_rates=100, synapse=0.005
    )
    diag = reproduce.diagnose(loihi, relu, 100)
    assert set(diag) == set(NEURON_LAYERS)
    for name, d in diag.items():
        assert 0 <= d["over_cap"] <= 1
        # Loihi neurons cannot deliver more than the ideal output... nor spike more than once a step.
        assert d["passed"] <= 1.05 or np.isnan(d["passed"])
        assert 0 <= d["spikes_per_neuron"] <= 30


def test_table_puts_ours_beside_the_seed():
    stage = reproduce.Stage("relu", Accuracy(981, 1000), Accuracy(99, 100), dict(zip(NEURON_LAYERS, (1, 2, 3, 4))), 1.5, {})
    table = reproduce.format_table([stage])
    assert "98.1% (n=1000, 95% CI" in table and "99.0%" in table and "seed 14.4" in table
    assert stage.to_dict()["seed"]["accuracy_text"] == pytest.approx(0.99)


def test_reproduce_refuses_fewer_images_than_the_seed():
    with pytest.raises(ValueError, match="at least the seed's 100"):
        reproduce.run_all(n_test=50)
