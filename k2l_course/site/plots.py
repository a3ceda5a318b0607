"""The course's figures.

Each function takes data (an :class:`~k2l_course.pipeline.evaluation.Evaluation`, a
chip run's output, arrays of rates) and returns a ``matplotlib`` figure; the
chapters compute, these functions only draw. Figures have a white background
and dark text, so they read the same in the book's light and dark themes, and
every axis is labelled.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import functools

import numpy as np

from k2l_course.pipeline.model import NEURON_LAYERS
from k2l_course.pipeline.rates import DT, FAITHFUL_RATE

#: Colour of each neuron layer, the same in every figure.
LAYER_COLORS = dict(zip(NEURON_LAYERS, ("#1b9e77", "#d95f02", "#7570b3", "#e7298a")))
#: Ten distinguishable colours for the digits 0-9 (matplotlib's tab10).
DIGIT_COLORS = tuple(f"C{i}" for i in range(10))
#: Neurons whose activity a layer panel shows at most.
MAX_NEURONS_SHOWN = 40

_STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "text.color": "#222222",
    "axes.labelcolor": "#222222",
    "axes.edgecolor": "#444444",
    "xtick.color": "#222222",
    "ytick.color": "#222222",
    "axes.titlesize": "medium",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "figure.dpi": 100,
}


def _styled(draw):
    """Run a drawing function under the course's style (rc settings apply when artists are made)."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            fig = draw(*args, **kwargs)
        fig.set_facecolor("white")
        return fig

    return wrapper


def _figure(width, height):
    """A figure that pyplot does not manage.

    In a notebook it is shown once, as the cell's value (or by ``glue``), and
    never again by the inline backend; it is freed like any Python object.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure(nrows=1, ncols=1, width=8.0, height=3.0, **kwargs):
    """A new figure with a grid of axes, in the course's style.

    Parameters
    ----------
    nrows, ncols : int
    width, height : float
        Size in inches.
    **kwargs
        Passed to ``Figure.subplots``.

    Returns
    -------
    (Figure, Axes or ndarray of Axes)
    """
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        fig = _figure(width, height)
        axes = fig.subplots(nrows, ncols, **kwargs)
    fig.set_facecolor("white")
    return fig, axes


def softmax(logits, axis=-1):
    """Numerically stable softmax of network outputs (logits)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


@_styled
def sample_digits(images, labels, n=6):
    """The first ``n`` images with their labels.

    Parameters
    ----------
    images : ndarray, shape (m, 28, 28)
    labels : ndarray, shape (m,)
    n : int

    Returns
    -------
    Figure
    """
    n = min(n, len(images))
    fig, axes = figure(1, n, width=1.5 * n, height=1.9)
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"label {int(labels[i])}")
        ax.set_axis_off()
    return fig


def _is_spiking(settings):
    return settings.get("neuron") in ("spiking-relu", "loihi-relu", "SpikingRectifiedLinear", "LoihiSpikingRectifiedLinear")


def _active_columns(activity, limit=MAX_NEURONS_SHOWN):
    """Indices of up to ``limit`` neurons that were active at some step."""
    active = np.flatnonzero((np.asarray(activity) > 0).any(axis=0))
    return active[:limit]


@_styled
def network_activity(evaluation, image, example=0, title=None):
    """One example's input, each layer's activity over time, and the output probabilities.

    Spiking layers are drawn as rasters (a dot for each step in which a neuron
    spiked; bigger dots for several spikes in one step), rate layers as rate
    curves. At most :data:`MAX_NEURONS_SHOWN` active neurons per layer are shown.

    Parameters
    ----------
    evaluation : k2l_course.pipeline.evaluation.Evaluation
        With ``activities`` and ``output`` kept for ``example``.
    image : ndarray, shape (28, 28)
        The example's input image.
    example : int
    title : str, optional

    Returns
    -------
    Figure
    """
    spiking = _is_spiking(evaluation.settings)
    layers = [name for name in NEURON_LAYERS if name in evaluation.activities]
    fig = _figure(10, 1.45 * len(layers) + 0.9)
    grid = fig.add_gridspec(len(layers), 3, width_ratios=(0.8, 1.6, 1.4))
    ax_img = fig.add_subplot(grid[:, 0])
    ax_img.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r", vmin=0, vmax=255)
    ax_img.set_title(f"input (label {int(evaluation.labels[example])})")
    ax_img.set_axis_off()
    n_steps = evaluation.output.shape[1]
    steps = np.arange(1, n_steps + 1)
    first = None
    for row, name in enumerate(layers):
        ax = fig.add_subplot(grid[row, 1], sharex=first)
        first = first or ax
        activity = np.asarray(evaluation.activities[name][example])  # (steps, neurons), Hz
        cols = _active_columns(activity)
        if spiking:
            counts = np.rint(activity[:, cols] * DT)
            t, j = np.nonzero(counts)
            sizes = 6 + 6 * np.minimum(counts[t, j] - 1, 4)  # bigger for several spikes in a step
            ax.scatter(steps[t], j, s=sizes, color=LAYER_COLORS[name], linewidths=0)
            ax.set_ylim(-1, max(len(cols), 1))
            ax.set_ylabel(f"{name}\nneuron")
        else:
            ax.plot(steps, activity[:, cols], color=LAYER_COLORS[name], lw=0.8, alpha=0.7)
            ax.set_ylabel(f"{name}\nrate (Hz)")
        if row < len(layers) - 1:
            ax.tick_params(labelbottom=False)
    ax.set_xlabel("time step (1 ms)")
    ax_out = fig.add_subplot(grid[:, 2])
    probs = softmax(evaluation.output[example])
    for digit in range(probs.shape[1]):
        ax_out.plot(steps, probs[:, digit], color=DIGIT_COLORS[digit], lw=1.5, label=str(digit))
    ax_out.set_ylim(-0.02, 1.02)
    ax_out.set_xlabel("time step (1 ms)")
    ax_out.set_ylabel("probability (softmax of output)")
    ax_out.set_title(f"output: predicts {int(np.argmax(probs[-1]))} at the last step")
    ax_out.legend(title="digit", ncols=2, fontsize="small", loc="center right")
    kind = "spikes of up to %d active neurons" % MAX_NEURONS_SHOWN if spiking else "rates of active neurons"
    fig.suptitle(title or f"{evaluation.settings.get('neuron')}: {kind}")
    return fig


@_styled
def activation_profiles(panels, max_rate=None):
    """Firing rate against input for standard and Loihi neurons, one panel per pair.

    Parameters
    ----------
    panels : sequence of (title, x, curves)
        ``x`` the input values, ``curves`` a dict of label -> rates (Hz), drawn
        in order (the first solid, the next dashed).
    max_rate : float, optional
        Draw a horizontal line at this rate (e.g. Loihi's 1000 Hz ceiling).

    Returns
    -------
    Figure
    """
    fig, axes = figure(1, len(panels), width=5 * len(panels), height=3.4)
    styles = ({"lw": 2.2, "color": "#555555"}, {"lw": 1.6, "color": "#d95f02", "ls": "-"})
    for ax, (title, x, curves) in zip(np.atleast_1d(axes), panels):
        for (label, rates), style in zip(curves.items(), styles):
            ax.plot(x, rates, label=label, **style)
        if max_rate is not None:
            ax.axhline(max_rate, color="#999999", lw=0.8, ls=":")
        ax.set_title(title)
        ax.set_xlabel("input current J (gain 1, bias 0)")
        ax.set_ylabel("firing rate (Hz)")
        ax.legend(loc="upper left")
    return fig


@_styled
def discretized_rates(current, exact, loihi, safe_rate=FAITHFUL_RATE, dt=DT):
    """Loihi's rate plateaus against the ideal ReLU, with the 1/(k dt) levels marked.

    Parameters
    ----------
    current : ndarray
        Input currents.
    exact, loihi : ndarray
        Rates (Hz) of the ideal ReLU and of Loihi's spiking ReLU at ``current``.
    safe_rate : float
        Rate below which the two agree well enough; shaded above.
    dt : float

    Returns
    -------
    Figure
    """
    fig, ax = figure(width=8, height=3.6)
    ax.plot(current, exact, color="#555555", lw=2, label="ReLU: rate = J")
    ax.plot(current, loihi, color="#d95f02", lw=1.6, label="Loihi: 1 / (dt ceil(1 / (J dt)))")
    top = float(np.max(loihi))
    for k in range(1, 8):
        level = 1 / (k * dt)
        if level <= top * 1.05:
            ax.axhline(level, color="#bbbbbb", lw=0.6, ls=":")
            ax.text(current[-1], level, f" 1/{k} step", va="center", fontsize="x-small", color="#555555")
    ax.axhspan(safe_rate, ax.get_ylim()[1], color="#d95f02", alpha=0.07, lw=0)
    ax.axhline(safe_rate, color="#d95f02", lw=0.8, ls="--")
    ax.set_xlabel("input current J")
    ax.set_ylabel("firing rate (Hz)")
    ax.set_title(f"above {safe_rate:.0f} Hz the rate moves in steps")
    ax.legend(loc="upper left")
    return fig


@_styled
def layer_rates(rates_by_setting, target=None, safe_rate=FAITHFUL_RATE, seed=None):
    """Mean firing rate of each layer's active neurons, for several settings.

    A silent layer (0 Hz) gets no bar but the word "silent".

    Parameters
    ----------
    rates_by_setting : dict of str -> dict of str -> float
        setting label -> layer -> mean rate (Hz).
    target : float, optional
        A target rate to mark.
    safe_rate : float, optional
        Loihi's safe ceiling to mark.
    seed : dict of str -> sequence of float, optional
        setting label -> the reference's rates per layer, drawn as black marks.

    Returns
    -------
    Figure
    """
    fig, ax = figure(width=8.5, height=4.2)
    settings = list(rates_by_setting)
    width = 0.8 / max(len(settings), 1)
    x = np.arange(len(NEURON_LAYERS))
    floor = 1.0  # Hz: the bottom of the log axis
    for i, label in enumerate(settings):
        values = np.array([float(rates_by_setting[label].get(name, 0.0)) for name in NEURON_LAYERS])
        centers = x + (i - (len(settings) - 1) / 2) * width
        ax.bar(centers, np.where(values > 0, values, np.nan), width, bottom=0, label=label, color=f"C{i}")
        for c, v in zip(centers, values):
            if not v > 0:
                ax.text(c, floor * 1.15, "silent", rotation=90, ha="center", va="bottom", fontsize="x-small", color=f"C{i}")
        if seed and label in seed:
            ax.scatter(centers, seed[label], marker="_", s=250, color="#222222", zorder=3,
                       label="reference" if i == next(j for j, s_ in enumerate(settings) if s_ in seed) else None)
    if target is not None:
        ax.axhline(target, color="#333333", lw=1, ls="--", label=f"target {target:g} Hz")
    if safe_rate is not None:
        ax.axhline(safe_rate, color="#d95f02", lw=1, ls=":", label=f"{safe_rate:g} Hz")
    ax.set_yscale("log")
    top = max([floor * 10] + [float(v) for r in rates_by_setting.values() for v in r.values()])
    ax.set_ylim(floor, top * 3)
    ax.set_xticks(x, NEURON_LAYERS)
    ax.set_xlabel("layer")
    ax.set_ylabel("mean rate of active neurons (Hz)")
    ax.legend(fontsize="small", ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    return fig


@_styled
def rate_distributions(rates_by_setting, low=None, high=None, bins=40):
    """Histogram of per-neuron firing rates in each layer, for several settings.

    Parameters
    ----------
    rates_by_setting : dict of str -> dict of str -> ndarray
        setting label -> layer -> rates (Hz) of active neurons (any shape).
    low, high : float, optional
        A target range to shade.
    bins : int

    Returns
    -------
    Figure
    """
    fig, axes = figure(1, len(NEURON_LAYERS), width=12, height=3.0, sharey=False)
    edges = np.linspace(0, 1000, bins + 1)
    for ax, name in zip(axes, NEURON_LAYERS):
        for i, (label, by_layer) in enumerate(rates_by_setting.items()):
            values = np.ravel(by_layer[name])
            weights = np.full(values.shape, 100.0 / max(values.size, 1))
            ax.hist(values, bins=edges, weights=weights, histtype="step", lw=1.6, color=f"C{i}", label=label)
        if low is not None and high is not None:
            ax.axvspan(low, high, color="#888888", alpha=0.15, lw=0)
        ax.set_title(name)
        ax.set_xlabel("rate (Hz)")
    axes[0].set_ylabel("% of active neurons")
    axes[-1].legend(fontsize="small")
    return fig


@_styled
def chip_output(output, images, labels=None, steps_per_image=30, dt=DT, predictions=None):
    """The emulated chip's output over a run: the presented digits above, the output traces below.

    Parameters
    ----------
    output : ndarray, shape (n_images * steps_per_image, 10)
        The output probe over the whole run (logits).
    images : ndarray, shape (n_images, 28, 28)
        The presented images, in order.
    labels : ndarray, optional
    steps_per_image : int
    dt : float
    predictions : ndarray, optional
        Predicted digit of each presentation, shown under its image.

    Returns
    -------
    Figure
    """
    output = np.asarray(output)
    n = len(images)
    fig = _figure(max(8.0, 1.1 * n), 4.6)
    grid = fig.add_gridspec(2, 1, height_ratios=(1, 2.2))
    ax_img = fig.add_subplot(grid[0])
    strip = np.concatenate([np.asarray(im).reshape(28, 28) for im in images], axis=1)
    ax_img.imshow(strip, cmap="gray_r", vmin=0, vmax=255, aspect="auto", extent=(0, n * steps_per_image, 28, 0))
    ax_img.set_xlim(0, n * steps_per_image)
    ax_img.set_yticks([])
    ax_img.set_xticks([])
    if labels is not None or predictions is not None:
        for i in range(n):
            parts = []
            if labels is not None:
                parts.append(f"label {int(labels[i])}")
            if predictions is not None:
                parts.append(f"chip {int(predictions[i])}")
            ax_img.text((i + 0.5) * steps_per_image, 30, "\n".join(parts), ha="center", va="top", fontsize="small", clip_on=False)
    ax_img.set_title("presented images (PresentInput, 30 ms each)")
    ax = fig.add_subplot(grid[1])
    steps = np.arange(1, len(output) + 1)
    for digit in range(output.shape[1]):
        ax.plot(steps, output[:, digit], color=DIGIT_COLORS[digit], lw=1.1, label=str(digit))
    for i in range(1, n):
        ax.axvline(i * steps_per_image, color="#bbbbbb", lw=0.6, ls=":")
    ax.set_xlim(0, n * steps_per_image)
    ax.set_xlabel(f"time step ({dt * 1000:g} ms)")
    ax.set_ylabel("output (logits)")
    ax.legend(title="digit", ncols=5, fontsize="small", loc="upper left", bbox_to_anchor=(0, -0.22))
    return fig


@_styled
def accuracy_comparison(rows):
    """Measured accuracies with their 95% intervals beside the seed's published ones.

    Parameters
    ----------
    rows : sequence of (label, Accuracy, seed_accuracy or None)
        ``Accuracy`` from :mod:`k2l_course.stats`; ``seed_accuracy`` a fraction.

    Returns
    -------
    Figure
    """
    fig, ax = figure(width=8.5, height=0.45 * len(rows) + 1.2)
    y = np.arange(len(rows))[::-1]
    for yi, (label, acc, seed_value) in zip(y, rows):
        lo, hi = acc.interval
        ax.errorbar(
            100 * acc.value, yi, xerr=[[100 * (acc.value - lo)], [100 * (hi - acc.value)]], fmt="o",
            color="C0", capsize=3, label="this build (95% CI)" if yi == y[0] else None,
        )
        if seed_value is not None:
            ax.scatter(100 * seed_value, yi, marker="x", color="#d95f02", zorder=3, label="seed" if yi == y[0] else None)
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set_xlabel("test accuracy (%)")
    ax.set_xlim(-2, 102)
    ax.legend(loc="lower left", fontsize="small")
    return fig
