"""nengo-loihi 1.1.0 made to build on NumPy 2: fixed copies of the functions that fail.

nengo-loihi 1.1.0 (its last release; its repository has had no commit since
2023-02) calls ``np.array(x, copy=False, ...)`` in three functions. NumPy 2
changed ``copy=False`` to mean "never copy" and raises ``ValueError`` where a
copy is needed, so on NumPy 2 every network's build fails (the input
connection of any network reaches :meth:`Synapse._set_weights_indices`):

- ``nengo_loihi.block.Synapse._set_weights_indices`` (``block.py`` lines 700, 716);
- ``nengo_loihi.block.Synapse.set_weights`` (``block.py`` line 747, dense weights);
- ``nengo_loihi.neurons._broadcast_rates_inputs`` (``neurons.py`` lines 127-129,
  the rate functions given lists, scalars or float32).

:func:`apply` replaces exactly these three with copies in which
``np.array(x, copy=False, dtype=d, ndmin=k)`` becomes
``np.atleast_kd(np.asarray(x, dtype=d))``: NumPy 1's meaning of the original
(convert with the same dtype rule, copy only when needed, prepend axes up to
``k`` dimensions), on NumPy 1 and 2 alike. It changes nothing else and
silences nothing. It applies only when NumPy >= 2 and the installed
nengo-loihi is exactly 1.1.0 (another version may have fixed or moved these
functions); on NumPy 1 it does nothing. Calling it again does nothing more.

The course calls it wherever nengo-loihi is imported: :mod:`k2l_course.stack`
(the chip code, the Linux sandbox's zygote), the block-shape worker of
exercise 5, and both grading sandboxes' children before student code runs
(:func:`apply_on_import`: whenever the submission imports nengo-loihi,
however it spells the import), so nobody has to know about it.
The test suite proves that the course's deployed chip builds to the same
discretized parameters and runs to the same spikes on NumPy 1.24 and on
NumPy 2 (``tests/test_nengo_loihi_numpy2.py``). The same fix, as a patch to
nengo-loihi's sources for its maintainers, is ``patches/nengo-loihi-numpy2.patch``.

Not replaced: ``nengo_loihi.builder.discretize.array_to_int`` assigns
``array.dtype``, which NumPy 2.5 deprecates (a ``DeprecationWarning``, shown
only where deprecation warnings are shown, e.g. under pytest); it still works
and gives the same integers. Avoiding it needs its callers to take the new
array back (done in the patch), i.e. copies of two long functions here.

The three functions below are copied from nengo-loihi 1.1.0 and changed only
where marked. Their notice:

    Copyright (c) 2018-2022 Applied Brain Research

    Licensed under the Apache License, Version 2.0 (the "License"); you may
    not use this file except in compliance with the License. You may obtain a
    copy of the License at http://www.apache.org/licenses/LICENSE-2.0

    Unless required by applicable law or agreed to in writing, software
    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
    License for the specific language governing permissions and limitations
    under the License.

Changes by the k2l course (2026): ``np.array(..., copy=False, ...)`` replaced
as described above.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import sys

import numpy as np

from k2l_course.import_hooks import spec_around

#: The one nengo-loihi release these copies replace functions of.
NENGO_LOIHI_VERSION = "1.1.0"
#: What :func:`apply` replaces: (module, owner in the module or None, name).
TARGETS = (
    ("nengo_loihi.block", "Synapse", "_set_weights_indices"),
    ("nengo_loihi.block", "Synapse", "set_weights"),
    ("nengo_loihi.neurons", None, "_broadcast_rates_inputs"),
)
#: Marks the functions this module put in place.
_MARK = "__k2l_numpy2_fix__"


def needed():
    """Whether this NumPy and nengo-loihi need the fix (NumPy >= 2 and nengo-loihi 1.1.0 installed).

    Imports nothing heavy: nengo-loihi's version is read from its installed metadata.
    """
    if int(np.__version__.split(".")[0]) < 2:
        return False
    try:
        return importlib.metadata.version("nengo-loihi") == NENGO_LOIHI_VERSION
    except importlib.metadata.PackageNotFoundError:
        return False


def apply():
    """Put the fixed copies in place in nengo-loihi, when :func:`needed`.

    Imports nengo-loihi (when needed). Idempotent.

    Returns
    -------
    list of str
        The qualified names replaced by this call (empty when not needed or
        already applied).
    """
    if not needed():
        return []
    import importlib

    replaced = []
    for module_name, owner_name, name in TARGETS:
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        if getattr(getattr(owner, name), _MARK, False):
            continue
        setattr(owner, name, _FIXED[name])
        replaced.append(".".join(filter(None, (module_name, owner_name, name))))
    return replaced


class _FixAfterImport(importlib.abc.MetaPathFinder):
    """Finds ``nengo_loihi`` with the finders after it, and applies the fix once its import has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "nengo_loihi":
            return None
        return spec_around(self, name, path, target, _execute_then_apply)


def _execute_then_apply(execute, module):
    execute(module)
    apply()


def apply_on_import():
    """:func:`apply` as soon as nengo-loihi is imported, however the import is spelled.

    For code that may import nengo-loihi on its own, such as a student's
    submission in the grading sandboxes: checking whether the fix is needed
    is cheap, importing nengo-loihi is not (seconds), and most exercises never
    use it. If nengo-loihi is already imported, this applies the fix now;
    otherwise it puts a finder first on :data:`sys.meta_path` that lets the
    other finders find nengo-loihi and applies the fix right after nengo-loihi's
    own import has run (``import``, ``from``, :func:`importlib.import_module`
    or ``__import__`` alike). Idempotent; does nothing when not :func:`needed`.
    """
    if not needed():
        return
    if "nengo_loihi" in sys.modules:
        apply()
    elif not any(isinstance(finder, _FixAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _FixAfterImport())


def applied():
    """The qualified names of :data:`TARGETS` that are this module's copies now (imports nengo-loihi)."""
    import importlib

    names = []
    for module_name, owner_name, name in TARGETS:
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        if getattr(getattr(owner, name), _MARK, False):
            names.append(".".join(filter(None, (module_name, owner_name, name))))
    return names


# -- the fixed copies (nengo-loihi 1.1.0, Apache 2.0: see the notice above) -------------------


def _set_weights_indices(
    self,
    weights,
    indices=None,
    weight_dtype=None,
    compression=0,
):
    weight_dtype = np.dtype(np.float32 if weight_dtype is None else weight_dtype)
    assert weight_dtype.name in ("float32", "int32")
    # k2l: was np.array(w, copy=False, dtype=weight_dtype, ndmin=2)
    weights = [np.atleast_2d(np.asarray(w, dtype=weight_dtype)) for w in weights]
    assert all(w.ndim == 2 for w in weights), "Weights must be shape (n_axons,) (n_populations, n_compartments)"
    assert all(
        w.shape[0] == weights[0].shape[0] for w in weights
    ), "All axon weights must have the same number of populations"
    self.weights = weights

    if indices is None:
        indices = [
            np.zeros((w.shape[0], 1), dtype=np.int32) + np.arange(w.shape[1], dtype=np.int32) for w in self.weights
        ]
    # k2l: was np.array(i, copy=False, dtype=np.int32, ndmin=2)
    indices = [np.atleast_2d(np.asarray(i, dtype=np.int32)) for i in indices]
    assert all(i.ndim == 2 for i in indices), "Indices must be shape (n_axons,) (n_populations, n_compartments)"
    assert all(i.shape == w.shape for i, w in zip(indices, weights)), "Indices shapes must match weights shapes"
    assert len(weights) == len(indices)
    self.indices = indices

    self.format(
        compression=compression,
        idx_bits=self.idx_bits(),
        fanout_type=1,
        n_synapses=63,
        weight_bits=7,
    )


def set_weights(self, weights):
    """Set dense or sparse weights on this Synapse."""
    import scipy.sparse

    if isinstance(weights, scipy.sparse.spmatrix):
        csr = weights.tocsr()
        weights_by_row, idxs_by_row = [], []
        for i in range(weights.shape[0]):
            i0, i1 = csr.indptr[i : i + 2]
            weights_by_row.append(csr.data[i0:i1])
            idxs_by_row.append(csr.indices[i0:i1])

        weights = weights_by_row
        indices = idxs_by_row
    else:
        weights = np.asarray(weights, dtype=np.float32)  # k2l: was np.array(weights, copy=False, dtype=np.float32)
        assert weights.ndim == 2
        indices = None

    assert len(weights) == self.n_axons, "Must have different weights for each axon"
    self._set_weights_indices(weights, indices=indices, compression=3)


def _broadcast_rates_inputs(x, gain, bias):
    # k2l: each was np.array(v, dtype=float, copy=False, ndmin=1)
    x = np.atleast_1d(np.asarray(x, dtype=float))
    gain = np.atleast_1d(np.asarray(gain, dtype=float))
    bias = np.atleast_1d(np.asarray(bias, dtype=float))
    if x.ndim == 1:
        x = x[:, np.newaxis] * np.ones(gain.shape[-1])
    return x, gain, bias


_FIXED = {f.__name__: f for f in (_set_weights_indices, set_weights, _broadcast_rates_inputs)}
for _function in _FIXED.values():
    setattr(_function, _MARK, True)
_set_weights_indices.__qualname__ = "Synapse._set_weights_indices"
set_weights.__qualname__ = "Synapse.set_weights"
