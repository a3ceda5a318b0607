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
    # BEGIN SOLUTION
    rates = np.asarray(outputs, dtype=np.float64) / amplitude
    return np.percentile(rates, percentile, axis=(0, 1))
    # END SOLUTION


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
    # BEGIN SOLUTION
    rates = np.asarray(rates, dtype=np.float64)
    error = np.maximum(0.0, min_rate - rates) + np.maximum(0.0, rates - max_rate)
    return float(0.5 * np.sum(error**2))
    # END SOLUTION


# %%
if __name__ == "__main__":
    print(rate_penalty(np.array([50.0, 150.0, 300.0]), min_rate=100.0, max_rate=250.0))  # 2500.0
