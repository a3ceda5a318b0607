"""nengo-loihi 1.1 on NumPy 2 (k2l_course.nengo_loihi_numpy2): what it replaces, and that the chip stays the same.

The course environment has NumPy 1.24 and nengo 3.2; the students' Python 3.13
environment (``.venv-student-3.13``) has NumPy 2 and nengo 4.1, where
nengo-loihi 1.1's builder works only with the module's fixed copies.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from environments import student_python

from k2l_course import nengo_loihi_numpy2
from k2l_course.grading.sandbox import portable

#: Hides TensorFlow and nengo-dl (nengo-loihi imports them when installed, and never needs them here).
_NO_TENSORFLOW = "import sys; sys.modules['tensorflow'] = sys.modules['nengo_dl'] = None; "

#: Prints every function and method of nengo-loihi's modules that changed when the fix was applied,
#: then what a second application replaced.
_REPLACED = _NO_TENSORFLOW + """
import inspect, json, pkgutil, importlib, warnings
import numpy
warnings.simplefilter("ignore")
import nengo_loihi
for info in pkgutil.walk_packages(nengo_loihi.__path__, "nengo_loihi."):
    if ".tests" not in info.name and not info.name.startswith("nengo_loihi.hardware.nxsdk"):
        try:
            importlib.import_module(info.name)
        except ImportError:
            pass
def snapshot():
    seen = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "nengo_loihi" or module is None:
            continue
        for attr, value in vars(module).items():
            seen[(name, "", attr)] = id(value)
            if inspect.isclass(value) and value.__module__ == name:
                for member, inner in vars(value).items():
                    seen[(name, attr, member)] = id(inner)
    return seen
from k2l_course import nengo_loihi_numpy2
from k2l_course.grading.sandbox import portable
before = snapshot()
first = nengo_loihi_numpy2.apply()
after = snapshot()
changed = sorted(".".join(filter(None, key)) for key in before if after.get(key) != before[key])
print(json.dumps({"changed": changed, "first": first, "second": nengo_loihi_numpy2.apply(),
                  "applied": nengo_loihi_numpy2.applied(), "numpy": numpy.__version__}))
"""


#: Calls nengo-loihi's functions ("stock") and the fixed copies on the same inputs and prints, per
#: case, the digests of what each returned ("ValueError" where stock raises it, as on NumPy 2) and
#: whether both returned the same (values, dtypes, shapes, memory shared with the input).
_SAME_RESULTS = _NO_TENSORFLOW + """
import json, warnings
warnings.simplefilter("ignore")
import numpy as np, scipy.sparse
from nengo_loihi import block, neurons
from k2l_course import nengo_loihi_numpy2 as fix
from k2l_course.chip.build_digest import _object_digests, array_digest

def same_arrays(inputs, a, b):
    return all(
        x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
        and all(np.shares_memory(i, x) == np.shares_memory(i, y) for i in inputs if isinstance(i, np.ndarray))
        for x, y in zip(a, b)
    ) and len(a) == len(b)

rng = np.random.RandomState(0)
rates = {
    "scalars": (0.5, 2.0, 1.0),
    "lists": ([0.1, 0.2, 0.3], [1, 2], [0, 1]),
    "ints": (np.arange(4), 3, -1),
    "float32": (np.float32(0.25), np.ones(5, np.float32), np.zeros(5, np.float32)),
    "float64 arrays": (rng.randn(6), rng.rand(3), rng.randn(3)),
    "2-d": (rng.randn(4, 3), rng.rand(3), rng.randn(3)),
}
report = {}
for name, args in rates.items():
    fixed = fix._broadcast_rates_inputs(*args)
    try:
        stock = neurons._broadcast_rates_inputs(*args)
    except ValueError:
        stock = None
    report["rates: " + name] = {
        "fixed": [array_digest(a) for a in fixed],
        "stock": "ValueError" if stock is None else [array_digest(a) for a in stock],
        "same": None if stock is None else same_arrays(args, stock, fixed),
    }

class Fixed(block.Synapse):
    _set_weights_indices = fix._set_weights_indices
    set_weights = fix.set_weights

dense = rng.randn(5, 7)
sparse = scipy.sparse.random(5, 7, density=0.4, random_state=1, format="csr")
weights = {
    "dense float64": ("set_weights", (dense,), {}),
    "dense float32": ("set_weights", (dense.astype(np.float32),), {}),
    "dense list": ("set_weights", (dense.tolist(),), {}),
    "sparse": ("set_weights", (sparse,), {}),
    "1-d rows": ("_set_weights_indices", ([rng.randn(7) for _ in range(5)],), {}),
    "int32 with indices": ("_set_weights_indices", ([np.arange(3)] * 5,), {"indices": [[0, 2, 4]] * 5, "weight_dtype": np.int32}),
}
for name, (method, args, kwargs) in weights.items():
    stock, fixed = block.Synapse(5, label="s"), Fixed(5, label="s")
    getattr(fixed, method)(*args, **kwargs)
    try:
        getattr(stock, method)(*args, **kwargs)
    except ValueError:
        stock = None
    report["synapse: " + name] = {
        "fixed": _object_digests(fixed),
        "stock": "ValueError" if stock is None else _object_digests(stock),
        "same": None if stock is None else (
            _object_digests(stock) == _object_digests(fixed)
            and same_arrays(args, stock.weights, fixed.weights) and same_arrays(args, stock.indices, fixed.indices)
        ),
    }
print(json.dumps(report))
"""

#: Where nengo-loihi 1.1.0's own functions raise on NumPy 2 (a copy is needed), among those cases.
FAILING_ON_NUMPY_2 = [
    "rates: float32", "rates: ints", "rates: lists", "rates: scalars",
    "synapse: 1-d rows", "synapse: dense float64", "synapse: dense list", "synapse: int32 with indices", "synapse: sparse",
]  # fmt: skip


def _target_names():
    return sorted(".".join(filter(None, target)) for target in nengo_loihi_numpy2.TARGETS)


def _run(python, code):
    """Run ``code`` in ``python``; the JSON object of each line it printed."""
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def course_environment():
    """What both scripts print in the course environment (NumPy 1), run in one process."""
    replaced, same = _run(sys.executable, _REPLACED + _SAME_RESULTS)
    return {"replaced": replaced, "same": same}


def test_the_fix_names_three_functions_of_nengo_loihi_1_1_0():
    assert nengo_loihi_numpy2.NENGO_LOIHI_VERSION == "1.1.0"
    assert _target_names() == [
        "nengo_loihi.block.Synapse._set_weights_indices",
        "nengo_loihi.block.Synapse.set_weights",
        "nengo_loihi.neurons._broadcast_rates_inputs",
    ]


def test_on_numpy_1_nothing_is_replaced(course_environment):
    assert int(np.__version__.split(".")[0]) == 1, "the course environment has NumPy 1"
    assert not nengo_loihi_numpy2.needed()
    report = course_environment["replaced"]
    assert report["changed"] == [] and report["first"] == [] and report["second"] == []
    assert report["applied"] == []


def test_on_numpy_1_the_fixed_copies_return_what_nengo_loihi_returns(course_environment):
    report = course_environment["same"]
    assert len(report) == 12
    assert [case for case, outcome in report.items() if outcome["same"] is not True] == []


def test_the_upstream_patch_applies_to_nengo_loihi_1_1_0_and_leaves_neither_copy_false_nor_a_dtype_set(tmp_path):
    import importlib.metadata
    import importlib.util

    from k2l_course import ROOT

    assert importlib.metadata.version("nengo-loihi") == "1.1.0"
    installed = Path(importlib.util.find_spec("nengo_loihi").origin).parent
    files = ("block.py", "neurons.py", "builder/discretize.py")
    for name in files:
        (tmp_path / "nengo_loihi" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(installed / name, tmp_path / "nengo_loihi" / name)
    patch = ROOT / "patches" / "nengo-loihi-numpy2.patch"
    done = subprocess.run(["git", "apply", "--verbose", str(patch)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in files:
        text = (tmp_path / "nengo_loihi" / name).read_text(encoding="utf-8")
        assert not re.search(r"np\.array\([^)]*copy=False", text), f"{name}: np.array(..., copy=False) left"
        assert not re.search(r"\barray\.dtype\s*=(?!=)", text), f"{name}: array_to_int still sets a dtype in place"
        compile(text, name, "exec")


@pytest.mark.slow
def test_on_numpy_2_exactly_the_named_functions_are_replaced_once():
    (report,) = _run(student_python("3.13"), _REPLACED)
    assert int(report["numpy"].split(".")[0]) >= 2
    assert report["changed"] == _target_names()
    assert sorted(report["first"]) == _target_names()
    assert report["second"] == [], "applying it again replaces nothing"
    assert sorted(report["applied"]) == _target_names()


@pytest.mark.slow
def test_on_numpy_2_the_fixed_copies_return_what_nengo_loihi_returns_on_numpy_1(course_environment):
    (student,) = _run(student_python("3.13"), _SAME_RESULTS)
    course = course_environment["same"]
    assert sorted(case for case, outcome in student.items() if outcome["stock"] == "ValueError") == FAILING_ON_NUMPY_2
    assert {case: outcome["fixed"] for case, outcome in student.items()} == {
        case: outcome["stock"] for case, outcome in course.items()
    }


#: A student's file that builds and runs a small network with nengo-loihi (dense neuron-to-neuron
#: weights, the input connection: the functions that fail on NumPy 2).
_BUILDS_WITH_NENGO_LOIHI = """
import numpy as np
import nengo
import nengo_loihi


def spikes():
    with nengo.Network(seed=0) as net:
        a = nengo.Ensemble(20, 1, neuron_type=nengo_loihi.neurons.LoihiSpikingRectifiedLinear())
        b = nengo.Ensemble(20, 1, neuron_type=nengo_loihi.neurons.LoihiSpikingRectifiedLinear())
        nengo.Connection(nengo.Node(0.5), a)
        nengo.Connection(a.neurons, b.neurons, transform=np.eye(20) * 0.5)
        probe = nengo.Probe(b.neurons)
    with nengo_loihi.Simulator(net, target="sim", progress_bar=False) as sim:
        sim.run_steps(100)
    return sim.data[probe].sum(axis=0).tolist()
"""
#: A student's file that does not name nengo-loihi (so its child should not pay for importing it).
_NEVER_NAMES_IT = """
import sys


def loaded():
    return ("nengo_" + "loihi") in sys.modules
"""
#: The same network, nengo-loihi imported under a name computed at run time (no preloading can see it).
_IMPORTS_IT_BY_A_COMPUTED_NAME = _BUILDS_WITH_NENGO_LOIHI.replace(
    "import nengo_loihi\n", "import importlib\n\nloihi = importlib.import_module('nengo_' + 'loihi')\n"
).replace("nengo_loihi.", "loihi.")
#: Runs the files in a sandbox (argv[1]: "portable", as ``k2l check`` off Linux, or "linux"); prints each call's [ok, value or error].
_IN_THE_SANDBOX = """
import json, sys
from k2l_course.grading.sandbox import Call
from k2l_course.grading.sandbox.portable import choose
with choose(sys.argv[1]) as box:
    outcomes = [box.run(path, [Call(name, {})]).outcomes[0]
                for path, name in zip(sys.argv[2:], ("spikes", "spikes", "loaded"))]
print(json.dumps({"outcomes": [[o.ok, o.value if o.ok else o.error] for o in outcomes]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["portable", "linux"])
def test_student_code_using_nengo_loihi_runs_in_either_sandbox_on_numpy_2_as_on_numpy_1(mode, tmp_path):
    builds, computed, never = tmp_path / "builds.py", tmp_path / "computed.py", tmp_path / "never.py"
    builds.write_text(_BUILDS_WITH_NENGO_LOIHI, encoding="utf-8")
    computed.write_text(_IMPORTS_IT_BY_A_COMPUTED_NAME, encoding="utf-8")
    assert "nengo_loihi" not in computed.read_text(encoding="utf-8")
    never.write_text(_NEVER_NAMES_IT, encoding="utf-8")
    if mode == "linux" and not portable.linux_sandbox_available():
        pytest.skip("no Linux sandbox here")
    done = subprocess.run(
        [str(student_python("3.13")), "-c", _IN_THE_SANDBOX, mode, str(builds), str(computed), str(never)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (spikes, spikes_computed, loaded) = json.loads(done.stdout.strip().splitlines()[-1])["outcomes"]
    on_numpy_1 = _run(sys.executable, _NO_TENSORFLOW + f"import json, runpy; print(json.dumps({{'spikes': runpy.run_path({str(builds)!r})['spikes']()}}))")
    assert spikes == [True, on_numpy_1[0]["spikes"]]
    assert spikes_computed == spikes, "however the submission spells the import of nengo_loihi"
    assert sum(on_numpy_1[0]["spikes"]) > 0
    if mode == "portable":  # (the Linux sandbox's zygote keeps what it preloaded for earlier files)
        assert loaded == [True, False], "a file that does not name nengo_loihi runs without importing it"


def _digests(python, images):
    done = subprocess.run(
        [str(python), "-m", "k2l_course.chip.build_digest", str(images)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_chapter_5_chip_is_bit_identical_on_numpy_1_and_numpy_2(tmp_path, mnist):
    images = tmp_path / "images.npy"
    np.save(images, mnist.test_images[:5])
    course = _digests(sys.executable, images)
    student = _digests(student_python("3.13"), images)
    assert course["versions"]["numpy"].startswith("1.") and not student["versions"]["numpy"].startswith("1.")
    assert all(count > 0 for count in course["spike_counts"].values()), "every on-chip layer spikes"
    assert len(course["blocks"]) == 14, "the seed's block shapes: 14 blocks (cores)"
    assert student["blocks"] == course["blocks"], "every discretized compartment, synapse and axon array"
    assert student["spikes"] == course["spikes"], "the spikes of every on-chip layer and the output, every step"
    # The scales the discretization used are bookkeeping, not chip parameters: NumPy 2 computes
    # some in float32 (NEP 50), so they agree to float32 precision while the integers agree exactly.
    assert student["scales"].keys() == course["scales"].keys()
    for block, scales in course["scales"].items():
        for name, values in scales.items():
            np.testing.assert_allclose(student["scales"][block][name], values, rtol=1e-6, err_msg=f"{block} {name}")
