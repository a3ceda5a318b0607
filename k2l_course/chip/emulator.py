"""A faster, bit-exact spike delivery for nengo-loihi 1.1's chip emulator.

nengo-loihi's emulator (``nengo_loihi.emulator.interface``) delivers spikes one
at a time in Python: every spike becomes an ``Axon.Spike`` object, and every
spike's weights are added with a fancy-indexed ``+=``. For the course's
network that is tens of thousands of small NumPy calls per image, and it is
where almost all of the emulator's time goes.

This module precomputes, once, where a spike from each *source* (a chip
compartment, or a neuron of a host-to-chip spike input) lands: the global
compartment indices and weights of all its synapses, in one CSR table (a
sparse matrix with one row per source). Each step then sums the rows of the
sources that spiked, in one sparse operation (integer chips), or adds their
weights one by one in the stock order with ``np.add.at`` (floating-point
``"simreal"`` chips).

Bit-exactness
-------------
The results are identical, bit for bit, to the stock emulator's:

* **Duplicates within one spike.** The stock ``qb[0, base + indices] +=
  weights`` applies only the *last* weight of a compartment repeated within
  one spike (NumPy's buffered fancy assignment); the table keeps the last one.
* **Integer chips** (the default, discretized target ``"sim"``). The input
  accumulator is ``int32`` and wraps on overflow, so it is arithmetic modulo
  2**32, in which the order of additions does not matter. The rows are
  summed in ``int64`` (exact: fewer than 2**32 int32 weights cannot reach
  2**63), wrapped to ``int32`` and added, which gives the stock result modulo
  2**32, i.e. exactly.
* **Floating-point chips** (``target="simreal"``). Order matters, so the
  events are stably sorted into the stock order (synapse by synapse; within
  a synapse, host inputs first, then axons in order, then spikes in order)
  and added one by one in float32 with ``np.add.at``.
* **Compartment dynamics** are the stock code's. On integer chips two
  no-op steps are skipped: the overflow wrap of values that are all in range
  (the wrap is then the identity), and the noise draw when no compartment has
  noise enabled and nothing else draws from the random generator (the noise
  is then all zeros).

Synapses with on-chip learning (PES) change their weights while the network
runs; they keep the stock per-spike code on integer chips, and are refused
(``NotImplementedError``) on floating-point chips.

Use :class:`Simulator` in place of ``nengo_loihi.Simulator``; the stock
simulator is untouched and stays the reference. Nothing is patched globally.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from k2l_course import stack

nengo, nengo_loihi = stack.nengo, stack.nengo_loihi

from nengo_loihi.builder.discretize import Q_BITS, U_BITS  # noqa: E402
from nengo_loihi.emulator import interface as stock  # noqa: E402
from nengo_loihi.simulator import StepRunner  # noqa: E402


class RoutingTable:
    """Where the spike of each source lands: compartments and weights.

    Sources are numbered globally: first every chip compartment (in the
    emulator's compartment order), then the neurons of each host-to-chip
    spike input in turn (see :attr:`input_offsets`).

    Attributes
    ----------
    n_compartments : int
        Compartments on the chip (the length of the emulator's input arrays).
    input_offsets : dict of int -> int
        ``id(spike_input)`` to the source number of its neuron 0.
    ptr : ndarray of int64, shape (n_sources + 1,)
        Events of source ``s`` are ``ptr[s]:ptr[s + 1]``.
    targets : ndarray of intp, shape (n_events,)
        Global compartment index of each event.
    weights : ndarray, shape (n_events,)
        Weight of each event, in the blocks' dtype (int32 or float32).
    ranks : ndarray of int64, shape (n_events,)
        Stock delivery order of each event's axon (used on float chips).
    matrix : scipy.sparse.csr_matrix of int64, shape (n_sources, n_compartments)
        The table as a sparse matrix, on integer chips (None on float chips).
    """

    def __init__(self, n_compartments, input_offsets, ptr, targets, weights, ranks):
        self.n_compartments = n_compartments
        self.input_offsets = input_offsets
        self.ptr = ptr
        self.targets = targets
        self.weights = weights
        self.ranks = ranks
        self.matrix = None
        if weights.dtype == np.int32:
            self.matrix = scipy.sparse.csr_matrix(
                (weights.astype(np.int64), targets, ptr), shape=(len(ptr) - 1, n_compartments)
            )

    @property
    def n_sources(self):
        """Number of sources (chip compartments plus spike-input neurons)."""
        return len(self.ptr) - 1

    @property
    def n_events(self):
        """Number of synapses in the table (all sources' fan-outs together)."""
        return len(self.targets)

    def fan_out(self):
        """Synapses reached by one spike of each source, shape (n_sources,)."""
        return np.diff(self.ptr)

    def gather(self, sources):
        """Positions in the table of the events of ``sources``, in source order.

        Parameters
        ----------
        sources : ndarray of int
            Sources that spiked (repeats allowed: each one delivers again).

        Returns
        -------
        ndarray of intp
        """
        starts = self.ptr[sources]
        return segment_positions(starts, self.ptr[sources + 1] - starts)


def last_occurrences(indices, weights):
    """Keep only the last weight of each repeated index, as fancy ``+=`` does.

    ``x[indices] += weights`` reads all the old values, then writes each sum;
    for an index given twice the last write wins, so only its last weight is
    added.

    Parameters
    ----------
    indices, weights : ndarray, shape (n,)

    Returns
    -------
    indices, weights : ndarray
        The kept entries, in their original order.
    """
    indices = np.asarray(indices)
    unique_reversed, first_in_reversed = np.unique(indices[::-1], return_index=True)
    if len(unique_reversed) == len(indices):
        return indices, np.asarray(weights)
    keep = np.sort(len(indices) - 1 - first_in_reversed)
    return indices[keep], np.asarray(weights)[keep]


def segment_positions(starts, lengths):
    """Concatenated ``arange(start, start + length)`` of every segment.

    Parameters
    ----------
    starts, lengths : ndarray of int, shape (n,)

    Returns
    -------
    ndarray of int64, shape (lengths.sum(),)
    """
    ends = np.cumsum(lengths)
    n_total = int(ends[-1]) if len(ends) else 0
    return np.arange(n_total) + np.repeat(starts - (ends - lengths), lengths)


def _axon_source_map(axon, n_sources):
    """Target axon and atom of each source compartment of ``axon``."""
    if axon.compartment_map is None:
        axon_ids = np.arange(n_sources)
    else:
        axon_ids = np.asarray(axon.compartment_map, dtype=np.int64)
    if axon.compartment_atoms is None:
        atoms = np.zeros(len(axon_ids), dtype=np.int64)
    else:
        atoms = np.asarray(axon.compartment_atoms, dtype=np.int64)
    if len(axon_ids) != n_sources or len(atoms) != n_sources:
        raise ValueError(f"{axon}: compartment map covers {len(axon_ids)} of {n_sources} source compartments")
    return axon_ids, atoms


def _synapse_rows(synapse, keys):
    """Deduplicated weight rows of a synapse, concatenated.

    Parameters
    ----------
    synapse : nengo_loihi.block.Synapse
    keys : ndarray of int, shape (n_rows, 2)
        ``(weight index, atom)`` of each row.

    Returns
    -------
    ptr : ndarray of int64, shape (n_rows + 1,)
    indices : ndarray of intp
        Compartment index (before the axon's base) of each entry.
    weights : ndarray
    """
    indices, weights = [], []
    for weight_idx, atom in keys.tolist():
        i, w = last_occurrences(synapse.indices[weight_idx][atom].astype(np.intp), synapse.weights[weight_idx][atom])
        indices.append(i)
        weights.append(w)
    ptr = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([len(i) for i in indices], out=ptr[1:])
    return ptr, np.concatenate(indices), np.concatenate(weights)


def _axon_events(axon, n_sources, target_start, n_targets):
    """Events of every source of one axon, as stock ``update_input`` would add them.

    A source compartment ``c`` sends a spike to axon ``a = compartment_map[c]``
    (none if negative) with atom ``compartment_atoms[c]``; the synapse adds
    row ``atom`` of the weights of ``a`` to compartments ``base(a) +
    indices`` (none if the base is negative).

    Parameters
    ----------
    axon : nengo_loihi.block.Axon
    n_sources : int
        Compartments (or spike-input neurons) that send through ``axon``.
    target_start, n_targets : int
        Global index of the target block's compartment 0, and its size.

    Returns
    -------
    sources : ndarray of int64
        Source compartment of each event, local to the sending block or input.
    targets : ndarray of intp
        Global compartment index of each event.
    weights : ndarray
        Weight of each event (the synapse's dtype).
    """
    synapse = axon.target
    axon_ids, atoms = _axon_source_map(axon, n_sources)
    if np.any(axon_ids >= synapse.n_axons):
        raise ValueError(f"{axon}: compartments target axons beyond the {synapse.n_axons} of {synapse}")
    sources = np.flatnonzero(axon_ids >= 0)  # stock: map_spikes drops the others
    axon_ids, atoms = axon_ids[sources], atoms[sources]
    if synapse.axon_compartment_bases is None:
        bases = np.zeros(len(sources), dtype=np.int64)
    else:
        bases = np.asarray(synapse.axon_compartment_bases, dtype=np.int64)[axon_ids]
        used = bases >= 0  # stock: a negative base marks an unused axon
        sources, axon_ids, atoms, bases = sources[used], axon_ids[used], atoms[used], bases[used]
    if synapse.axon_to_weight_map is None:
        weight_ids = axon_ids
    else:
        weight_ids = np.asarray(synapse.axon_to_weight_map, dtype=np.int64)[axon_ids]
    n_populations = np.array([w.shape[0] for w in synapse.weights])[weight_ids]
    if np.any((atoms < -n_populations) | (atoms >= n_populations)):
        raise ValueError(f"{axon}: atoms beyond the populations of {synapse}")
    atoms = atoms % n_populations  # Python indexing, as stock ``w[atom, :]``

    keys, row_of_source = np.unique(np.stack([weight_ids, atoms], axis=1), axis=0, return_inverse=True)
    row_of_source = row_of_source.reshape(-1)
    row_ptr, row_indices, row_weights = _synapse_rows(synapse, keys)
    lengths = np.diff(row_ptr)[row_of_source]
    positions = segment_positions(row_ptr[row_of_source], lengths)
    local = np.repeat(bases, lengths) + row_indices[positions]
    if len(local) and (local.min() < 0 or local.max() >= n_targets):
        raise ValueError(f"{synapse}: axons reach compartments outside their block")
    return np.repeat(sources, lengths), target_start + local, row_weights[positions]


def _delivery_ranks(block_info, inputs, axon_slices):
    """Stock delivery order of every axon, as a dict ``id(axon) -> rank``.

    The stock ``update_input`` visits synapses in block order, and within a
    synapse the spikes of host inputs first, then those of chip axons, each
    group in axon order.
    """
    synapse_rank = {}
    for block in block_info.blocks:
        for synapse in block.synapses:
            synapse_rank[id(synapse)] = len(synapse_rank)
    keys = []
    for spike_input in inputs:
        for axon in spike_input.axons:
            keys.append((synapse_rank[id(axon.target)], 0, len(keys), id(axon)))
    for axon in axon_slices:
        keys.append((synapse_rank[id(axon.target)], 1, len(keys), id(axon)))
    return {key[-1]: rank for rank, key in enumerate(sorted(keys))}


def build_routing(block_info, inputs, axon_slices, skip=()):
    """Precompute the :class:`RoutingTable` of a built nengo-loihi model.

    Parameters
    ----------
    block_info : nengo_loihi.emulator.interface.BlockInfo
    inputs : list of nengo_loihi.inputs.SpikeInput
    axon_slices : dict of Axon -> slice
        Each chip axon and the compartments of the block that sends through it
        (``AxonState.slices`` of the emulator).
    skip : collection of Synapse
        Synapses left out of the table (learning ones, delivered by stock code).

    Returns
    -------
    RoutingTable
    """
    dtype = block_info.dtype
    skip_ids = {id(s) for s in skip}
    block_of = {id(s): b for b in block_info.blocks for s in b.synapses}
    ranks = _delivery_ranks(block_info, inputs, axon_slices)

    n_compartments = block_info.n_compartments
    input_offsets = {}
    senders = []  # (axon, n_sources, global source of local 0)
    for axon, sl in axon_slices.items():
        senders.append((axon, sl.stop - sl.start, sl.start))
    offset = n_compartments
    for spike_input in inputs:
        input_offsets[id(spike_input)] = offset
        for axon in spike_input.axons:
            senders.append((axon, spike_input.n_neurons, offset))
        offset += spike_input.n_neurons
    n_sources = offset

    sources, targets, weights, event_ranks = [], [], [], []
    for axon, n_from, source_start in senders:
        synapse = axon.target
        if id(synapse) in skip_ids:
            continue
        target_slice = block_info.slices[block_of[id(synapse)]]
        n_targets = target_slice.stop - target_slice.start
        source, target, weight = _axon_events(axon, n_from, target_slice.start, n_targets)
        sources.append(source_start + source)
        targets.append(target)
        weights.append(weight)
        event_ranks.append(np.full(len(target), ranks[id(axon)], dtype=np.int64))

    def cat(chunks, dt):
        return np.concatenate(chunks).astype(dt, copy=False) if chunks else np.zeros(0, dtype=dt)

    sources = cat(sources, np.int64)
    order = np.argsort(sources, kind="stable")
    targets = cat(targets, np.intp)[order]
    event_ranks = cat(event_ranks, np.int64)[order]
    weights = cat(weights, dtype)[order]
    ptr = np.zeros(n_sources + 1, dtype=np.int64)
    np.cumsum(np.bincount(sources, minlength=n_sources), out=ptr[1:])

    return RoutingTable(n_compartments, input_offsets, ptr, targets, weights, event_ranks)


class FastSynapseState(stock.SynapseState):
    """``SynapseState`` delivering static synapses' spikes in bulk.

    Parameters are those of ``nengo_loihi.emulator.interface.SynapseState``,
    plus the model's ``inputs`` and the emulator's ``axons`` state.

    Attributes
    ----------
    routing : RoutingTable
        Static synapses of the model.
    learning : list of Synapse
        Synapses delivered by the stock per-spike code.
    input_spike_counts : dict of int -> ndarray of int64
        ``id(spike_input)`` to the spikes each of its neurons sent to the chip
        (the chip's own compartments count theirs in ``spike_count``).
    """

    def __init__(self, block_info, inputs, axons, pes_error_scale=1.0, strict=True):
        super().__init__(block_info, pes_error_scale=pes_error_scale, strict=strict)
        self.learning = [s for s in self.slices if s.learning]
        if self.learning and self.dtype != np.int32:
            raise NotImplementedError(
                "the fast emulator does not support on-chip learning with floating-point "
                "(target='simreal') blocks; use nengo_loihi.Simulator"
            )
        learning_ids = {id(s) for s in self.learning}
        self._learning_axons = [(a, sl) for a, sl in axons.items() if id(a.target) in learning_ids]
        self._learning_input_axons = {
            id(i): [a for a in i.axons if id(a.target) in learning_ids] for i in inputs
        }
        self.routing = build_routing(block_info, inputs, axons.slices, skip=self.learning)
        self.input_spike_counts = {id(i): np.zeros(i.n_neurons, dtype=np.int64) for i in inputs}
        self._sources = np.zeros(0, dtype=np.intp)

    def inject_current(self, t, spike_inputs, all_axons, spiked):
        """Collect this step's spiking sources (stock spike lists for learning synapses)."""
        for spike_queue in self.spikes_in.values():
            spike_queue.clear()
        parts = [np.flatnonzero(spiked)]
        if t >= 2:  # input spikes take one time-step to arrive
            for spike_input in spike_inputs:
                idxs = np.asarray(spike_input.spike_idxs(t - 1), dtype=np.intp)
                counts = self.input_spike_counts[id(spike_input)]
                counts += np.bincount(idxs, minlength=len(counts))
                parts.append(idxs + self.routing.input_offsets[id(spike_input)])
                for axon in self._learning_input_axons[id(spike_input)]:
                    spikes = axon.map_spikes(idxs)
                    self.spikes_in[axon.target].extend(s for s in spikes if s is not None)
        for axon, a_idx in self._learning_axons:
            spikes = axon.map_spikes(spiked[a_idx].nonzero()[0])
            self.spikes_in[axon.target].extend(s for s in spikes if s is not None)
        self._sources = np.concatenate(parts) if len(parts) > 1 else parts[0]

    def update_input(self, input):
        """Add this step's synaptic input to ``input[0]``, as the stock code does."""
        if len(self._sources):
            self._deliver(input[0])
        for synapse in self.learning:
            self._deliver_stock(synapse, input)

    def _deliver(self, q):
        routing = self.routing
        if routing.matrix is not None:
            total = np.asarray(routing.matrix[self._sources].sum(axis=0)).reshape(-1)
            q += total.astype(np.int32)  # modulo 2**32, as the stock int32 sums wrap
        else:
            events = routing.gather(self._sources)
            order = np.argsort(routing.ranks[events], kind="stable")
            np.add.at(q, routing.targets[events[order]], routing.weights[events[order]])

    def _deliver_stock(self, synapse, input):
        """The stock ``update_input`` loop, for one (learning) synapse."""
        qb = input[:, self.slices[synapse]]
        for spike in self.spikes_in[synapse]:
            base = synapse.axon_compartment_base(spike.axon_idx)
            if base is None:
                continue
            weights, indices = synapse.axon_weights_indices(spike.axon_idx, atom=spike.atom)
            qb[0, base + indices] += weights


def _wrap_if_overflowed(x, bits, error, name):
    """Stock overflow wrap, skipped when every value is in range (then a no-op)."""
    limit = 1 << bits
    if len(x) and (x.min() < -limit or x.max() >= limit):
        _, overflowed = stock.overflow_signed(x, bits=bits, out=x)
        if np.any(overflowed):
            error("Overflow in %s" % name)


class FastCompartmentState(stock.CompartmentState):
    """``CompartmentState`` that skips provable no-ops on integer chips.

    Parameters
    ----------
    block_info : BlockInfo
    strict : bool
    draws_random : bool
        Whether anything besides noise draws from the emulator's random
        generator (learning does); then noise is always drawn, as in stock.
    """

    def __init__(self, block_info, strict=True, draws_random=False):
        super().__init__(block_info, strict=strict)
        self.noise_needed = bool(np.any(self.noise.enabled)) or draws_random
        r_u = (2**12 - 1 - np.asarray(self.decay_u)).astype(np.int64)
        r_v = (2**12 - np.asarray(self.decay_v)).astype(np.int64)
        self._decay_r = (r_u, r_v)

    def update(self, rng):
        """One step of the compartments, identical to the stock ``update``."""
        if self.dtype != np.int32 or self.noise_needed:
            return super().update(rng)
        q0 = self.input[0, :]
        _wrap_if_overflowed(q0, Q_BITS, self.error, "q0")
        r_u, r_v = self._decay_r
        self.current[:] = _decay(self.current, r_u) + q0
        _wrap_if_overflowed(self.current, U_BITS, self.error, "current")
        u2 = self.current + self.bias
        _wrap_if_overflowed(u2, U_BITS, self.error, "u2")
        self.voltage[:] = _decay(self.voltage, r_v) + u2
        np.clip(self.voltage, self.vmin, self.vmax, out=self.voltage)
        self.voltage[self.ref_count > 0] = 0
        spiked = np.greater(self.voltage, self.vth, out=self.spiked)
        self.voltage[spiked] = 0
        self.ref_count[spiked] = self.ref[spiked]
        np.clip(self.ref_count - 1, 0, None, out=self.ref_count)
        self.spike_count[spiked] += 1


def _decay(x, r, bits=12):
    """``nengo_loihi.builder.discretize.decay_int`` with a precomputed factor."""
    out = np.zeros_like(x)
    np.right_shift(np.abs(x) * r, bits, out=out)
    return np.sign(x) * out


class FastEmulatorInterface(stock.EmulatorInterface):
    """nengo-loihi's ``EmulatorInterface`` with bulk spike delivery.

    Parameters
    ----------
    model : nengo_loihi.builder.Model
    seed : int, optional
        Seed of the emulator's random generator (noise, learning rounding).
    """

    def __init__(self, model, seed=None):
        super().__init__(model, seed=seed)
        self.synapses = FastSynapseState(
            self.block_info,
            self.inputs,
            self.axons,
            pes_error_scale=getattr(model, "pes_error_scale", 1.0),
            strict=self.strict,
        )
        self.compartment = FastCompartmentState(
            self.block_info, strict=self.strict, draws_random=bool(self.synapses.learning)
        )


class Simulator(nengo_loihi.Simulator):
    """``nengo_loihi.Simulator`` running the fast emulator.

    Takes the same arguments; ``target`` must be ``"sim"`` (the default here,
    even where NxSDK is installed) or ``"simreal"``. With the same ``seed`` the
    probes are bit-identical to ``nengo_loihi.Simulator``'s.
    """

    def __init__(self, network, *args, target="sim", **kwargs):
        if target not in ("sim", "simreal"):
            self.closed = True  # for nengo_loihi.Simulator.__del__
            raise ValueError(f"the fast emulator runs target 'sim' or 'simreal', not {target!r}")
        super().__init__(network, *args, target=target, **kwargs)
        reference = self.sims["emulator"]
        self.sims["emulator"] = FastEmulatorInterface(self.model, seed=reference.seed)
        reference.close()
        self._runner = StepRunner(self.model, self.sims, self.precompute, self.timers)

    @property
    def emulator(self):
        """The running :class:`FastEmulatorInterface`."""
        return self.sims["emulator"]


def probe_data(sim):
    """The data of every probe of the simulated network, by probe.

    Parameters
    ----------
    sim : nengo_loihi.Simulator

    Returns
    -------
    dict of nengo.Probe -> ndarray
    """
    return {probe: np.asarray(sim.data[probe]) for probe in sim.network.all_probes}


def mismatches(reference, candidate):
    """Probes whose data differ (shape, dtype or any bit) between two runs.

    Parameters
    ----------
    reference, candidate : dict of nengo.Probe -> ndarray
        From :func:`probe_data` of two simulators of the same network.

    Returns
    -------
    list of str
        Labels of the probes that differ; empty when the runs are identical.
    """
    if set(reference) != set(candidate):
        return ["<different probes>"]
    bad = []
    for probe, ref in reference.items():
        other = candidate[probe]
        if ref.dtype != other.dtype or not np.array_equal(ref, other):
            bad.append(str(probe.label or probe))
    return bad
