"""Scores: Winkler, pinball, coverage by regime and its test, DM-HLN by hand, verdicts."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marketcast.evaluation import scores
from marketcast.evaluation.scores import (
    coverage_by_tercile,
    coverage_test,
    diebold_mariano_hln,
    diebold_mariano_per_step,
    interval_score_test,
    pinball_loss,
    significant_side,
    winkler_score,
)
from marketcast.evaluation.verdicts import dm_words, interval_words, p_words, score_test_words

# Forecast errors against an actual of 0 and a reference whose errors are all 1:
# d = |e| - 1 = [-.5, .5, -.8, -.1, .1, -.7, -.3, .4, -.4, -.2], mean -0.2.
ERRORS = np.array([0.5, 1.5, 0.2, 0.9, 1.1, 0.3, 0.7, 1.4, 0.6, 0.8])


def test_dm_hln_matches_the_hand_computed_value_at_step_one():
    # gamma_0 = 1.70 / 10 = 0.17; DM = -0.2 / sqrt(0.17 / 10) = -1.533930;
    # HLN factor sqrt((10 + 1 - 2) / 10) = 0.948683 -> -1.455214, t(9).
    dm = diebold_mariano_hln(np.zeros(10), ERRORS, np.ones(10), step=1)
    assert dm.statistic == pytest.approx(-1.455214, abs=1e-6)
    assert dm.p_value == pytest.approx(2 * stats.t.sf(1.455214, 9), abs=1e-6)
    assert dm.n == 10 and dm.mean_difference == pytest.approx(-0.2)


def test_dm_hln_at_step_two_uses_lag_one_and_bartlett_when_the_sum_is_negative(monkeypatch):
    # gamma_1 = -0.94 / 10: 0.17 + 2 (-0.094) < 0, so Bartlett: 0.17 - 0.094 = 0.076;
    # DM = -0.2 / sqrt(0.0076) = -2.294157; HLN sqrt((11 - 4 + 0.2) / 10) -> -1.946657.
    assert diebold_mariano_hln(np.zeros(10), ERRORS, np.ones(10), step=2) is None  # 5 a step
    monkeypatch.setattr(scores, "ORIGINS_PER_STEP", 5)  # the arithmetic, on 10 origins
    dm = diebold_mariano_hln(np.zeros(10), ERRORS, np.ones(10), step=2)
    assert dm.statistic == pytest.approx(-1.946657, abs=1e-6)
    assert dm.p_value == pytest.approx(2 * stats.t.sf(1.946657, 9), abs=1e-6)


def test_a_long_horizon_on_few_origins_is_not_tested():
    """h = 60 on 148 origins: the equal-weight long-run variance of 59 lags collapsed
    (0.013 against Bartlett's 16.7), and a forecast no better than persistence's was
    called "significantly better, p < 0.001"."""
    rng = np.random.default_rng(3)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 800)))
    step = 60
    origins = np.arange(100, 100 + 148)
    actual, last = prices[origins + step], prices[origins]
    noisy = last * np.exp(rng.normal(0, 0.002, len(origins)))  # persistence, jittered
    assert diebold_mariano_hln(actual, noisy, last, step) is None
    assert coverage_test(rng.random((148, step)) < 0.8, 0.8) is None
    origins = np.arange(100, 100 + 600)  # 10 origins a step: tested
    actual, last = prices[origins + step], prices[origins]
    noisy = last * np.exp(rng.normal(0, 0.002, len(origins)))
    assert diebold_mariano_hln(actual, noisy, last, step).n == 600
    # a forecast equal to the reference but for float noise is the same forecast
    assert diebold_mariano_hln(actual, last * (1 + 1e-13), last, 1) is None
    assert "fewer than 10 origins per step ahead" in dm_words(None, "model")


def test_dm_per_step_and_verdicts_read_both_ways():
    rng = np.random.default_rng(0)
    actual = rng.normal(0, 1, (300, 2))
    good = actual + rng.normal(0, 0.5, actual.shape)
    bad = actual + rng.normal(0, 2.0, actual.shape)
    same = actual + rng.normal(0, 1.0, actual.shape)
    reference = actual + rng.normal(0, 1.0, actual.shape)
    better, worse = (diebold_mariano_per_step(actual, f, reference) for f in (good, bad))
    assert len(better) == 2 and better[1].step == 2
    assert dm_words(asdict(better[0]), "ets").startswith(
        "ets: significantly better than persistence (DM -"
    )
    assert "ets: significantly worse than persistence at step 2 (DM +" in dm_words(
        asdict(worse[1]), "ets"
    )
    tie = diebold_mariano_hln(actual[:, 0], same[:, 0], reference[:, 0], 1)
    assert tie.p_value > 0.05 and significant_side(tie.statistic, tie.p_value) == 0
    assert dm_words(asdict(tie), "lstm", "ridge") == (
        f"lstm: no significant difference from ridge (DM {tie.statistic:+.2f}, "
        f"p = {tie.p_value:.3f})"
    )
    assert diebold_mariano_hln(actual[:, 0], reference[:, 0], reference[:, 0], 1) is None
    assert "not testable" in dm_words(None, "lstm")


def test_one_rule_decides_significance_either_way():
    assert significant_side(-2.5, 0.012) == -1 and significant_side(2.5, 0.012) == 1
    assert significant_side(-2.5, 0.05) == 0  # at the threshold: not significant
    assert significant_side(float("nan"), None) == 0  # not testable
    assert significant_side(2.0, float("nan")) == 0  # degenerate losses: no verdict either
    assert p_words(float("nan")) == "p undefined"
    assert p_words(0.0004) == "p < 0.001" and p_words(0.0371) == "p = 0.037"
    # Never a rounded 0.050 beside "significantly": the digits keep the side of 0.05.
    assert p_words(0.0497) == "p = 0.0497" and p_words(0.04996) == "p = 0.04996"
    assert p_words(0.0503) == "p = 0.050"  # 0.050 and not significant: consistent


def test_winkler_score_charges_width_plus_misses():
    actual = np.array([[100.0], [100.0]])
    lower, upper = np.array([[99.0], [101.0]]), np.array([[101.0], [103.0]])
    # inside: width 2; below by 1 at nominal 0.8: 2 + 2 / 0.2 * 1 = 12; mean 7 on a price of 100
    np.testing.assert_allclose(winkler_score(actual, lower, upper, 0.8), [7.0])


def test_pinball_loss_per_level():
    actual = np.array([[100.0]])
    bands = np.array([[[98.0, 101.0]]])  # q10 below by 2, q90 above by 1
    # level 0.1: 0.1 * 2 = 0.2; level 0.9: (0.9 - 1) * (-1) = 0.1; in % of 100
    np.testing.assert_allclose(pinball_loss(actual, bands, [0.1, 0.9]), [[0.2, 0.1]])


def test_coverage_by_tercile_shows_a_band_that_fails_when_turbulent():
    volatility = np.arange(9.0)
    actual = np.zeros((9, 1))
    lower = np.full((9, 1), -1.0)
    upper = np.array([1, 1, 1, 1, 1, -0.5, -0.5, -0.5, 1.0])[:, None]  # misses 5..7
    out = coverage_by_tercile(actual, lower, upper, volatility)
    np.testing.assert_allclose(out[:, 0], [1.0, 2 / 3, 1 / 3])


def test_coverage_by_tercile_splits_tied_volatilities_into_equal_thirds():
    """Flat windows (a halt) tie at one volatility: the thirds keep equal sizes, in time
    order among the ties, instead of leaving the calm third empty (NaN coverage)."""
    volatility = np.r_[np.full(15, 1e-4), np.linspace(0.01, 0.02, 15)]
    actual = np.zeros((30, 1))
    upper = np.r_[np.ones(5), -np.ones(25)][:, None]  # the first 5 origins covered
    out = coverage_by_tercile(actual, np.full((30, 1), -1.0), upper, volatility)
    np.testing.assert_allclose(out[:, 0], [0.5, 0.0, 0.0])


def test_coverage_test_matches_the_hand_computed_value():
    # 12 origins, h = 1, misses at 3 and 4: hits - 0.8 = +0.2 x 10, -0.8 x 2, mean 1/30.
    # lags: max(0, floor(4 (0.12) ** (2/9))) = 2, the autocovariances summed with equal
    # weights (their sum is positive here: no Bartlett fallback).
    inside = np.ones((12, 1), dtype=bool)
    inside[[3, 4]] = False
    c = np.where(inside[:, 0], 0.2, -0.8) - 1 / 30
    gamma = [c @ c / 12, c[1:] @ c[:-1] / 12, c[2:] @ c[:-2] / 12]
    variance = gamma[0] + 2 * (gamma[1] + gamma[2])
    assert variance > 0
    statistic = (1 / 30) / math.sqrt(variance / 12)
    test = coverage_test(inside, 0.8)
    assert test.lags == 2 and test.n == 12
    assert test.statistic == pytest.approx(statistic)
    assert test.p_value == pytest.approx(2 * stats.t.sf(statistic, 11))


def test_coverage_test_tells_a_miscalibrated_band_from_chance():
    rng = np.random.default_rng(3)
    calibrated = rng.random((2000, 1)) < 0.8
    too_wide = rng.random((2000, 1)) < 0.86
    assert coverage_test(calibrated, 0.8).p_value > 0.05
    wide = coverage_test(too_wide, 0.8)
    assert wide.p_value < 0.01 and wide.statistic > 0
    assert coverage_test(calibrated[:9], 0.8) is None  # too few origins


def test_clustered_misses_are_not_counted_as_independent_evidence():
    # Misses in runs of 10 days (a band that reacts late to a new regime): 0.85 coverage
    # over 400 origins. The binomial test calls it significant; the same hits, shuffled
    # to be independent, too; in runs they are 40 pieces of evidence, not 400.
    runs = np.ones(40, dtype=bool)
    runs[[2, 9, 16, 23, 30, 37]] = False
    inside = np.repeat(runs, 10)[:, None]
    shuffled = np.random.default_rng(0).permutation(inside)
    assert stats.binomtest(int(inside.sum()), 400, 0.8).pvalue < 0.05
    assert coverage_test(shuffled, 0.8).p_value < 0.05
    assert coverage_test(inside, 0.8).p_value > 0.1


def test_a_calibrated_week_ahead_band_passes_the_coverage_test_about_as_often_as_it_should():
    """h = 5 bands that are calibrated by construction (normal moves, exact quantiles): the
    overlapping steps' hits are strongly autocorrelated, and a taper that down-weights
    that overlap rejected about twice as often as the 5% the test claims."""
    rng = np.random.default_rng(8)
    steps = np.arange(1, 6)
    rejected = 0
    for _ in range(300):
        moves = np.lib.stride_tricks.sliding_window_view(rng.normal(size=505), 5)[:500]
        inside = np.abs(moves.cumsum(axis=1)) <= stats.norm.ppf(0.9) * np.sqrt(steps)
        rejected += coverage_test(inside, 0.8).p_value < 0.05
    assert rejected / 300 < 0.075  # Bartlett weights over 5 lags: about 0.08..0.09


def test_interval_score_test_prefers_the_calibrated_band_and_reads_both_ways():
    rng = np.random.default_rng(1)
    actual = 100 * np.exp(rng.normal(0, 0.01, (500, 1)))
    z = stats.norm.ppf([0.1, 0.9])
    calibrated = 100 * np.exp(0.01 * z)[None, None, :].repeat(500, axis=0)
    too_wide = 100 * np.exp(0.03 * z)[None, None, :].repeat(500, axis=0)
    dm = interval_score_test(actual, calibrated, too_wide, 0.8)
    assert dm.statistic < 0 and dm.p_value < 0.01
    assert interval_score_test(actual, calibrated, calibrated, 0.8) is None
    better = {"score_vs_reference": {"band": "garch", "statistic": -3.0, "p_value": 0.003}}
    tie = {"score_vs_reference": {"band": "garch", "statistic": -1.1, "p_value": 0.27}}
    assert score_test_words(better) == (
        "published band: significantly lower than the GARCH(1,1) band's (DM -3.00, p = 0.003)"
    )
    assert score_test_words(tie) == (
        "published band: no significant difference from the GARCH(1,1) band's (DM -1.10, p = 0.270)"
    )


def test_interval_words_put_the_coverage_test_in_words_either_way():
    interval = {"nominal": 0.8, "coverage": 0.866, "width_pct": 2.0}
    over = {**interval, "coverage_test": {"statistic": 2.5, "p_value": 0.013, "n": 200}}
    fine = {**interval, "coverage_test": {"statistic": 1.2, "p_value": 0.23, "n": 200}}
    assert "covers 86.6% of outcomes (significantly more than 80%, p = 0.013)" in (
        interval_words(over)
    )
    assert "(no significant difference from 80%, p = 0.230)" in interval_words(fine)
    assert "significant" not in interval_words(interval)  # a state without the test


def test_interval_scores_of_two_origins_have_no_thirds():
    """A third of two origins is empty: its NaN made metrics.json unwritable (exit 1)."""
    import json

    from marketcast.evaluation.scoring import interval_scores

    actual = np.array([[100.0], [101.0]])
    bands = np.stack([actual - 1, actual + 1], axis=-1)  # (2, 1, 2)
    scored = interval_scores(actual, bands, [0.1, 0.9], np.array([0.01, 0.02]))
    assert scored["coverage_by_tercile"] is None and scored["coverage"] == 1.0
    json.dumps(scored, allow_nan=False)
    three = interval_scores(
        np.array([[100.0], [101.0], [99.0]]),
        np.stack([np.full((3, 1), 99.5), np.full((3, 1), 100.5)], axis=-1),
        [0.1, 0.9],
        np.array([0.01, 0.02, 0.03]),
    )
    assert three["coverage_by_tercile"] == [1.0, 0.0, 0.0]


def test_the_headline_test_skips_the_same_forecast_where_errors_are_zero():
    """The same-forecast rule compared errors on the whole-horizon test: on an unchanged
    price (won prices, in tens) persistence's error is 0, no tolerance is relative to 0,
    and an ARIMA at persistence but for float noise was tested ("ARIMA 1.0000 (0.26)")."""
    from marketcast.evaluation.scoring import _dm

    rng = np.random.default_rng(5)
    prices = np.round(50_000 * np.exp(np.cumsum(rng.normal(0, 0.01, 401))), -1)
    prices[rng.random(401) < 0.03] = np.nan  # 3% unchanged days
    prices = pd.Series(prices).ffill().to_numpy()
    actual, last = prices[1:, None], prices[:-1, None]
    noisy = last * (1 + 1e-13 * rng.normal(size=last.shape))
    assert (actual == last).any() and not (noisy == last).all()
    assert _dm(actual, noisy, last) is None
    assert _dm(actual, last * 1.001, last) is not None  # a forecast that moves is tested


def test_a_global_models_mean_takes_each_symbols_scalars_whatever_the_first_holds():
    """A test made on one symbol (a dict) and not on another (None: its forecast at
    persistence) crashed a global model's run after training ('dict' / 'int'), or
    vanished from the mean where the untested symbol came first."""
    from marketcast.evaluation.scoring import mean_over

    untested = {"arima": {"mape": 1.0, "rel_mae": 1.0, "dm_vs_persistence": None}}
    tested = {"arima": {"mape": 3.0, "rel_mae": 0.9, "dm_vs_persistence": {"statistic": 1.0}}}
    for tables in ([untested, tested], [tested, untested]):
        assert mean_over(tables) == {"arima": {"mape": 2.0, "rel_mae": pytest.approx(0.95)}}
    both = {"arima": {"mape": 1.0, "direction_accuracy": None}}
    assert mean_over([both, both]) == {"arima": {"mape": 1.0, "direction_accuracy": None}}


def test_a_global_models_mean_interval_holds_its_thirds_and_pinball_losses():
    """The mean over symbols of an interval kept coverage, width and score only: the
    coverage per volatility third and the pinball loss per level were per symbol alone."""
    from marketcast.evaluation.scoring import mean_over

    def band(coverage, thirds, pinball):
        return {
            "levels": [0.1, 0.9], "nominal": 0.8, "coverage": coverage, "width_pct": 2.0,
            "winkler_pct": 3.0, "coverage_by_tercile": thirds, "pinball_pct": pinball,
        }  # fmt: skip

    tables = [
        {"model": {"mape": 1.0, "interval": band(0.8, [0.7, 0.8, 0.9], [0.3, 0.4])}},
        {"model": {"mape": 1.0, "interval": band(0.9, None, [0.5, 0.6])}},  # too few origins
    ]
    mean = mean_over(tables)["model"]["interval"]
    assert mean["coverage"] == pytest.approx(0.85)
    assert mean["coverage_by_tercile"] == pytest.approx([0.7, 0.8, 0.9])  # the one that has it
    assert mean["pinball_pct"] == pytest.approx([0.4, 0.5])


def test_a_global_models_mean_holds_no_price_units():
    """The mean over symbols averaged MAE and RMSE of a won stock with dollar ones
    (895.83 = (2683.54 KRW + 1.22 USD + 2.73 USD) / 3) and the call counts (473.33)."""
    from marketcast.evaluation.scoring import mean_over

    won = {"lstm": {"mae": 2683.54, "rmse": 3000.0, "rel_mae": 0.99, "direction_n": 800}}
    dollars = {"lstm": {"mae": 1.22, "rmse": 1.5, "rel_mae": 1.01, "direction_n": 300}}
    assert mean_over([won, dollars]) == {"lstm": {"rel_mae": pytest.approx(1.0)}}
