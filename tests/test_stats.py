"""Accuracies carry n and a 95% Wilson interval."""

import numpy as np
import pytest
from scipy.stats import binomtest

from k2l_course.stats import Accuracy, wilson_interval


@pytest.mark.parametrize("k,n", [(96, 100), (0, 5), (5, 5), (89, 100), (9836, 10000), (1, 3)])
def test_wilson_matches_scipy(k, n):
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_five_of_five_says_little():
    lo, hi = wilson_interval(5, 5)
    assert lo < 0.6 and hi == 1.0


def test_bad_counts_are_rejected():
    with pytest.raises(ValueError):
        wilson_interval(3, 0)
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


def test_accuracy_from_predictions_and_text():
    acc = Accuracy.from_predictions(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4]))
    assert (acc.correct, acc.n, acc.value) == (3, 4, 0.75)
    assert str(acc).startswith("75.0% (n=4, 95% CI ")
    assert acc.to_dict()["ci95"][0] < 0.75 < acc.to_dict()["ci95"][1]


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError):
        Accuracy.from_predictions([1, 2], [1, 2, 3])
