"""Operation counts and energy estimate of a run on the (fast) emulator."""

import numpy as np
import pytest

from k2l_course.chip import emulator, energy
from k2l_course.chip import loihi as chip
from k2l_course.stack import import_stack

tf, nengo, nengo_dl, nengo_loihi = import_stack()

from nengo_loihi.block import Axon, LoihiBlock, Synapse  # noqa: E402
from nengo_loihi.builder import Model  # noqa: E402
from nengo_loihi.builder.discretize import discretize_model  # noqa: E402
from nengo_loihi.inputs import SpikeInput  # noqa: E402

N_STEPS = 15


def two_layer_chip():
    """Host input (2 neurons) -> block A (3 compartments) -> block B (2 compartments).

    Input neuron 0 spikes at steps 1-10 and neuron 1 at steps 1-5: 15 spikes,
    each arriving one step later. Every input spike reaches all 3 compartments
    of A, with a weight far above threshold, and A has no synaptic filter, so
    each A compartment fires at every step that brings input (steps 2-11):
    3 x 10 = 30 spikes. Each A spike reaches both compartments of B.
    """
    model = Model()
    host = SpikeInput(2)
    for t in range(1, 11):
        host.add_spikes(t, np.array([0, 1]) if t <= 5 else np.array([0]))
    model.add_input(host)

    a = LoihiBlock(3, label="A")
    a.compartment.configure_relu(vth=1)
    a.compartment.configure_filter(0)
    model.add_block(a)
    into_a = Synapse(2)
    into_a.set_weights(np.full((2, 3), 20.0))
    a.add_synapse(into_a)
    host_axon = Axon(2)
    host_axon.target = into_a
    host.add_axon(host_axon)

    b = LoihiBlock(2, label="B")
    b.compartment.configure_relu(vth=1)
    b.compartment.configure_filter(0.005)
    model.add_block(b)
    into_b = Synapse(3)
    into_b.set_weights(np.full((3, 2), 0.3))
    b.add_synapse(into_b)
    a_axon = Axon(3)
    a_axon.target = into_b
    a.add_axon(a_axon)

    discretize_model(model)
    return model


@pytest.fixture(scope="module")
def activity():
    with emulator.FastEmulatorInterface(two_layer_chip(), seed=0) as emu:
        emu.run_steps(N_STEPS)
        return energy.emulator_activity(emu, n_steps=N_STEPS, n_inferences=1)


def test_counts_spikes_from_the_host_and_per_block(activity):
    a, b = activity.blocks
    assert activity.input_spikes == 15
    assert a.spikes == 30
    assert b.spikes > 0


def test_synaptic_ops_are_spikes_received_times_fan_out(activity):
    a, b = activity.blocks
    assert a.synaptic_ops == 15 * 3
    assert b.synaptic_ops == 30 * 2


def test_every_compartment_updates_every_step(activity):
    a, b = activity.blocks
    assert (a.neuron_updates, b.neuron_updates) == (3 * N_STEPS, 2 * N_STEPS)
    assert a.active_updates == 30 and a.inactive_updates == 45 - 30


def test_spike_messages_go_along_output_axons(activity):
    a, b = activity.blocks
    assert a.spike_messages == 30  # one output axon
    assert b.spike_messages == 0  # none


def test_energy_prices_each_operation(activity):
    b_spikes = activity.blocks[1].spikes
    ones = energy.estimate_energy(activity, energy.LoihiEnergy(1, 1, 1, 1))
    assert ones.synaptic == pytest.approx(105e-12)
    assert ones.neuron_active == pytest.approx((30 + b_spikes) * 1e-12)
    assert ones.neuron_inactive == pytest.approx((75 - 30 - b_spikes) * 1e-12)
    assert ones.spike_messages == pytest.approx(30e-12)
    davies = energy.estimate_energy(activity)
    assert davies.total == pytest.approx(
        (105 * 23.6 + (30 + b_spikes) * 81 + (45 - b_spikes) * 52 + 30 * 1.7) * 1e-12
    )


def test_per_inference_figures_divide_by_the_inferences(activity):
    twice = energy.Activity(activity.blocks, n_inferences=2, input_spikes=activity.input_spikes)
    assert twice.per_inference("synaptic_ops") == 105 / 2
    assert energy.estimate_energy(twice).total == pytest.approx(energy.estimate_energy(activity).total / 2)


def test_energy_figures_are_davies_2018_and_overridable():
    figures = energy.LoihiEnergy()
    assert (figures.synaptic_op, figures.neuron_update_inactive, figures.neuron_update_active) == (23.6, 52, 81)
    assert figures.spike_within_tile == 1.7
    assert energy.LoihiEnergy(synaptic_op=10).synaptic_op == 10
    with pytest.raises(AttributeError):
        figures.synaptic_op = 1


def test_layer_names_come_from_block_labels():
    assert energy.layer_of("<Ensemble 'conv0.0'>[3]") == "conv0"
    assert energy.layer_of("<Ensemble 'dense0.0'>[0:50:1]") == "dense0"
    assert energy.layer_of("A") == "A"


def test_ann_macs_of_the_seed_network(seed_net):
    assert energy.ann_macs(seed_net.model) == {
        "to-spikes": 28 * 28 * 3 * 1,
        "conv0": 13 * 13 * 32 * (3 * 3 * 3),
        "conv1": 6 * 6 * 64 * (3 * 3 * 32),
        "dense0": 2304 * 100,
        "dense1": 100 * 10,
    }


def test_seed_network_energy_per_inference(mnist, seed_net):
    deployment = chip.seed_deployment(mnist.test_images[:2])
    with emulator.Simulator(deployment.net, seed=0, progress_bar=False) as sim:
        sim.run(deployment.run_time)
        activity = energy.measure_activity(sim, n_inferences=2)
    assert [b.layer for b in activity.blocks] == ["conv0"] * 8 + ["conv1"] * 4 + ["dense0"] * 2
    assert activity.per_inference("neuron_updates") == (5408 + 2304 + 100) * 30
    rows = energy.compare_with_ann(activity, energy.ann_macs(seed_net.model))
    assert [r["layer"] for r in rows] == ["conv0", "conv1", "dense0"]
    assert all(r["synaptic_ops"] > 0 and r["macs"] > 0 for r in rows)
    estimate = energy.estimate_energy(activity)
    assert 1e-6 < estimate.total < 1e-3  # micro- to millijoules per image
    report = energy.format_report(activity, estimate, energy.ann_macs(seed_net.model))
    assert "conv1" in report and "uJ" in report


def test_stock_simulator_runs_are_refused():
    with nengo.Network() as net:
        nengo.Ensemble(10, 1)
    with nengo_loihi.Simulator(net, progress_bar=False) as sim:
        with pytest.raises(TypeError, match="k2l_course.chip.emulator.Simulator"):
            energy.measure_activity(sim)
