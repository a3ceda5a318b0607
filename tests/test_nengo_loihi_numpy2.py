"""nengo-loihi 1.1 on NumPy 2 (k2l_course.nengo_loihi_numpy2): what it replaces, and that the chip stays the same.

The course environment has NumPy 1.24 and nengo 3.2; the students' Python 3.13
environment (``.venv-student-3.13``) has NumPy 2 and nengo 4.1, where
nengo-loihi 1.1's builder works only with the module's fixed copies.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from environments import student_python

from k2l_course import nengo_loihi_numpy2

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
before = snapshot()
first = nengo_loihi_numpy2.apply()
after = snapshot()
changed = sorted(".".join(filter(None, key)) for key in before if after.get(key) != before[key])
print(json.dumps({"changed": changed, "first": first, "second": nengo_loihi_numpy2.apply(),
                  "applied": nengo_loihi_numpy2.applied(), "numpy": numpy.__version__}))
"""


def _target_names():
    return sorted(".".join(filter(None, target)) for target in nengo_loihi_numpy2.TARGETS)


def _run(python, code):
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_fix_names_three_functions_of_nengo_loihi_1_1_0():
    assert nengo_loihi_numpy2.NENGO_LOIHI_VERSION == "1.1.0"
    assert _target_names() == [
        "nengo_loihi.block.Synapse._set_weights_indices",
        "nengo_loihi.block.Synapse.set_weights",
        "nengo_loihi.neurons._broadcast_rates_inputs",
    ]


def test_on_numpy_1_nothing_is_replaced():
    assert int(np.__version__.split(".")[0]) == 1, "the course environment has NumPy 1"
    assert not nengo_loihi_numpy2.needed()
    report = _run(sys.executable, _REPLACED)
    assert report["changed"] == [] and report["first"] == [] and report["second"] == []
    assert report["applied"] == []


@pytest.mark.slow
def test_on_numpy_2_exactly_the_named_functions_are_replaced_once():
    report = _run(student_python("3.13"), _REPLACED)
    assert int(report["numpy"].split(".")[0]) >= 2
    assert report["changed"] == _target_names()
    assert sorted(report["first"]) == _target_names()
    assert report["second"] == [], "applying it again replaces nothing"
    assert sorted(report["applied"]) == _target_names()


def _digests(python, images):
    done = subprocess.run(
        [str(python), "-m", "k2l_course.chip.build_digest", str(images)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_chapter_5_chip_is_bit_identical_on_numpy_1_and_numpy_2(tmp_path):
    from k2l_course.pipeline.data import load_mnist

    images = tmp_path / "images.npy"
    np.save(images, load_mnist().test_images[:5])
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
