"""Conformal bands: the finite-sample quantile, scaled calibration, adaptive recovery."""

from __future__ import annotations

import json

import numpy as np
import pytest

from marketcast.errors import MarketcastError
from marketcast.evaluation.conformal import (
    AdaptiveState,
    ScaledConformal,
    adaptive_bands,
    conformal_quantile,
    relative_scores,
)


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


def test_too_few_calibration_samples_for_the_levels_are_refused():
    a = np.ones((4, 1))
    with pytest.raises(MarketcastError, match="too few"):
        ScaledConformal.calibrate(a * 1.01, a, np.full(4, 0.01), [0.05, 0.95])


def gaussian_samples(n: int, sd: float, seed: int, horizon: int = 1):
    """Forecast 100, actual 100 * (1 + sd * z), scale 0.01: (B, H), (B, H), (B,)."""
    rng = np.random.default_rng(seed)
    forecast = np.full((n, horizon), 100.0)
    actual = forecast * (1 + sd * rng.standard_normal((n, horizon)))
    return forecast, actual, np.full(n, 0.01)


def covered(actual, band):
    return np.mean((actual >= band[..., 0]) & (actual <= band[..., -1]), axis=0)


def test_scaled_calibration_covers_on_exchangeable_data_and_round_trips():
    forecast, actual, scale = gaussian_samples(400, 0.01, 0, horizon=2)
    cal = ScaledConformal.calibrate(actual, forecast, scale, [0.9, 0.1], volatility="garch")
    again = ScaledConformal.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal and again.levels == [0.1, 0.9]
    f2, a2, s2 = gaussian_samples(4000, 0.01, 1, horizon=2)
    assert np.all(np.abs(covered(a2, cal.apply(f2, s2)) - 0.8) < 0.03)


def test_adaptive_calibration_recovers_after_a_volatility_jump():
    cal_f, cal_a, cal_s = gaussian_samples(500, 0.01, 2)
    scores = relative_scores(cal_a, cal_f, cal_s)
    forecast, actual, scale = gaussian_samples(3000, 0.015, 3)  # volatility x1.5, scale unaware
    frozen, _ = adaptive_bands(forecast, scale, actual, scores, [0.1, 0.9], gamma=0.0)
    adapted, state = adaptive_bands(forecast, scale, actual, scores, [0.1, 0.9], gamma=0.01)
    late = slice(500, None)  # after the adaptation has had time to act
    assert abs(covered(actual[late], frozen[late])[0] - 0.8) > 0.1
    assert abs(covered(actual[late], adapted[late])[0] - 0.8) < 0.05
    assert np.all(np.asarray(state.tails) < 0.1)  # both tails now reach further out


def test_an_outcome_reaches_a_step_only_once_it_is_realised():
    cal_f, cal_a, cal_s = gaussian_samples(200, 0.01, 4, horizon=3)
    scores = relative_scores(cal_a, cal_f, cal_s)
    forecast, actual, scale = gaussian_samples(60, 0.01, 5, horizon=3)
    band, _ = adaptive_bands(forecast, scale, actual, scores, [0.1, 0.9], gamma=0.05)
    i = 40
    for h in range(3):  # origin i at step h + 1 may see origins <= i - h - 1 only
        changed = actual.copy()
        changed[i - h :, h] *= 1.2
        band2, _ = adaptive_bands(forecast, scale, changed, scores, [0.1, 0.9], gamma=0.05)
        np.testing.assert_array_equal(band2[: i + 1, h], band[: i + 1, h])
        assert not np.array_equal(band2[i + 1 :, h], band[i + 1 :, h])


def test_frozen_adaptive_bands_are_split_conformal_and_state_continues():
    cal_f, cal_a, cal_s = gaussian_samples(300, 0.01, 6, horizon=2)
    scores = relative_scores(cal_a, cal_f, cal_s)
    cal = ScaledConformal.calibrate(cal_a, cal_f, cal_s, [0.1, 0.9])
    forecast, actual, scale = gaussian_samples(50, 0.01, 7, horizon=2)
    band, state = adaptive_bands(forecast, scale, actual, scores, [0.1, 0.9], gamma=0.0)
    np.testing.assert_allclose(band, cal.apply(forecast, scale))
    _, state = adaptive_bands(forecast, scale, actual, scores, [0.1, 0.9], gamma=0.02)
    again = AdaptiveState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    # forecast time: the adapted levels alone give the next band
    nxt = again.apply(forecast[:1], scale[:1])
    assert nxt.shape == (1, 2, 2) and np.all(nxt[..., 0] < nxt[..., 1])
