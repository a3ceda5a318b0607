"""The seed notebook's published numbers, the reference the course compares with.

Source: the nengo-loihi example "Converting a Keras model to an SNN on Loihi"
(seed text, and its rendered docs of 2022-01); see
``shared/reference/seed-results.md``. Accuracies are on the first ``n`` MNIST
test images, from the output at the last of 30 steps unless noted.
"""

#: stage -> (n, seed-text accuracy, rendered-docs accuracy), accuracies as fractions.
ACCURACY = {
    "train-relu": (60_000, 0.9861, 0.9852),
    "relu": (100, 0.99, 1.00),
    "spiking-relu-x100": (100, 1.00, 1.00),
    "loihi-relu-x100": (100, 0.90, 0.89),
    "loihi-relu-per-layer": (100, 0.96, 0.98),
    "loihi-trained-x100": (100, 0.99, 0.99),
    "chip": (5, 1.00, 1.00),
}

#: stage -> mean rate of active neurons (Hz) of to-spikes, conv0, conv1, dense0 (seed text).
RATES = {
    "relu": (14.4, 1.9, 1.0, 2.7),  # example 0 only
    "spiking-relu-x100": (1510, 192, 102, 115),
    "loihi-relu-x100": (814, 95, 49, 37),
    "loihi-relu-per-layer": (180, 130, 97, 42),
    "loihi-trained-x100": (889, 136, 84, 108),
}

#: What each stage is, in words.
DESCRIPTION = {
    "train-relu": "training accuracy after 2 epochs, ReLU",
    "relu": "ReLU (rate), 10 steps",
    "spiking-relu-x100": "SpikingRectifiedLinear, scale 100, synapse 0.005",
    "loihi-relu-x100": "LoihiSpikingRectifiedLinear, scale 100, synapse 0.005",
    "loihi-relu-per-layer": "Loihi neurons, per-layer scale to a 200 Hz mean",
    "loihi-trained-x100": "trained with Loihi neurons at scale 100, evaluated at 100",
    "chip": "nengo-loihi emulator, scale 400, 30 steps per image",
}
