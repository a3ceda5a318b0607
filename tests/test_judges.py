"""The judges under grading: fresh cases from a seed, refused calls, and fairness.

``k2l check`` judges the fixed public cases; ``k2l grade`` draws fresh cases
of the same kinds for every item from its seed, so that answers memorized for
the public cases earn nothing. Each exercise declares the calls that would
skip its point. The judges pass equivalent answers and name only causes their
case can tell apart. (Typical wrong and equivalent answers, judged on public
and fresh cases, are in ``tests/wrong_answers``, run by ``test_checks.py``.)
"""

import ast
import base64
import collections
import dataclasses
import importlib
import pickle
import runpy
import types
import zlib
from pathlib import Path

import numpy as np
import pytest

from k2l_course.exercises import checks
from k2l_course.exercises.checks import ch1_conversion, ch2_activation, ch3_scaling, ch5_chip
from k2l_course.exercises.checks import validate as v
from k2l_course.grading.runner import check_file
from k2l_course.grading.sandbox import Outcome, wire

ROOT = Path(__file__).resolve().parents[1]

#: Items whose function takes no input: nothing to draw, the same call under grading.
WITHOUT_INPUT = {"ch5_chip.block_shapes"}


def solution(exercise):
    return ROOT / "solutions" / f"{exercise}.py"


def scores(file_result):
    return {r.item.name: r.verdict.score for r in file_result.results}


# -- fresh cases --------------------------------------------------------------------------


def shape_of(case):
    """What must stay the same between public and fresh cases: keys, types, array ranks and dtypes kinds."""
    return {
        key: (type(value).__name__, value.ndim, value.dtype.kind) if isinstance(value, np.ndarray) else type(value).__name__
        for key, value in case.items()
    }


@pytest.mark.parametrize("one", checks.items(), ids=lambda i: i.id)
def test_fresh_cases_are_plain_data_of_the_same_kinds_and_reproducible_from_the_seed(one):
    public = one.cases()
    assert wire.encode(one.cases(None)) == wire.encode(public)
    draws = [one.cases(checks.case_rng(seed, one)) for seed in (1, 2, 1)]
    assert wire.encode(draws[0]) == wire.encode(draws[2]), "the same seed gives the same cases"
    for fresh in draws:
        assert isinstance(fresh, list) and len(fresh) == len(public)
        wire.encode(fresh)  # plain data only
        assert [shape_of(c) for c in fresh] == [shape_of(c) for c in public]
    if one.id in WITHOUT_INPUT:
        assert draws[0] == public == [{}]
    else:
        assert wire.encode(draws[0]) != wire.encode(public), "fresh cases differ from the public ones"
        assert wire.encode(draws[0]) != wire.encode(draws[1]), "another seed, other cases"


def test_case_rng_is_none_without_a_seed_stable_and_independent_per_item():
    first, second = checks.items()[:2]
    assert checks.case_rng(None, first) is None
    # Derived from the seed and the item's id by SHA-256: the same in every run and Python version.
    assert checks.case_rng(7, first).integers(0, 2**32, 3).tolist() == checks.case_rng(7, first).integers(
        0, 2**32, 3
    ).tolist()
    assert checks.case_rng(7, first).integers(0, 2**62) != checks.case_rng(7, second).integers(0, 2**62)
    assert checks.case_rng(7, first).integers(0, 2**62) != checks.case_rng(8, first).integers(0, 2**62)
    assert checks.case_rng(np.int64(7), first).integers(0, 2**62) == checks.case_rng(7, first).integers(0, 2**62)
    for bad in (-1, 1.5, "7", True):
        with pytest.raises(ValueError, match="seed"):
            checks.case_rng(bad, first)


def test_case_rng_derivation_is_pinned():
    # A regrade with the same seed must draw the same cases on any machine: the
    # derivation (SHA-256 of the id, NumPy's SeedSequence and PCG64) is pinned here.
    one = checks.items("ch2_activation")[0]
    assert checks.case_rng(12345, one).integers(0, 1000, 5).tolist() == PINNED_DRAW


PINNED_DRAW = [721, 746, 324, 395, 383]


KEY_SOURCE = """
def _key(value):
    if isinstance(value, np.ndarray):
        data = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ("array", value.dtype.str, value.shape, data)
    if isinstance(value, (list, tuple)):
        return ("seq",) + tuple(_key(x) for x in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted((str(k), _key(x)) for k, x in value.items()))
    return ("value", repr(value))
"""

LOOKUP_TEMPLATE = """
import base64, hashlib, pickle, zlib

import numpy as np

TABLE = pickle.loads(zlib.decompress(base64.b64decode({table!r})))
{key_source}

def _lookup(function, kwargs):
    return TABLE.get((function, _key(dict(kwargs))))


{functions}
"""


def lookup_submission(path):
    """A student file that answers every public case from a table, and nothing else."""
    import hashlib

    namespace = {"np": np, "hashlib": hashlib}
    exec(KEY_SOURCE, namespace)
    key = namespace["_key"]
    table, functions = {}, []
    for one in checks.items():
        module = runpy.run_path(str(solution(one.exercise)), run_name="k2l_solution")
        for case in one.cases():
            table[(one.function, key(dict(case)))] = module[one.function](**case)
        params = ", ".join(f"{name}=None" for name in one.cases()[0])
        functions.append(f"def {one.function}({params}):\n    return _lookup({one.function!r}, locals())\n")
    packed = base64.b64encode(zlib.compress(pickle.dumps(table), 9)).decode()
    path.write_text(LOOKUP_TEMPLATE.format(table=packed, key_source=KEY_SOURCE, functions="\n\n".join(functions)))
    return path


def public_and_fresh(exercise, seed):
    both = []
    for one in checks.items(exercise):
        both.append(one)
        fresh = one.cases(checks.case_rng(seed, one))
        both.append(dataclasses.replace(one, name=f"{one.name}@fresh", cases=lambda rng=None, fresh=fresh: fresh))
    return both


def test_a_lookup_table_of_the_public_cases_earns_nothing_on_fresh_cases(tmp_path):
    submission = lookup_submission(tmp_path / "lookup.py")
    public = fresh = 0.0
    for exercise in checks.EXERCISES:
        result = check_file(submission, exercise, items=public_and_fresh(exercise, seed=99))
        assert result.status == "ok", result.notes
        for name, score in scores(result).items():
            if name.endswith("@fresh"):
                fresh += score
            else:
                public += score
    assert public == checks.ASSIGNMENT_TOTAL  # it does know every public answer
    # Only block_shapes, which takes no input (its answer is a design), keeps its points.
    assert fresh == sum(one.points for one in checks.items() if one.id in WITHOUT_INPUT)


# -- refused calls ------------------------------------------------------------------------


#: Runs in a worker where TensorFlow and nengo-dl are hidden (nengo-loihi then
#: imports in seconds, as in the block-fit check): resolves every refused name,
#: then runs each solution on its public cases with every refused name of its
#: exercise replaced by a function that raises.
REFUSED_WORKER = r"""
import importlib, json, runpy, sys, types, warnings
sys.modules["tensorflow"] = None
sys.modules["nengo_dl"] = None
warnings.simplefilter("ignore")
from k2l_course.exercises import checks


def resolve(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(dotted)


def refused(*args, **kwargs):
    raise AssertionError("refused")


report = {"resolved": {}, "errors": {}}
for name in checks.forbidden():
    try:
        target = resolve(name)
        owner = resolve(name.rsplit(".", 1)[0])
        report["resolved"][name] = {
            "usable": callable(target) or isinstance(target, types.ModuleType),
            "method": isinstance(owner, type),
        }
    except Exception as error:
        report["resolved"][name] = {"error": repr(error)}
for exercise in sys.argv[1:]:
    names = checks.forbidden([exercise])
    if not names:
        continue
    module = runpy.run_path(f"solutions/{exercise}.py", run_name="k2l_solution")
    saved = []
    for name in names:
        owner_name, attribute = name.rsplit(".", 1)
        owner = resolve(owner_name)
        saved.append((owner, attribute, owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)))
        setattr(owner, attribute, refused)
    try:
        for one in checks.items(exercise):
            if one.id != "ch5_chip.block_shapes":
                for case in one.cases():
                    module[one.function](**case)
    except BaseException as error:
        report["errors"][exercise] = repr(error)
    finally:
        for owner, attribute, original in reversed(saved):
            setattr(owner, attribute, original)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def refused_report():
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", REFUSED_WORKER, *checks.EXERCISES],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_exercise_declares_its_refused_calls_with_reasons_in_the_students_terms():
    for exercise in checks.EXERCISES:
        declared = importlib.import_module(f"k2l_course.exercises.checks.{exercise}").FORBIDDEN
        assert isinstance(declared, dict)
        for name, reason in declared.items():
            assert isinstance(name, str) and name.count(".") >= 1
            assert isinstance(reason, str) and len(reason) > 30 and "exercise" in reason, (name, reason)
    merged = checks.forbidden()
    assert set(merged) == {n for e in checks.EXERCISES for n in importlib.import_module(f"k2l_course.exercises.checks.{e}").FORBIDDEN}
    assert "nengo_loihi.neurons.loihi_rates" in checks.forbidden(["ch2_activation"])
    assert checks.forbidden(["ch1_conversion"]) == {}
    both = checks.forbidden(["ch2_activation", "ch3_scaling"])["nengo_loihi.neurons.loihi_rates"]
    assert "2.1" in both and "3.3" in both  # one reason per exercise, joined
    with pytest.raises(ValueError, match="unknown exercise"):
        checks.forbidden(["ch9_quantum"])


def test_every_refused_name_is_a_real_callable_of_the_installed_stack(refused_report):
    assert set(refused_report["resolved"]) == set(checks.forbidden())
    for name, found in refused_report["resolved"].items():
        assert found.get("usable") is True, (name, found)


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_no_solution_uses_a_refused_call(exercise, refused_report):
    refused = checks.forbidden([exercise])
    # Statically: no refused name is imported or reached in the solution's graded code.
    tree = ast.parse(solution(exercise).read_text())
    graded = [node for node in tree.body if not (isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))]
    words = {n.attr for node in graded for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    imports = [n for node in graded for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
    words |= {a.name.split(".")[-1] for n in imports for a in n.names}
    words |= {n.id for node in graded for n in ast.walk(node) if isinstance(n, ast.Name)}
    for name in refused:
        owner, last = name.rsplit(".", 1)
        # A method is reached through its class; anything else by its own name.
        defining = owner.rsplit(".", 1)[-1] if refused_report["resolved"][name]["method"] else last
        assert defining not in words, name
    # Dynamically: the solution's functions give their answers with every refused call raising.
    assert refused_report["errors"].get(exercise) is None, refused_report["errors"][exercise]


# -- fairness, judge by judge -------------------------------------------------------------


def ok(value):
    return Outcome(True, value, None, 0.0)


def judge_one(one, values, cases):
    return one.verdict([ok(x) for x in values], cases)


def item_named(item_id):
    return next(one for one in checks.items() if one.id == item_id)


def test_any_mapping_of_numpy_scalars_is_a_dict_of_scales():
    one = item_named("ch3_scaling.scales_for_target")
    cases = one.cases(checks.case_rng(3, one))
    for form in (collections.OrderedDict, types.MappingProxyType, dict):
        values = [form({k: np.float32(c["target"] / r) for k, r in reversed(c["rates"].items())}) for c in cases]
        verdict = judge_one(one, values, cases)
        assert verdict.score == one.points, (form, verdict)


def test_a_count_is_an_int_and_an_integer_valued_float_is_refused():
    one = item_named("ch5_chip.n_blocks")
    cases = one.cases()
    right = [ch5_chip.reference_n_blocks(c["layer_shape"], c["block_shape"]) for c in cases]
    for form in (int, np.int64, np.uint16, lambda n: np.asarray(n)):
        assert judge_one(one, [form(n) for n in right], cases).score == one.points
    for form in (float, np.float64, lambda n: np.asarray(float(n))):
        verdict = judge_one(one, [form(n) for n in right], cases)
        assert verdict.score == 0 and "int" in verdict.message


def test_a_hint_never_blames_the_first_step_when_the_case_cannot_tell():
    # Every first-step prediction is wrong: a student returning 0 may have read
    # any step, or made any other slip; the hint names none of them.
    one = item_named("ch1_conversion.last_step_accuracy")
    output = np.zeros((4, 3, 10), dtype=np.float32)
    output[:, 0, 9] = 1.0  # first step: class 9, never the label
    output[:, 1:, 1] = 1.0  # then class 1, the label of half of them
    case = {"output": output, "labels": np.array([1, 1, 2, 2], dtype=np.uint8)}
    verdict = judge_one(one, [0.0], [case])
    assert verdict.score == 0
    assert "first" not in verdict.message and "averaged" not in verdict.message
    verdict = judge_one(one, [0.5], [case])
    assert verdict.score == one.points


def test_cause_names_only_a_mistake_the_case_tells_apart():
    assert v.cause(0.3, 0.5, {"first": 0.3, "mean": 0.4}) == "first"
    assert v.cause(0.0, 0.5, {"first": 0.0, "zero": 0.0}) is None  # two causes give the same value
    assert v.cause(0.5, 0.5, {"first": 0.5}) is None  # the cause gives the right answer here
    assert v.cause(0.9, 0.5, {"first": 0.3}) is None


@pytest.mark.parametrize("item_id", ["ch1_conversion.last_step_accuracy", "ch5_chip.presentation_predictions"])
def test_last_step_cases_tell_the_last_step_from_its_neighbour_first_and_mean(item_id):
    one = item_named(item_id)
    for rng in [None] + [checks.case_rng(seed, one) for seed in range(5)]:
        for case in one.cases(rng):
            if "labels" in case:
                readings = ch1_conversion._readings(case["output"].astype(np.float64), case["labels"])
                values = list(readings.values())
            else:
                readings = ch5_chip._readings(case["output"], case["steps_per_image"])
                values = [tuple(r) for r in readings.values()]
            assert len(set(values)) == len(values), readings


def test_mean_rate_cases_have_an_example_without_any_active_neuron():
    one = item_named("ch3_scaling.mean_active_rate")
    for rng in [None] + [checks.case_rng(seed, one) for seed in range(5)]:
        for case in one.cases(rng):
            active = (case["outputs"] > 0).any(axis=1)
            assert (~active.any(axis=1)).any()
            assert not np.isclose(ch3_scaling._dropped_rate(case["outputs"], case["amplitude"]),
                                  ch3_scaling.mean_active_rate(case["outputs"], case["amplitude"]), rtol=1e-3)  # fmt: skip


def test_float32_arithmetic_passes_and_the_tolerance_still_separates_neighbouring_plateaus():
    from k2l_course.pipeline.rates import loihi_relu_rate

    one = item_named("ch2_activation.loihi_rate_formula")
    for rng in [None] + [checks.case_rng(seed, one) for seed in range(5)]:
        cases = one.cases(rng)
        values = []
        for case in cases:
            j, dt = case["current"].astype(np.float32), np.float32(case["dt"])
            rate = np.zeros_like(j)
            rate[j > 0] = np.float32(1) / (dt * np.ceil(np.float32(1) / (j[j > 0] * dt)))
            values.append(rate)
            steps = np.ceil(1.0 / (case["current"][case["current"] > 0] * case["dt"]))
            assert (1.0 / steps).min() > 10 * v.RTOL  # neighbouring plateaus differ by more than the tolerance
        assert judge_one(one, values, cases).score == one.points
        # A plateau off by one step is still caught.
        shifted = [loihi_relu_rate(c["current"], c["dt"]) for c in cases]
        j = cases[0]["current"]
        k = np.ceil(1.0 / (j[j > 0] * cases[0]["dt"]))
        shifted[0][j > 0] = np.where(k > 1, 1.0 / (cases[0]["dt"] * (k + 1)), shifted[0][j > 0])
        assert judge_one(one, shifted, cases).score < one.points


# -- the boundaries each exercise calls out ---------------------------------------------------


def _landings(current, dt):
    return set(np.asarray(current)[ch2_activation.landing_periods(current, dt) > 0].tolist())


def _rate_boundaries(cases):
    # 2.1: "0 where J <= 0", the plateaus, the cap, and where the voltage lands exactly on 1
    # (the exercise names J = 250 at dt = 1 ms; J = 1 / dt is the cap itself), at both time steps.
    for case in (cases[0], cases[2]):
        current, dt = case["current"], case["dt"]
        assert 0.0 in current and (current < 0).any() and (current * dt > 1).any()
        assert _landings(current, dt) == set(ch2_activation.exact_landings(dt)) >= {1 / dt, 1 / (2 * dt), 1 / (4 * dt)}
    assert cases[0]["dt"] == 0.001 and 250.0 in cases[0]["current"] and cases[2]["dt"] != 0.001


def _spike_boundaries(cases):
    # 2.2: silent and negative inputs, the voltage landing exactly on 1, input that changes over time.
    constant, varying, other = cases
    assert {0.0, 125.0, 250.0, 500.0, 1000.0} <= set(constant["current"][0]) and (constant["current"] < 0).any()
    assert _landings(other["current"][0], other["dt"]) and (varying["current"] < 0).any()


def _mean_rate_boundaries(cases):
    # 3.1: "0 for an example where none was" active.
    for case in cases:
        assert (~(case["outputs"] > 0).any(axis=1).any(axis=1)).any()


def _scale_boundaries(cases):
    # 3.2: layers below the target (scale above 1), above it (below 1), and at it (exactly 1).
    pairs = [(rate, case["target"]) for case in cases for rate in case["rates"].values()]
    assert any(r < t for r, t in pairs) and any(r > t for r, t in pairs) and any(r == t for r, t in pairs)


def _layer_output_boundaries(cases):
    # 3.3: negative and zero values, currents past the cap, and exact landings of the scaled current.
    assert all((c["values"] < 0).any() and 0.0 in c["values"] for c in cases)
    assert any((c["values"] * c["scale"] * c["dt"] > 1).any() for c in cases)
    assert any(_landings(c["values"] * c["scale"], c["dt"]) for c in cases if c["dt"] == 0.001)


def _layer_rate_boundaries(cases):
    # 4.1: "a single step" (rate neurons in training) and a percentile "from 0 to 100, both included".
    assert any(c["outputs"].shape[1] == 1 for c in cases) and any(c["percentile"] == 100.0 for c in cases)


def _penalty_boundaries(cases):
    # 4.2: "0 inside the range", rates on the bounds, "max_rate may be inf".
    assert any(c["max_rate"] == np.inf for c in cases)
    assert any(c["min_rate"] in c["rates"] and c["max_rate"] in c["rates"] for c in cases)
    assert any(((c["rates"] > c["min_rate"]) & (c["rates"] < c["max_rate"])).all() for c in cases)


def _n_blocks_boundaries(cases):
    # 5.2: blocks that divide the layer evenly, that leave a smaller piece, as big as the layer, bigger.
    pairs = [(tuple(c["layer_shape"]), tuple(c["block_shape"])) for c in cases]
    assert any(layer == block for layer, block in pairs)
    assert any(any(b > s for s, b in zip(layer, block)) for layer, block in pairs)
    assert sum(ch5_chip._uneven(layer, block) for layer, block in pairs) >= 3  # public 3, fresh at least 4


def _single_image_single_step(cases):
    # 1.1: a single image, shown for a single step (training's one step per image).
    assert any(len(c["images"]) == 1 and c["n_steps"] == 1 for c in cases)


def _last_step_differs(cases):
    # 1.2 and 5.3: the last step tells apart from its neighbour, the first step and the mean.
    for case in cases:
        if "labels" in case:
            readings = list(ch1_conversion._readings(case["output"].astype(np.float64), case["labels"]).values())
        else:
            readings = [tuple(r) for r in ch5_chip._readings(case["output"], case["steps_per_image"]).values()]
        assert len(set(readings)) == len(readings)


BOUNDARIES = {
    "ch1_conversion.prepare_images": _single_image_single_step,
    "ch1_conversion.last_step_accuracy": _last_step_differs,
    "ch2_activation.loihi_rate_formula": _rate_boundaries,
    "ch2_activation.loihi_spike_train": _spike_boundaries,
    "ch3_scaling.mean_active_rate": _mean_rate_boundaries,
    "ch3_scaling.scales_for_target": _scale_boundaries,
    "ch3_scaling.scaled_layer_output": _layer_output_boundaries,
    "ch4_training.layer_rates": _layer_rate_boundaries,
    "ch4_training.rate_penalty": _penalty_boundaries,
    # No input: its boundary (a block using exactly 100% of a resource fits) is an answer,
    # tests/wrong_answers/ch5_chip__equivalent_full_core.py.
    "ch5_chip.block_shapes": lambda cases: cases == [{}],
    "ch5_chip.n_blocks": _n_blocks_boundaries,
    "ch5_chip.presentation_predictions": _last_step_differs,
}


@pytest.mark.parametrize("item_id", sorted(BOUNDARIES))
def test_public_and_fresh_cases_hold_the_boundaries_the_exercise_calls_out(item_id):
    # Keep fresh cases random, but never without the boundaries the item's text
    # or its chapter calls out: a near miss there must not pass on some seeds.
    one = item_named(item_id)
    holds = BOUNDARIES[item_id]
    for seed in (None, 0, 1, 2, 3, 4, 20261201):
        cases = one.cases(checks.case_rng(seed, one))
        assert holds(cases) is not False, (item_id, seed)


def test_exact_landings_land_exactly_in_every_usual_arithmetic():
    # The exercise's own example: 4 steps of 0.25 at J = 250, dt = 1 ms.
    assert ch2_activation.lands_exactly((250.0, 0.001), 4)
    # 1 / (3 dt) does not land exactly in float32 (the cases never hold it), nor does
    # scale 100 at value 2.5 once (scale * dt) is rounded first.
    assert not ch2_activation.lands_exactly((1 / 0.003, 0.001), 3)
    assert not ch2_activation.lands_exactly((100.0, 2.5, 0.001), 4)
    for dt in (0.001, *ch2_activation.SECOND_RATE_DTS):
        assert len(ch2_activation.exact_landings(dt)) == len(ch2_activation.LANDING_PERIODS)
    # float32(0.0025) is below 0.0025: float64 currents times it fall short of 1.
    assert len(ch2_activation.exact_landings(0.0025)) == 0
    for scale in ch3_scaling.LANDING_SCALES:
        assert len(ch2_activation.exact_landings(0.001, scale)) == len(ch2_activation.LANDING_PERIODS)
