# %% [markdown]
# # Exercise 4: training with Loihi neurons
#
# Chapter: [4. Training with Loihi neurons](../book/04-training.md)
#
# Scaling after training (exercise 3) can only move each layer's rates as a whole.
# Training can do better: it can teach the network to keep *every* neuron in a
# range where Loihi represents it well. One way is to add a **firing-rate
# regularization** loss to the training objective, as nengo-loihi's CIFAR-10
# example does: a penalty on each neuron's rate outside `[min_rate, max_rate]`,
# where a neuron's rate is a high percentile of its rates over a batch (so that
# a few extreme inputs do not dominate). You write that statistic and that loss,
# in NumPy. (The chapter's own training puts its range on each layer's mean active
# rate instead; this is the per-neuron form.)
#
# **How to work.** Write each function where it says `raise NotImplementedError`,
# in Jupyter or in any editor. Cells that start with `if __name__ == "__main__":`
# are for trying your functions; the checker skips them. Write the functions
# yourself with NumPy: the course library has its own versions of some of them
# (the book and the checks use them), and calling those would skip the point of
# the exercise. Check your work with
#
# ```bash
# k2l check ch4_training
# ```

# %% [markdown]
# ## How this exercise is graded
#
# | function you write | points |
# |---|---|
# | `layer_rates` | 2 |
# | `rate_penalty` | 3 |
# | **total** | **5** |
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
# ## 4.1 Each neuron's rate (`layer_rates`)
#
# A layer's probed `outputs` have shape `(examples, steps, neurons)` and are rates
# times the neurons' `amplitude` (during training with rate neurons there is a
# single step). Write `layer_rates(outputs, amplitude, percentile=99.9)` that
# returns one rate per neuron, in Hz, shape `(neurons,)`: the given percentile
# (from 0 to 100, both included) of that neuron's rates over all examples and
# steps (`np.percentile`, its default linear interpolation).

# %%
def layer_rates(outputs, amplitude=1.0, percentile=99.9):
    """Per-neuron rate percentile over examples and time steps.

    Parameters
    ----------
    outputs : ndarray, shape (n_examples, n_steps, n_neurons)
    amplitude : float
    percentile : float
        Between 0 and 100, both included.

    Returns
    -------
    ndarray of float, shape (n_neurons,)
    """
    raise NotImplementedError("layer_rates: write your code here")


# %%
if __name__ == "__main__":
    outputs = np.random.default_rng(0).gamma(2.0, 1.0, (100, 1, 4)) * 0.01
    print(layer_rates(outputs, amplitude=0.01, percentile=99.9))


# %% [markdown]
# ## 4.2 The regularization loss (`rate_penalty`)
#
# For each neuron's rate `r`, the error is how far `r` lies outside the range:
# `max(0, min_rate - r) + max(0, r - max_rate)` (0 inside the range). The loss is
# TensorFlow's `tf.nn.l2_loss` of those errors, which is **half the sum of their
# squares**. Write `rate_penalty(rates, min_rate, max_rate)` returning that loss as
# one number. `max_rate` may be `inf` (no upper bound).

# %%
def rate_penalty(rates, min_rate, max_rate):
    """Firing-rate regularization loss towards ``[min_rate, max_rate]``.

    Parameters
    ----------
    rates : ndarray, shape (n_neurons,)
        Rates (Hz).
    min_rate, max_rate : float
        The wanted range (Hz); ``max_rate`` may be ``inf``.

    Returns
    -------
    float
    """
    raise NotImplementedError("rate_penalty: write your code here")


# %%
if __name__ == "__main__":
    print(rate_penalty(np.array([50.0, 150.0, 300.0]), min_rate=100.0, max_rate=250.0))  # 2500.0

# %% tags=["k2l-check"]
# Check your answers: save this file (Ctrl+S / Cmd+S), then run this cell. It prints the
# same report as `k2l check` in a terminal. (Graders skip this cell.)
if __name__ == "__main__":
    from k2l_course.exercises.notebook_check import check_this

    check_this("ch4_training", globals())
