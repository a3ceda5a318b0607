"""Where the book teaches the point of each graded item (one place).

The class report (:mod:`k2l_course.report`) links each item's most frequent
hints, the class's misconceptions, to the section of the chapter that
teaches what the item checks. ``tests/test_report.py`` proves that every
item of :func:`k2l_course.checks.items` has an entry here and that each
entry names a heading that exists in ``book/``.

:data:`SECTIONS` maps an item id (``exercise.name``) to ``(page, heading)``:
the book page (``book/<page>.md``) and the exact text of the heading, as
written in the page (without the leading ``#``). :func:`anchor` gives the
heading's anchor on the built site (MyST's ``myst_heading_anchors``).
"""

from __future__ import annotations

import re
import unicodedata

#: item id -> (book page, heading text)
SECTIONS = {
    "ch1_conversion.prepare_images": ("01-conversion", "The data, with a time axis"),
    "ch1_conversion.last_step_accuracy": ("01-conversion", "The output lag"),
    "ch2_activation.loihi_rate_formula": ("02-activation", "One spike per time step"),
    "ch2_activation.loihi_spike_train": ("02-activation", "One spike per time step"),
    "ch3_scaling.mean_active_rate": ("03-scaling", "One scale for the whole network"),
    "ch3_scaling.scales_for_target": ("03-scaling", "A scale for every layer"),
    "ch3_scaling.scaled_layer_output": ("03-scaling", "Re-measuring with Loihi neurons"),
    "ch4_training.layer_rates": ("04-training", "Firing-rate regularization"),
    "ch4_training.rate_penalty": ("04-training", "Firing-rate regularization"),
    "ch5_chip.block_shapes": ("05-chip", "Loihi's cores and `BlockShape`"),
    "ch5_chip.n_blocks": ("05-chip", "Loihi's cores and `BlockShape`"),
    "ch5_chip.presentation_predictions": ("05-chip", "Running on the emulator"),
}

#: Where an exercise's own chapter starts (for hidden checks without an entry).
CHAPTERS = {
    "ch1_conversion": ("01-conversion", "1. MNIST spiking conversion"),
    "ch2_activation": ("02-activation", "2. The Loihi activation profile"),
    "ch3_scaling": ("03-scaling", "3. Per-layer scaling"),
    "ch4_training": ("04-training", "4. Training with Loihi neurons"),
    "ch5_chip": ("05-chip", "5. Chip deployment"),
}


def anchor(heading):
    """The anchor of a heading on the built site.

    The GitHub-style slug that MyST gives headings with
    ``myst_heading_anchors`` (lower case, punctuation other than ``-`` and
    ``_`` removed, spaces as ``-``).
    """
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def section_of(exercise, name):
    """``(page, heading)`` teaching an item (its chapter for an item without an entry), or None."""
    return SECTIONS.get(f"{exercise}.{name}") or CHAPTERS.get(exercise)
