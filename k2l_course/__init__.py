"""k2l_course: the companion library of the Keras-to-Loihi course.

Importing this package is cheap: TensorFlow, nengo-dl and nengo-loihi are
imported only by the modules that need them (``model``, ``conversion``,
``training``, ``chip``...), after :mod:`k2l_course.quiet` has silenced their
start-up logs.
"""

__version__ = "0.1.0"
