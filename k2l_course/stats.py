"""Accuracies with their uncertainty.

Every accuracy the course reports is a count of correct answers out of ``n``
test images, shown with a 95% Wilson score interval: with n = 100 an accuracy
of 96% is compatible with anything from about 90% to 98%.
"""

from __future__ import annotations

import dataclasses
import math

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(correct, n, z=Z95):
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    correct : int
        Number of successes, 0 <= correct <= n.
    n : int
        Number of trials, n > 0.
    z : float
        Normal quantile (1.96 for 95%).

    Returns
    -------
    (float, float)
        Lower and upper bound, in [0, 1].
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= correct <= n:
        raise ValueError(f"correct={correct} must lie between 0 and n={n}")
    p = correct / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """An accuracy measured on ``n`` examples, with its 95% Wilson interval."""

    correct: int
    n: int

    @property
    def value(self):
        """The fraction correct."""
        return self.correct / self.n

    @property
    def interval(self):
        """The 95% Wilson interval, as fractions."""
        return wilson_interval(self.correct, self.n)

    @classmethod
    def from_predictions(cls, predictions, labels):
        """Count matching predictions and labels (1-D arrays of equal length)."""
        import numpy as np

        predictions = np.asarray(predictions).ravel()
        labels = np.asarray(labels).ravel()
        if predictions.shape != labels.shape:
            raise ValueError(f"{predictions.shape[0]} predictions for {labels.shape[0]} labels")
        return cls(int((predictions == labels).sum()), int(labels.size))

    @classmethod
    def from_fraction(cls, fraction, n):
        """From a reported fraction (e.g. Keras's accuracy metric) over ``n`` examples."""
        return cls(int(round(fraction * n)), n)

    def to_dict(self):
        """Plain data for JSON: correct, n, accuracy and interval bounds."""
        lo, hi = self.interval
        return {"correct": self.correct, "n": self.n, "accuracy": self.value, "ci95": [lo, hi]}

    def __str__(self):
        lo, hi = self.interval
        return f"{100 * self.value:.1f}% (n={self.n}, 95% CI {100 * lo:.1f}-{100 * hi:.1f})"
