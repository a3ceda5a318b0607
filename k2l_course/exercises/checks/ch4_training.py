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

from k2l_course.exercises.checks import validate as v
from k2l_course.exercises.checks.items import Fail, full, item, partial
from k2l_course.pipeline.rates import DT

EXERCISE = "ch4_training"
#: The book page that teaches it (``book/<page>.md``) and its title there.
CHAPTER = ("04-training", "4. Training with Loihi neurons")


#: Nothing to refuse: the exercise asks for ``np.percentile`` and mirrors
#: ``tf.nn.l2_loss`` (using it on the errors still needs the errors, which are
#: the point), and no library function of the stack computes the range
#: penalty itself.
FORBIDDEN = {}


# -- layer_rates ---------------------------------------------------------------------


def reference_layer_rates(outputs, amplitude, percentile):
    """Per-neuron percentile of the rates over examples and time steps."""
    return np.percentile(np.asarray(outputs, dtype=np.float64) / amplitude, percentile, axis=(0, 1))


def layer_rate_cases(rng=None):
    """A rate layer (one step), a spiking layer and positive rates of another
    spread, at different percentiles, and rates at the percentile 100 (the
    upper end of "between 0 and 100": the maximum, where an interpolation
    written by hand runs past the last sample). Fresh cases: other sizes,
    amplitudes, percentiles and rates; the last case is always at 100."""
    if rng is None:
        rng = np.random.default_rng(7)
        sizes, amplitudes, percentiles = ((64, 1, 40), (8, 30, 25), (20, 5, 12)), (0.01, 0.01, 1.0), (99.9, 50.0, 95.0)
        top_size = (15, 4, 10)
    else:
        sizes = (
            (int(rng.integers(40, 90)), 1, int(rng.integers(20, 50))),
            (int(rng.integers(5, 12)), int(rng.integers(20, 40)), int(rng.integers(15, 35))),
            (int(rng.integers(10, 30)), int(rng.integers(3, 8)), int(rng.integers(8, 16))),
        )
        amplitudes = (float(1 / rng.uniform(20.0, 400.0)), float(1 / rng.uniform(20.0, 400.0)), 1.0)
        high = float(np.round(rng.uniform(97.0, 99.99), 2))
        percentiles = (high, float(rng.integers(30, 70)), float(rng.integers(80, 99)))
        top_size = (int(rng.integers(10, 30)), int(rng.integers(2, 6)), int(rng.integers(6, 14)))
    rate_layer = np.maximum(rng.normal(0.0, 50.0 * amplitudes[0], sizes[0]), 0.0).astype(np.float32)
    spikes = (rng.random(sizes[1]) < rng.uniform(0.0, 0.6, (1, 1, sizes[1][2]))) * (amplitudes[1] / DT)
    return [
        {"outputs": rate_layer, "amplitude": amplitudes[0], "percentile": percentiles[0]},
        {"outputs": spikes.astype(np.float32), "amplitude": amplitudes[1], "percentile": percentiles[1]},
        {"outputs": rng.gamma(2.0, 3.0, sizes[2]), "amplitude": amplitudes[2], "percentile": percentiles[2]},
        {"outputs": rng.gamma(2.0, 3.0, top_size), "amplitude": 1.0, "percentile": 100.0},
    ]


def check_layer_rates(outcomes, cases):
    """One rate per neuron, in Hz, the given percentile over examples and steps."""
    failures = []
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
        if v.close(got, expected, atol=1e-6):
            continue
        rates = np.asarray(outputs, dtype=np.float64) / amplitude
        methods = [np.percentile(rates, q, axis=(0, 1), method=m) for m in ("nearest", "lower", "higher", "midpoint")]
        candidates = {
            "probe_units": expected * amplitude,
            "maximum": rates.max(axis=(0, 1)),
            "fraction": np.percentile(rates, q / 100, axis=(0, 1)),
            "method": next((m for m in methods if v.close(got, m, atol=1e-6)), methods[0]),
            "zero": np.zeros_like(expected),
        }
        named = v.cause(got, expected, candidates, equal=lambda a, b: v.close(a, b, atol=1e-6))
        hints = {
            "probe_units": f"{what} are in the probe's units; divide by the amplitude to get Hz",
            "method": (
                f"{what} pick a percentile between the samples differently from np.percentile's "
                "default, which interpolates linearly between the two nearest samples"
            ),
            "fraction": (
                f"{what} are a percentile of {v.fmt(q / 100)}; np.percentile takes the percentile "
                "between 0 and 100 as given"
            ),
            "maximum": (
                f"{what} are the maxima; a percentile below 100 ignores the few most extreme values, "
                "which is why regularizers use it"
            ),
        }
        generic = f"{what} are not the {v.fmt(q)}th percentile of each neuron's rates over examples and time steps"
        failures.append((named in hints, hints.get(named, generic)))
    v.fail_first(failures)
    return full("per-neuron rate percentiles are right")


# -- rate_penalty --------------------------------------------------------------------


def reference_penalty(rates, min_rate, max_rate):
    """``tf.nn.l2_loss(max(0, min_rate - r) + max(0, r - max_rate))`` in NumPy."""
    rates = np.asarray(rates, dtype=np.float64)
    error = np.maximum(0.0, min_rate - rates) + np.maximum(0.0, rates - max_rate)
    return float(0.5 * np.sum(error**2))


def penalty_cases(rng=None):
    """Rates on both sides of a range, rates of every kind against a range
    (below, on each bound, inside, above), an open range (``max_rate = inf``),
    float32 rates, and rates all inside the range. Fresh cases: other rates
    and ranges of the same kinds, with the same boundaries: a rate exactly on
    each bound of the second range and an infinite ``max_rate`` in the third."""
    if rng is None:
        rng = np.random.default_rng(8)
        return [
            {"rates": rng.uniform(0.0, 400.0, 100), "min_rate": 100.0, "max_rate": 250.0},
            {"rates": np.array([0.0, 50.0, 100.0, 120.0, 180.0, 200.0, 260.0, 1000.0]), "min_rate": 100.0,
             "max_rate": 200.0},
            {"rates": rng.uniform(0.0, 300.0, 50), "min_rate": 10.0, "max_rate": math.inf},
            {"rates": rng.uniform(150.0, 1000.0, 30).astype(np.float32), "min_rate": 0.0, "max_rate": 300.0},
            {"rates": np.linspace(120.0, 240.0, 13), "min_rate": 100.0, "max_rate": 250.0},
        ]
    low, high = float(rng.integers(50, 150)), float(rng.integers(200, 350))
    low2, high2 = float(rng.integers(50, 120)), float(rng.integers(150, 250))
    spread = np.sort(rng.uniform(0.0, 1.5 * high2, 6))
    spread[0], spread[-1] = rng.uniform(0.0, low2), rng.uniform(high2, 3 * high2)  # one below, one above
    spread = np.sort(np.concatenate([spread, [low2, high2]]))  # and one on each bound
    return [
        {"rates": rng.uniform(0.0, 1.6 * high, int(rng.integers(50, 150))), "min_rate": low, "max_rate": high},
        {"rates": spread, "min_rate": low2, "max_rate": high2},
        {"rates": rng.uniform(0.0, 300.0, int(rng.integers(30, 70))), "min_rate": float(rng.integers(5, 60)),
         "max_rate": math.inf},
        {"rates": rng.uniform(150.0, 1000.0, int(rng.integers(20, 40))).astype(np.float32), "min_rate": 0.0,
         "max_rate": float(rng.integers(250, 400))},
        {"rates": np.linspace(low + 10.0, high - 10.0, int(rng.integers(8, 20))), "min_rate": low, "max_rate": high},
    ]  # fmt: skip


def check_penalty(outcomes, cases):
    """Half the sum of squared distances of each rate to [min_rate, max_rate]."""
    one_sided = factor_two = False
    for value, case in zip(v.values(outcomes, cases), cases):
        rates, low, high = case["rates"], case["min_rate"], case["max_rate"]
        what = f"for {len(rates)} rates and the range [{v.fmt(low)}, {v.fmt(high)}] Hz, the loss"
        nan = isinstance(value, (float, np.floating)) and math.isnan(value)
        if nan and not math.isfinite(low - high):
            raise Fail(
                f"{what} is NaN: with an infinite bound, inf - inf or 0 * inf somewhere in your formula gives NaN; "
                "an infinite bound should give no error (np.maximum(0, r - inf) is 0)"
            )
        got = v.number(value, what)
        expected = reference_penalty(rates, low, high)
        if v.close(got, expected):
            continue
        if got < 0:
            raise Fail(f"{what} is {v.fmt(got)}; a sum of squares is never negative")
        errors = np.maximum(0.0, low - np.asarray(rates, dtype=np.float64))
        errors += np.maximum(0.0, np.asarray(rates, dtype=np.float64) - high)
        candidates = {
            "factor_two": 2 * expected,
            "above": reference_penalty(rates, -math.inf, high),
            "below": reference_penalty(rates, low, math.inf),
            "mean": 0.5 * float(np.mean(errors**2)),
            "not_squared": 0.5 * float(np.sum(errors)),
            "zero": 0.0,
        }
        if expected > 0 and v.close(got, candidates["factor_two"]):
            factor_two = True
            continue
        if v.close(got, candidates["above"]) or v.close(got, candidates["below"]):
            one_sided = True
            continue
        named = v.cause(got, expected, candidates)
        if named == "mean":
            raise Fail(
                f"{what} is {v.fmt(got)}, a mean over the neurons; tf.nn.l2_loss sums the squares "
                "(half their sum), so every neuron outside the range adds to the loss"
            )
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
        section="Firing-rate regularization",
        points=2,
        cases=layer_rate_cases, check=check_layer_rates,
    ),
    item(
        EXERCISE, "rate_penalty", function="rate_penalty",
        section="Firing-rate regularization",
        points=3, partial={"one_sided": 1, "factor_two": 2},
        cases=penalty_cases, check=check_penalty,
    ),
]  # fmt: skip
