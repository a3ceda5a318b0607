"""The fast emulator gives bit-identical results to nengo-loihi's own.

Each test builds one network, runs it on the stock emulator
(``nengo_loihi.Simulator``) and on the fast one (``k2l_course.chip.emulator``) with
the same seed and inputs, and requires every probe -- spikes, voltages,
currents, decoded outputs -- and the final chip state to be equal bit for bit.
"""

import numpy as np
import pytest

from k2l_course.stack import import_stack

tf, nengo, nengo_dl, nengo_loihi = import_stack()

from nengo_loihi.block import Axon, LoihiBlock, Synapse  # noqa: E402
from nengo_loihi.builder import Model  # noqa: E402
from nengo_loihi.builder.discretize import discretize_model  # noqa: E402
from nengo_loihi.emulator import EmulatorInterface  # noqa: E402
from nengo_loihi.inputs import SpikeInput  # noqa: E402
from nengo_loihi.probe import LoihiProbe  # noqa: E402

from k2l_course.chip import emulator
from k2l_course.chip import loihi as chip  # noqa: E402

pytestmark = pytest.mark.slow  # the stock emulator, image by image, in minutes

#: Chip state compared after a run, on top of the probes.
STATE = ("input", "current", "voltage", "spiked", "spike_count", "ref_count")


def run_both(net, run_time, seed=3, **kwargs):
    """Run ``net`` on the stock and the fast emulator; return both simulators' data."""
    results = []
    for simulator in (nengo_loihi.Simulator, emulator.Simulator):
        with simulator(net, seed=seed, progress_bar=False, **kwargs) as sim:
            sim.run(run_time)
            state = {key: getattr(sim.sims["emulator"].compartment, key).copy() for key in STATE}
            results.append((emulator.probe_data(sim), state, type(sim.sims["emulator"])))
    return results


def assert_identical(results):
    (ref_probes, ref_state, ref_type), (fast_probes, fast_state, fast_type) = results
    assert ref_type is EmulatorInterface
    assert fast_type is emulator.FastEmulatorInterface
    assert emulator.mismatches(ref_probes, fast_probes) == []
    for key in STATE:
        assert ref_state[key].dtype == fast_state[key].dtype, key
        assert np.array_equal(ref_state[key], fast_state[key]), key


def neuron_probes(ensemble, label):
    """Spike, voltage and input-current probes on an on-chip ensemble's neurons."""
    return [nengo.Probe(ensemble.neurons, attr, label=f"{label} {attr}") for attr in ("output", "voltage", "input")]


@pytest.fixture(scope="module")
def seed_results(mnist):
    """Three test images through the seed-shaped network on both emulators."""
    deployment = chip.seed_deployment(mnist.test_images[:3], probe_layers=True)
    with deployment.net:
        for name in ("conv0", "conv1", "dense0"):
            neuron_probes(deployment.converted.ensembles[name], name)
    return deployment, run_both(deployment.net, deployment.run_time)


def test_seed_network_is_bit_identical(seed_results):
    _, results = seed_results
    assert_identical(results)


def test_seed_network_spikes_realistically(seed_results):
    """Thousands of spikes per image on the chip, in every on-chip layer."""
    deployment, ((probes, _, _), _) = seed_results
    per_image = {
        name: np.count_nonzero(probes[deployment.converted.probes[name]]) / deployment.n_images
        for name in ("to-spikes", "conv0", "conv1", "dense0")
    }
    assert per_image["to-spikes"] > 3000
    assert per_image["conv0"] + per_image["conv1"] + per_image["dense0"] > 3000
    assert min(per_image.values()) > 50


def feature_network(seed=0):
    """A small network using what the seed network does not.

    LIF and spiking-ReLU neurons, decoded and neuron-to-neuron connections,
    a recurrent connection, a sparse transform, a host node feeding the chip
    (spike inputs of on/off neurons), a 16-bit population-axon convolution
    between two on-chip layers, and a decoded output to a host node.
    """
    rng = np.random.RandomState(seed)
    with nengo.Network(seed=seed) as net:
        nengo_loihi.add_params(net)
        stim = nengo.Node(lambda t: [np.sin(10 * t), np.cos(7 * t)])
        a = nengo.Ensemble(48, 2, neuron_type=nengo.LIF(), label="a")
        b = nengo.Ensemble(40, 2, neuron_type=nengo.SpikingRectifiedLinear(), label="b")
        nengo.Connection(stim, a)
        nengo.Connection(a, b, function=np.square, synapse=0.01)
        nengo.Connection(b, b, transform=0.5, synapse=0.05)
        nengo.Connection(a.neurons, b.neurons, transform=rng.uniform(-0.02, 0.02, (40, 48)))
        sparse = nengo.transforms.Sparse((40, 48), indices=rng.randint(0, 40, (30, 2)) * [1, 1], init=0.05)
        nengo.Connection(a.neurons, b.neurons, transform=sparse)

        image = nengo.Ensemble(36, 1, neuron_type=nengo.SpikingRectifiedLinear(), label="image")
        nengo.Connection(stim[0], image, transform=np.ones((1, 1)))
        kernel = rng.uniform(-0.5, 1.0, size=(3, 3, 1, 4))
        conv = nengo.Convolution(4, (6, 6, 1), kernel_size=(3, 3), strides=(1, 1), init=kernel)
        features = nengo.Ensemble(
            conv.output_shape.size,
            1,
            neuron_type=nengo.SpikingRectifiedLinear(),
            gain=nengo.dists.Choice([3.0]),
            bias=nengo.dists.Choice([0.0]),
            label="f",
        )
        conv_conn = nengo.Connection(image.neurons, features.neurons, transform=conv)
        net.config[conv_conn].pop_type = 16

        out = nengo.Node(size_in=2)
        nengo.Connection(b, out)
        probes = [nengo.Probe(b, synapse=0.01), nengo.Probe(out)]
        probes += neuron_probes(a, "a") + neuron_probes(b, "b") + neuron_probes(features, "f")
    return net


def test_feature_network_is_bit_identical():
    net = feature_network()
    with emulator.Simulator(net, progress_bar=False) as sim:
        pop_types = {s.pop_type for block in sim.model.blocks for s in block.synapses}
    assert pop_types == {0, 16}
    assert_identical(run_both(net, 0.2))


def test_feature_network_is_bit_identical_in_floating_point():
    """``target="simreal"``: float32 chips, where the order of additions matters."""
    assert_identical(run_both(feature_network(), 0.2, target="simreal"))


def learning_network(seed=0):
    """On-chip PES learning, whose weights change as the network runs."""
    with nengo.Network(seed=seed) as net:
        stim = nengo.Node(lambda t: np.sin(6 * t))
        pre = nengo.Ensemble(50, 1, label="pre")
        post = nengo.Node(size_in=1)
        nengo.Connection(stim, pre)
        learned = nengo.Connection(pre, post, function=lambda x: 0, learning_rule_type=nengo.PES(1e-3))
        error = nengo.Node(size_in=1)
        nengo.Connection(post, error)
        nengo.Connection(stim, error, transform=-1)
        nengo.Connection(error, learned.learning_rule)
        nengo.Probe(post, synapse=0.01)
        neuron_probes(pre, "pre")
    return net


def test_on_chip_learning_is_bit_identical():
    """Learning synapses keep the stock per-spike delivery, beside the fast one."""
    net = learning_network()
    with emulator.Simulator(net, progress_bar=False) as sim:
        assert len(sim.emulator.synapses.learning) == 1
    assert_identical(run_both(net, 0.3))


def test_on_chip_learning_in_floating_point_is_refused():
    with pytest.raises(NotImplementedError, match="learning"):
        emulator.Simulator(learning_network(), target="simreal", progress_bar=False)


def test_noise_is_bit_identical():
    """Noisy decode neurons draw from the emulator's random generator every step."""
    net = feature_network()
    results = []
    for simulator in (nengo_loihi.Simulator, emulator.Simulator):
        model = Model(dt=0.001)
        model.decode_neurons = nengo_loihi.decode_neurons.NoisyDecodeNeurons(2)
        with simulator(net, seed=5, model=model, progress_bar=False) as sim:
            sim.run(0.1)
            assert np.any(sim.sims["emulator"].compartment.noise.enabled)
            state = {key: getattr(sim.sims["emulator"].compartment, key).copy() for key in STATE}
            results.append((emulator.probe_data(sim), state, type(sim.sims["emulator"])))
    assert_identical(results)


def hand_built_model(weights, indices, n_steps, dtype="int"):
    """A spike input of 4 neurons into a block of 5 compartments, by hand.

    The input's neuron ``i`` spikes at every step with ``i % 2 == step % 2``
    (neuron 3 at every step). Neuron 0 sends through an axon whose base is
    negative (unused), neuron 1 through none (a negative axon index), neurons
    2 and 3 through the population weights ``weights`` / ``indices`` (one
    weight set with two atoms), and neuron 3 also through a second, dense
    synapse.
    """
    model = Model()
    spikes = SpikeInput(4)
    for t in range(1, n_steps + 1):
        spikes.add_spikes(t, np.array([i for i in range(3) if i % 2 == t % 2] + [3]), permanent=True)
    model.add_input(spikes)

    block = LoihiBlock(5, label="hand")
    block.compartment.configure_relu(vth=1)
    block.compartment.configure_filter(0.004)
    model.add_block(block)

    population = Synapse(3, label="population")
    population.set_population_weights(
        [np.asarray(weights, dtype=float)],
        [np.asarray(indices)],
        axon_to_weight_map=np.array([0, 0, 0]),
        compartment_bases=np.array([-1, 0, 1]),
        pop_type=32,
    )
    block.add_synapse(population)
    axon = Axon(3)
    axon.target = population
    axon.set_compartment_axon_map(np.array([0, -1, 1, 2]), atoms=np.array([0, 0, 1, 0]))
    spikes.add_axon(axon)

    dense = Synapse(4, label="dense")
    dense.set_weights(np.arange(20).reshape(4, 5) / 20 - 0.4)
    block.add_synapse(dense)
    dense_axon = Axon(4)
    dense_axon.target = dense
    spikes.add_axon(dense_axon)

    for key in ("current", "voltage", "spiked"):
        model.add_probe(LoihiProbe(target=block, key=key))
    if dtype == "int":
        discretize_model(model)
    return model


def run_interface(interface, model, n_steps):
    with interface(model, seed=0) as emu:
        emu.run_steps(n_steps)
        return [np.asarray(emu.collect_probe_output(p)) for p in model.probes]


@pytest.mark.parametrize("dtype", ["int", "float"])
def test_repeated_index_within_a_spike_adds_only_its_last_weight(dtype):
    """Stock ``x[idx] += w`` keeps the last write of an index given twice."""
    weights = [[0.3, -0.2, 0.25, 0.1], [0.5, 0.4, -0.3, 0.2]]
    indices = [[0, 1, 1, 3], [2, 2, 0, 0]]
    reference = run_interface(EmulatorInterface, hand_built_model(weights, indices, 20, dtype), 20)
    fast = run_interface(emulator.FastEmulatorInterface, hand_built_model(weights, indices, 20, dtype), 20)
    for ref, other in zip(reference, fast, strict=True):
        assert np.array_equal(ref, other)
    assert np.any(reference[-1]), "the hand-built block should spike"


def test_input_overflow_wraps_as_in_stock():
    """Inputs beyond the chip's 21-bit accumulator wrap, with a warning, identically."""
    weights = [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    indices = [[0, 1, 2, 3], [1, 2, 3, 4]]
    results = []
    for interface in (EmulatorInterface, emulator.FastEmulatorInterface):
        model = hand_built_model(weights, indices, 10)
        (block,) = model.blocks
        for synapse in block.synapses:
            for w in synapse.weights:
                w[:] = 2**20  # two of these overflow the 21-bit synaptic input
        with pytest.warns(UserWarning, match="Overflow"):
            results.append(run_interface(interface, model, 10))
    for ref, other in zip(*results, strict=True):
        assert np.array_equal(ref, other)


def test_last_occurrences_keeps_the_last_weight_of_each_index():
    indices, weights = emulator.last_occurrences(np.array([4, 1, 4, 2, 1]), np.array([10, 20, 30, 40, 50]))
    assert indices.tolist() == [4, 2, 1]
    assert weights.tolist() == [30, 40, 50]


def test_stock_simulator_is_left_untouched():
    net = learning_network()
    with emulator.Simulator(net, progress_bar=False) as fast:
        assert isinstance(fast.sims["emulator"], emulator.FastEmulatorInterface)
    with nengo_loihi.Simulator(net, progress_bar=False) as stock:
        assert type(stock.sims["emulator"]) is EmulatorInterface


def test_only_emulator_targets_are_accepted():
    with pytest.raises(ValueError, match="loihi"):
        emulator.Simulator(learning_network(), target="loihi")
