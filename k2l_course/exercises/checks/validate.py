"""Validating what a student's function returned, in one place.

Every judge goes through these helpers before it compares anything, so that
a wrong type, a list where an array belongs, a wrong shape or dtype, NaN or
infinity, an object that claims to equal everything, or a call that raised or
timed out gives a clear :class:`~k2l_course.exercises.checks.items.Fail` (0 points for
the item) and never an exception out of the judge.

The values come from the sandbox already decoded as plain data, but the
helpers do not rely on it: they check exact types (``type(x) is np.ndarray``,
not ``isinstance``) and convert to fresh NumPy arrays and Python numbers
before comparing, so nothing the student built ever takes part in a
comparison.

The rules every judge follows, stated once
------------------------------------------
* **Equivalent forms pass.** A number may be a Python int or float, a NumPy
  scalar or a 0-d array; a dict may be any :class:`collections.abc.Mapping`;
  an array may be read-only or a view; a shape (a tuple of ints) may be a
  tuple, a list or a 1-d integer array.
* **Counts are ints.** Where the exercise asks for a whole number as an int
  (a count), a float is refused even when it is integer-valued (``6.0``): the
  exercise says int, and an integer-valued float usually comes from a
  floating-point formula that is only right by luck. Arrays of labels or
  classes follow the same rule (an integer dtype).
* **Floats are compared with a relative tolerance of** :data:`RTOL`, so that
  a correct computation in float32 passes (see :data:`RTOL` for why that
  tolerance, and why it still catches every near miss).
* **Hints name a cause only when the case tells it apart** (:func:`cause`).
"""

from __future__ import annotations

import collections.abc
import math

import numpy as np

from k2l_course.exercises.checks.items import Fail

#: Longest error text quoted from the student's run.
MAX_ERROR_CHARS = 400

#: Relative tolerance of every float comparison. A correct answer computed in
#: float32 (machine epsilon 1.2e-7) through the handful of operations these
#: exercises need is within about ten epsilons, 1.2e-6, of the exact value;
#: 1e-5 leaves a margin of eight. The cases are built so that every near miss
#: is farther than that: neighbouring Loihi plateaus differ by more than 1e-4
#: (relative) in every case, inputs stay at least :data:`EDGE_MARGIN` away
#: from where rounding alone decides a plateau (except the exact landings of
#: :func:`~k2l_course.exercises.checks.ch2_activation.lands_exactly`, where
#: float64 and float32 arithmetic in any usual order land exactly), and unit
#: and formula slips differ by factors.
RTOL = 1e-5

#: Absolute tolerance, for values that should be exactly 0.
ATOL = 1e-9

#: How far (relative) a case's inputs stay from the points where rounding
#: decides the result (a spike period that is a whole number of steps), so
#: that float32 arithmetic cannot land on the other side; the cases' exact
#: landings sit on such points, chosen where no arithmetic rounds off them.
EDGE_MARGIN = 1e-4


def close(a, b, rtol=RTOL, atol=ATOL):
    """Whether two numbers or arrays agree within the documented tolerance."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.isclose(a, b, rtol=rtol, atol=atol)))


def cause(got, expected, candidates, equal=close):
    """The one typical mistake that explains ``got``, if this case can tell.

    A hint names a cause only when the student's value matches that cause's
    value and no other candidate's, and the cause's value differs from the
    right answer in this case: a case in which two causes (or a cause and a
    trivial answer such as 0) give the same value cannot tell them apart.

    Parameters
    ----------
    got : number or ndarray
    expected : number or ndarray
        The right answer for the case.
    candidates : dict of str -> number or ndarray
        What each typical mistake gives on this case. Include trivial answers
        (e.g. ``"zero": 0.0``) that could also explain ``got``.
    equal : callable

    Returns
    -------
    str or None
    """
    matches = [name for name, value in candidates.items() if equal(got, value)]
    if len(matches) != 1:
        return None
    (name,) = matches
    if equal(candidates[name], expected):
        return None
    return name


def describe(case):
    """A short description of one call's inputs, for messages.

    Parameters
    ----------
    case : dict
        Keyword arguments of the call.

    Returns
    -------
    str
        E.g. ``"images of shape (3, 28, 28), n_steps=5"``.
    """
    parts = []
    for key, value in case.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{key} of shape {value.shape}")
        elif isinstance(value, dict):
            parts.append(f"{key} for {', '.join(repr(k) for k in value)}")
        elif isinstance(value, (list, tuple)) and len(value) > 6:
            parts.append(f"{key} of length {len(value)}")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts) if parts else "no arguments"


def explain_error(error):
    """Turn an error outcome's text into a message for the student."""
    text = str(error or "unknown error").strip()
    if "NotImplementedError" in text:
        return "not implemented yet (the function still raises NotImplementedError)"
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return text


def values(outcomes, cases):
    """The returned values of all calls, or :class:`Fail` at the first failed call.

    Parameters
    ----------
    outcomes : list of Outcome
        From the sandbox: ``ok``, ``value``, ``error`` per call.
    cases : list of dict
        The calls' keyword arguments, in the same order.

    Returns
    -------
    list
        One value per case.

    Raises
    ------
    Fail
        If a call failed (raised, timed out, returned something that is not
        plain data, never ran) or the outcomes do not match the cases.
    """
    if len(outcomes) != len(cases):
        raise Fail(f"expected {len(cases)} results, got {len(outcomes)}")
    result = []
    for outcome, case in zip(outcomes, cases):
        if getattr(outcome, "ok", False) is not True:
            error = getattr(outcome, "error", None)
            if "NotImplementedError" in str(error):
                raise Fail(explain_error(error))
            raise Fail(f"with {describe(case)}: {explain_error(error)}")
        result.append(getattr(outcome, "value", None))
    return result


def fail_first(failures):
    """Raise :class:`Fail` for the most helpful of several cases' failures.

    Parameters
    ----------
    failures : list of (bool, str)
        Per failing case, in order: whether its message names a cause
        (see :func:`cause`), and the message.

    Raises
    ------
    Fail
        With the first message that names a cause, else the first one;
        nothing if ``failures`` is empty.
    """
    if failures:
        named = [message for is_named, message in failures if is_named]
        raise Fail((named or [failures[0][1]])[0])


def kind_of(value):
    """A readable name of what a value is (``"a list"``, ``"None"``...)."""
    if value is None:
        return "None"
    kind = type(value)
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    name = kind.__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def array(value, what="the result", shape=None, kinds="biuf", finite=True):
    """Check that ``value`` is a NumPy array of numbers with the given shape.

    Parameters
    ----------
    value : object
    what : str
        How to call it in messages.
    shape : tuple of int, optional
        Required shape.
    kinds : str
        Allowed dtype kinds (``numpy.dtype.kind``): b bool, i int, u unsigned, f float.
    finite : bool
        Refuse NaN and infinity.

    Returns
    -------
    ndarray
        A fresh copy.

    Raises
    ------
    Fail
    """
    if type(value) is not np.ndarray:
        hint = " (convert it with np.asarray)" if type(value) in (list, tuple) else ""
        raise Fail(f"{what} is {kind_of(value)}; it should be a NumPy array{hint}")
    if value.dtype.kind not in kinds:
        raise Fail(f"{what} has dtype {value.dtype}; expected {_kinds_text(kinds)}")
    if shape is not None and value.shape != tuple(shape):
        raise Fail(f"{what} has shape {value.shape}; it should have shape {tuple(shape)}")
    copy = np.array(value, copy=True)
    if finite and copy.dtype.kind == "f":
        if np.isnan(copy).any():
            raise Fail(f"{what} contains NaN")
        if np.isinf(copy).any():
            raise Fail(f"{what} contains infinite values")
    return copy


def _kinds_text(kinds):
    names = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def number(value, what="the result", integer=False, finite=True):
    """Check that ``value`` is one real number (not a bool, not an array).

    Parameters
    ----------
    value : object
        A Python int/float, a NumPy scalar or a 0-d array.
    what : str
    integer : bool
        Require an int (a Python int, a NumPy integer or a 0-d integer
        array); a float is refused even when integer-valued (the module's
        rule for counts).
    finite : bool

    Returns
    -------
    float or int
        A Python number.

    Raises
    ------
    Fail
    """
    if type(value) is bool or isinstance(value, np.bool_):
        raise Fail(f"{what} is a bool; it should be a number")
    if type(value) is np.ndarray and value.shape == () and value.dtype.kind in "iuf":
        value = value[()]
    if integer:
        if type(value) is int or isinstance(value, np.integer):
            return int(value)
        if type(value) is float or isinstance(value, np.floating):
            shown = f"{float(value):.6g}" if math.isfinite(float(value)) else str(float(value))
            raise Fail(f"{what} is the float {shown}; it should be an int (convert it with int(...))")
        raise Fail(f"{what} is {kind_of(value)}; it should be a whole number (int)")
    if type(value) in (int, float) or isinstance(value, (np.integer, np.floating)):
        result = float(value)
        if finite and not math.isfinite(result):
            raise Fail(f"{what} is {result}; it should be a finite number")
        return result
    raise Fail(f"{what} is {kind_of(value)}; it should be a number")


def mapping(value, keys, what="the result"):
    """Check that ``value`` is a mapping (any dict-like) with exactly the given keys.

    Returns
    -------
    dict
        A fresh dict in the order of ``keys``.

    Raises
    ------
    Fail
    """
    if not isinstance(value, collections.abc.Mapping):
        raise Fail(f"{what} is {kind_of(value)}; it should be a dict")
    try:
        pairs = list(dict(value).items())
    except Exception:
        raise Fail(f"{what} cannot be read as a dict") from None
    value = dict(pairs)
    wanted = list(keys)
    missing = [k for k in wanted if k not in value]
    extra = [k for k in value if k not in wanted]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"unexpected {', '.join(map(repr, extra))}")
        raise Fail(f"{what} should have the keys {', '.join(map(repr, wanted))}: {'; '.join(parts)}")
    return {k: value[k] for k in wanted}


def int_tuple(value, length, what="the result"):
    """Check that ``value`` is a tuple (or list, or 1-d integer array) of ``length`` positive ints.

    Returns
    -------
    tuple of int

    Raises
    ------
    Fail
    """
    if type(value) is np.ndarray and value.ndim == 1 and value.dtype.kind in "iu":
        value = value.tolist()
    if type(value) not in (tuple, list):
        raise Fail(f"{what} is {kind_of(value)}; it should be a tuple of {length} whole numbers")
    if len(value) != length:
        raise Fail(f"{what} has {len(value)} elements; it should have {length}")
    result = []
    for element in value:
        if type(element) is bool or not (type(element) is int or isinstance(element, np.integer)):
            raise Fail(f"{what} contains {kind_of(element)}; every element should be a whole number (int)")
        if int(element) < 1:
            raise Fail(f"{what} contains {int(element)}; every element should be at least 1")
        result.append(int(element))
    return tuple(result)


def mismatch(actual, expected, rtol=RTOL, atol=ATOL):
    """Index of the first element where ``actual`` and ``expected`` differ, or None.

    Both are arrays of the same shape (validated before).
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def fmt(x):
    """A number for messages: integers as integers, others to 6 significant digits."""
    x = float(x)
    if math.isfinite(x) and x == round(x) and abs(x) < 1e12:
        return str(int(round(x)))
    return f"{x:.6g}"
