"""The seed network and its conversion."""

import numpy as np
import pytest

from k2l_course.pipeline import conversion, model


def test_seed_architecture(seed_net):
    assert seed_net.model.count_params() == model.N_PARAMETERS == 250_809
    shapes = {name: seed_net.output_shape(name) for name in (*model.NEURON_LAYERS, model.OUTPUT_LAYER)}
    assert shapes == {
        "to-spikes": (28, 28, 3), "conv0": (13, 13, 32), "conv1": (6, 6, 64), "dense0": (100,), "dense1": (10,),
    }
    for name in ("to-spikes", "conv0", "conv1"):
        assert not seed_net.layer(name).use_bias
    assert seed_net.layer("dense0").use_bias


def test_initial_weights_are_seeded():
    a = model.build_seed_model(seed=3).model.get_weights()
    b = model.build_seed_model(seed=3).model.get_weights()
    c = model.build_seed_model(seed=4).model.get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_scale_sets_amplitude_per_layer(seed_net):
    conv = conversion.convert(
        seed_net, "loihi-relu", {"to-spikes": 2.0, "conv0": 4.0, "conv1": 5.0, "dense0": 10.0}, synapse=0.005
    )
    assert conv.amplitudes == pytest.approx({"to-spikes": 0.5, "conv0": 0.25, "conv1": 0.2, "dense0": 0.1})
    assert type(conv.ensembles["conv0"].neuron_type).__name__ == "LoihiSpikingRectifiedLinear"
    assert set(conv.probes) == set(model.NEURON_LAYERS)


def test_one_scale_for_all_layers(seed_net):
    conv = conversion.convert(seed_net, "spiking-relu", 100)
    assert list(conv.amplitudes.values()) == pytest.approx([0.01] * 4)


def test_bad_scales_and_neurons_are_rejected(seed_net):
    with pytest.raises(ValueError, match="unknown layers"):
        conversion.convert(seed_net, "relu", {"to-spikes": 1, "conv0": 1, "conv1": 1, "dense0": 1, "dens1": 1})
    with pytest.raises(ValueError, match="no scale given"):
        conversion.convert(seed_net, "relu", {"to-spikes": 1})
    with pytest.raises(ValueError, match="unknown neuron type"):
        conversion.neuron_type("lif-ish")
