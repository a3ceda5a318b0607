"""Checks of exercise 4, training with Loihi neurons (``exercises/ch4_training``).

Items
-----
``layer_rates``
    Each neuron's firing rate as a percentile over examples and time steps
    of a layer's probed outputs (the statistic nengo-loihi's CIFAR-10 example
    regularizes). Reference: ``np.percentile`` of ``outputs / amplitude``.
``rate_penalty``
    A firing-rate regularization loss that pulls each neuron's rate into
    ``[min_rate, max_rate]``:
    ``l2_loss(max(0, min_rate - r) + max(0, r - max_rate))``, where ``l2_loss``
    is TensorFlow's ``tf.nn.l2_loss`` (half the sum of squares).
    Reference: :func:`reference_penalty`, which the test suite proves equal to
    the TensorFlow expression.
"""

from __future__ import annotations

import math

import numpy as np

from k2l_course.checks import validate as v
from k2l_course.checks.items import Fail, full, item, partial
from k2l_course.rates import DT

EXERCISE = "ch4_training"


# -- layer_rates ---------------------------------------------------------------------


def reference_layer_rates(outputs, amplitude, percentile):
    """Per-neuron percentile of the rates over examples and time steps."""
    return np.percentile(np.asarray(outputs, dtype=np.float64) / amplitude, percentile, axis=(0, 1))


def layer_rate_cases():
    rng = np.random.default_rng(7)
    rate_layer = np.maximum(rng.normal(0.0, 0.5, (64, 1, 40)), 0.0).astype(np.float32)  # training: one step
    spikes = (rng.random((8, 30, 25)) < rng.uniform(0.0, 0.6, (1, 1, 25))) * (0.01 / DT)
    return [
        {"outputs": rate_layer, "amplitude": 0.01, "percentile": 99.9},
        {"outputs": spikes.astype(np.float32), "amplitude": 0.01, "percentile": 50.0},
        {"outputs": rng.gamma(2.0, 3.0, (20, 5, 12)), "amplitude": 1.0, "percentile": 95.0},
    ]


def check_layer_rates(outcomes, cases):
    """One rate per neuron, in Hz, the given percentile over examples and steps."""
    for value, case in zip(v.values(outcomes, cases), cases):
        outputs, amplitude, q = case["outputs"], case["amplitude"], case["percentile"]
        n_neurons = outputs.shape[-1]
        what = f"for outputs of shape {outputs.shape} and percentile {v.fmt(q)}, the rates"
        if type(value) is np.ndarray and value.shape != (n_neurons,) and value.size == n_neurons:
            raise Fail(f"{what} have shape {value.shape}; return a flat array of one rate per neuron")
        per_other_axis = type(value) is np.ndarray and value.ndim == 1 and value.shape[0] != n_neurons
        if per_other_axis and value.shape[0] in outputs.shape[:2]:
            raise Fail(
                f"{what} have one value per {'example' if value.shape[0] == outputs.shape[0] else 'time step'}; "
                "the percentile is taken over examples and time steps, giving one rate per neuron"
            )
        got = v.array(value, what, shape=(n_neurons,), kinds="iuf")
        expected = reference_layer_rates(outputs, amplitude, q)
        if np.allclose(got, expected, rtol=1e-5, atol=1e-6):
            continue
        if amplitude != 1 and np.allclose(got, expected * amplitude, rtol=1e-5, atol=1e-6):
            raise Fail(f"{what} are in the probe's units; divide by the amplitude to get Hz")
        if np.allclose(got, np.asarray(outputs, dtype=np.float64).max(axis=(0, 1)) / amplitude, rtol=1e-5, atol=1e-6):
            raise Fail(
                f"{what} are the maxima; a percentile below 100 ignores the few most extreme values, "
                "which is why regularizers use it"
            )
        raise Fail(f"{what} are not the {v.fmt(q)}th percentile of each neuron's rates over examples and time steps")
    return full("per-neuron rate percentiles are right")


# -- rate_penalty --------------------------------------------------------------------


def reference_penalty(rates, min_rate, max_rate):
    """``tf.nn.l2_loss(max(0, min_rate - r) + max(0, r - max_rate))`` in NumPy."""
    rates = np.asarray(rates, dtype=np.float64)
    error = np.maximum(0.0, min_rate - rates) + np.maximum(0.0, rates - max_rate)
    return float(0.5 * np.sum(error**2))


def penalty_cases():
    rng = np.random.default_rng(8)
    return [
        {"rates": rng.uniform(0.0, 400.0, 100), "min_rate": 100.0, "max_rate": 250.0},
        {"rates": np.array([0.0, 50.0, 120.0, 180.0, 260.0, 1000.0]), "min_rate": 100.0, "max_rate": 200.0},
        {"rates": rng.uniform(0.0, 300.0, 50), "min_rate": 10.0, "max_rate": math.inf},
        {"rates": rng.uniform(150.0, 1000.0, 30).astype(np.float32), "min_rate": 0.0, "max_rate": 300.0},
        {"rates": np.linspace(120.0, 240.0, 13), "min_rate": 100.0, "max_rate": 250.0},
    ]


def check_penalty(outcomes, cases):
    """Half the sum of squared distances of each rate to [min_rate, max_rate]."""
    one_sided = factor_two = False
    for value, case in zip(v.values(outcomes, cases), cases):
        rates, low, high = case["rates"], case["min_rate"], case["max_rate"]
        what = f"for {len(rates)} rates and the range [{v.fmt(low)}, {v.fmt(high)}] Hz, the loss"
        got = v.number(value, what)
        expected = reference_penalty(rates, low, high)
        if math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-9):
            continue
        if got < 0:
            raise Fail(f"{what} is {v.fmt(got)}; a sum of squares is never negative")
        if expected > 0 and math.isclose(got, 2 * expected, rel_tol=1e-5):
            factor_two = True
            continue
        above = reference_penalty(rates, -math.inf, high)
        below = reference_penalty(rates, low, math.inf)
        if math.isclose(got, above, rel_tol=1e-5, abs_tol=1e-9) or math.isclose(got, below, rel_tol=1e-5, abs_tol=1e-9):
            one_sided = True
            continue
        raise Fail(f"{what} is {v.fmt(got)}, which is not the squared distance of the rates to the range")
    if one_sided:
        return partial(
            "one_sided",
            "your loss penalizes rates on one side of the range only; neurons firing too slowly "
            "and too fast both need a push (one max(0, ...) term for each bound)",
        )
    if factor_two:
        return partial(
            "factor_two",
            "your loss is twice the expected one: tf.nn.l2_loss, like the regularizers it mimics, "
            "is half the sum of squares",
        )
    return full("the regularization loss is right")


ITEMS = [
    item(
        EXERCISE, "layer_rates", function="layer_rates",
        points=2,
        cases=layer_rate_cases, check=check_layer_rates,
    ),
    item(
        EXERCISE, "rate_penalty", function="rate_penalty",
        points=3, partial={"one_sided": 1, "factor_two": 2},
        cases=penalty_cases, check=check_penalty,
    ),
]  # fmt: skip
