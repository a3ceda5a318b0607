"""The batched emulator gives every lane, bit for bit, what the per-image emulator gives.

Each lane of :class:`k2l_course.chip.batched.BatchedSimulator` is compared with
``k2l_course.chip.emulator.Simulator`` (itself bit-identical to nengo-loihi's stock
emulator, see ``test_emulator.py``) on the same images, under both protocols
the course uses: images in sequence on one chip, and a rested chip per image.
Every probe is compared: the output and the spikes of every layer.
"""

import numpy as np
import pytest

from k2l_course.stack import import_stack

tf, nengo, nengo_dl, nengo_loihi = import_stack()

from k2l_course.chip import batched, emulator  # noqa: E402
from k2l_course.chip import loihi as chip
from k2l_course.pipeline import data

pytestmark = pytest.mark.slow  # batched vs per-image emulation of real images, in minutes

STEPS = 30


def items(images):
    """Flattened images, as ``PresentInput`` holds them."""
    return data.to_sequences(images, 1)[:, 0, :]


def per_image_run(deployment, images):
    """Probe data of the per-image emulator presenting ``images`` in sequence, one ``run_steps`` per image."""
    deployment = chip.present(deployment, images)
    with emulator.Simulator(deployment.net, progress_bar=False) as sim:
        for _ in range(len(images)):
            sim.run_steps(STEPS)
        return emulator.probe_data(sim)


def batched_run(sim, n_images):
    for _ in range(n_images):
        sim.run_steps(STEPS)
    return sim.data


@pytest.fixture(scope="module")
def deployment(mnist):
    return chip.seed_deployment(mnist.test_images[:2], probe_layers=True)


def assert_lane_equals(data, lane, reference):
    assert set(data) == set(reference)
    for probe, ref in reference.items():
        got = data[probe][lane]
        assert got.dtype == ref.dtype and got.shape == ref.shape, probe.label
        assert np.array_equal(got, ref), f"lane {lane}, probe {probe.label}"


def test_lanes_of_images_in_sequence_are_bit_identical(deployment, mnist):
    images = mnist.test_images[:6].reshape(3, 2, 28, 28)  # 3 lanes of 2 images each
    with batched.BatchedSimulator(deployment.net, {deployment.converted.input: items(images.reshape(-1, 28, 28)).reshape(3, 2, -1)}) as sim:
        result = batched_run(sim, 2)
    for lane in range(3):
        assert_lane_equals(result, lane, per_image_run(deployment, images[lane]))


def test_a_rested_chip_per_image_is_bit_identical_and_restart_reuses_the_build(deployment, mnist):
    images = mnist.test_images[10:14]
    one = items(images)[:, None, :]  # 4 lanes of 1 image
    with batched.BatchedSimulator(deployment.net, {deployment.converted.input: one[:1]}) as first:
        batched_run(first, 1)
        again = first.restart({deployment.converted.input: one})
        result = batched_run(again, 1)
    for lane in range(4):
        assert_lane_equals(result, lane, per_image_run(deployment, images[lane : lane + 1]))


def test_the_chip_spikes_in_every_layer_of_every_lane(deployment, mnist):
    """Not a vacuous comparison: the lanes spike, and differently for different images."""
    images = items(mnist.test_images[:2])[:, None, :]
    with batched.BatchedSimulator(deployment.net, {deployment.converted.input: images}) as sim:
        result = batched_run(sim, 1)
    for name in ("conv0", "conv1", "dense0"):
        spikes = result[deployment.converted.probes[name]]
        assert np.count_nonzero(spikes[0]) > 0 and np.count_nonzero(spikes[1]) > 0, name
        assert not np.array_equal(spikes[0], spikes[1]), name


def test_what_cannot_be_batched_bit_exactly_is_refused(deployment, mnist):
    from test_emulator import learning_network

    with emulator.Simulator(learning_network(), progress_bar=False) as sim:
        with pytest.raises(NotImplementedError, match="learning"):
            batched.BatchedChip(sim.emulator, 2)
    with pytest.raises(ValueError, match="PresentInput"):
        node = next(n for n in deployment.net.all_nodes if n is not deployment.converted.input)
        batched.BatchedSimulator(deployment.net, {node: np.zeros((1, 1, 1))})


STATE = ("current", "voltage", "spiked", "spike_count", "ref_count")


def step_compartments(chip, state, q0, update):
    """The chip's compartment ``state`` after one ``update`` (a method name) with synaptic input ``q0``."""
    for name, value in zip(STATE, state):
        getattr(chip, name)[...] = value
    getattr(chip, update)(q0.copy())
    return [getattr(chip, name).copy() for name in STATE]


def test_the_compiled_compartment_step_equals_numpys_and_leaves_overflows_to_it(deployment, mnist):
    with batched.BatchedSimulator(deployment.net, {deployment.converted.input: items(mnist.test_images[:3])[:, None, :]}) as sim:
        chip = sim.chip
        rng = np.random.default_rng(0)
        shape = chip.current.shape
        state = [
            rng.integers(-(2**22), 2**22, shape, dtype=np.int32),  # current, in the 23-bit range
            rng.integers(chip.c.vmin, chip.c.vmax + 1, shape, dtype=np.int32),  # voltage
            np.zeros(shape, dtype=bool),
            rng.integers(0, 100, shape, dtype=np.int32),  # spike counts
            np.zeros(shape, dtype=np.int32),  # refractory counts: this network's periods leave them at 0
        ]
        q0 = rng.integers(-(2**18), 2**18, shape, dtype=np.int32)
        compiled = step_compartments(chip, state, q0, "_update")
        reference = step_compartments(chip, state, q0, "_update_wrapping")
        for name, got, expected in zip(STATE, compiled, reference):
            assert np.array_equal(got, expected), name
        assert np.any(compiled[2]), "some compartments should spike"

        q0[1, 5] = 2**21  # beyond the 21-bit synaptic input of lane 1: stock wraps it and warns
        with pytest.warns(UserWarning, match="Overflow in q0"):
            compiled = step_compartments(chip, state, q0, "_update")
        with pytest.warns(UserWarning, match="Overflow in q0"):
            reference = step_compartments(chip, state, q0, "_update_wrapping")
        for name, got, expected in zip(STATE, compiled, reference):
            assert np.array_equal(got, expected), name


@pytest.mark.parametrize("weight_range", [2**14, 2**30])  # narrowed to int16; kept in int32, where sums wrap
def test_delivery_sums_each_lanes_events_in_int32_whatever_the_tables_types(weight_range):
    rng = np.random.default_rng(1)
    n_lanes, n_sources, n_compartments = 3, 50, 300
    fan_out = rng.integers(0, 40, n_sources)
    ptr = np.concatenate([[0], np.cumsum(fan_out)]).astype(np.int64)
    targets = rng.integers(0, n_compartments, ptr[-1]).astype(np.intp)  # repeats included
    weights = rng.integers(-weight_range, weight_range, ptr[-1]).astype(np.int32)
    sources = rng.random((n_lanes, n_sources)) < 0.5

    out = np.full((n_lanes, n_compartments), 7, dtype=np.int32)  # overwritten, not added to
    batched._deliver(sources, ptr, batched._narrowest(targets), batched._narrowest(weights), out)

    for lane in range(n_lanes):
        events = np.concatenate([np.arange(ptr[s], ptr[s + 1]) for s in np.flatnonzero(sources[lane])])
        expected = np.bincount(targets[events], weights[events].astype(np.int64), n_compartments)
        assert np.array_equal(out[lane], expected.astype(np.int64).astype(np.int32)), lane


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 3)])
def test_a_host_convolution_into_a_merged_signal_is_bit_identical_in_every_lane(padding, strides):
    """A 1x1, one-channel convolution (the to-spikes layer's shape), in any stride and padding, on several lanes.

    nengo's optimiser merges the node's input with the connection's weighted
    output, so the convolution writes into a view of a larger signal: every
    lane must see its own part of it.
    """
    shape, n_lanes, n_items = (5, 7, 1), 2, 3
    rng = np.random.default_rng(0)
    lanes = rng.uniform(-1, 1, (n_lanes, n_items, int(np.prod(shape))))
    conv = nengo.Convolution(3, shape, kernel_size=(1, 1), strides=strides, padding=padding, init=nengo.dists.Uniform(-1, 1))
    stock = {}
    for lane, images in enumerate(lanes):
        with nengo.Network(seed=1) as net:
            source = nengo.Node(nengo.processes.PresentInput(images, presentation_time=0.001))
            out = nengo.Node(size_in=conv.size_out)
            nengo.Connection(source, out, transform=conv, synapse=None)
            probe = nengo.Probe(out)
        with nengo.Simulator(net, progress_bar=False) as sim:
            sim.run_steps(n_items)
            stock[lane] = sim.data[probe]
    with nengo.Simulator(net, progress_bar=False) as sim:  # the last lane's network, run by the batched host
        host = batched.BatchedHost(sim, n_lanes, {source.output: lanes})
        for _ in range(n_items):
            host.step()
    got = np.stack(host.data[probe], axis=1)
    for lane in range(n_lanes):
        assert np.array_equal(got[lane], stock[lane]), f"lane {lane}"
