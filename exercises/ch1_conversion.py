# %% [markdown]
# # Exercise 1: MNIST, shaped for a spiking network
#
# Chapter: [1. MNIST spiking conversion](../book/01-conversion.md)
#
# A Keras network sees one image and answers once. Its spiking twin, simulated by
# nengo-dl, runs through *time*: every image is shown for a number of time steps
# (1 ms each), and the network's output is recorded by a probe at every step. Two
# small functions sit on either side of every simulation in this course: one shapes
# the images for the simulator, the other reads the answer from the probe. You
# write both.
#
# **How to work.** Write each function where it says `raise NotImplementedError`,
# in Jupyter or in any editor. Cells that start with `if __name__ == "__main__":`
# are for trying your functions; the checker skips them. Write the functions
# yourself with NumPy: the course library has its own versions of some of them
# (the book and the checks use them), and calling those would skip the point of
# the exercise. Check your work with
#
# ```bash
# k2l check ch1_conversion
# ```
#
# which calls your functions on test inputs and prints, per item, pass or fail,
# the points and a hint.

# %% [markdown]
# ## How this exercise is graded
#
# | function you write | points |
# |---|---|
# | `prepare_images` | 2 |
# | `last_step_accuracy` | 2 |
# | **total** | **4** |
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
# ## 1.1 Images as input sequences (`prepare_images`)
#
# nengo-dl feeds a network with arrays of shape `(examples, time steps, inputs)`.
# Write `prepare_images(images, n_steps)` that takes MNIST images of shape
# `(n, 28, 28)` (`uint8` pixels, 0-255) and returns a `float32` array of shape
# `(n, n_steps, 784)`:
#
# - each image flattened row by row into 784 pixels, images in their order;
# - the same image at every one of the `n_steps` time steps (the network watches
#   a still image for the whole presentation);
# - pixel values unchanged, 0-255: the course's network was trained on raw pixels.

# %%
def prepare_images(images, n_steps):
    """Shape MNIST images as input sequences for nengo-dl.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, 28, 28)
    n_steps : int
        Time steps each image is shown for.

    Returns
    -------
    ndarray of float32, shape (n, n_steps, 784)
    """
    raise NotImplementedError("prepare_images: write your code here")


# %%
if __name__ == "__main__":
    from k2l_course.pipeline.data import load_mnist

    test_images = load_mnist().test_images[:3]
    x = prepare_images(test_images, n_steps=5)
    print(x.shape, x.dtype, x.min(), x.max())  # (3, 5, 784) float32 0.0 255.0


# %% [markdown]
# ## 1.2 Accuracy at the last time step (`last_step_accuracy`)
#
# The output probe of a converted network records the 10 logits at every time
# step: an array of shape `(n, n_steps, 10)`. A spiking network needs some time to
# respond to a new image, so early steps are unreliable; the course reads each
# prediction at the **last** step. Write `last_step_accuracy(output, labels)` that
# returns the fraction (between 0 and 1) of examples whose prediction at the last
# step equals their label (`labels` has shape `(n,)`).

# %%
def last_step_accuracy(output, labels):
    """Accuracy of the predictions read at the last time step.

    Parameters
    ----------
    output : ndarray, shape (n, n_steps, n_classes)
        Output probe data.
    labels : ndarray of int, shape (n,)

    Returns
    -------
    float
        Fraction of correct predictions, between 0 and 1.
    """
    raise NotImplementedError("last_step_accuracy: write your code here")


# %%
if __name__ == "__main__":
    # Two examples, three steps: the first settles on class 1 (its label), the
    # second starts on class 0 and ends on class 2 (its label is 0).
    output = np.zeros((2, 3, 10))
    output[0, :, 1] = [0.2, 0.8, 1.0]
    output[1, :, 0] = [1.0, 0.4, 0.1]
    output[1, :, 2] = [0.0, 0.5, 0.9]
    print(last_step_accuracy(output, np.array([1, 0])))  # 0.5

# %% tags=["k2l-check"]
# Check your answers: save this file (Ctrl+S / Cmd+S), then run this cell. It prints the
# same report as `k2l check` in a terminal. (Graders skip this cell.)
if __name__ == "__main__":
    from k2l_course.exercises.notebook_check import check_this

    check_this("ch1_conversion", globals())
