"""How much work, and roughly how much energy, one inference takes on Loihi.

From a finished run of the fast emulator (:class:`k2l_course.chip.emulator.Simulator`)
this module counts, per block (one block per core):

* **spikes** fired by the block's compartments;
* **synaptic operations**: for every spike that reaches the block (from
  another block or from the host), one operation per synapse it reads in the
  block's synapse memory (its fan-out into the block, zero weights included);
* **neuron updates**: every compartment is updated at every time step; an
  update is *active* when the compartment fires in that step, otherwise
  *inactive* (see :class:`LoihiEnergy`);
* **spike messages**: every spike a compartment fires travels once along
  each of its output axons (one per destination core).

:func:`estimate_energy` prices these with published per-operation figures
(:class:`LoihiEnergy`), and :func:`ann_macs` counts the multiply-accumulates
the same network needs as a conventional (ANN) Keras model, layer by layer,
for comparison (:func:`compare_with_ann`).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from tabulate import tabulate

from k2l_course import stack

#: Joules per picojoule.
PJ = 1e-12


@dataclasses.dataclass(frozen=True)
class LoihiEnergy:
    """Energy per operation on Loihi, in picojoules.

    Defaults: Davies et al., "Loihi: A Neuromorphic Manycore Processor with
    On-Chip Learning", IEEE Micro 38(1):82-99, 2018, Table 2, as commonly
    cited. Override any field to explore other figures, e.g.
    ``LoihiEnergy(synaptic_op=30.0)``.

    Assumptions of estimates made with these figures:

    * The figures are the paper's pre-silicon, per-operation dynamic
      energies (at nominal voltage); static (leakage) power, the chip's x86
      management cores, the host computer and host-chip I/O are not counted.
    * Off-chip layers are not counted: the host's to-spikes neurons cost
      nothing here, but the synaptic operations their spikes cause on the
      chip are counted.
    * A neuron update is "active" when the compartment fires in that time
      step and "inactive" otherwise. (Compartments that integrate input
      without firing are thus priced as inactive; pricing every update as
      active gives an upper bound.)
    * Every spike message is priced as a within-tile spike; extra energy for
      hops between tiles of the mesh is ignored.
    * Synaptic operations count the synapses stored for each spike's axon,
      zero weights included, as the core reads them all. On-chip learning
      synapses are not counted.

    Attributes
    ----------
    synaptic_op : float
        Per synaptic spike operation (23.6 pJ, the paper's minimum).
    neuron_update_active : float
        Per update of a firing neuron (81 pJ).
    neuron_update_inactive : float
        Per update of a neuron that does not fire (52 pJ).
    spike_within_tile : float
        Per spike message sent within a tile (1.7 pJ).
    """

    synaptic_op: float = 23.6
    neuron_update_active: float = 81.0
    neuron_update_inactive: float = 52.0
    spike_within_tile: float = 1.7


@dataclasses.dataclass(frozen=True)
class BlockActivity:
    """What one block (core) did during a run.

    Attributes
    ----------
    label : str
        The block's label.
    layer : str
        The ensemble (layer) the block belongs to, e.g. ``conv0``.
    compartments : int
    steps : int
        Time steps run.
    spikes : int
        Spikes fired by the block's compartments.
    synaptic_ops : int
        Synaptic operations in the block's synapse memory (spikes received
        times their fan-out into the block).
    spike_messages : int
        Spikes sent along the block's output axons.
    """

    label: str
    layer: str
    compartments: int
    steps: int
    spikes: int
    synaptic_ops: int
    spike_messages: int

    @property
    def neuron_updates(self):
        """Compartment updates: every compartment at every step."""
        return self.compartments * self.steps

    @property
    def active_updates(self):
        """Updates in which the compartment fired."""
        return self.spikes

    @property
    def inactive_updates(self):
        """Updates in which the compartment did not fire."""
        return self.neuron_updates - self.spikes


@dataclasses.dataclass(frozen=True)
class Activity:
    """What the chip did during a run of ``n_inferences`` inferences.

    Attributes
    ----------
    blocks : list of BlockActivity
    n_inferences : int
        Inferences (presented images) in the run; per-inference figures
        divide by it.
    input_spikes : int
        Spikes the host sent to the chip.
    """

    blocks: list
    n_inferences: int
    input_spikes: int

    def total(self, field):
        """Sum of a :class:`BlockActivity` field (or property) over all blocks."""
        return sum(getattr(b, field) for b in self.blocks)

    def per_inference(self, field):
        """Mean of a summed field per inference."""
        return self.total(field) / self.n_inferences

    def by_layer(self, field):
        """Sum of a field per layer, in block order.

        Returns
        -------
        dict of str -> int
        """
        out = {}
        for b in self.blocks:
            out[b.layer] = out.get(b.layer, 0) + getattr(b, field)
        return out


def layer_of(block_label):
    """The layer a block belongs to, from its label.

    ``"<Ensemble 'conv0.0'>[3]"`` -> ``"conv0"``: the ensemble's label without
    the block index, and without the ``.0`` suffix nengo-dl's converter adds
    to a layer's ensemble.
    """
    label = str(block_label)
    match = re.match(r"<Ensemble '([^']*)'>", label)
    name = match.group(1) if match else re.sub(r"\[[^\]]*\]$", "", label)
    return re.sub(r"\.\d+$", "", name)


def _source_spike_counts(emu):
    """Spikes of every routing source: chip compartments, then host-input neurons."""
    routing = emu.synapses.routing
    counts = np.zeros(routing.n_sources, dtype=np.int64)
    n_compartments = routing.n_compartments
    counts[:n_compartments] = emu.compartment.spike_count
    for spike_input in emu.inputs:
        offset = routing.input_offsets[id(spike_input)]
        counts[offset : offset + spike_input.n_neurons] = emu.synapses.input_spike_counts[id(spike_input)]
    return counts


def _synaptic_ops_per_compartment(emu):
    """Synaptic operations landing on each compartment: sum of its sources' spikes."""
    routing = emu.synapses.routing
    counts = _source_spike_counts(emu)
    event_sources = np.repeat(np.arange(routing.n_sources), routing.fan_out())
    # float64 sums of integer counts are exact below 2**53 operations
    ops = np.bincount(routing.targets, weights=counts[event_sources], minlength=routing.n_compartments)
    return np.rint(ops).astype(np.int64)


def _spike_messages(block, spike_count):
    """Spikes sent along a block's output axons (dropped compartments send none)."""
    total = 0
    for axon in block.axons:
        if axon.compartment_map is None:
            total += int(spike_count.sum())
        else:
            total += int(spike_count[np.asarray(axon.compartment_map) >= 0].sum())
    return total


def measure_activity(sim, n_inferences=1):
    """Count what every block did in a finished run of the fast emulator.

    Parameters
    ----------
    sim : k2l_course.chip.emulator.Simulator
        After ``run``; its counts cover the whole run.
    n_inferences : int
        Inferences (presented images) the run contained.

    Returns
    -------
    Activity
    """
    from k2l_course.chip.emulator import FastEmulatorInterface  # imports nengo-loihi

    emu = sim.sims.get("emulator")
    if not isinstance(emu, FastEmulatorInterface):
        raise TypeError("measure_activity needs a run of k2l_course.chip.emulator.Simulator (it counts host spikes)")
    return emulator_activity(emu, n_steps=sim.n_steps, n_inferences=n_inferences)


def emulator_activity(emu, n_steps, n_inferences=1):
    """:func:`measure_activity` from a :class:`~k2l_course.chip.emulator.FastEmulatorInterface`.

    Parameters
    ----------
    emu : k2l_course.chip.emulator.FastEmulatorInterface
        After ``n_steps`` steps.
    n_steps : int
    n_inferences : int

    Returns
    -------
    Activity
    """
    ops = _synaptic_ops_per_compartment(emu)
    blocks = []
    for block, sl in emu.block_info.slices.items():
        spike_count = emu.compartment.spike_count[sl]
        blocks.append(
            BlockActivity(
                label=str(block.label or block),
                layer=layer_of(block.label or block),
                compartments=block.n_neurons,
                steps=int(n_steps),
                spikes=int(spike_count.sum()),
                synaptic_ops=int(ops[sl].sum()),
                spike_messages=_spike_messages(block, spike_count),
            )
        )
    input_spikes = int(sum(c.sum() for c in emu.synapses.input_spike_counts.values()))
    return Activity(blocks=blocks, n_inferences=int(n_inferences), input_spikes=input_spikes)


@dataclasses.dataclass(frozen=True)
class EnergyEstimate:
    """Dynamic energy of one inference, by kind of operation, in joules.

    Attributes
    ----------
    synaptic : float
    neuron_active : float
    neuron_inactive : float
    spike_messages : float
    constants : LoihiEnergy
        The figures used.
    """

    synaptic: float
    neuron_active: float
    neuron_inactive: float
    spike_messages: float
    constants: LoihiEnergy

    @property
    def total(self):
        """Joules per inference, all operations."""
        return self.synaptic + self.neuron_active + self.neuron_inactive + self.spike_messages

    def as_dict(self):
        """Joules per inference by kind, plus ``"total"``."""
        return {
            "synaptic": self.synaptic,
            "neuron_active": self.neuron_active,
            "neuron_inactive": self.neuron_inactive,
            "spike_messages": self.spike_messages,
            "total": self.total,
        }


def estimate_energy(activity, constants=LoihiEnergy()):
    """Price one inference's operations with per-operation energies.

    Parameters
    ----------
    activity : Activity
    constants : LoihiEnergy
        Picojoules per operation (see its assumptions).

    Returns
    -------
    EnergyEstimate
    """
    per = activity.per_inference
    return EnergyEstimate(
        synaptic=per("synaptic_ops") * constants.synaptic_op * PJ,
        neuron_active=per("active_updates") * constants.neuron_update_active * PJ,
        neuron_inactive=per("inactive_updates") * constants.neuron_update_inactive * PJ,
        spike_messages=per("spike_messages") * constants.spike_within_tile * PJ,
        constants=constants,
    )


def ann_macs(model):
    """Multiply-accumulates of one inference of a Keras model, per layer.

    Conv2D: output positions x filters x kernel height x width x input
    channels; Dense: inputs x units. Other layers (input, flatten) count
    none; biases and activations are not MACs.

    Parameters
    ----------
    model : tf.keras.Model

    Returns
    -------
    dict of str -> int
        By layer name, for the Conv2D and Dense layers, in model order.
    """
    tf = stack.tf
    macs = {}
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            out_positions = int(np.prod(layer.output_shape[1:-1]))
            macs[layer.name] = out_positions * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, tf.keras.layers.Dense):
            macs[layer.name] = int(np.prod(layer.kernel.shape))
    return macs


def compare_with_ann(activity, macs):
    """Synaptic operations on the chip against the ANN's MACs, per on-chip layer.

    The synaptic operations of a layer are those in its blocks' synapse
    memories, i.e. caused by the spikes of the layer *before* it, which is
    what the layer's MACs compute in the ANN.

    Parameters
    ----------
    activity : Activity
    macs : dict of str -> int
        From :func:`ann_macs`.

    Returns
    -------
    list of dict
        Per on-chip layer: ``layer``, ``synaptic_ops`` (per inference),
        ``macs``, and ``ratio`` (synaptic ops per MAC).
    """
    ops = activity.by_layer("synaptic_ops")
    rows = []
    for layer, total in ops.items():
        per_inference = total / activity.n_inferences
        layer_macs = macs.get(layer)
        ratio = per_inference / layer_macs if layer_macs else float("nan")
        rows.append({"layer": layer, "synaptic_ops": per_inference, "macs": layer_macs, "ratio": ratio})
    return rows


def format_report(activity, estimate, macs=None):
    """A plain-text summary: activity per layer, energy per inference, ANN MACs."""
    n = activity.n_inferences
    lines = [f"per inference (mean of {n}):"]
    cores = {}
    for b in activity.blocks:
        cores[b.layer] = cores.get(b.layer, 0) + 1
    spikes, ops, updates = (activity.by_layer(f) for f in ("spikes", "synaptic_ops", "neuron_updates"))
    rows = [
        [layer, cores[layer], f"{spikes[layer] / n:,.0f}", f"{ops[layer] / n:,.0f}", f"{updates[layer] / n:,.0f}",
         f"{macs[layer]:,}" if macs and layer in macs else "-"]  # fmt: skip
        for layer in cores
    ]
    headers = ["layer", "cores", "spikes", "synaptic ops", "neuron updates", "ANN MACs"]
    lines.append(tabulate(rows, headers, colalign=("left",) + ("right",) * 5, disable_numparse=True))
    lines.append(f"host spikes into the chip: {activity.input_spikes / n:,.0f}")
    lines.append("energy (dynamic, Davies et al. 2018 figures):")
    for kind, joules in estimate.as_dict().items():
        lines.append(f"  {kind:<16}{joules * 1e6:>10.3f} uJ")
    if macs:
        lines.append(f"ANN: {sum(macs.values()):,} MACs per inference (all layers, on and off chip)")
    return "\n".join(lines)
