"""Many independent chips in one vectorised step: a batched, bit-exact emulator.

:class:`k2l_course.chip.emulator.Simulator` runs one chip; every step costs tens of
NumPy calls whatever the chip does, and for one image of 30 steps that fixed
cost dominates. :class:`BatchedSimulator` runs ``n_lanes`` copies of the same
deployed network side by side, each presenting its own images: every state
array has a leading *lane* axis, so each step's Python cost is paid once for
all lanes.

What runs, per ``run_steps`` call, is what ``nengo_loihi.Simulator`` does with
a precomputable model (``precompute=True``, the course's deployments):

1. the host part before the chip (``host_pre``: the input node and the
   off-chip to-spikes layer) for all steps, by :class:`BatchedHost`, a batched
   interpreter of nengo's reference operators;
2. the chip for all steps, by :class:`BatchedChip`: the spikes of every lane
   are delivered through the routing table of :mod:`k2l_course.chip.emulator`,
   then the compartments advance as in ``FastCompartmentState.update``,
   elementwise over lanes x compartments. These two loops are compiled (numba):
   they touch every synaptic event and every compartment of every lane, so in
   NumPy their temporary arrays, not the arithmetic, set the pace;
3. the chip's outputs go to the host part after the chip (``host``: the
   output layer and its probes), again batched.

Bit-exactness
-------------
Lane ``i`` gives, probe by probe and bit for bit, what
``k2l_course.chip.emulator.Simulator`` (hence ``nengo_loihi.Simulator``) gives for a
network whose input presents lane ``i``'s images, with the same sequence of
``run_steps`` calls:

* integer chips: each lane's synaptic input is summed in ``int32``, which wraps
  modulo 2**32 as the stock sums do, whatever the order of the additions; the
  compartment update is elementwise, so a lane's values do not depend on the
  others, and a step in which a value overflows the chip's ranges runs in
  NumPy with the stock wrapping and warning;
* host operators: elementwise operators (copies, resets, elementwise products,
  neurons, one-state linear filters) run on lanes x values arrays, which gives
  each lane the same floating-point operations. Matrix products run lane by
  lane with the stock call unless their inner dimension is 1 (then each output
  is a single product, exact in any arrangement);
* chip-to-host probe weights are applied lane by lane with nengo-loihi's own
  ``LoihiProbe.weight_outputs``, on the same block of steps.

Anything else is refused with ``NotImplementedError`` when the simulator is
built (floating-point chips, on-chip learning, noise, stochastic neurons,
multi-state filters, host-chip feedback loops, probes with ``sample_every``),
so a network either runs bit-exactly or not at all.
"""

from __future__ import annotations

import inspect

import numba
import numpy as np

from k2l_course import stack
from k2l_course.chip import emulator

nengo, nengo_loihi = stack.nengo, stack.nengo_loihi

from nengo._vendor.npconv2d import conv2d  # noqa: E402
from nengo.builder.neurons import SimNeurons  # noqa: E402
from nengo.builder.operator import Copy, DotInc, ElementwiseInc, Reset, TimeUpdate  # noqa: E402
from nengo.builder.probe import SimProbe  # noqa: E402
from nengo.builder.processes import SimProcess  # noqa: E402
from nengo.builder.transforms import ConvInc  # noqa: E402
from nengo.synapses import LinearFilter  # noqa: E402
from nengo_loihi.builder.discretize import Q_BITS, U_BITS  # noqa: E402
from nengo_loihi.builder.inputs import HostReceiveProcess, HostSendProcess  # noqa: E402
from nengo_loihi.probe import ProbeFilter  # noqa: E402


def _narrowest(values):
    """``values`` in the narrowest integer type that holds them all (unsigned if none is negative).

    The routing table is read at every step, event by event, far more of it
    than the caches hold: 16-bit targets and weights (the course's chip has
    7,812 compartments and weights within +-16,256) are a third of the bytes
    of ``intp`` and ``int32`` ones, and made delivery about 1.7x faster.
    """
    if len(values) == 0:
        return values
    low, high = int(values.min()), int(values.max())
    kinds = (np.int8, np.int16, np.int32, np.int64) if low < 0 else (np.uint8, np.uint16, np.uint32, np.uint64)
    dtype = next(t for t in kinds if np.iinfo(t).min <= low and high <= np.iinfo(t).max)
    return values.astype(dtype)


@numba.njit(cache=True, nogil=True)
def _deliver(sources, ptr, targets, weights, out):  # pragma: no cover - compiled
    """Sum, lane by lane, the weights of the events of the sources that spiked.

    ``out[lane, c]`` becomes the sum over spiking sources ``s`` of ``lane`` of
    ``weights[k]`` for the events ``k`` in ``ptr[s]:ptr[s + 1]`` that target
    ``c``, wrapped to ``int32``: the stock emulator's ``int32`` sums, which
    wrap modulo 2**32 whatever the order of the additions.

    ``targets`` is unsigned (see :func:`_narrowest`) and ``k`` runs over
    ``uint64``: numba checks a signed index for Python's negative indexing,
    which costs more than the addition.
    """
    n_lanes, n_sources = sources.shape
    for lane in range(n_lanes):
        row = out[lane]
        row[:] = 0
        for s in range(n_sources):
            if sources[lane, s]:
                for k in range(np.uint64(ptr[s]), np.uint64(ptr[s + 1])):
                    row[targets[k]] += weights[k]


@numba.njit(cache=True, nogil=True, inline="always")
def _decay(x, r):  # pragma: no cover - compiled
    """``emulator._decay`` of one value: ``sign(x) * (abs(x) * r >> 12)``."""
    x = np.int64(x)
    return (x * r) >> 12 if x >= 0 else -((-x * r) >> 12)


@numba.njit(cache=True, nogil=True)
def _update_compartments(
    q0, current, voltage, spiked, spike_count, ref_count, r_u, r_v, bias, vmin, vmax, vth, ref, q_limit, u_limit
):  # pragma: no cover - compiled
    """One step of the compartments of each lane, in order, up to the first lane that overflows.

    The stock ``CompartmentState.update`` on integer chips, elementwise over
    lanes x compartments (the state arrays) with per-compartment parameters.
    Each lane is first checked (read only): the synaptic input (``q0``), the
    current and the current plus bias must be inside the chip's signed ranges
    (``-limit <= x < limit``). A lane that passes is stepped, in short loops
    that the compiler vectorises, while its arrays are still in cache. The
    first lane that does not pass is left as it was, and so are the lanes
    after it: the stock step wraps and warns there.

    Returns
    -------
    int
        The number of lanes stepped (all of them, unless one overflows).
    """
    n_lanes, n = current.shape
    for lane in range(n_lanes):
        u, v, q = current[lane], voltage[lane], q0[lane]
        fits = True
        for i in range(n):  # read only, without an early exit: vectorised
            qi = np.int64(q[i])
            ui = _decay(u[i], r_u[i]) + qi
            u2 = ui + bias[i]
            fits &= (-q_limit <= qi) & (qi < q_limit) & (-u_limit <= ui) & (ui < u_limit) & (-u_limit <= u2) & (u2 < u_limit)
        if not fits:
            return lane
        spikes, counts, refractory = spiked[lane], spike_count[lane], ref_count[lane]
        for i in range(n):
            u[i] = _decay(u[i], r_u[i]) + q[i]
        for i in range(n):
            v[i] = _decay(v[i], r_v[i]) + u[i] + bias[i]
        np.clip(v, vmin, vmax, v)
        for i in range(n):
            waiting = refractory[i]
            x = 0 if waiting > 0 else v[i]
            spike = x > vth[i]
            spikes[i] = spike
            v[i] = 0 if spike else x
            counts[i] += spike
            refractory[i] = max((ref[i] if spike else waiting) - 1, 0)
    return n_lanes


class BatchedHost:
    """A nengo reference simulator's operators, run on ``n_lanes`` lanes at once.

    Parameters
    ----------
    sim : nengo.Simulator
        A built host simulator (``host_pre`` or ``host`` of nengo-loihi's).
    n_lanes : int
    presentations : dict of PresentInput -> ndarray, shape (n_lanes, n_items, size)
        Per-lane inputs of the ``PresentInput`` processes they replace.
    """

    def __init__(self, sim, n_lanes, presentations):
        self.sim = sim
        self.n_lanes = n_lanes
        self.dt = sim.dt
        self._presentations = presentations
        self._shared = {sim.model.step, sim.model.time}
        self._bases = {}
        self.sent = {}  # HostSendProcess -> list of (n_lanes, size) arrays, one per step
        self.received = {}  # HostReceiveProcess -> ndarray (n_lanes, size), set before each step
        self.probes = [p for p in sim.model.probes]
        for probe in self.probes:
            if probe.sample_every is not None:
                raise NotImplementedError(f"{probe}: probes with sample_every are not batched")
        self.data = {probe: [] for probe in self.probes}
        self._probe_views = {probe: self.view(sim.model.sig[probe]["in"]) for probe in self.probes}
        self._steps = [self._make_step(op) for op in sim._step_order]

    # -- signals ----------------------------------------------------------------

    def batched(self, sig):
        """Whether ``sig`` has a lane axis (everything but constants and the clock)."""
        return not (sig.readonly or sig in self._shared or sig.base in self._shared)

    def view(self, sig):
        """The array of ``sig``: lanes x shape if :meth:`batched`, else the stock array."""
        if not self.batched(sig):
            return self.sim.signals[sig]
        base = sig.base
        if base not in self._bases:
            start = np.asarray(self.sim.signals[base])
            # C order, one lane after another: the views below index it so. (NumPy's
            # default copy of a broadcast array would put the lane axis innermost.)
            self._bases[base] = np.array(np.broadcast_to(start, (self.n_lanes,) + start.shape), order="C")
        array = self._bases[base]
        if not sig.is_view:
            return array
        size = array.itemsize
        return np.ndarray(
            shape=(self.n_lanes,) + sig.shape,
            dtype=array.dtype,
            buffer=array,
            offset=sig.elemoffset * size,
            strides=(array.strides[0],) + tuple(s * size for s in sig.elemstrides),
        )

    def _aligned(self, sig, ndim):
        """:meth:`view` of ``sig`` shaped to broadcast against a lanes x ``ndim``-d array."""
        x = self.view(sig)
        if self.batched(sig) and sig.ndim < ndim:
            x = x.reshape((self.n_lanes,) + (1,) * (ndim - sig.ndim) + sig.shape)
        return x

    # -- operators ----------------------------------------------------------------

    def _make_step(self, op):  # noqa: C901
        maker = {
            TimeUpdate: self._time_update,
            Reset: self._reset,
            Copy: self._copy,
            ElementwiseInc: self._elementwise_inc,
            DotInc: self._dot_inc,
            ConvInc: self._conv_inc,
            SimNeurons: self._sim_neurons,
            SimProcess: self._sim_process,
            SimProbe: lambda op: None,
        }.get(type(op))
        if maker is None:
            raise NotImplementedError(f"the batched emulator does not run {type(op).__name__} on the host ({op})")
        return maker(op)

    def _time_update(self, op):
        return op.make_step(self.sim.signals, self.dt, None)

    def _reset(self, op):
        target, value = self.view(op.dst), op.value

        def step():
            target[...] = value

        return step

    def _copy(self, op):
        src, dst = self.view(op.src), self.view(op.dst)
        lane = (slice(None),)
        src_index = lane * self.batched(op.src) + ((op.src_slice,) if op.src_slice is not None else (Ellipsis,))
        dst_slice = op.dst_slice
        repeats = False
        if dst_slice is not None and not isinstance(dst_slice, slice):
            dst_slice = np.array(dst_slice)
            if dst_slice.dtype.kind != "b":
                dst_slice[dst_slice < 0] += op.dst.shape[0]
                repeats = len(np.unique(dst_slice)) < len(dst_slice)
        if not self.batched(op.dst):
            raise NotImplementedError(f"{op}: copy into a constant")
        dst_index = lane + ((dst_slice,) if dst_slice is not None else (Ellipsis,))
        if op.inc and repeats:
            return lambda: np.add.at(dst, dst_index, src[src_index])
        if op.inc:

            def step():
                dst[dst_index] += src[src_index]

        else:

            def step():
                dst[dst_index] = src[src_index]

        return step

    def _elementwise_inc(self, op):
        ndim = max(op.Y.ndim, op.A.ndim, op.X.ndim, 1)
        A, X, Y = self._aligned(op.A, ndim), self._aligned(op.X, ndim), self.view(op.Y)

        def step():
            Y[...] += A * X

        return step

    def _dot_inc(self, op):
        A, X, Y = self.view(op.A), self.view(op.X), self.view(op.Y)
        if self.batched(op.A) or not self.batched(op.Y):
            raise NotImplementedError(f"{op}: only constant matrices are batched")
        shape = op.Y.shape
        if not self.batched(op.X):

            def step():
                Y[...] += A.dot(X).reshape(shape)

        elif A.ndim == 2 and op.X.ndim == 1 and A.shape[1] == 1 and not op.reshape:
            column = A[:, 0]

            def step():  # one product per output: exact in any arrangement
                Y[...] += X[:, :1] * column

        else:
            lanes = range(self.n_lanes)

            def step():
                for i in lanes:
                    Y[i] += A.dot(X[i]).reshape(shape)

        return step

    def _conv_inc(self, op):
        conv = op.conv
        if conv.dimensions != 2 or not conv.channels_last or op.is_transpose or self.batched(op.W):
            raise NotImplementedError(f"{op}: only 2-D, channels-last convolutions with constant kernels are batched")
        W = self.view(op.W)
        X = self.view(op.X).reshape((self.n_lanes,) + conv.input_shape.shape)
        Y = self.view(op.Y).reshape((self.n_lanes,) + conv.output_shape.shape)
        pad, stride = conv.padding.upper(), conv.strides
        if np.prod(W.shape[:3]) == 1:  # 1x1 kernel on one channel: conv2d's single products, without its windows
            rows, columns = stride
            kernel = W.reshape(-1)

            def step():
                Y[...] += X[:, ::rows, ::columns] * kernel

        else:
            lanes = range(self.n_lanes)

            def step():
                for i in lanes:
                    Y[i] += conv2d.conv2d(X[i : i + 1], W, pad=pad, stride=stride)[0]

        return step

    def _sim_neurons(self, op):
        neurons = op.neurons
        if op.state_extra or "rng" in inspect.signature(neurons.step).parameters:
            raise NotImplementedError(f"{neurons}: stochastic neurons are not batched")
        J, output = self.view(op.J), self.view(op.output)
        state = {name: self.view(sig) for name, sig in op.state.items()}
        dt = self.dt

        def step():
            neurons.step(dt, J, output, **state)

        return step

    def _sim_process(self, op):  # noqa: C901
        process = op.process
        t = self.sim.signals[op.t]
        output = self.view(op.output) if op.output is not None else None
        inc = op.mode == "inc"
        dt = self.dt
        if isinstance(process, nengo.processes.PresentInput):
            if process not in self._presentations:
                raise NotImplementedError(f"{process}: no per-lane inputs given")
            inputs = np.asarray(self._presentations[process])
            n = inputs.shape[1]
            inputs = inputs.reshape(self.n_lanes, n, -1)
            presentation_time = float(process.presentation_time)

            def value(t):
                return inputs[:, int((t - dt) / presentation_time + 1e-7) % n]

        elif isinstance(process, HostSendProcess):
            x = self.view(op.input)
            sent = self.sent.setdefault(process, [])
            return lambda: sent.append(np.copy(x))
        elif isinstance(process, HostReceiveProcess):
            self.received[process] = None
            received = self.received

            def value(t):
                return received[process]

        elif isinstance(process, LinearFilter):
            shape = (self.n_lanes,) + op.output.shape
            state = {name: np.moveaxis(self.view(sig), 0, 1) for name, sig in op.state.items()}
            step_f = process.make_step(shape, shape, dt, None, state)
            if not isinstance(step_f, (LinearFilter.NoX, LinearFilter.OneX)):
                raise NotImplementedError(f"{process}: only filters with at most one state are batched")
            x = self.view(op.input)
            if inc:
                return lambda: output.__iadd__(step_f(t.item(), np.copy(x)))

            def step():
                output[...] = step_f(t.item(), np.copy(x))

            return step
        else:
            raise NotImplementedError(f"the batched emulator does not run the process {process}")
        if op.input is not None:
            raise NotImplementedError(f"{process}: unexpected input")
        if inc:
            return lambda: output.__iadd__(value(t.item()))

        def step():
            output[...] = value(t.item())

        return step

    # -- running ----------------------------------------------------------------

    def step(self):
        """One step of every lane, then the probes."""
        for step in self._steps:
            if step is not None:
                step()
        for probe, view in self._probe_views.items():
            self.data[probe].append(view.copy())


class BatchedChip:
    """The chip of a :class:`k2l_course.chip.emulator.FastEmulatorInterface`, ``n_lanes`` times.

    Parameters
    ----------
    interface : k2l_course.chip.emulator.FastEmulatorInterface
    n_lanes : int
    """

    def __init__(self, interface, n_lanes):
        if interface.block_info.dtype != np.int32:
            raise NotImplementedError("the batched emulator runs integer chips (target='sim') only")
        if interface.synapses.learning:
            raise NotImplementedError("the batched emulator does not run on-chip learning")
        if interface.compartment.noise_needed:
            raise NotImplementedError("the batched emulator does not run compartments with noise")
        self.n_lanes = n_lanes
        c = interface.compartment
        self.c = c
        self.routing = interface.synapses.routing
        self.n_compartments = n = self.routing.n_compartments
        self.t = 0
        shape = (n_lanes, n)
        self.current = np.zeros(shape, dtype=np.int32)
        self.voltage = np.zeros(shape, dtype=np.int32)
        self.spiked = np.zeros(shape, dtype=bool)
        self.spike_count = np.zeros(shape, dtype=np.int32)
        self.ref_count = np.zeros(shape, dtype=np.int32)
        self.input = np.zeros((1,) + shape, dtype=np.int32)
        self._sources = np.zeros((n_lanes, self.routing.n_sources), dtype=bool)
        self._targets, self._weights = _narrowest(self.routing.targets), _narrowest(self.routing.weights)
        self._input_slices = {
            id(i): slice(self.routing.input_offsets[id(i)], self.routing.input_offsets[id(i)] + i.n_neurons)
            for i in interface.inputs
        }
        self.probes = list(interface.probes.probes.items())  # LoihiProbe -> {block: slice}
        self.outputs = {probe: [[] for _ in blocks] for probe, blocks in self.probes}
        self.error = c.error
        # Provable no-ops, skipped: a voltage decay factor of 4096/4096 (no
        # leak) is the identity; refractory delays of at most 1 step never
        # leave a nonzero refractory count.
        self._voltage_decays = bool(np.any(c._decay_r[1] != 2**12))
        self._refractory = bool(np.any(c.ref > 1))

    def step(self, input_spikes):
        """Advance every lane one step.

        Parameters
        ----------
        input_spikes : dict of int -> ndarray of bool, shape (n_lanes, n_neurons)
            ``id(spike_input)`` to the host spikes that arrive at this step
            (those the host sent at the previous step); empty before step 2.
        """
        self.t += 1
        sources = self._sources
        sources[:, : self.n_compartments] = self.spiked
        for key, sl in self._input_slices.items():
            spikes = input_spikes.get(key)
            sources[:, sl] = False if spikes is None else spikes
        q0 = self.input[0]
        routing = self.routing
        _deliver(sources, routing.ptr, self._targets, self._weights, q0)
        self._update(q0)
        for probe, blocks in self.probes:
            target = getattr(self, probe.key)
            for k, sl in enumerate(blocks.values()):
                self.outputs[probe][k].append(np.array(target[:, sl][:, probe.slice[k]]))

    def _update(self, q0):
        """``FastCompartmentState.update`` on lanes x compartments.

        Compiled, lane by lane, while no value overflows (the usual case);
        from the first lane that overflows on, :meth:`_update_wrapping`,
        which wraps and warns as stock.
        """
        c = self.c
        r_u, r_v = c._decay_r
        stepped = _update_compartments(
            q0, self.current, self.voltage, self.spiked, self.spike_count, self.ref_count,
            r_u, r_v, c.bias, c.vmin, c.vmax, c.vth, c.ref, 1 << Q_BITS, 1 << U_BITS,
        )  # fmt: skip
        if stepped < self.n_lanes:
            self._update_wrapping(q0, first=stepped)

    def _update_wrapping(self, q0, first=0):
        """``FastCompartmentState.update`` on lanes ``first:`` x compartments, in NumPy, with stock overflow wrapping."""
        c, wrap = self.c, emulator._wrap_if_overflowed
        lanes = slice(first, None)
        q0, current, voltage = q0[lanes], self.current[lanes], self.voltage[lanes]
        spiked, spike_count, ref_count = self.spiked[lanes], self.spike_count[lanes], self.ref_count[lanes]
        wrap(q0, Q_BITS, self.error, "q0")
        r_u, r_v = c._decay_r
        current[...] = emulator._decay(current, r_u) + q0
        wrap(current, U_BITS, self.error, "current")
        u2 = current + c.bias
        wrap(u2, U_BITS, self.error, "u2")
        if self._voltage_decays:
            voltage[...] = emulator._decay(voltage, r_v) + u2
        else:
            voltage += u2
        np.clip(voltage, c.vmin, c.vmax, out=voltage)
        if self._refractory:
            voltage[ref_count > 0] = 0
        np.greater(voltage, c.vth, out=spiked)
        voltage[spiked] = 0
        if self._refractory:
            ref_count[...] = np.where(spiked, c.ref, ref_count)
            np.clip(ref_count - 1, 0, None, out=ref_count)
        spike_count += spiked

    def take_outputs(self, probe):
        """The probe's per-block outputs since the last call, as lists of (steps, n_lanes, n) arrays."""
        blocks = [np.stack(o) if o else None for o in self.outputs[probe]]
        for o in self.outputs[probe]:
            o.clear()
        return blocks


class BatchedSimulator:
    """``n_lanes`` independent copies of a deployed network, emulated side by side.

    Parameters
    ----------
    network : nengo.Network
        With nengo-loihi's config, as for ``nengo_loihi.Simulator``.
    presentations : dict of nengo.Node -> ndarray, shape (n_lanes, n_items, ...)
        For each node whose output is a ``nengo.processes.PresentInput``, the
        items each lane presents instead (same presentation time; every lane
        the same number of items).
    seed : int, optional
        As for ``nengo_loihi.Simulator``.

    Lane ``i`` of :attr:`data` holds what
    ``nengo_loihi.Simulator(network).data[probe]`` holds when the nodes
    present lane ``i``'s items and ``run_steps`` is called with the same
    numbers of steps.
    """

    def __init__(self, network, presentations, seed=None, _built=None):
        if _built is None:
            sim = emulator.Simulator(network, seed=seed, progress_bar=False)
            try:
                if not sim.precompute or "emulator" not in sim.sims:
                    raise NotImplementedError("the batched emulator needs a precomputable model (no host-chip feedback)")
                if sim.model.host2chip_pes_senders:
                    raise NotImplementedError("the batched emulator does not run on-chip learning")
            except Exception:
                sim.close()
                raise
            # The processes as built (a node's output may be swapped later).
            processes = {node: node.output for node in presentations}
        else:
            sim, processes = _built
            for name in ("host_pre", "host"):  # back to t = 0: the clock is the only shared state
                if name in sim.sims:
                    host = sim.sims[name]
                    host.signals[host.model.step][...] = 0
                    host.signals[host.model.time][...] = 0
        self._sim, self._processes = sim, processes
        arrays = [np.asarray(a) for a in presentations.values()]
        if not arrays:
            raise ValueError("give per-lane items for at least one PresentInput node")
        self.n_lanes = n_lanes = len(arrays[0])
        if any(len(a) != n_lanes for a in arrays):
            raise ValueError("every node needs the same number of lanes")
        by_process = {}
        for node, items in presentations.items():
            process = processes.get(node)
            if not isinstance(process, nengo.processes.PresentInput):
                raise ValueError(f"{node} does not present items (its output is not a PresentInput)")
            by_process[process] = np.asarray(items)
        model = sim.model
        self.host_pre = BatchedHost(sim.sims["host_pre"], n_lanes, by_process) if "host_pre" in sim.sims else None
        self.host = BatchedHost(sim.sims["host"], n_lanes, by_process) if "host" in sim.sims else None
        self.chip = BatchedChip(sim.emulator, n_lanes)
        self.dt = sim.dt
        self.n_steps = 0
        # host -> chip: each HostSendProcess feeds one spike input
        self._sends = []
        for sender, receiver in model.host2chip_senders.items():
            self._sends.append((sender.output, id(model.spike_targets[receiver])))
        # chip -> host: each chip-to-host probe feeds one HostReceiveProcess
        self._receives = [(probe, receiver.output) for probe, receiver in self._chip2host(model)]
        receive_probes = {id(p) for p, _ in self._receives}
        self._chip_probes = {}  # nengo.Probe -> LoihiProbe, read from the chip
        for probe in model.nengo_probes:
            if probe in model.chip2host_params:
                continue
            self._chip_probes[probe] = model.objs[probe]["out"]
        for loihi_probe in self._chip_probes.values():
            if id(loihi_probe) in receive_probes:
                raise NotImplementedError("a chip probe that also feeds the host")
        self._filters = [ProbeFilter(dt=self.dt) for _ in range(n_lanes)]
        self._chip_data = {probe: [] for probe in self._chip_probes}
        self._last_sent = {}
        self._last_received = {}

    def restart(self, presentations):
        """A new run from a rested chip at t = 0, with other items, reusing this build.

        Building (nengo-loihi's build and the routing table) is the slow part
        of making a simulator; this starts fresh lanes on the same build. The
        returned simulator shares the build: close only one of them.

        Parameters
        ----------
        presentations : dict of nengo.Node -> ndarray
            As for the constructor (the same nodes; any number of lanes).

        Returns
        -------
        BatchedSimulator
        """
        return BatchedSimulator(None, presentations, _built=(self._sim, self._processes))

    @staticmethod
    def _chip2host(model):
        """(LoihiProbe, HostReceiveNode) pairs, as nengo-loihi's StepRunner finds them."""
        for probe, receiver in model.chip2host_receivers.items():
            yield model.objs[probe]["out"], receiver

    def close(self):
        """Release the underlying simulator."""
        self._sim.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run_steps(self, steps):
        """Advance every lane ``steps`` steps (as ``nengo_loihi.Simulator.run_steps``)."""
        first = self.n_steps
        # 1. host before the chip
        if self.host_pre is not None:
            for _ in range(steps):
                self.host_pre.step()
        sent = {}
        for process, key in self._sends:
            values = self.host_pre.sent.get(process, [])
            sent[key] = [v != 0 for v in values]
            values.clear()
        # 2. the chip: spikes sent at host step s arrive at chip step s + 1
        for j in range(steps):
            arriving = {}
            if first + j + 1 >= 2:
                for key, values in sent.items():
                    arriving[key] = values[j - 1] if j >= 1 else self._last_sent.get(key)
                arriving = {k: v for k, v in arriving.items() if v is not None}
            self.chip.step(arriving)
        for key, values in sent.items():
            if values:
                self._last_sent[key] = values[-1]
        # 3. chip -> host, then the host after the chip
        received = {}
        for loihi_probe, process in self._receives:
            received[process] = self._weighted(loihi_probe)
        for probe, loihi_probe in self._chip_probes.items():
            self._collect(probe, loihi_probe)
        if self.host is not None:
            for j in range(steps):
                step = first + j + 1
                for process, values in received.items():
                    # the host reads at step s what the chip output at step max(s - 1, 1)
                    if step == 1:
                        value = values[:, 0]
                    elif j >= 1:
                        value = values[:, j - 1]
                    else:
                        value = self._last_received[process]
                    self.host.received[process] = value
                self.host.step()
        for process, values in received.items():
            self._last_received[process] = values[:, -1]
        self.n_steps += steps

    def _weighted(self, loihi_probe):
        """Chip-to-host values of every lane, (n_lanes, steps, size), weighted lane by lane as stock."""
        blocks = self.chip.take_outputs(loihi_probe)
        lanes = [
            loihi_probe.weight_outputs([np.ascontiguousarray(b[:, i]) for b in blocks]) for i in range(self.n_lanes)
        ]
        return np.stack(lanes)

    def _collect(self, probe, loihi_probe):
        blocks = self.chip.take_outputs(loihi_probe)
        for i in range(self.n_lanes):
            out = loihi_probe.weight_outputs([np.ascontiguousarray(b[:, i]) for b in blocks])
            out = self._filters[i](loihi_probe, out)
            self._chip_data[probe].append((i, out))

    @property
    def data(self):
        """dict of nengo.Probe -> ndarray, shape (n_lanes, n_steps, ...): every probe of every lane."""
        data = {}
        for host in (self.host_pre, self.host):
            if host is not None:
                for probe, rows in host.data.items():
                    data[probe] = np.stack(rows, axis=1) if rows else np.zeros((self.n_lanes, 0))
        for probe, parts in self._chip_data.items():
            lanes = [[] for _ in range(self.n_lanes)]
            for i, out in parts:
                lanes[i].append(np.asarray(out))
            data[probe] = np.stack([np.concatenate(rows) for rows in lanes])
        return data
