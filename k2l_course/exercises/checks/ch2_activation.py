"""Checks of exercise 2, the Loihi activation profile (``exercises/ch2_activation``).

Items
-----
``loihi_rate_formula``
    The firing rate of Loihi's spiking ReLU neuron for a constant input,
    in NumPy. Reference: :func:`k2l_course.pipeline.rates.loihi_relu_rate` (which the
    test suite proves equal to nengo-loihi's ``LoihiSpikingRectifiedLinear.rates``),
    over sweeps that cover the plateaus, the one-spike-per-step cap, ``J = 0``
    and the currents at which the voltage lands exactly on 1 (there the formula
    counts the step that reaches 1, the neuron model fires a step later).
``loihi_spike_train``
    The spikes of Loihi neurons, step by step, for an input that may change
    over time. Reference: :func:`reference_spikes`, which the test suite
    proves identical to nengo-loihi's own ``LoihiSpikingRectifiedLinear.step``.
"""

from __future__ import annotations

import itertools

import numpy as np

from k2l_course.exercises.checks import validate as v
from k2l_course.exercises.checks.items import Fail, full, item, partial
from k2l_course.pipeline.rates import DT, loihi_relu_rate

EXERCISE = "ch2_activation"
#: The book page that teaches it (``book/<page>.md``) and its title there.
CHAPTER = ("02-activation", "2. The Loihi activation profile")


#: The calls that compute this exercise's answers: nengo-loihi's own model of
#: the chip's neuron (its rate formula and its step-by-step update) and the
#: emulator that runs it.
FORBIDDEN = {
    "nengo_loihi.neurons.loihi_rates": (
        "nengo-loihi's rate function computes the very rates exercise 2.1 asks you to derive"
    ),
    "nengo_loihi.neurons.loihi_spikingrectifiedlinear_rates": (
        "it is nengo-loihi's formula for the rates exercise 2.1 asks you to derive"
    ),
    "nengo_loihi.neurons.LoihiSpikingRectifiedLinear.rates": (
        "the neuron type's rates are the answer of exercise 2.1; write the formula yourself"
    ),
    "nengo_loihi.neurons.LoihiSpikingRectifiedLinear.step": (
        "the neuron type's step is the simulation exercise 2.2 asks you to write"
    ),
    "nengo_loihi.Simulator": (
        "nengo-loihi's simulator runs the chip's neurons for you; exercise 2 asks you to model them in NumPy"
    ),
}


# -- loihi_rate_formula --------------------------------------------------------------


#: Longest spike period (steps) in the cases: neighbouring plateaus then
#: differ by more than 1 / MAX_PERIOD, far more than the tolerance.
MAX_PERIOD = 2000


def off_plateau_edges(current, dt):
    """Drop currents whose spike period ``1 / (J dt)`` is within
    :data:`~k2l_course.exercises.checks.validate.EDGE_MARGIN` of a whole number of
    steps (there, floating-point rounding alone decides the plateau) or
    longer than :data:`MAX_PERIOD` steps."""
    current = np.asarray(current, dtype=np.float64)
    with np.errstate(divide="ignore"):
        period = np.where(current > 0, 1.0 / (current * dt), 0.5)
    clear = np.abs(period - np.round(period)) > v.EDGE_MARGIN * np.maximum(period, 1.0)
    return current[(current <= 0) | (clear & (period <= MAX_PERIOD))]


#: Spike periods (steps) of the currents at which the voltage lands exactly on
#: 1: ``J dt = 1 / k`` with ``k`` a power of two is exact in binary, so every
#: usual order of float64 or float32 arithmetic lands on 1 exactly at step ``k``
#: (:func:`lands_exactly`); other ``k`` (3, 10...) depend on rounding.
LANDING_PERIODS = (1, 2, 4, 8, 16)


def lands_exactly(factors, k):
    """Whether ``J dt = 1 / k`` exactly, and every usual way of computing the formula gives ``k``.

    The voltage grows by ``J dt`` per step, ``J dt`` being the product of
    ``factors`` (``(J, dt)``, or ``(scale, a, dt)`` in exercise 3).

    * In float64 and in float32 throughout, in every order of the factors,
      the voltage summed step by step lands exactly on 1 at step ``k``, and
      ``ceil`` and ``floor`` of ``1 / (J dt)``, ``-(-1 // (J dt))`` and
      ``ceil(1 / J / dt)`` (nengo-loihi's order) all give ``k``: the current
      is an exact landing there, where a formula that waits one step more
      is wrong.
    * In float64 with some factors rounded to float32 first (``dt =
      np.float32(dt)`` with float64 currents), where the product is off
      ``1 / k`` by a rounding, the right forms (``ceil``, ``-(-1 // x)``, the
      step on which the summed voltage reaches 1) still give ``k``.

    Only such inputs are exact landings in the cases: a right answer in any
    of these forms is right there.

    Parameters
    ----------
    factors : tuple of float
    k : int

    Returns
    -------
    bool
    """
    def counts(order, dtype):
        one = dtype(1.0)
        product, chain = order[0], one / order[0]
        for f in order[1:]:
            product, chain = dtype(product * f), dtype(chain / f)
        voltage, steps = dtype(0.0), 0
        while voltage < one and steps <= k:
            voltage, steps = dtype(voltage + product), steps + 1
        right = [np.ceil(one / product), -np.floor_divide(-one, product), np.ceil(chain), steps]
        return [float(c) for c in right], float(np.floor(one / product)), voltage == one

    for dtype in (np.float64, np.float32):
        for order in itertools.permutations([dtype(f) for f in factors]):
            right, floor, landed = counts(order, dtype)
            if right != [k] * len(right) or floor != k or not landed:
                return False
    for rounded in itertools.product((False, True), repeat=len(factors)):
        mixed = [np.float64(np.float32(f)) if r else np.float64(f) for f, r in zip(factors, rounded)]
        for order in itertools.permutations(mixed):
            right, _, _ = counts(order, np.float64)
            if right != [k] * len(right):
                return False
    return True


def exact_landings(dt, scale=1.0, periods=LANDING_PERIODS):
    """The inputs at which the voltage lands exactly on 1 after ``k`` steps.

    Parameters
    ----------
    dt : float
    scale : float
        The inputs are multiplied by it (exercise 3's firing-rate scale).
    periods : tuple of int

    Returns
    -------
    ndarray
        ``1 / (k dt scale)`` for each ``k`` of ``periods`` where the scaled
        input lands exactly (:func:`lands_exactly`), in the order of ``periods``.
    """
    inputs = [(k, 1.0 / (k * dt) / scale) for k in periods]
    return np.array([x for k, x in inputs if lands_exactly((scale, x, dt), k)], dtype=np.float64)


def landing_periods(current, dt):
    """``k`` where ``J dt k = 1`` exactly (in float64), else 0: the currents where
    the rate formula counts the step that reaches 1 and the neuron model fires
    one step later. The cases hold such currents only where :func:`lands_exactly`."""
    current = np.asarray(current, dtype=np.float64)
    with np.errstate(divide="ignore"):
        period = np.where(current > 0, 1.0 / (current * dt), 0.5)
    return np.where((current > 0) & (period == np.round(period)), np.round(period), 0.0)


#: The fresh second time steps of the rate cases: those with exact landings
#: (2.5 ms has none: float32 rounds it down, so a float64 current times
#: ``np.float32(0.0025)`` falls short of 1 where the exact product lands on it).
SECOND_RATE_DTS = (0.002, 0.004)


def rate_cases(rng=None):
    """Sweeps over the plateaus and past the cap, at two time steps, with the boundaries.

    Public: fixed sweeps. Fresh: sweeps of the same ranges with random ends
    and densities, random currents of the same spread and a random second
    time step (:data:`SECOND_RATE_DTS`), longer than the first (the second sweep, like the public one,
    goes past where a neuron at 1 ms would reach the cap). Every positive
    current is at most 2000 steps per spike (so neighbouring plateaus differ
    by more than 5e-4, relative) and clear of the plateau edges, except the
    boundaries that both sweeps always hold: ``J = 0`` and the exact landings
    of :func:`exact_landings` (``J = 250`` at 1 ms among them, the current
    the exercise names, and ``J = 1 / dt``, the cap).
    """
    if rng is None:
        rng, ends, dt2 = np.random.default_rng(2), (-100.0, 3000.0, 6201, -10.0, 1200.0, 2421), 0.002
    else:
        dt2 = float(rng.choice(SECOND_RATE_DTS))
        ends = (
            float(rng.uniform(-200.0, -20.0)), float(rng.uniform(2000.0, 4000.0)), int(rng.integers(4000, 8000)),
            float(rng.uniform(-20.0, -1.0)), float(rng.uniform(2.2, 3.0) / dt2), int(rng.integers(1500, 3000)),
        )  # fmt: skip
    sweep = np.linspace(ends[0], ends[1], ends[2])
    second = np.linspace(ends[3], ends[4], ends[5])
    return [
        {"current": np.union1d(off_plateau_edges(sweep, DT), [0.0, *exact_landings(DT)]), "dt": DT},
        {"current": off_plateau_edges(rng.uniform(-1000.0, 20000.0, 400), DT)[:300].reshape(15, 20), "dt": DT},
        {"current": np.union1d(off_plateau_edges(second, dt2), [0.0, *exact_landings(dt2)]), "dt": dt2},
    ]


def _ms(dt):
    return f"dt = {v.fmt(dt * 1000)} ms"


def check_rate(outcomes, cases):
    """0 for no input, never above 1/dt, on Loihi's plateaus everywhere, and the
    formula's rate (not the neuron model's, a step later) where the voltage lands exactly on 1."""
    plateau_problem = landing_problem = None
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
        over = flat_r > cap * (1 + v.RTOL)
        if over.any():
            i = int(np.argmax(over))
            raise Fail(
                f"for an input current of {v.fmt(flat_j[i])} ({_ms(dt)}) your rate is {v.fmt(flat_r[i])} Hz; "
                f"no Loihi neuron can exceed {v.fmt(cap)} Hz at {_ms(dt)}, because it spikes at most once per time step"
            )
        silent = (flat_j <= 0) & (np.abs(flat_r) > v.ATOL)
        if silent.any():
            i = int(np.argmax(silent))
            raise Fail(
                f"for an input current of {v.fmt(flat_j[i])} your rate is {v.fmt(flat_r[i])} Hz; "
                "a neuron without positive input never spikes"
            )
        negative = flat_r < -v.ATOL
        if negative.any():
            i = int(np.argmax(negative))
            raise Fail(
                f"for an input current of {v.fmt(flat_j[i])} your rate is {v.fmt(flat_r[i])} Hz; "
                "a rate is never negative"
            )
        expected = loihi_relu_rate(flat_j, dt)
        if np.any(expected > 0) and v.close(flat_r, expected * dt):
            raise Fail(
                f"{what} is in spikes per time step; a rate in Hz is spikes per second, "
                f"so divide by the time step ({_ms(dt)})"
            )
        dead = (flat_j > 0) & (flat_r <= v.ATOL)
        if dead.any():
            i = int(np.argmax(dead))
            raise Fail(
                f"for an input current of {v.fmt(flat_j[i])} ({_ms(dt)}) your rate is 0; "
                "a neuron with positive input keeps charging, so it fires sooner or later"
            )
        landing = landing_periods(flat_j, dt)  # judged below where it is exactly 1 step
        saturated = (flat_j * dt >= 1) & (landing == 0)
        below_cap = saturated & ~np.isclose(flat_r, cap, rtol=v.RTOL, atol=0)
        if below_cap.any():
            i = int(np.argmax(below_cap))
            raise Fail(
                f"for an input current of {v.fmt(flat_j[i])} ({_ms(dt)}) your rate is {v.fmt(flat_r[i])} Hz; "
                "an input that fills the voltage in one step makes the neuron spike at every step"
            )
        wrong = ~np.isclose(flat_r, expected, rtol=v.RTOL, atol=v.ATOL)
        with np.errstate(divide="ignore"):
            a_step_later = np.where(landing > 0, 1.0 / (dt * (landing + 1)), np.nan)
        late = (landing > 0) & np.isclose(flat_r, a_step_later, rtol=v.RTOL, atol=v.ATOL)
        if (wrong & ~late).any() and plateau_problem is None:
            i = int(np.argmax(np.where(wrong & ~late, np.abs(flat_r - expected), -1.0)))  # the clearest example
            plateau_problem = (
                f"for an input current of {v.fmt(flat_j[i])} ({_ms(dt)}) your rate of {v.fmt(flat_r[i])} Hz "
                "is not one a Loihi neuron can fire at: between two spikes it waits a whole number of time "
                "steps, so its rate moves in plateaus"
            )
        elif (wrong & late).any() and landing_problem is None:
            i = int(np.argmax(wrong & late))
            steps = f"{v.fmt(landing[i])} step{'s' if landing[i] != 1 else ''}"
            landing_problem = (
                f"for an input current of {v.fmt(flat_j[i])} ({_ms(dt)}) the voltage lands exactly on 1 after "
                f"{steps}, and your rate of {v.fmt(flat_r[i])} Hz waits one step more: the rate formula counts "
                "the steps the voltage needs to reach 1 (the neuron model of exercise 2.2 spikes only once it "
                "exceeds 1; nengo-loihi's formula and model disagree at exactly these currents)"
            )
    if plateau_problem:
        return partial(
            "capped", f"your rates are 0 without input and never exceed one spike per step, but {plateau_problem}"
        )
    if landing_problem:
        return partial(
            "exact_landing", f"your rates are right except where the voltage lands exactly on 1: {landing_problem}"
        )
    return full("rates match Loihi's over the whole sweep, plateaus, cap and exact landings included")


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


def _near_threshold(current, dt):
    """Whether some voltage comes within float32 precision of 1 without landing on it
    exactly: there float32 and float64 arithmetic could disagree on a spike."""
    current = np.asarray(current, dtype=np.float64)
    voltage = np.zeros(current.shape[1])
    for j in current:
        voltage += j * dt
        gap = np.abs(voltage - 1.0)
        if np.any((gap > 0) & (gap < v.EDGE_MARGIN)):
            return True
        spiked = voltage > 1
        voltage[voltage < 0] = 0
        voltage[spiked] = 0
    return False


def _varying(rng, n_steps, n_neurons, dt):
    """Random inputs, with a block of strong inhibition for half of the neurons."""
    for _ in range(100):
        current = rng.uniform(-600.0, 1400.0, (n_steps, n_neurons)) * (DT / dt)
        start = int(rng.integers(10, n_steps // 2))
        current[start : start + n_steps // 5, ::2] = -900.0 * (DT / dt)
        if not _near_threshold(current, dt):
            return current
    raise RuntimeError("could not draw inputs clear of the threshold")  # pragma: no cover


def spike_cases(rng=None):
    """Constant inputs (the exact-voltage ones included) and inputs that change.

    Public: fixed. Fresh: other lengths, other random inputs (clear of the
    threshold except where they land on it exactly), the constant currents
    in another order with some replaced by random ones, and another second
    time step with its own exact-voltage currents.
    """
    if rng is None:
        rng = np.random.default_rng(3)
        varying = rng.uniform(-600.0, 1400.0, (80, 16))
        varying[20:36, ::2] = -900.0  # strong inhibition for half of the neurons
        return [
            {"current": np.tile(np.array(CONSTANT_CURRENTS), (60, 1)), "dt": DT},
            {"current": varying, "dt": DT},
            {"current": np.tile(np.array([90.0, 125.0, 250.0, 260.0, 499.0, 500.0, 900.0]), (40, 1)), "dt": 0.002},
        ]
    exact = [0.0, -40.0, 125.0, 250.0, 500.0, 1000.0]  # silent, and where the voltage lands on 1
    others = list(off_plateau_edges(rng.uniform(20.0, 4000.0, 12), DT)[:6])
    constants = rng.permutation(np.array(exact + others))
    dt2 = float(rng.choice([0.002, 0.0025, 0.004]))
    exact2 = [1.0 / (k * dt2) for k in (2, 4, 8)]  # k steps of exactly 1/k
    others2 = list(off_plateau_edges(rng.uniform(10.0, 1.5 / dt2, 8), dt2)[:4])
    constants2 = rng.permutation(np.array(exact2 + others2))
    return [
        {"current": np.tile(constants, (int(rng.integers(50, 80)), 1)), "dt": DT},
        {"current": _varying(rng, int(rng.integers(60, 100)), int(rng.integers(12, 20)), DT), "dt": DT},
        {"current": np.tile(constants2, (int(rng.integers(30, 50)), 1)), "dt": dt2},
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
        reference = reference_spikes(current, dt)
        if np.array_equal(spikes, reference):
            continue
        late = np.zeros_like(reference)
        late[1:] = reference[:-1]
        candidates = {
            "inclusive": reference_spikes(current, dt, threshold_inclusive=True),
            "subtract": reference_spikes(current, dt, reset="subtract"),
            "no_clip": reference_spikes(current, dt, clip=False),
            "late": late,
            "silent": np.zeros_like(reference),
        }
        named = v.cause(spikes, reference, candidates, equal=np.array_equal)
        if named is None and np.array_equal(spikes[1:], reference[:-1]):
            named = "late"
        if named == "inclusive":
            raise Fail(
                f"{what}: a neuron whose voltage reaches exactly 1 spikes in your simulation; "
                "a Loihi neuron spikes only when its voltage exceeds 1"
            )
        if named == "subtract":
            raise Fail(
                f"{what}: after a spike your neuron keeps the voltage above 1 (like nengo's "
                "SpikingRectifiedLinear); a Loihi neuron resets its voltage to 0, which is what makes "
                "its rates move in plateaus"
            )
        if named == "no_clip":
            raise Fail(
                f"{what}: negative input drives your neurons' voltage below 0; a Loihi neuron's "
                "voltage never goes below 0, so it recovers at once when the input turns positive"
            )
        if named == "late":
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
        section="One spike per time step",
        points=3, partial={"capped": 1, "exact_landing": 2},
        cases=rate_cases, check=check_rate,
    ),
    item(
        EXERCISE, "loihi_spike_train", function="loihi_spikes",
        section="One spike per time step",
        points=3,
        cases=spike_cases, check=check_spikes,
    ),
]  # fmt: skip
