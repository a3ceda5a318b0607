"""Digests of the chapter-5 chip as nengo-loihi builds and runs it, to compare environments.

The course environment (NumPy 1.24, nengo 3.2) and the students' Python 3.13
environment (NumPy 2, nengo 4.1, with :mod:`k2l_course.nengo_loihi_numpy2`)
must put the same chip on Loihi. :func:`chip_digests` builds the chip network
with nengo-loihi's emulator and returns a SHA-256 of every discretized
parameter of every block (each compartment, synapse and axon array after the
build) and of the spikes of every on-chip layer and the output while the
chip is shown the given images; equal digests from two interpreters mean a
bit-identical chip.

The network is :func:`k2l_course.chip.seed_network.seed_network`:
the converted seed network's neurons, connections and shapes (the test suite
proves each block uses the same resources as in nengo-dl's conversion), the
seed's block shapes (:data:`k2l_course.chip.loihi.SEED_BLOCK_SHAPES`), the
deployment's scale and synapse, with deterministic random weights: it needs
neither TensorFlow nor nengo-dl (which the students' environment does not
have), so both interpreters build it from the same code.

Run as ``python -m k2l_course.chip.build_digest IMAGES.npy``; prints the
digests as JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from k2l_course.chip.loihi import PRESENTATION_TIME, SEED_BLOCK_SHAPES

#: Seed of the network's random weights (:func:`k2l_course.chip.seed_network.seed_network`).
WEIGHT_SEED = 0


def array_digest(value):
    """SHA-256 of an array's dtype, shape and bytes (little-endian, C order)."""
    array = np.ascontiguousarray(value)
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _value_digest(value):
    """Digest of a parameter: arrays by their bytes, numbers and plain values by their repr."""
    if isinstance(value, np.ndarray):
        return array_digest(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, np.ndarray) for v in value):
        return [array_digest(v) for v in value]
    if isinstance(value, (bool, int, float, str, type(None), np.generic)):
        return repr(value.item() if isinstance(value, np.generic) else value)
    if isinstance(value, dict):
        return {str(k): _value_digest(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return None  # a reference to another object of the model (a block, an axon's target...)


def _object_digests(obj):
    """Digest of each plain attribute of a compartment, synapse or axon (references left out).

    A compartment's ``discretize_info`` is left out too: it records the
    floating-point scales the discretization used (see :func:`block_scales`),
    not a value the chip holds.
    """
    digests = {}
    for name, value in sorted(vars(obj).items()):
        if name == "discretize_info":
            continue
        digest = _value_digest(value)
        if digest is not None:
            digests[name] = digest
    config = getattr(obj, "synapse_cfg", None)
    if config is not None:
        digests["synapse_cfg"] = _value_digest(dict(vars(config)))
    return digests


def block_digests(model):
    """Per built block, the digests of its compartment, synapses and axons.

    Parameters
    ----------
    model : nengo_loihi.builder.Model
        Built and discretized.

    Returns
    -------
    dict of str -> dict
        By block label (with the block's index, labels repeat).
    """
    blocks = {}
    for index, block in enumerate(model.blocks):
        blocks[f"{index}:{block.label}"] = {
            "compartment": _object_digests(block.compartment),
            "synapses": [_object_digests(s) for s in block.synapses],
            "axons": [_object_digests(a) for a in block.axons],
        }
    return blocks


def block_scales(model):
    """Per built block, the scales its discretization used (``compartment.discretize_info``).

    They are not chip parameters: the integers they produced are (in
    :func:`block_digests`). NumPy 2 computes some of them in float32 where
    NumPy 1 promoted to float64 (NEP 50), so they agree to float32 precision
    only, while the integers agree exactly.

    Returns
    -------
    dict of str -> dict of str -> list of float
    """
    scales = {}
    for index, block in enumerate(model.blocks):
        info = getattr(block.compartment, "discretize_info", None) or {}
        scales[f"{index}:{block.label}"] = {
            name: [float(v) for v in np.ravel(value)] for name, value in sorted(info.items())
        }
    return scales


def chip_digests(images):
    """Build the chip network, show it ``images``, digest its parameters and spikes.

    Parameters
    ----------
    images : ndarray, shape (n, 28, 28)

    Returns
    -------
    dict
        ``blocks`` (:func:`block_digests`), ``scales`` (:func:`block_scales`), ``spikes`` (layer -> digest of the
        spikes at every step, and the output's digest under ``"output"``),
        ``spike_counts`` (layer -> total, to see the layers spike) and
        ``versions``.
    """
    from k2l_course import stack
    from k2l_course.chip.seed_network import seed_network
    from k2l_course.pipeline.data import to_sequences
    from k2l_course.pipeline.model import ON_CHIP_LAYERS

    nengo, nengo_loihi = stack.nengo, stack.nengo_loihi
    net, _ = seed_network(nengo, nengo_loihi, SEED_BLOCK_SHAPES, seed=WEIGHT_SEED)
    flat = to_sequences(np.asarray(images), 1)[:, 0, :]
    probes = {}
    with net:
        (node,) = [n for n in net.all_nodes if n.label == "input"]
        node.output = nengo.processes.PresentInput(flat, presentation_time=PRESENTATION_TIME)
        for ensemble in net.all_ensembles:
            if ensemble.label in ON_CHIP_LAYERS:
                probes[ensemble.label] = nengo.Probe(ensemble.neurons)
        (output,) = [n for n in net.all_nodes if n.label == "output"]
        probes["output"] = nengo.Probe(output)
    with nengo_loihi.Simulator(net, target="sim", progress_bar=False) as sim:
        blocks, scales = block_digests(sim.model), block_scales(sim.model)
        sim.run_steps(int(round(PRESENTATION_TIME / sim.dt)) * len(flat))
        data = {name: np.asarray(sim.data[probe]) for name, probe in probes.items()}
    return {
        "blocks": blocks,
        "scales": scales,
        "spikes": {name: array_digest(values) for name, values in data.items()},
        "spike_counts": {name: int(np.count_nonzero(values)) for name, values in data.items() if name != "output"},
        "versions": {"numpy": np.__version__, "nengo": nengo.__version__, "nengo_loihi": nengo_loihi.__version__},
    }


def main():
    """Digest the chip shown the images of ``sys.argv[1]`` (a ``.npy``); print JSON."""
    sys.modules.setdefault("tensorflow", None)  # nengo-loihi then skips nengo-dl: faster, same builder
    sys.modules.setdefault("nengo_dl", None)
    images = np.load(sys.argv[1])
    print(json.dumps(chip_digests(images), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
