"""Checks of exercise 2, the Loihi activation profile (``exercises/ch2_activation``).

Items
-----
``loihi_rate_formula``
    The firing rate of Loihi's spiking ReLU neuron for a constant input,
    in NumPy. Reference: :func:`k2l_course.rates.loihi_relu_rate` (which the
    test suite proves equal to nengo-loihi's ``LoihiSpikingRectifiedLinear.rates``),
    over sweeps that cover the plateaus and the one-spike-per-step cap.
``loihi_spike_train``
    The spikes of Loihi neurons, step by step, for an input that may change
    over time. Reference: :func:`reference_spikes`, which the test suite
    proves identical to nengo-loihi's own ``LoihiSpikingRectifiedLinear.step``.
"""

from __future__ import annotations

import numpy as np

from k2l_course.checks import validate as v
from k2l_course.checks.items import Fail, full, item, partial
from k2l_course.rates import DT, loihi_relu_rate

EXERCISE = "ch2_activation"


# -- loihi_rate_formula --------------------------------------------------------------


def _off_plateau_edges(current, dt):
    """Drop currents whose spike period ``1 / (J dt)`` is (nearly) a whole number
    of steps: there, floating-point rounding alone decides the plateau."""
    current = np.asarray(current, dtype=np.float64)
    with np.errstate(divide="ignore"):
        period = np.where(current > 0, 1.0 / (current * dt), 0.5)
    return current[(current <= 0) | (np.abs(period - np.round(period)) > 1e-6 * np.maximum(period, 1.0))]


def rate_cases():
    rng = np.random.default_rng(2)
    return [
        {"current": _off_plateau_edges(np.linspace(-100.0, 3000.0, 6201), DT), "dt": DT},
        {"current": _off_plateau_edges(rng.uniform(-1000.0, 20000.0, 400), DT)[:300].reshape(15, 20), "dt": DT},
        {"current": _off_plateau_edges(np.linspace(-10.0, 1200.0, 2421), 0.002), "dt": 0.002},
    ]


def _ms(dt):
    return f"dt = {v.fmt(dt * 1000)} ms"


def check_rate(outcomes, cases):
    """0 for no input, never above 1/dt, and on Loihi's plateaus everywhere."""
    plateau_problem = None
    for value, case in zip(v.values(outcomes, cases), cases):
        current, dt = case["current"], case["dt"]
        what = f"for input currents of shape {current.shape} and {_ms(dt)}, the result"
        got = v.array(value, what, shape=current.shape, finite=False).astype(np.float64)
        flat_j, flat_r = current.ravel(), got.ravel()
        nan = np.isnan(flat_r)
        if nan.any():
            i = int(np.argmax(nan))
            raise Fail(f"for an input current of {v.fmt(flat_j[i])} ({_ms(dt)}) your rate is NaN")
        cap = 1.0 / dt
        over = flat_r > cap * (1 + 1e-9)
        if over.any():
            i = int(np.argmax(over))
            raise Fail(
                f"for an input current of {v.fmt(flat_j[i])} ({_ms(dt)}) your rate is {v.fmt(flat_r[i])} Hz; "
                f"no Loihi neuron can exceed {v.fmt(cap)} Hz at {_ms(dt)}, because it spikes at most once per time step"
            )
        silent = (flat_j <= 0) & (flat_r != 0)
        if silent.any():
            i = int(np.argmax(silent))
            raise Fail(
                f"for an input current of {v.fmt(flat_j[i])} your rate is {v.fmt(flat_r[i])} Hz; "
                "a neuron without positive input never spikes"
            )
        negative = flat_r < 0
        if negative.any():
            i = int(np.argmax(negative))
            raise Fail(
                f"for an input current of {v.fmt(flat_j[i])} your rate is {v.fmt(flat_r[i])} Hz; "
                "a rate is never negative"
            )
        expected = loihi_relu_rate(flat_j, dt)
        wrong = ~np.isclose(flat_r, expected, rtol=1e-7, atol=1e-9)
        if wrong.any() and plateau_problem is None:
            i = int(np.argmax(np.where(wrong, np.abs(flat_r - expected), -1.0)))  # the clearest example
            plateau_problem = (
                f"for an input current of {v.fmt(flat_j[i])} ({_ms(dt)}) your rate of {v.fmt(flat_r[i])} Hz "
                "is not one a Loihi neuron can fire at: between two spikes it waits a whole number of time "
                "steps, so its rate moves in plateaus"
            )
    if plateau_problem:
        return partial(
            "capped", f"your rates are 0 without input and never exceed one spike per step, but {plateau_problem}"
        )
    return full("rates match Loihi's over the whole sweep, plateaus and cap included")


# -- loihi_spike_train ------------------------------------------------------------------


def reference_spikes(current, dt=DT, threshold_inclusive=False, reset="zero", clip=True):
    """Simulate Loihi's spiking ReLU neurons step by step, like nengo-loihi.

    Each step adds ``J dt`` to the voltage; a neuron whose voltage exceeds 1
    spikes; then negative voltages are set to 0 and the neurons that spiked
    reset to 0. The keyword arguments make the typical wrong variants, used
    for hints.

    Parameters
    ----------
    current : ndarray, shape (n_steps, n_neurons)
        Input current at each step.
    dt : float

    Returns
    -------
    ndarray of bool, shape (n_steps, n_neurons)
    """
    current = np.asarray(current, dtype=np.float64)
    voltage = np.zeros(current.shape[1])
    spikes = np.zeros(current.shape, dtype=bool)
    for step, j in enumerate(current):
        voltage += j * dt
        spiked = voltage >= 1 if threshold_inclusive else voltage > 1
        spikes[step] = spiked
        if clip:
            voltage[voltage < 0] = 0
        if reset == "zero":
            voltage[spiked] = 0
        else:
            voltage[spiked] -= 1
    return spikes


#: Constant currents of the first case: silent, slow, the exact-voltage cases
#: 125/250/500/1000 (the voltage hits 1 exactly), fast, and far above the cap.
CONSTANT_CURRENTS = (0.0, -40.0, 37.0, 125.0, 250.0, 310.0, 500.0, 640.0, 999.0, 1000.0, 1700.0, 4000.0)


def spike_cases():
    rng = np.random.default_rng(3)
    varying = rng.uniform(-600.0, 1400.0, (80, 16))
    varying[20:36, ::2] = -900.0  # strong inhibition for half of the neurons
    return [
        {"current": np.tile(np.array(CONSTANT_CURRENTS), (60, 1)), "dt": DT},
        {"current": varying, "dt": DT},
        {"current": np.tile(np.array([90.0, 125.0, 250.0, 260.0, 499.0, 500.0, 900.0]), (40, 1)), "dt": 0.002},
    ]


def check_spikes(outcomes, cases):
    """Exactly nengo-loihi's spikes, step by step."""
    for value, case in zip(v.values(outcomes, cases), cases):
        current, dt = case["current"], case["dt"]
        what = f"for an input of shape {current.shape} and {_ms(dt)}, the result"
        got = v.array(value, what, shape=current.shape)
        odd = ~np.isin(got, (0, 1))
        if odd.any():
            raise Fail(f"{what} holds {v.fmt(got[odd][0])}; it should hold 1 where a neuron spikes and 0 elsewhere")
        spikes = got.astype(bool)
        if np.array_equal(spikes, reference_spikes(current, dt)):
            continue
        if np.array_equal(spikes, reference_spikes(current, dt, threshold_inclusive=True)):
            raise Fail(
                f"{what}: a neuron whose voltage reaches exactly 1 spikes in your simulation; "
                "a Loihi neuron spikes only when its voltage exceeds 1"
            )
        if np.array_equal(spikes, reference_spikes(current, dt, reset="subtract")):
            raise Fail(
                f"{what}: after a spike your neuron keeps the voltage above 1 (like nengo's "
                "SpikingRectifiedLinear); a Loihi neuron resets its voltage to 0, which is what makes "
                "its rates move in plateaus"
            )
        if np.array_equal(spikes, reference_spikes(current, dt, clip=False)):
            raise Fail(
                f"{what}: negative input drives your neurons' voltage below 0; a Loihi neuron's "
                "voltage never goes below 0, so it recovers at once when the input turns positive"
            )
        reference = reference_spikes(current, dt)
        if np.array_equal(spikes[1:], reference[:-1]):
            raise Fail(
                f"{what}: your spikes come one step late; in each step the input is added to the "
                "voltage before the neuron checks its threshold"
            )
        step, neuron = (int(i) for i in np.argwhere(spikes != reference)[0])
        raise Fail(
            f"{what}: neuron {neuron} (input current {v.fmt(current[step, neuron])} at step {step}) "
            f"{'spikes' if spikes[step, neuron] else 'does not spike'} at step {step}, unlike a Loihi neuron"
        )
    return full("every spike is where a Loihi neuron would fire it")


ITEMS = [
    item(
        EXERCISE, "loihi_rate_formula", function="loihi_rate",
        points=3, partial={"capped": 1},
        cases=rate_cases, check=check_rate,
    ),
    item(
        EXERCISE, "loihi_spike_train", function="loihi_spikes",
        points=3,
        cases=spike_cases, check=check_spikes,
    ),
]  # fmt: skip
