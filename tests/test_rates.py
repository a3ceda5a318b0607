"""Loihi's rate curve, measured rates and per-layer scales.

The course's rate formula must agree with nengo-loihi's own ``rates``, and the
Loihi neuron that nengo-dl trains and evaluates (built through nengo-extras)
must spike exactly like nengo-loihi's reference ``step``.
"""

import numpy as np
import pytest

from k2l_course.pipeline import rates
from k2l_course.stack import import_stack


@pytest.fixture(scope="module")
def stack():
    return import_stack()


def test_formula_matches_nengo_loihi_rates(stack):
    _, _, _, nengo_loihi = stack
    x = np.linspace(-100, 3000, 20001)
    ref = nengo_loihi.neurons.LoihiSpikingRectifiedLinear().rates(x, gain=np.ones(1), bias=np.zeros(1))
    assert np.allclose(rates.loihi_relu_rate(x), ref.ravel(), rtol=1e-12, atol=1e-9)


def test_rate_is_capped_at_one_spike_per_step():
    assert rates.loihi_relu_rate([1e6, 5000, 1000.5])[0] == pytest.approx(1000.0)
    assert rates.loihi_relu_rate(np.linspace(1, 1e5, 1000)).max() <= 1 / rates.DT + 1e-9


def test_rate_moves_in_plateaus():
    # Every input between 500 and 1000 Hz-equivalent gives 500 Hz (2 steps per spike).
    assert np.allclose(rates.loihi_relu_rate(np.linspace(500.1, 999.9, 50)), 500.0)
    assert np.allclose(rates.loihi_relu_rate(np.linspace(333.4, 499.9, 50)), 1000 / 3)
    assert rates.loihi_relu_rate([-5.0, 0.0]).tolist() == [0.0, 0.0]


def _loihi_network(nengo, nengo_loihi, currents):
    with nengo.Network(seed=0) as net:
        ens = nengo.Ensemble(
            len(currents), 1, neuron_type=nengo_loihi.neurons.LoihiSpikingRectifiedLinear(),
            gain=np.ones(len(currents)), bias=np.asarray(currents),
        )
        probe = nengo.Probe(ens.neurons)
    return net, probe


def test_nengo_dl_loihi_neuron_spikes_exactly_like_nengo_loihi_step(stack):
    # nengo-dl builds LoihiSpikingRectifiedLinear through nengo-extras; the
    # reference is nengo-loihi's own NumPy step run by the nengo simulator.
    _, nengo, nengo_dl, nengo_loihi = stack
    currents = np.random.RandomState(0).uniform(1, 1500, 64)
    net, probe = _loihi_network(nengo, nengo_loihi, currents)
    n_steps = 500
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run_steps(n_steps)
    with nengo_dl.Simulator(net, progress_bar=False) as dl:
        dl.run_steps(n_steps)
    ref_spikes = ref.data[probe] > 0
    dl_spikes = dl.data[probe] > 0
    assert np.array_equal(ref_spikes, dl_spikes)
    counts = ref_spikes.sum(axis=0)
    # ...and the counts are what the formula predicts: one spike every ceil(1 / (J dt)) steps.
    period = np.ceil(1 / (currents * rates.DT))
    assert np.array_equal(counts, np.floor(n_steps / period))


def test_active_rates_ignore_silent_neurons():
    # 2 examples, 4 steps, 3 neurons; amplitude 0.01 (scale 100): a spike is 0.01 / dt = 10.
    outputs = np.zeros((2, 4, 3))
    outputs[0, :, 0] = 10.0          # neuron 0 spikes every step: 1000 Hz
    outputs[0, ::2, 1] = 10.0        # neuron 1 every other step: 500 Hz
    outputs[1, 0, 2] = 10.0          # example 1: one spike in 4 steps: 250 Hz
    per_example = rates.active_rates(outputs, amplitude=0.01)
    assert per_example.tolist() == pytest.approx([750.0, 250.0])
    assert rates.mean_active_rate(outputs, amplitude=0.01) == pytest.approx(500.0)
    assert rates.active_rates(np.zeros((1, 4, 3))).tolist() == [0.0]


def test_active_rates_want_three_axes():
    with pytest.raises(ValueError, match="examples, steps, neurons"):
        rates.active_rates(np.zeros((4, 3)))


def test_scales_hit_the_target():
    measured = {"to-spikes": 100.0, "conv0": 10.0, "conv1": 4.0, "dense0": 2.0}
    scales = rates.scales_for_target(measured, 200)
    assert scales == {"to-spikes": 2.0, "conv0": 20.0, "conv1": 50.0, "dense0": 100.0}


def test_a_silent_layer_cannot_be_scaled():
    with pytest.raises(ValueError, match="dense0.*silent"):
        rates.scales_for_target({"to-spikes": 1.0, "conv0": 1.0, "conv1": 1.0, "dense0": 0.0})


def test_over_cap_fraction_counts_active_neurons_only():
    relu = np.array([[0.0, 5.0, 9.0, 10.0, 20.0]])  # Hz at scale 1
    # At scale 100: 500, 900, 1000, 2000 Hz -> two of four active need >= 1 spike per step.
    assert rates.over_cap_fraction(relu, 100) == 0.5
    assert rates.over_cap_fraction(np.zeros((2, 3)), 100) == 0.0


def test_passed_fraction_and_spike_counts():
    assert rates.passed_fraction(500.0, 10.0, 100) == pytest.approx(0.5)
    assert np.isnan(rates.passed_fraction(0.0, 0.0, 100))
    assert rates.spikes_per_neuron(100.0, 30) == pytest.approx(3.0)
