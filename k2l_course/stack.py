"""The heavy stack (TensorFlow, nengo, nengo-dl, nengo-loihi), imported quietly, in one place.

``from k2l_course import stack`` costs nothing; the first use of ``stack.tf``,
``stack.nengo``, ``stack.nengo_dl`` or ``stack.nengo_loihi`` imports that
package (and what it needs) with :mod:`k2l_course.quiet` silencing its
start-up, so a module that only needs nengo never pays for TensorFlow::

    from k2l_course import stack

    def build(...):
        layer = stack.tf.keras.layers.Dense(10)

Notebooks and scripts that want all four at once use :func:`import_stack`.
"""

from __future__ import annotations

import importlib
import logging
import sys

from k2l_course import quiet

#: attribute -> the package it names
PACKAGES = {"tf": "tensorflow", "nengo": "nengo", "nengo_dl": "nengo_dl", "nengo_loihi": "nengo_loihi"}

__all__ = ["import_stack", *PACKAGES]


def _load(package):
    quiet.silence()
    with quiet.stderr_muted():
        module = importlib.import_module(package)
        if package == "tensorflow":
            module.get_logger().setLevel(logging.ERROR)
            module.autograph.set_verbosity(0)
        if package == "nengo_loihi":
            from k2l_course import nengo_loihi_numpy2  # (here: importing stack stays free of NumPy)

            nengo_loihi_numpy2.apply()  # nengo-loihi 1.1 on NumPy 2: see that module
    quiet.silence()  # packages may reset warning filters while importing
    return module


def __getattr__(name):
    if name not in PACKAGES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _load(PACKAGES[name])
    globals()[name] = module  # later uses skip this function
    return module


def import_stack():
    """Import TensorFlow, nengo, nengo-dl and nengo-loihi quietly.

    Returns
    -------
    tuple
        The modules ``(tf, nengo, nengo_dl, nengo_loihi)``.
    """
    module = sys.modules[__name__]
    return tuple(getattr(module, name) for name in PACKAGES)
