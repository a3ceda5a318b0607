# %% [markdown]
# # Exercise 2: the Loihi activation profile
#
# Chapter: [2. The Loihi activation profile](../book/02-activation.md)
#
# Loihi runs in discrete time steps and a neuron spikes at most once per step. Its
# spiking ReLU therefore cannot fire at any rate: the interval between spikes is a
# whole number of steps, so the rate moves in plateaus and stops at one spike per
# step. In this exercise you reproduce that behaviour in NumPy, first as a rate
# formula, then as a step-by-step simulation; the checker compares both with
# nengo-loihi's own model of the chip's neuron.
#
# **How to work.** Write each function where it says `raise NotImplementedError`,
# in Jupyter or in any editor. Cells that start with `if __name__ == "__main__":`
# are for trying your functions; the checker skips them. Write the functions
# yourself with NumPy: the course library has its own versions of some of them
# (the book and the checks use them), and calling those would skip the point of
# the exercise. Check your work with
#
# ```bash
# k2l check ch2_activation
# ```

# %% [markdown]
# ## How this exercise is graded
#
# | function you write | points |
# |---|---|
# | `loihi_rate` | 3 |
# | `loihi_spikes` | 3 |
# | **total** | **6** |
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
# ## 2.1 The rate formula (`loihi_rate`)
#
# A Loihi spiking ReLU neuron driven by a constant input current `J` adds `J * dt`
# to its voltage every time step, spikes when the voltage reaches 1 and then starts
# again from 0. Write `loihi_rate(current, dt=0.001)` that returns the neuron's
# firing rate in Hz for every element of the array `current` (same shape), as
# nengo-loihi's rate formula gives it:
#
# - 0 where `J <= 0`;
# - otherwise one spike every *k* steps, where *k* is the whole number of steps the
#   voltage needs to reach 1 (landing exactly on 1 counts as reaching it: at
#   `J = 250` and `dt = 0.001` that takes 4 steps); the rate is one spike per
#   `k * dt` seconds.
#
# Make it work for any `dt` and any array shape, without dividing by zero.

# %%
def loihi_rate(current, dt=0.001):
    """Firing rate (Hz) of Loihi's spiking ReLU neuron for constant inputs.

    Parameters
    ----------
    current : ndarray
        Input currents J.
    dt : float
        Time step (s).

    Returns
    -------
    ndarray of float, same shape as ``current``
    """
    raise NotImplementedError("loihi_rate: write your code here")


# %%
if __name__ == "__main__":
    currents = np.array([-10.0, 100.0, 400.0, 600.0, 900.0, 2000.0])
    print(loihi_rate(currents))


# %% [markdown]
# ## 2.2 Spikes, step by step (`loihi_spikes`)
#
# The same neuron, simulated. `current` now has shape `(n_steps, n_neurons)`: the
# input of every neuron at every step, which may change over time (and may be
# negative). At each step, for each neuron:
#
# 1. the voltage grows by `J * dt` (it starts at 0);
# 2. the neuron spikes if its voltage now **exceeds** 1;
# 3. the voltage never stays below 0 (a negative voltage is set back to 0), and a
#    neuron that spiked resets its voltage to 0.
#
# Write `loihi_spikes(current, dt=0.001)` that returns an array of shape
# `(n_steps, n_neurons)` holding 1 (or `True`) where a neuron spikes and 0 (or
# `False`) elsewhere.
#
# (Where the voltage lands exactly on 1, as for `J = 250` at `dt = 0.001`, this
# neuron waits one step longer than the rate formula of 2.1 says: nengo-loihi's
# formula and its neuron model disagree there, and the checker follows each.)

# %%
def loihi_spikes(current, dt=0.001):
    """Simulate Loihi's spiking ReLU neurons step by step.

    Parameters
    ----------
    current : ndarray, shape (n_steps, n_neurons)
        Input current of each neuron at each step.
    dt : float
        Time step (s).

    Returns
    -------
    ndarray of bool, shape (n_steps, n_neurons)
        True where a neuron spikes.
    """
    raise NotImplementedError("loihi_spikes: write your code here")


# %%
if __name__ == "__main__":
    steps = 20
    current = np.tile([300.0, 600.0, 1500.0], (steps, 1))
    spikes = loihi_spikes(current)
    print(spikes.sum(axis=0) / (steps * 0.001), "Hz over", steps, "steps")
    print(loihi_rate(current[0]), "Hz from the formula")

# %% tags=["k2l-check"]
# Check your answers: save this file (Ctrl+S / Cmd+S), then run this cell. It prints the
# same report as `k2l check` in a terminal. (Graders skip this cell.)
if __name__ == "__main__":
    from k2l_course.exercises.notebook_check import check_this

    check_this("ch2_activation", globals())
