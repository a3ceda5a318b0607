"""Checks of exercise 3, per-layer scaling (``exercises/ch3_scaling``).

Items
-----
``mean_active_rate``
    The mean firing rate (Hz) of a layer's active neurons, from probe data.
    Reference: :func:`k2l_course.rates.mean_active_rate`.
``scales_for_target``
    The per-layer ``scale_firing_rates`` that bring each layer to a target
    rate. Reference: :func:`k2l_course.rates.scales_for_target`.
``scaled_layer_output``
    What a layer of Loihi neurons transmits at a given firing-rate scale (its
    rate times its amplitude ``1 / scale``), for the values a rate network
    would transmit. Reference: :func:`k2l_course.rates.loihi_relu_rate`.
"""

from __future__ import annotations

import numpy as np

from k2l_course.checks import validate as v
from k2l_course.checks.items import Fail, full, item, partial
from k2l_course.model import NEURON_LAYERS
from k2l_course.rates import DT, TARGET_RATE, loihi_relu_rate, mean_active_rate, scales_for_target

EXERCISE = "ch3_scaling"


# -- mean_active_rate ------------------------------------------------------------------


def _spiking_probe(rng, n_examples, n_steps, n_neurons, amplitude, active_fraction):
    """Probe data of a spiking layer: amplitude / dt at each spike, silent neurons
    (a different set, of a different size, in each example)."""
    rates = rng.uniform(20.0, 600.0, (n_examples, 1, n_neurons))
    active = rng.random((n_examples, 1, n_neurons)) < rng.uniform(0.2, 1.0, (n_examples, 1, 1)) * active_fraction
    spikes = (rng.random((n_examples, n_steps, n_neurons)) < rates * DT) & active
    return (spikes * (amplitude / DT)).astype(np.float32)


def mean_rate_cases():
    rng = np.random.default_rng(4)
    relu = np.maximum(rng.normal(0.0, 8.0, (5, 10, 30)), 0.0)  # a rate (ReLU) layer, amplitude 1
    relu[:, :, :8] = 0.0
    relu = np.repeat(relu[:, :1, :], 10, axis=1).astype(np.float32)
    return [
        {"outputs": _spiking_probe(rng, 4, 30, 50, 0.01, 0.8), "amplitude": 0.01},
        {"outputs": _spiking_probe(rng, 6, 30, 120, 1 / 400, 0.6), "amplitude": 1 / 400},
        {"outputs": relu, "amplitude": 1.0},
    ]


def _pooled_rate(outputs, amplitude):
    """The typical slip: one average over all active (example, neuron) pairs."""
    rates = outputs.mean(axis=1) / amplitude
    active = (outputs > 0).any(axis=1)
    return float(rates[active].mean())


def check_mean_rate(outcomes, cases):
    """Rates in Hz (divided by the amplitude), averaged over each example's active neurons."""
    pooled = False
    for value, case in zip(v.values(outcomes, cases), cases):
        outputs, amplitude = case["outputs"].astype(np.float64), case["amplitude"]
        what = f"for outputs of shape {outputs.shape} and amplitude {v.fmt(amplitude)}, the mean rate"
        got = v.number(value, what)
        expected = mean_active_rate(outputs, amplitude)
        if np.isclose(got, expected, rtol=1e-5):
            continue
        if np.isclose(got, expected * amplitude, rtol=1e-5) and amplitude != 1:
            raise Fail(
                f"{what} is {v.fmt(got)}: the probe records amplitude / dt per spike, so divide "
                "by the amplitude to get a rate in Hz"
            )
        if np.isclose(got, float(outputs.mean()) / amplitude, rtol=1e-5):
            raise Fail(
                f"{what} is {v.fmt(got)}, an average over all neurons; silent neurons say nothing "
                "about how fast the active ones fire: average only the neurons that were active "
                "(nonzero at some step) in each example"
            )
        if np.isclose(got, _pooled_rate(outputs, amplitude), rtol=1e-5):
            pooled = True
            continue
        raise Fail(f"{what} is {v.fmt(got)}, which is not the mean rate of the active neurons")
    if pooled:
        return partial(
            "pooled",
            "you average all active (example, neuron) pairs at once; the course averages each "
            "example's active neurons first, then the examples, so that every example counts the same",
        )
    return full("mean rates of the active neurons are right")


# -- scales_for_target ---------------------------------------------------------------


def scale_cases():
    rng = np.random.default_rng(5)
    return [
        {"rates": dict(zip(NEURON_LAYERS, (14.4, 1.9, 1.0, 2.7))), "target": TARGET_RATE},
        {"rates": {name: float(r) for name, r in zip(NEURON_LAYERS, rng.uniform(0.5, 900.0, 4))}, "target": 150.0},
        {"rates": dict(zip(NEURON_LAYERS, (814.0, 95.0, 49.0, 200.0))), "target": TARGET_RATE},
    ]


def check_scales(outcomes, cases):
    """One scale per layer, target / rate."""
    for value, case in zip(v.values(outcomes, cases), cases):
        rates, target = case["rates"], case["target"]
        what = f"the result for a target of {v.fmt(target)} Hz"
        got = v.mapping(value, rates.keys(), what)
        expected = scales_for_target(rates, target)
        for name in rates:
            scale = v.number(got[name], f"the scale of layer {name!r}")
            if np.isclose(scale, expected[name], rtol=1e-9):
                continue
            if np.isclose(scale, rates[name] / target, rtol=1e-9):
                raise Fail(
                    f"{what}: layer {name!r} fires at {v.fmt(rates[name])} Hz and gets scale {v.fmt(scale)}; "
                    "scaling multiplies a layer's rates, so a layer below the target needs a scale above 1"
                )
            raise Fail(
                f"{what}: layer {name!r} (measured at {v.fmt(rates[name])} Hz) gets scale {v.fmt(scale)}, "
                "which does not bring its mean rate to the target"
            )
    return full("every layer's scale brings it to the target")


# -- scaled_layer_output -----------------------------------------------------------


def _clear_of_edges(values, scale, dt):
    j = np.asarray(values) * scale
    with np.errstate(divide="ignore"):
        period = np.where(j > 0, 1.0 / (j * dt), 0.5)
    return np.asarray(values)[(j <= 0) | (np.abs(period - np.round(period)) > 1e-6 * np.maximum(period, 1.0))]


def layer_output_cases():
    rng = np.random.default_rng(6)
    values = np.concatenate([[-3.0, 0.0], rng.uniform(0.01, 30.0, 200)])
    return [
        {"values": _clear_of_edges(values, scale, DT), "scale": scale, "dt": DT}
        for scale in (1.0, 10.0, 100.0, 400.0)
    ] + [{"values": _clear_of_edges(values, 50.0, 0.002), "scale": 50.0, "dt": 0.002}]


def check_layer_output(outcomes, cases):
    """loihi rate of (scale * value), times the amplitude 1 / scale."""
    for value, case in zip(v.values(outcomes, cases), cases):
        values, scale, dt = case["values"], case["scale"], case["dt"]
        what = f"at scale {v.fmt(scale)} and dt = {v.fmt(dt * 1000)} ms, the layer's output"
        got = v.array(value, what, shape=values.shape, kinds="iuf")
        expected = loihi_relu_rate(values * scale, dt) / scale
        bad = v.mismatch(got, expected, rtol=1e-7)
        if bad is None:
            continue
        i = bad[0]
        if np.allclose(got, expected * scale, rtol=1e-7, atol=1e-9):
            raise Fail(
                f"{what} is in Hz: the converter divides each neuron's output by the scale "
                "(its amplitude is 1 / scale), so that the next layer receives the same values as before scaling"
            )
        if np.allclose(got, np.maximum(values, 0), rtol=1e-7, atol=1e-9):
            raise Fail(
                f"{what} is the ideal ReLU; Loihi neurons fire at discrete rates (plateaus, "
                "at most one spike per step), so what they transmit differs"
            )
        raise Fail(
            f"{what} for the value {v.fmt(values[i])} is {v.fmt(got[i])}, "
            "not what a Loihi neuron at that scale transmits"
        )
    return full("what the scaled Loihi layer transmits is right at every scale")


ITEMS = [
    item(
        EXERCISE, "mean_active_rate", function="mean_active_rate",
        points=3, partial={"pooled": 2},
        cases=mean_rate_cases, check=check_mean_rate,
    ),
    item(
        EXERCISE, "scales_for_target", function="scales_for_target",
        points=2,
        cases=scale_cases, check=check_scales,
    ),
    item(
        EXERCISE, "scaled_layer_output", function="scaled_layer_output",
        points=2,
        cases=layer_output_cases, check=check_layer_output,
    ),
]  # fmt: skip
