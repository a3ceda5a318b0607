"""From Keras to a spiking network: the seed's pipeline, stage by stage.

``data`` (MNIST) → ``model`` (the seed's Keras network) → ``training``
(nengo-dl, with ``losses`` and ``regularization`` for the firing rates) →
``conversion`` (rate to spiking neurons) → ``evaluation`` (accuracy of each
stage); ``rates`` holds the neuron models' rate formulas.
"""
