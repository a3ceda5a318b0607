"""The graded checks: points, robustness, and the scores they give.

Every solution earns full marks, every untouched exercise earns nothing, each
typical wrong answer of ``tests/wrong_answers/`` earns exactly the points it
was designed to earn, and no answer, however hostile, makes a judge raise. The
references the checks compute without nengo-loihi or TensorFlow are proved
equal to the live computation. Student code runs in the real sandbox.
"""

import ast
import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from k2l_course.exercises import checks
from k2l_course.exercises.checks import ch2_activation, ch4_training, ch5_chip
from k2l_course.exercises.checks.items import Fail, Item, Verdict, full, item
from k2l_course.grading.runner import check_file
from k2l_course.grading.sandbox import Outcome, wire

ROOT = Path(__file__).resolve().parents[1]
WRONG_ANSWERS = sorted((ROOT / "tests" / "wrong_answers").glob("*.py"))


def solution(exercise):
    return ROOT / "solutions" / f"{exercise}.py"


def scores(file_result):
    return {r.item.name: r.verdict.score for r in file_result.results}


# -- points --------------------------------------------------------------------------


def test_points_add_up_to_the_assignment_total():
    assert checks.total_points() == checks.ASSIGNMENT_TOTAL
    assert sum(checks.total_points(e) for e in checks.EXERCISES) == checks.ASSIGNMENT_TOTAL


def test_every_chapter_has_a_graded_exercise_and_there_are_at_least_ten_items():
    all_items = checks.items()
    assert len(all_items) >= 10
    assert {i.exercise for i in all_items} == set(checks.EXERCISES)
    assert len({i.id for i in all_items}) == len(all_items)
    assert all(i.points > 0 and not i.hidden for i in all_items)


def test_partial_credit_must_lie_strictly_between_zero_and_the_points():
    with pytest.raises(ValueError, match="partial credit"):
        item("ch1_conversion", "x", "f", points=2, partial={"half": 2}, cases=list, check=lambda o, c: full())


def test_unknown_exercise_is_refused():
    with pytest.raises(ValueError, match="unknown exercise"):
        checks.items("ch9_quantum")


def test_public_cases_are_deterministic_plain_data():
    for one in checks.items():
        first, second = one.cases(), one.cases()
        assert isinstance(first, list) and first, one.id
        tree, blobs = wire.encode(first)  # raises for anything that is not plain data
        again = wire.encode(second)
        assert (tree, blobs) == again, f"{one.id}: cases differ between calls"


# -- hidden checks --------------------------------------------------------------------

HIDDEN = '''
import numpy as np
from k2l_course.exercises.checks.items import Fail, full, item
from k2l_course.exercises.checks import validate as v


def cases():
    return [{"current": np.array([0.0, 1500.0]), "dt": 0.001}]


def check(outcomes, cases):
    (value,) = v.values(outcomes, cases)
    rates = v.array(value, shape=(2,))
    if rates[1] != 1000.0:
        raise Fail("far above the cap, a Loihi neuron fires once per step")
    return full()


ITEMS = [item("ch2_activation", "cap_again", function="loihi_rate", points=1, cases=cases, check=check)]
'''


@pytest.mark.slow  # grades whole classes or runs the sandbox end to end (CI runs it)
def test_hidden_checks_are_loaded_by_path_and_marked_hidden(tmp_path):
    (tmp_path / "extra.py").write_text(HIDDEN)
    with_hidden = checks.items("ch2_activation", hidden_dir=tmp_path)
    assert [i.name for i in with_hidden] == ["loihi_rate_formula", "loihi_spike_train", "cap_again"]
    assert [i.hidden for i in with_hidden] == [False, False, True]
    assert checks.total_points(hidden_dir=tmp_path) == checks.ASSIGNMENT_TOTAL + 1
    result = check_file(solution("ch2_activation"), "ch2_activation", items=with_hidden)
    assert scores(result) == {"loihi_rate_formula": 3, "loihi_spike_train": 3, "cap_again": 1}


def test_bad_hidden_checks_get_a_clear_error(tmp_path):
    with pytest.raises(checks.HiddenChecksError, match="not found"):
        checks.items(hidden_dir=tmp_path / "missing")
    (tmp_path / "broken.py").write_text("ITEMS = [1, 2]\n")
    with pytest.raises(checks.HiddenChecksError, match="ITEMS"):
        checks.items(hidden_dir=tmp_path)
    (tmp_path / "broken.py").write_text(HIDDEN.replace('"cap_again"', '"loihi_rate_formula"'))
    with pytest.raises(checks.HiddenChecksError, match="two checks"):
        checks.items(hidden_dir=tmp_path)
    (tmp_path / "broken.py").write_text("raise RuntimeError('oops')\n")
    with pytest.raises(checks.HiddenChecksError, match="oops"):
        checks.items(hidden_dir=tmp_path)


# -- solutions, stubs, wrong answers in the sandbox -------------------------------------------


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_solution_earns_full_marks(exercise):
    result = check_file(solution(exercise), exercise)
    assert result.status == "ok" and not result.notes
    assert scores(result) == {i.name: i.points for i in checks.items(exercise)}, [
        r.verdict.message for r in result.results
    ]


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_own_work_of_the_synthetic_classes_earns_full_marks(exercise, tmp_path):
    """The benchmarks' and similarity tests' "own work" students write correct answers (each implementation in turn)."""
    import random

    import copies

    for variant in range(max(len(copies.VARIANTS[f]) for f in copies.functions(exercise))):
        for seed in range(2):  # (their own checks and style are drawn too)
            own = tmp_path / f"{exercise}.py"
            own.write_text(copies.own_file(exercise, random.Random(seed), variant=variant))
            result = check_file(own, exercise)
            assert scores(result) == {i.name: i.points for i in checks.items(exercise)}, (
                variant, seed, [r.verdict.message for r in result.results])


@pytest.mark.parametrize("suffix", [".py", ".ipynb"])
@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_untouched_exercise_earns_nothing(exercise, suffix):
    result = check_file(ROOT / "exercises" / f"{exercise}{suffix}", exercise)
    assert result.status == "ok" and not result.notes  # it loads; its functions are stubs
    for r in result.results:
        assert r.verdict.score == 0
        assert "not implemented yet" in r.verdict.message


def expected_scores(path):
    """``EXPECTED`` of a wrong answer, read without running the file."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "EXPECTED":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} has no EXPECTED")


#: The seed of the fresh cases the wrong answers are also judged on.
FRESH_SEED = 20261201


def public_and_fresh(exercise, seed=FRESH_SEED):
    """The exercise's items twice: with their public cases, and (named
    ``<name>@fresh``) with fresh cases drawn from ``seed``, as ``k2l grade`` does."""
    import dataclasses

    both = []
    for one in checks.items(exercise):
        both.append(one)
        fresh = one.cases(checks.case_rng(seed, one))
        both.append(dataclasses.replace(one, name=f"{one.name}@fresh", cases=lambda rng=None, fresh=fresh: fresh))
    return both


@pytest.mark.parametrize("wrong", WRONG_ANSWERS, ids=[p.stem for p in WRONG_ANSWERS])
def test_typical_wrong_answer_scores_as_designed(wrong, tmp_path):
    # On the public cases and on fresh ones alike: a near miss never passes,
    # an equivalent answer always does.
    exercise = wrong.stem.split("__")[0]
    expected = expected_scores(wrong)
    names = [i.name for i in checks.items(exercise)]
    assert set(expected) <= set(names)
    submission = tmp_path / f"{exercise}.py"
    submission.write_text(solution(exercise).read_text() + "\n\n" + wrong.read_text())
    result = check_file(submission, exercise, items=public_and_fresh(exercise), call_timeout=1)
    got = scores(result)
    for one in checks.items(exercise):
        for name in (one.name, f"{one.name}@fresh"):
            assert got[name] == expected.get(one.name, one.points), (name, result.results)
    for r in result.results:
        if r.item.name.split("@")[0] in expected:
            assert r.verdict.message and "not implemented" not in r.verdict.message


def test_the_wrong_answers_cover_the_typical_mistakes():
    stems = {p.stem.split("__")[1] for p in WRONG_ANSWERS}
    typical = ("ideal_relu", "floor", "all_neurons", "first_step", "list", "nan", "equals_everything", "hangs", "raises")
    # Near misses the judges once let pass, and equivalent answers they once refused:
    near = ("second_to_last_step", "per_step", "nan_when_no_neuron_active", "drops_silent_examples", "float_count")
    assert set(typical) | set(near) | {"equivalent_float32", "equivalent_ordereddict"} <= stems
    for exercise in checks.EXERCISES:
        mine = [p.stem.split("__")[1] for p in WRONG_ANSWERS if p.stem.startswith(exercise + "__")]
        assert sum(not m.startswith("equivalent_") for m in mine) >= 3, exercise
        assert sum(m.startswith("equivalent_") for m in mine) >= 2, exercise


def test_a_file_that_does_not_parse_earns_nothing(tmp_path):
    broken = tmp_path / "ch3_scaling.py"
    broken.write_text(solution("ch3_scaling").read_text() + "\ndef oops(:\n")
    result = check_file(broken, "ch3_scaling")
    assert result.status == "syntax-error"
    assert all(r.verdict.score == 0 for r in result.results)


# -- hostile values, straight into the judges ---------------------------------------------


class ClaimsEquality:
    """Equal to everything, and a number, a sequence and a mapping too."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __float__(self):
        return 0.0

    def __len__(self):
        return 3

    def __getitem__(self, key):
        return self

    def __array__(self, dtype=None):
        raise RuntimeError("not an array")


class EqualArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)


def hostile_variants(value):
    """Wrong values derived from a correct one; every one must earn 0."""
    variants = {"None": None, "text": "0.5", "claims equality": ClaimsEquality(), "bool": True}
    if isinstance(value, np.ndarray):
        variants["list"] = value.tolist()
        variants["object array"] = value.astype(object)
        variants["extra axis"] = value[..., None]
        variants["NaN"] = np.where(np.ones(value.shape, bool), np.nan, 0.0)
        variants["subclass claiming equality"] = np.zeros_like(value).view(EqualArray)
    elif isinstance(value, (float, int, np.floating, np.integer)):
        variants["NaN"] = float("nan")
        variants["inf"] = float("inf")
        variants["list"] = [value]
        variants["array"] = np.array([value, value])
    elif isinstance(value, dict):
        variants["values claim equality"] = {k: ClaimsEquality() for k in value}
        variants["values as list"] = list(value.values())
        variants["empty"] = {}
    return variants


def solution_values(one, cases):
    namespace = runpy.run_path(str(solution(one.exercise)), run_name="k2l_solution")
    return [namespace[one.function](**case) for case in cases]


def constant_variants(value):
    """Answers that ignore the input: all zeros, all ones (of the right type and shape)."""
    if isinstance(value, np.ndarray):
        return {"zeros": np.zeros_like(value), "ones": np.ones_like(value)}
    if isinstance(value, dict):
        return {"zeros": {k: 0.0 for k in value}, "ones": {k: 1.0 for k in value}}
    if isinstance(value, (int, np.integer)):
        return {"zeros": 0, "ones": 1}
    if isinstance(value, (float, np.floating)):
        return {"zeros": 0.0, "ones": 1.0}
    return {}


@pytest.mark.parametrize("fresh", [False, True], ids=["public", "fresh"])
@pytest.mark.parametrize("one", checks.items(), ids=lambda i: i.id)
def test_judges_give_zero_and_never_raise_on_hostile_values(one, fresh):
    cases = one.cases(checks.case_rng(5, one) if fresh else None)
    correct = solution_values(one, cases)
    per_variant = {}
    for value in correct:
        variants = hostile_variants(value)
        if one.id != "ch5_chip.block_shapes":  # no input: a constant answer is a design there
            variants.update(constant_variants(value))
        for name, bad in variants.items():
            per_variant.setdefault(name, []).append(bad)
    assert per_variant
    for name, values in per_variant.items():
        outcomes = [Outcome(True, bad, None, 0.0) for bad in values]
        verdict = one.judge(outcomes, cases)
        assert isinstance(verdict, Verdict) and verdict.score == 0 and verdict.message, (name, verdict)
    failed = [Outcome(False, None, "raised ZeroDivisionError: boom [at line 3]", 0.0)] * len(cases)
    verdict = one.judge(failed, cases)
    assert verdict.score == 0 and "boom" in verdict.message
    assert one.judge([], cases).score == 0  # fewer outcomes than calls


def test_a_check_that_raises_gives_zero_not_an_exception():
    def broken(outcomes, cases):
        raise KeyError("bug in a check")

    one = item("ch1_conversion", "broken", "f", points=1, cases=lambda: [{}], check=broken)
    verdict = one.judge([Outcome(True, 1, None, 0.0)], [{}])
    assert verdict.score == 0 and "bug in a check" in verdict.message
    stray = Item("ch1_conversion", "stray", "f", 1, lambda: [{}], judge=lambda outcomes: Verdict(5.0, "too much"))
    assert stray.verdict([], [{}]).score == 0
    assert "invalid score" in stray.verdict([], [{}]).message


def test_fail_messages_are_what_the_student_sees():
    def check(outcomes, cases):
        raise Fail("no Loihi neuron can exceed 1000 Hz at dt = 1 ms")

    one = item("ch2_activation", "x", "f", points=1, cases=lambda: [{}], check=check)
    verdict = one.judge([Outcome(True, 1.0, None, 0.0)], [{}])
    assert verdict == Verdict(0.0, "no Loihi neuron can exceed 1000 Hz at dt = 1 ms")


# -- references proved against the live computation ------------------------------------------


@pytest.fixture(scope="module")
def stack():
    from k2l_course.stack import import_stack

    return import_stack()


def test_rate_cases_match_nengo_loihi_rates(stack):
    _, _, _, nengo_loihi = stack
    neuron = nengo_loihi.neurons.LoihiSpikingRectifiedLinear()
    for case in ch2_activation.rate_cases() + ch2_activation.rate_cases(np.random.default_rng(0)):
        current = case["current"].ravel()
        live = neuron.rates(current, gain=np.ones(1), bias=np.zeros(1), dt=case["dt"]).ravel()
        assert np.allclose(ch2_activation.loihi_relu_rate(current, case["dt"]), live, rtol=1e-12, atol=1e-9)


def nengo_loihi_spikes(nengo_loihi, current, dt):
    neuron = nengo_loihi.neurons.LoihiSpikingRectifiedLinear()
    voltage = np.zeros(current.shape[1])
    output = np.zeros(current.shape[1])
    spikes = []
    for j in current:
        neuron.step(dt, j.copy(), output, voltage)
        spikes.append(output > 0)
    return np.array(spikes)


def test_spike_reference_is_nengo_loihi_step(stack):
    _, _, _, nengo_loihi = stack
    for case in ch2_activation.spike_cases() + ch2_activation.spike_cases(np.random.default_rng(0)):
        live = nengo_loihi_spikes(nengo_loihi, case["current"], case["dt"])
        assert np.array_equal(ch2_activation.reference_spikes(case["current"], case["dt"]), live)


def test_where_the_voltage_lands_on_one_the_neuron_waits_a_step_longer_than_the_formula(stack):
    # What exercise 2.2 tells students: at J = 250, dt = 1 ms, nengo-loihi's rate
    # formula says 250 Hz, its neuron model fires at 200 Hz.
    _, _, _, nengo_loihi = stack
    formula = nengo_loihi.neurons.LoihiSpikingRectifiedLinear().rates(np.array([250.0]), np.ones(1), np.zeros(1))
    spikes = nengo_loihi_spikes(nengo_loihi, np.full((1000, 1), 250.0), 0.001)
    assert float(formula.ravel()[0]) == pytest.approx(250.0)
    assert spikes.sum() == 200


def test_penalty_reference_is_tf_l2_loss(stack):
    tf, _, _, _ = stack
    for case in ch4_training.penalty_cases() + ch4_training.penalty_cases(np.random.default_rng(0)):
        r = tf.constant(np.asarray(case["rates"], dtype=np.float64))
        live = tf.nn.l2_loss(tf.maximum(0.0, case["min_rate"] - r) + tf.maximum(0.0, r - case["max_rate"]))
        assert ch4_training.reference_penalty(**case) == pytest.approx(float(live), rel=1e-12)


def test_block_count_reference_is_nengo_loihi_n_splits(stack):
    _, _, _, nengo_loihi = stack
    for case in ch5_chip.n_blocks_cases() + ch5_chip.n_blocks_cases(np.random.default_rng(0)):
        live = nengo_loihi.BlockShape(case["block_shape"], case["layer_shape"]).n_splits
        assert ch5_chip.reference_n_blocks(case["layer_shape"], case["block_shape"]) == live


BLOCK_SHAPES = {
    "solution": {"conv0": (13, 13, 6), "conv1": (6, 6, 22), "dense0": (50,)},
    "seed": {"conv0": (16, 16, 4), "conv1": (8, 8, 16), "dense0": (50,)},
    "synapse memory overflow": {"conv0": (13, 13, 6), "conv1": (6, 6, 22), "dense0": (100,)},
    "too many compartments": {"conv0": (13, 13, 8), "conv1": (6, 6, 32), "dense0": (25,)},
    "odd shapes": {"conv0": (5, 7, 9), "conv1": (4, 3, 40), "dense0": (33,)},
}


def converted_fit(nengo_loihi, seed_net, shapes):
    """Per-block use of the network nengo-dl's converter makes of the seed model."""
    from k2l_course.chip import chipfit
    from k2l_course.pipeline.conversion import convert
    from k2l_course.pipeline.model import ON_CHIP_LAYERS

    conv = convert(seed_net, "loihi-relu", 400, 0.005, probes=False)
    with conv.net:
        nengo_loihi.add_params(conv.net)
        conv.net.config[conv.ensembles["to-spikes"]].on_chip = False
        for name in ON_CHIP_LAYERS:
            conv.net.config[conv.ensembles[name]].block_shape = nengo_loihi.BlockShape(
                shapes[name], seed_net.output_shape(name)
            )
    return chipfit.fit_report(conv.net)


@pytest.mark.slow  # grades whole classes or runs the sandbox end to end (CI runs it)
def test_block_fit_network_is_the_converted_seed_network(stack):
    # The block-shape check builds the seed network without TensorFlow; every
    # block must use exactly what it uses in the network the converter makes.
    from k2l_course.exercises.checks import blockfit
    from k2l_course.pipeline.model import ON_CHIP_LAYERS, build_seed_model

    _, nengo, _, nengo_loihi = stack
    seed_net = build_seed_model()
    for label, shapes in BLOCK_SHAPES.items():
        converted = converted_fit(nengo_loihi, seed_net, shapes)
        net, _ = blockfit.seed_network(nengo, nengo_loihi, shapes)
        ours = chipfit_report(net)
        # The converter labels a layer's ensemble "<layer>.0"; block labels add "[index]".
        assert [(re.sub(r"\.0(?=\[|$)", "", b.label), b.used) for b in converted.blocks] == [
            (b.label, b.used) for b in ours.blocks
        ], label
        assert (converted.error is None) == (ours.error is None) == converted.fits, label
    layer_shapes = blockfit.seed_network(nengo, nengo_loihi, BLOCK_SHAPES["seed"])[1]
    assert {n: layer_shapes[n] for n in ON_CHIP_LAYERS} == {n: seed_net.output_shape(n) for n in ON_CHIP_LAYERS}


def chipfit_report(net):
    from k2l_course.chip import chipfit

    return chipfit.fit_report(net)


def test_block_fit_without_tensorflow_gives_the_same_report(stack):
    from k2l_course.exercises.checks import blockfit

    overflow = blockfit.fit_in_worker(BLOCK_SHAPES["synapse memory overflow"])
    assert overflow == json.loads(json.dumps(blockfit.fit(BLOCK_SHAPES["synapse memory overflow"])))
    assert overflow["layers"]["dense0"]["over"] == ["synapses"] and overflow["error"]
    assert overflow["blocks"] == {"conv0": 6, "conv1": 3, "dense0": 1}


def test_the_keras_model_is_built_from_the_seed_networks_description():
    from k2l_course.pipeline import model

    seed_net = model.build_seed_model()
    assert tuple(seed_net.model.input_shape[1:]) == model.INPUT_SHAPE
    for name, filters, kernel, strides in model.CONVOLUTIONS:
        layer = seed_net.layer(name)
        assert (layer.filters, layer.kernel_size, layer.strides) == (filters, (kernel, kernel), (strides, strides))
    for name, units in model.DENSE:
        assert seed_net.layer(name).units == units
    assert seed_net.layer(model.OUTPUT_LAYER).units == model.OUTPUT_UNITS
    assert seed_net.model.count_params() == model.N_PARAMETERS


# -- k2l check, end to end ----------------------------------------------------------------------


def k2l(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "k2l_course.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow  # grades whole classes or runs the sandbox end to end (CI runs it)
def test_k2l_check_reports_points_and_hints_and_fails_a_partly_wrong_submission(tmp_path):
    wrong = (ROOT / "tests" / "wrong_answers" / "ch2_activation__ideal_relu.py").read_text()
    (tmp_path / "ch2_activation.py").write_text(solution("ch2_activation").read_text() + "\n\n" + wrong)
    run = k2l("check", "ch2_activation", tmp_path)
    assert run.returncode == 1, run.stderr
    assert "FAIL    0/3  loihi_rate_formula: loihi_rate()" in run.stdout
    assert "PASS    3/3  loihi_spike_train: loihi_spikes()" in run.stdout
    assert "no Loihi neuron can exceed 1000 Hz at dt = 1 ms" in " ".join(run.stdout.split())  # a wrapped hint
    assert "Total: 3/6 points (1 of 2 items pass)" in run.stdout


def test_k2l_check_exits_zero_when_everything_passes_and_finds_the_exercise_by_its_functions(tmp_path):
    mine = tmp_path / "my_work.py"
    mine.write_text(solution("ch4_training").read_text())
    run = k2l("check", mine)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Total: 5/5 points (2 of 2 items pass)" in run.stdout


def test_k2l_check_explains_bad_arguments(tmp_path):
    run = k2l("check", "ch9_quantum")
    assert run.returncode == 2 and "unknown exercise" in run.stderr
    run = k2l("check", "ch2_activation", tmp_path)
    assert run.returncode == 2 and "no exercise file" in run.stderr
    (tmp_path / "notes.py").write_text("x = 1\n")
    run = k2l("check", tmp_path / "notes.py")
    assert run.returncode == 2 and "defines none of the graded functions" in run.stderr


def test_k2l_check_finds_the_files_to_check(tmp_path):
    import os

    from k2l_course.grading.check import UsageError, find_targets

    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "ch2_activation.py").write_text("def loihi_rate(current, dt=0.001):\n    pass\n")
    notebook = folder / "ch2_activation.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    (folder / "ch3_scaling.py").write_text("")
    # The more recently modified of .py and .ipynb; the notebook on a tie.
    os.utime(notebook, (1_000_000, 1_000_000))
    targets = find_targets(path=folder)
    assert [(t.exercise, t.path.name) for t in targets] == [
        ("ch2_activation", "ch2_activation.py"),
        ("ch3_scaling", "ch3_scaling.py"),
    ]
    assert "newer" in targets[0].note
    os.utime(folder / "ch2_activation.py", (1_000_000, 1_000_000))
    assert find_targets("ch2_activation", folder)[0].path.name == "ch2_activation.ipynb"
    # No path: the current directory if it holds exercises, else its exercises/ folder.
    assert [t.exercise for t in find_targets(cwd=folder)] == ["ch2_activation", "ch3_scaling"]
    assert find_targets("ch1_conversion", cwd=ROOT)[0].path == ROOT / "exercises" / "ch1_conversion.ipynb"
    with pytest.raises(UsageError, match="no exercise files"):
        find_targets(cwd=tmp_path / "work" / "..")
    # A file not named after an exercise: the exercises whose functions it defines.
    mine = folder / "mine.py"
    mine.write_text("def n_blocks(a, b):\n    return 1\n\ndef rate_penalty(r, lo, hi):\n    return 0.0\n")
    assert [t.exercise for t in find_targets(path=mine)] == ["ch4_training", "ch5_chip"]
    (folder / "notes.txt").write_text("")
    with pytest.raises(UsageError, match="not a .py or .ipynb"):
        find_targets(path=folder / "notes.txt")
