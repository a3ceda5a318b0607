"""Checks of exercise 3, per-layer scaling (``exercises/ch3_scaling``).

Items
-----
``mean_active_rate``
    The mean firing rate (Hz) of a layer's active neurons, from probe data.
    Reference: :func:`k2l_course.pipeline.rates.mean_active_rate`.
``scales_for_target``
    The per-layer ``scale_firing_rates`` that bring each layer to a target
    rate: ``target / rate`` (as :func:`k2l_course.pipeline.rates.scales_for_target`).
``scaled_layer_output``
    What a layer of Loihi neurons transmits at a given firing-rate scale (its
    rate times its amplitude ``1 / scale``), for the values a rate network
    would transmit, the values whose scaled current lands the voltage exactly
    on 1 included. Reference: :func:`k2l_course.pipeline.rates.loihi_relu_rate`.
"""

from __future__ import annotations

import numpy as np

from k2l_course.exercises.checks import validate as v
from k2l_course.exercises.checks.ch2_activation import exact_landings, landing_periods, off_plateau_edges
from k2l_course.exercises.checks.items import Fail, full, item, partial
from k2l_course.pipeline.model import NEURON_LAYERS
from k2l_course.pipeline.rates import DT, TARGET_RATE, loihi_relu_rate, mean_active_rate

EXERCISE = "ch3_scaling"
#: The book page that teaches it (``book/<page>.md``) and its title there.
CHAPTER = ("03-scaling", "3. Per-layer scaling")


#: What a scaled Loihi layer passes on (exercise 3.3) is a Loihi rate:
#: nengo-loihi's rate functions would compute it instead of the student's
#: formula from exercise 2.
FORBIDDEN = {
    "nengo_loihi.neurons.loihi_rates": (
        "nengo-loihi's rate function computes the Loihi rates that exercise 3.3 asks you to compute "
        "with your formula from exercise 2"
    ),
    "nengo_loihi.neurons.loihi_spikingrectifiedlinear_rates": (
        "it computes the Loihi rates that exercise 3.3 asks you to compute with your formula from exercise 2"
    ),
    "nengo_loihi.neurons.LoihiSpikingRectifiedLinear.rates": (
        "the neuron type's rates are what exercise 3.3 asks you to compute with your formula from exercise 2"
    ),
}


# -- mean_active_rate ------------------------------------------------------------------


def _spiking_probe(rng, n_examples, n_steps, n_neurons, amplitude, active_fraction):
    """Probe data of a spiking layer: amplitude / dt at each spike, silent neurons
    (a different set, of a different size, in each example), and one example
    in which no neuron is active."""
    rates = rng.uniform(20.0, 600.0, (n_examples, 1, n_neurons))
    active = rng.random((n_examples, 1, n_neurons)) < rng.uniform(0.2, 1.0, (n_examples, 1, 1)) * active_fraction
    active[rng.integers(0, n_examples)] = False
    spikes = (rng.random((n_examples, n_steps, n_neurons)) < rates * DT) & active
    return (spikes * (amplitude / DT)).astype(np.float32)


def _rate_layer(rng, n_examples, n_steps, n_neurons, n_silent):
    """Probe data of a rate (ReLU) layer, amplitude 1: constant over the steps,
    some neurons always silent, and one example in which no neuron is active."""
    relu = np.maximum(rng.normal(0.0, 8.0, (n_examples, 1, n_neurons)), 0.0)
    relu[:, :, :n_silent] = 0.0
    relu[rng.integers(0, n_examples)] = 0.0
    return np.repeat(relu, n_steps, axis=1).astype(np.float32)


def mean_rate_cases(rng=None):
    """Two spiking layers at different amplitudes and a rate layer; each has an
    example without any active neuron. Fresh cases: other sizes and amplitudes."""
    if rng is None:
        rng = np.random.default_rng(4)
        spiking = ((4, 30, 50, 0.01, 0.8), (6, 30, 120, 1 / 400, 0.6))
        rate = (5, 10, 30, 8)
    else:
        spiking = [
            (int(rng.integers(3, 8)), int(rng.integers(20, 40)), int(rng.integers(30, 130)),
             float(1 / rng.uniform(20.0, 500.0)), float(rng.uniform(0.5, 0.9)))
            for _ in range(2)
        ]  # fmt: skip
        rate = (int(rng.integers(3, 8)), int(rng.integers(5, 15)), int(rng.integers(20, 40)), int(rng.integers(3, 10)))
    return [{"outputs": _spiking_probe(rng, *one), "amplitude": one[3]} for one in spiking] + [
        {"outputs": _rate_layer(rng, *rate), "amplitude": 1.0}
    ]


def _pooled_rate(outputs, amplitude):
    """The typical slip: one average over all active (example, neuron) pairs."""
    rates = outputs.mean(axis=1) / amplitude
    active = (outputs > 0).any(axis=1)
    return float(rates[active].mean())


def _dropped_rate(outputs, amplitude):
    """Per-example means over the examples that have an active neuron only."""
    rates = outputs.mean(axis=1) / amplitude
    active = (outputs > 0).any(axis=1)
    keep = active.any(axis=1)
    return float(np.mean([rates[i][active[i]].mean() for i in np.flatnonzero(keep)]))


def check_mean_rate(outcomes, cases):
    """Rates in Hz (divided by the amplitude), averaged over each example's active neurons,
    0 for an example without any, then over the examples."""
    pooled = False
    for value, case in zip(v.values(outcomes, cases), cases):
        outputs, amplitude = case["outputs"].astype(np.float64), case["amplitude"]
        what = f"for outputs of shape {outputs.shape} and amplitude {v.fmt(amplitude)}, the mean rate"
        if isinstance(value, (float, np.floating)) and np.isnan(value):
            raise Fail(
                f"{what} is NaN; in an example where no neuron is active there are no rates to average, "
                "and the exercise counts such an example as 0"
            )
        got = v.number(value, what)
        expected = mean_active_rate(outputs, amplitude)
        if v.close(got, expected):
            continue
        if v.close(got, _pooled_rate(outputs, amplitude)):
            pooled = True
            continue
        candidates = {
            "no_amplitude": expected * amplitude,
            "all_neurons": float(outputs.mean()) / amplitude,
            "pooled": _pooled_rate(outputs, amplitude),
            "dropped": _dropped_rate(outputs, amplitude),
            "per_step": expected * DT,
            "zero": 0.0,
        }
        named = v.cause(got, expected, candidates)
        if named == "no_amplitude":
            raise Fail(
                f"{what} is {v.fmt(got)}: the probe records amplitude / dt per spike, so divide "
                "by the amplitude to get a rate in Hz"
            )
        if named == "all_neurons":
            raise Fail(
                f"{what} is {v.fmt(got)}, an average over all neurons; silent neurons say nothing "
                "about how fast the active ones fire: average only the neurons that were active "
                "(nonzero at some step) in each example"
            )
        if named == "dropped":
            raise Fail(
                f"{what} is {v.fmt(got)}: an example in which no neuron is active still counts, "
                "as 0, in the mean over the examples"
            )
        if named == "per_step":
            raise Fail(
                f"{what} is {v.fmt(got)}, in spikes per time step; a rate in Hz is per second "
                f"(a time step is {v.fmt(DT * 1000)} ms)"
            )
        raise Fail(f"{what} is {v.fmt(got)}, which is not the mean rate of the active neurons")
    if pooled:
        return partial(
            "pooled",
            "you average all active (example, neuron) pairs at once; the course averages each "
            "example's active neurons first, then the examples, so that every example counts the same",
        )
    return full("mean rates of the active neurons are right")


# -- scales_for_target ---------------------------------------------------------------


def scale_cases(rng=None):
    """Measured rates of the layers and a target: layers below the target
    (scale above 1), above it (scale below 1) and one exactly at it (scale 1).
    Fresh cases: other rates (from 0.5 to 900 Hz), another subset and order of
    layers, another target; the first case always has a layer exactly at its
    target, the last one a layer on each side of it."""
    if rng is None:
        rng = np.random.default_rng(5)
        return [
            {"rates": dict(zip(NEURON_LAYERS, (14.4, 1.9, 1.0, 2.7))), "target": TARGET_RATE},
            {"rates": {name: float(r) for name, r in zip(NEURON_LAYERS, rng.uniform(0.5, 900.0, 4))}, "target": 150.0},
            {"rates": dict(zip(NEURON_LAYERS, (814.0, 95.0, 49.0, 200.0))), "target": TARGET_RATE},
        ]
    cases = []
    for target in (TARGET_RATE, float(np.round(rng.uniform(50.0, 400.0), 1)), float(rng.integers(60, 350))):
        names = list(rng.permutation(NEURON_LAYERS)[: int(rng.integers(2, len(NEURON_LAYERS) + 1))])
        rates = np.round(np.exp(rng.uniform(np.log(0.5), np.log(900.0), len(names))), 2)
        if not cases:
            rates[int(rng.integers(0, len(names)))] = target
        elif len(cases) == 2:
            low, high = rng.choice(len(names), 2, replace=False)
            rates[low] = np.round(target * rng.uniform(0.05, 0.9), 2)
            rates[high] = np.round(target * rng.uniform(1.1, 4.0), 2)
        cases.append({"rates": {str(n): float(r) for n, r in zip(names, rates)}, "target": target})
    return cases


def check_scales(outcomes, cases):
    """One scale per layer, target / rate."""
    for value, case in zip(v.values(outcomes, cases), cases):
        rates, target = case["rates"], case["target"]
        what = f"the result for a target of {v.fmt(target)} Hz"
        got = v.mapping(value, rates.keys(), what)
        expected = {name: target / float(rate) for name, rate in rates.items()}
        for name in rates:
            scale = v.number(got[name], f"the scale of layer {name!r}")
            if v.close(scale, expected[name]):
                continue
            candidates = {
                "inverted": rates[name] / target,
                "default_target": TARGET_RATE / rates[name],
                "difference": target - rates[name],
                "one": 1.0,
            }
            named = v.cause(scale, expected[name], candidates)
            if named == "inverted":
                raise Fail(
                    f"{what}: layer {name!r} fires at {v.fmt(rates[name])} Hz and gets scale {v.fmt(scale)}; "
                    "scaling multiplies a layer's rates, so a layer below the target needs a scale above 1"
                )
            if named == "default_target":
                raise Fail(
                    f"{what}: layer {name!r} gets the scale for a target of {v.fmt(TARGET_RATE)} Hz; "
                    "use the target you are given"
                )
            if named == "difference":
                raise Fail(
                    f"{what}: layer {name!r} gets scale {v.fmt(scale)}, a difference of rates; a scale is a "
                    "factor that multiplies the layer's rates"
                )
            raise Fail(
                f"{what}: layer {name!r} (measured at {v.fmt(rates[name])} Hz) gets scale {v.fmt(scale)}, "
                "which does not bring its mean rate to the target"
            )
    return full("every layer's scale brings it to the target")


# -- scaled_layer_output -----------------------------------------------------------


def _clear_of_edges(values, scale, dt):
    """The values whose current ``scale * value`` is clear of the plateau edges."""
    values = np.asarray(values, dtype=np.float64)
    kept = off_plateau_edges(values * scale, dt)
    return values[np.isin(values * scale, kept)]


#: Scales at which values that are short binary fractions (8, 4, 2, 1, 0.5 at
#: 1 ms) make the voltage land exactly on 1: one of them is always among the
#: fresh scales, so that every draw holds exact landings.
LANDING_SCALES = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 125.0, 128.0, 250.0, 256.0, 500.0)


def layer_output_cases(rng=None):
    """Rate-network values (negative, 0 and positive) at several scales and two
    time steps, with the values whose scaled current lands the voltage exactly on 1
    (:func:`~k2l_course.exercises.checks.ch2_activation.exact_landings`) wherever
    they land exactly in every usual arithmetic. Fresh cases: other values,
    scales (1 to 500, one of them from :data:`LANDING_SCALES`) and time step."""
    if rng is None:
        rng = np.random.default_rng(6)
        values = np.concatenate([[-3.0, 0.0], rng.uniform(0.01, 30.0, 200)])
        settings = [(scale, DT) for scale in (1.0, 10.0, 125.0, 400.0)] + [(50.0, 0.002)]
    else:
        values = np.concatenate([[float(-rng.uniform(0.1, 10.0)), 0.0], rng.uniform(0.01, 30.0, 200)])
        scales = np.round(np.exp(rng.uniform(0.0, np.log(500.0), 4)), 1)
        scales[int(rng.integers(0, 4))] = rng.choice(LANDING_SCALES)
        settings = [(float(scale), DT) for scale in np.sort(scales)] + [
            (float(np.round(rng.uniform(20.0, 200.0), 1)), float(rng.choice([0.002, 0.0025, 0.004])))
        ]
    return [
        {"values": np.concatenate([_clear_of_edges(values, scale, dt), exact_landings(dt, scale)]), "scale": scale,
         "dt": dt}
        for scale, dt in settings
    ]  # fmt: skip


def check_layer_output(outcomes, cases):
    """loihi rate of (scale * value), times the amplitude 1 / scale; the formula's
    rate (not the neuron model's, a step later) where the voltage lands exactly on 1."""
    landing_problem = None
    for value, case in zip(v.values(outcomes, cases), cases):
        values, scale, dt = case["values"], case["scale"], case["dt"]
        what = f"at scale {v.fmt(scale)} and dt = {v.fmt(dt * 1000)} ms, the layer's output"
        got = v.array(value, what, shape=values.shape, kinds="iuf")
        expected = loihi_relu_rate(values * scale, dt) / scale
        bad = v.mismatch(got, expected)
        if bad is None:
            continue
        landing = landing_periods(values * scale, dt)
        with np.errstate(divide="ignore"):
            a_step_later = np.where(landing > 0, 1.0 / (dt * (landing + 1)) / scale, np.nan)
        wrong = ~np.isclose(np.asarray(got, dtype=np.float64), expected, rtol=v.RTOL, atol=v.ATOL)
        late = (landing > 0) & np.isclose(np.asarray(got, dtype=np.float64), a_step_later, rtol=v.RTOL, atol=v.ATOL)
        if not (wrong & ~late).any():
            if landing_problem is None:
                i = int(np.argmax(wrong))
                steps = f"{v.fmt(landing[i])} step{'s' if landing[i] != 1 else ''}"
                landing_problem = (
                    f"{what} for the value {v.fmt(values[i])} waits one step more than a Loihi neuron's rate: "
                    f"its current {v.fmt(values[i] * scale)} makes the voltage land exactly on 1 after {steps}, "
                    "and the rate formula of exercise 2.1 counts the steps the voltage needs to reach 1"
                )
            continue
        i = bad[0]
        candidates = {
            "in_hz": expected * scale,
            "ideal": np.maximum(values, 0),
            "unscaled_current": loihi_relu_rate(values, dt) / scale,
            "per_step": expected * dt,
            "zero": np.zeros_like(expected),
        }
        named = v.cause(got, expected, candidates)
        if named == "in_hz":
            raise Fail(
                f"{what} is in Hz: the converter divides each neuron's output by the scale "
                "(its amplitude is 1 / scale), so that the next layer receives the same values as before scaling"
            )
        if named == "ideal":
            raise Fail(
                f"{what} is the ideal ReLU; Loihi neurons fire at discrete rates (plateaus, "
                "at most one spike per step), so what they transmit differs"
            )
        if named == "unscaled_current":
            raise Fail(
                f"{what} comes from neurons driven by the values themselves; at scale s a neuron "
                "receives the current s * a"
            )
        if named == "per_step":
            raise Fail(
                f"{what} is in spikes per time step; the neuron's rate is in spikes per second "
                f"(dt = {v.fmt(dt * 1000)} ms)"
            )
        raise Fail(
            f"{what} for the value {v.fmt(values[i])} is {v.fmt(got[i])}, "
            "not what a Loihi neuron at that scale transmits"
        )
    if landing_problem:
        return partial("exact_landing", f"right except where the voltage lands exactly on 1: {landing_problem}")
    return full("what the scaled Loihi layer transmits is right at every scale")


ITEMS = [
    item(
        EXERCISE, "mean_active_rate", function="mean_active_rate",
        section="One scale for the whole network",
        points=3, partial={"pooled": 2},
        cases=mean_rate_cases, check=check_mean_rate,
    ),
    item(
        EXERCISE, "scales_for_target", function="scales_for_target",
        section="A scale for every layer",
        points=2,
        cases=scale_cases, check=check_scales,
    ),
    item(
        EXERCISE, "scaled_layer_output", function="scaled_layer_output",
        section="Re-measuring with Loihi neurons",
        points=2, partial={"exact_landing": 1},
        cases=layer_output_cases, check=check_layer_output,
    ),
]  # fmt: skip
