# %% [markdown]
# # Exercise 5: on the chip
#
# Chapter: [5. Chip deployment](../book/05-chip.md)
#
# On Loihi each layer is cut into **blocks**, one per core, and a core has fixed
# resources: compartments for its neurons, input and output axons, and a limited
# synapse memory for the weights of the connections into it. `nengo_loihi.BlockShape`
# says how a layer is cut. Choosing block shapes is a small design problem; the
# first function of this exercise is your answer to it, judged by nengo-loihi's own
# builder. Then you count blocks, and read the chip's answers from a run in which
# the images follow one another with no reset.
#
# **How to work.** Write each function where it says `raise NotImplementedError`,
# in Jupyter or in any editor. Cells that start with `if __name__ == "__main__":`
# are for trying your functions; the checker skips them. Write the functions
# yourself with NumPy: the course library has its own versions of some of them
# (the book and the checks use them), and calling those would skip the point of
# the exercise. Check your work with
#
# ```bash
# k2l check ch5_chip
# ```
#
# (the block-shape check builds the network with nengo-loihi: allow it a few
# seconds).

# %% [markdown]
# ## How this exercise is graded
#
# | function you write | points |
# |---|---|
# | `block_shapes` | 4 |
# | `n_blocks` | 2 |
# | `presentation_predictions` | 2 |
# | **total** | **8** |
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
# ## 5.1 Block shapes that fit (`block_shapes`)
#
# The course's network has three on-chip layers: `conv0` (output shape
# `(13, 13, 32)`: rows, columns, channels), `conv1` (`(6, 6, 64)`) and `dense0`
# (`(100,)`). The seed's block shapes, `k2l_course.chip.loihi.SEED_BLOCK_SHAPES`, fit every
# block on a core. Write `block_shapes()` returning a dict with a block shape (a
# tuple of ints) for each of the three layers such that
#
# - every block fits one core (nengo-loihi's validator accepts it), and
# - the three layers together take **fewer cores** than with the seed's shapes.
#
# Explore with the cell below: `chip_fit` builds the network with nengo-loihi and
# reports, per layer, the cores it takes and the most any one block uses of each
# resource against a core's limit.

# %%
def block_shapes():
    """Block shape (a tuple of ints) of each on-chip layer.

    Returns
    -------
    dict of str -> tuple of int
        Keys ``"conv0"``, ``"conv1"`` and ``"dense0"``.
    """
    raise NotImplementedError("block_shapes: write your code here")


# %%
if __name__ == "__main__":
    from k2l_course.exercises.checks.ch5_chip import chip_fit

    for layer, fit in chip_fit(block_shapes()).items():
        usage = ", ".join(f"{resource} {used}/{limit}" for resource, (used, limit) in fit["worst"].items())
        print(f"{layer}: {fit['blocks']} cores; most used by one block: {usage}")


# %% [markdown]
# ## 5.2 Counting blocks (`n_blocks`)
#
# `BlockShape(block_shape, layer_shape)` cuts a layer along each dimension into
# pieces of the block's size; where a dimension does not divide evenly, the last
# piece is smaller. Every piece is a block of its own, on a core of its own. Write
# `n_blocks(layer_shape, block_shape)` returning how many blocks (cores) the layer
# takes, as an int. Both shapes are tuples of the same length.

# %%
def n_blocks(layer_shape, block_shape):
    """Number of blocks (cores) a layer is split into.

    Parameters
    ----------
    layer_shape, block_shape : tuple of int

    Returns
    -------
    int
    """
    raise NotImplementedError("n_blocks: write your code here")


# %%
if __name__ == "__main__":
    print(n_blocks((13, 13, 32), (16, 16, 4)))


# %% [markdown]
# ## 5.3 Reading the chip's answers (`presentation_predictions`)
#
# On the chip the test images are presented one after another, each for
# `steps_per_image` steps, with no reset in between, and the output probe
# records the 10 logits at every step: `output` has shape
# `(n_images * steps_per_image, 10)`. Write
# `presentation_predictions(output, steps_per_image)` returning an int array of
# shape `(n_images,)`: the class the output picks at the **last** step of each
# presentation.

# %%
def presentation_predictions(output, steps_per_image):
    """Prediction of each presented image, from its last step.

    Parameters
    ----------
    output : ndarray, shape (n_images * steps_per_image, n_classes)
    steps_per_image : int

    Returns
    -------
    ndarray of int, shape (n_images,)
    """
    raise NotImplementedError("presentation_predictions: write your code here")


# %%
if __name__ == "__main__":
    # Two images of 3 steps: the second presentation starts on the first's answer.
    output = np.zeros((6, 10))
    output[:3, 4] = [0.2, 0.6, 0.9]
    output[3:, 4] = [0.8, 0.3, 0.1]
    output[3:, 7] = [0.1, 0.5, 0.9]
    print(presentation_predictions(output, 3))  # [4 7]

# %% tags=["k2l-check"]
# Check your answers: save this file (Ctrl+S / Cmd+S), then run this cell. It prints the
# same report as `k2l check` in a terminal. (Graders skip this cell.)
if __name__ == "__main__":
    from k2l_course.exercises.notebook_check import check_this

    check_this("ch5_chip", globals())
