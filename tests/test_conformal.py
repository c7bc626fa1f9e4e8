"""The finite-sample conformal quantile."""

from __future__ import annotations

import numpy as np
import pytest

from marketcast.errors import MarketcastError
from marketcast.evaluation.conformal import check_levels, conformal_quantile


def test_conformal_quantile_takes_the_finite_sample_rank():
    scores = np.array([5.0, 1, 9, 3, 7, 2, 8, 4, 6])  # n = 9, sorted 1..9
    assert conformal_quantile(scores, 0.9) == 9  # ceil(10 * 0.9) = 9th smallest
    assert conformal_quantile(scores, 0.8) == 8
    assert conformal_quantile(scores, 0.75) == 8  # ceil(7.5) = 8, not the 7 of np.quantile
    assert conformal_quantile(scores, 0.1) == 1  # 9th largest
    assert conformal_quantile(scores, 0.2) == 2
    assert conformal_quantile(scores[:4], 0.9) == np.inf  # ceil(4.5) = 5 > n
    assert conformal_quantile(scores[:4], 0.1) == -np.inf
    np.testing.assert_array_equal(
        conformal_quantile(np.stack([scores, -scores], axis=1), 0.8), [8, -2]
    )


def test_levels_are_sorted_and_bad_ones_named():
    assert check_levels([0.9, 0.1]) == [0.1, 0.9]
    with pytest.raises(MarketcastError, match=r"\[0.1, 1.2\] must be quantile levels"):
        check_levels([0.1, 1.2])
