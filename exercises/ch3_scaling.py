# %% [markdown]
# # Exercise 3: per-layer scaling
#
# Chapter: [3. Per-layer scaling](../book/03-scaling.md)
#
# Loihi neurons are faithful only in a window of firing rates: too slow and a
# layer sends too few spikes in a presentation to carry its values, too fast and
# the rates fall on coarse plateaus or hit the one-spike-per-step ceiling. The
# converter's `scale_firing_rates` moves a layer's rates (and divides its output by
# the same factor, so the network computes the same function). Because each
# layer of a trained network fires at its own rates, the course measures every
# layer and gives each its own scale. In this exercise you write that measurement
# and that choice, and compute what a scaled layer of Loihi neurons passes on.
#
# **How to work.** Write each function where it says `raise NotImplementedError`,
# in Jupyter or in any editor. Cells that start with `if __name__ == "__main__":`
# are for trying your functions; the checker skips them. Write the functions
# yourself with NumPy: the course library has its own versions of some of them
# (the book and the checks use them), and calling those would skip the point of
# the exercise. Check your work with
#
# ```bash
# k2l check ch3_scaling
# ```

# %% [markdown]
# ## How this exercise is graded
#
# | function you write | points |
# |---|---|
# | `mean_active_rate` | 3 |
# | `scales_for_target` | 2 |
# | `scaled_layer_output` | 2 |
# | **total** | **7** |
#
# Some items give partial credit; `k2l check` shows your points and a hint for each item. Graders may add hidden checks of the same functions.

# %% tags=["k2l-check", "k2l-install"]
# Google Colab only: install the course's package, k2l-course (NumPy, nengo, nengo-loihi,
# the checker), and MNIST. Anywhere else (JupyterLab, VS Code, a script) this cell does nothing.
import sys

if "google.colab" in sys.modules:
    raise RuntimeError(
        "This copy of the exercise does not say which repository the course comes from, so it "
        "cannot install the course's package. Install it yourself, from the repository you got "
        "this notebook from: %pip install \"k2l-course @ git+https://github.com/ORG/REPO@BRANCH\" "
        "(course maintainers: K2L_REPOSITORY_URL=https://github.com/ORG/REPO k2l make-exercises "
        "writes it into the notebooks)."
    )

# %%
import numpy as np


# %% [markdown]
# ## 3.1 Mean rate of the active neurons (`mean_active_rate`)
#
# A probe on a layer's neurons records an array `outputs` of shape
# `(examples, steps, neurons)`. A neuron's output is its rate times its
# `amplitude` (for a spiking neuron: `amplitude / dt` on a step where it spikes, 0
# elsewhere; the converter sets `amplitude = 1 / scale_firing_rates`).
#
# Many neurons of a ReLU layer stay silent for a given image; they say nothing
# about how fast the others fire. Write `mean_active_rate(outputs, amplitude)`
# that returns one number, in Hz:
#
# 1. each neuron's rate in each example: its output averaged over the steps,
#    divided by the amplitude;
# 2. for each example, the mean rate of the neurons that were **active** in that
#    example (output nonzero at some step); 0 for an example where none was;
# 3. the mean of those per-example values over the examples.

# %%
def mean_active_rate(outputs, amplitude=1.0):
    """Mean firing rate (Hz) of a layer's active neurons.

    Parameters
    ----------
    outputs : ndarray, shape (n_examples, n_steps, n_neurons)
        Probe data of the layer's neurons.
    amplitude : float
        The neurons' output amplitude.

    Returns
    -------
    float
    """
    raise NotImplementedError("mean_active_rate: write your code here")


# %%
if __name__ == "__main__":
    # 2 examples, 4 steps, 3 neurons at amplitude 0.01 (a spike is 0.01 / 0.001 = 10).
    outputs = np.zeros((2, 4, 3))
    outputs[0, :, 0] = 10.0  # 1000 Hz
    outputs[0, ::2, 1] = 10.0  # 500 Hz; neuron 2 is silent
    outputs[1, 0, 2] = 10.0  # 250 Hz, the only active neuron of example 1
    print(mean_active_rate(outputs, amplitude=0.01))


# %% [markdown]
# ## 3.2 A scale for every layer (`scales_for_target`)
#
# With every layer measured at scale 1, `rates` is a dict from layer name to its
# mean active rate in Hz. Multiplying a layer's `scale_firing_rates` by *s*
# multiplies its rates by *s* (as long as they stay well below the ceiling).
# Write `scales_for_target(rates, target=200.0)` that returns a dict with the same
# keys: the scale that brings each layer's mean rate to `target` Hz.

# %%
def scales_for_target(rates, target=200.0):
    """Per-layer firing-rate scales that bring every layer to ``target`` Hz.

    Parameters
    ----------
    rates : dict of str -> float
        Mean active rate (Hz) of each layer at scale 1.
    target : float
        Wanted mean rate (Hz).

    Returns
    -------
    dict of str -> float
    """
    raise NotImplementedError("scales_for_target: write your code here")


# %%
if __name__ == "__main__":
    print(scales_for_target({"to-spikes": 14.4, "conv0": 1.9, "conv1": 1.0, "dense0": 2.7}))


# %% [markdown]
# ## 3.3 What a scaled Loihi layer passes on (`scaled_layer_output`)
#
# In the rate network a neuron passes on its activation `a` (a ReLU's output).
# Converted with `scale_firing_rates = s`, the neuron receives the input current
# `s * a`, fires at the rate a Loihi neuron fires for that current (the rate
# formula of exercise 2.1), and its output is that rate times its amplitude
# `1 / s`. Write
# `scaled_layer_output(values, scale, dt=0.001)` that returns, for every
# activation in `values`, what the Loihi neuron passes on. Try a few scales: where
# is it close to `max(a, 0)`, and where not?

# %%
def scaled_layer_output(values, scale, dt=0.001):
    """What Loihi neurons at a firing-rate scale pass on for rate-network values.

    Parameters
    ----------
    values : ndarray
        Activations ``a`` of the rate network.
    scale : float
        ``scale_firing_rates``.
    dt : float
        Time step (s).

    Returns
    -------
    ndarray of float, same shape as ``values``
    """
    raise NotImplementedError("scaled_layer_output: write your code here")


# %%
if __name__ == "__main__":
    a = np.array([0.5, 2.0, 5.0, 12.0])
    for s in (1, 10, 100, 400):
        print(s, scaled_layer_output(a, s))

# %% tags=["k2l-check"]
# Check your answers: save this file (Ctrl+S / Cmd+S), then run this cell. It prints the
# same report as `k2l check` in a terminal. (Graders skip this cell.)
if __name__ == "__main__":
    from k2l_course.exercises.notebook_check import check_this

    check_this("ch3_scaling", globals())
