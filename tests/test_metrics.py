import numpy as np
import pytest

from marketcast.evaluation.baselines import drift, persistence, window_mean
from marketcast.evaluation.metrics import (
    add_relative_mae,
    format_table,
    score,
    score_per_step,
    wilson_interval,
)
from marketcast.evaluation.scores import diebold_mariano_hln
from marketcast.evaluation.verdicts import direction_words, worth_words


def test_persistence_is_exact_on_a_constant_series():
    history = np.full((5, 10), 42.0)
    actual = np.full((5, 3), 42.0)
    result = score(actual, persistence(history, 3), history[:, -1], naive_mae=1.0)
    assert result["mae"] == 0 and result["rmse"] == 0 and result["mape"] == 0
    assert result["direction_accuracy"] is None  # a flat forecast makes no directional call


def test_a_forecast_that_is_persistence_but_for_float_noise_makes_no_directional_call():
    """ARIMA fitted as a random walk is persistence to the last bits of a float: the DM test
    called it identical, while its direction accuracy counted the noise as 157 calls."""
    rng = np.random.default_rng(0)
    last = 130_000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    actual = (last * np.exp(rng.normal(0, 0.01, 200)))[:, None]
    noisy = last[:, None] * (1 + rng.choice([-1, 1], (200, 1)) * 2e-15)  # a few ulps off
    assert not np.array_equal(noisy[:, 0], last)
    result = score(actual, noisy, last, naive_mae=1.0)
    assert result["direction_accuracy"] is None and result["direction_n"] == 0
    assert result["direction_ci"] is None
    moved = last[:, None] * (1 + rng.choice([-1, 1], (200, 1)) * 1e-6)  # 0.13 won: a call
    assert score(actual, moved, last, naive_mae=1.0)["direction_n"] == 200
    unmoved = last[:, None] * (1 + 2e-15)  # an actual price unchanged but for float noise
    assert score(unmoved, moved, last, naive_mae=1.0)["direction_n"] == 0


def test_drift_is_exact_on_a_straight_line():
    line = 3.0 + 0.5 * np.arange(30)
    history = np.stack([line[i : i + 10] for i in range(5)])  # -> (5, 10)
    actual = np.stack([line[i + 10 : i + 13] for i in range(5)])  # -> (5, 3)
    np.testing.assert_allclose(drift(history, 3), actual)
    result = score(actual, drift(history, 3), history[:, -1], naive_mae=0.5)
    assert result["mae"] == pytest.approx(0) and result["direction_accuracy"] == 1.0


def test_window_mean():
    history = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(window_mean(history, 2), [[2.0, 2.0]])


def test_metrics_by_hand():
    actual = np.array([[110.0], [90.0], [100.0], [104.0]])
    forecast = np.array([[105.0], [95.0], [98.0], [100.0]])
    last = np.array([100.0, 100.0, 99.0, 101.0])
    result = score(actual, forecast, last, naive_mae=2.0)
    assert result["mae"] == pytest.approx((5 + 5 + 2 + 4) / 4)
    assert result["rmse"] == pytest.approx(np.sqrt((25 + 25 + 4 + 16) / 4))
    assert result["mape"] == pytest.approx(100 * np.mean([5 / 110, 5 / 90, 2 / 100, 4 / 104]))
    assert result["mase"] == pytest.approx(4 / 2.0)
    # moves: up/up, down/down, down/up, down/up -> 2 of 4 right
    assert result["direction_accuracy"] == 0.5


def test_relative_mae_and_table():
    table = {"model": {"mae": 3.0}, "persistence": {"mae": 2.0}}
    add_relative_mae(table)
    assert table["model"]["rel_mae"] == 1.5 and table["persistence"]["rel_mae"] == 1.0
    text = format_table({"test": table})
    assert "persistence" in text and "1.5000" in text and "n/a" in text


def test_direction_in_words_falls_back_to_the_lstm_where_persistence_is_published():
    """The printed summary and report.md read one sentence (the summary said nothing where
    the published forecast was persistence, report.md gave the raw LSTM's)."""
    lstm = {"direction_accuracy": 0.529, "direction_n": 250, "direction_ci": [0.467, 0.590]}
    persistence = {"direction_accuracy": None, "direction_n": 0, "direction_ci": None}
    assert direction_words({"model": persistence, "lstm": lstm}) == (
        "the published forecast is persistence; the raw LSTM's direction accuracy 0.529 on "
        "250 moves; its 95% interval 0.467..0.590 contains 0.5: no evidence of directional "
        "skill"
    )
    skilled = {**lstm, "direction_ci": [0.51, 0.59], "direction_n_effective": 130.2}
    assert direction_words({"model": skilled}) == (
        "direction accuracy 0.529 on 250 moves, worth 130 independent calls; its 95% "
        "interval 0.510..0.590 excludes 0.5: significantly better than chance"
    )
    unskilled = {**lstm, "direction_accuracy": 0.45, "direction_ci": [0.41, 0.49]}
    assert direction_words({"model": unskilled}).endswith(
        "0.410..0.490 excludes 0.5: significantly worse than chance"
    )
    few = {**lstm, "direction_ci": None}
    assert direction_words({"model": few}).endswith(
        "too few origins per step ahead for an interval"
    )
    assert direction_words({"model": persistence}) is None


def test_wilson_interval_matches_the_textbook_value():
    # 52 of 100: the classic "0.52 is noise" case; Wilson 95% interval 0.4231..0.6153
    lo, hi = wilson_interval(52, 100)
    assert lo == pytest.approx(0.4231, abs=1e-4) and hi == pytest.approx(0.6153, abs=1e-4)
    assert lo < 0.5 < hi


def test_direction_interval_is_reported_with_its_count():
    actual = np.array([[101.0], [99.0], [102.0], [98.0]])
    forecast = np.array([[100.5], [99.5], [99.0], [101.0]])
    result = score(actual, forecast, np.full(4, 100.0), naive_mae=1.0)
    assert result["direction_n"] == 4 and result["direction_accuracy"] == 0.5
    assert worth_words(result) == ""  # one-step calls do not overlap: nothing to add
    assert worth_words({**result, "direction_n_effective": 2.4}) == ", worth 2 independent calls"
    lo, hi = result["direction_ci"]
    assert lo < 0.5 < hi
    # overlapping moves from too few origins: no interval (the long-run variance of 9
    # origins at h = 105 collapsed, and 945 moves "excluded 0.5")
    rng = np.random.default_rng(2)
    actual, forecast = 100 + rng.normal(0, 1, (9, 5)), 100 + rng.normal(0, 1, (9, 5))
    few = score(actual, forecast, np.full(9, 100.0), naive_mae=1.0)
    assert few["direction_accuracy"] is not None and few["direction_ci"] is None
    many = score(*(100 + rng.normal(0, 1, (50, 5)) for _ in range(2)), np.full(50, 100.0), 1.0)
    assert many["direction_ci"] is not None


def test_per_step_scores():
    actual = np.array([[1.0, 2.0], [1.0, 2.0]])
    forecast = np.array([[1.0, 3.0], [1.0, 1.0]])
    steps = score_per_step(actual, forecast, np.array([1.0, 1.0]), naive_mae=1.0)
    assert [s["mae"] for s in steps] == [0.0, 1.0]


def test_diebold_mariano_tells_a_better_forecast_from_noise():
    rng = np.random.default_rng(0)
    actual = rng.normal(100, 1, size=(500, 1))
    good = actual + rng.normal(0, 0.5, size=(500, 1))
    bad = actual + rng.normal(0, 1.5, size=(500, 1))
    same = bad + rng.normal(0, 0.01, size=(500, 1))
    clear = diebold_mariano_hln(actual[:, 0], good[:, 0], bad[:, 0], step=1)
    assert clear.statistic < -5 and clear.p_value < 1e-6
    noise = diebold_mariano_hln(actual[:, 0], same[:, 0], bad[:, 0], step=1)
    assert noise.p_value > 0.01
    assert diebold_mariano_hln(actual[:, 0], bad[:, 0], bad[:, 0], step=1) is None


def test_direction_intervals_of_overlapping_moves_hold_their_confidence():
    """A forecast that always says "up" on a driftless random walk is right half the time at
    every step. The step-5 moves of consecutive origins share four days, so 500 origins are
    far fewer than 500 independent calls: an interval that counts them as independent held
    0.5 in about two runs of three (the pooled one, over origins, in four of five)."""
    rng = np.random.default_rng(0)
    held_step, held_pooled, runs = 0, 0, 200
    for _ in range(runs):
        prices = 100 + np.cumsum(rng.normal(size=506))
        last = prices[:500]
        actual = np.lib.stride_tricks.sliding_window_view(prices[1:], 5)[:500]
        forecast = np.repeat(last[:, None] + 1, 5, axis=1)
        step5 = score_per_step(actual, forecast, last, naive_mae=1.0)[-1]
        lo, hi = step5["direction_ci"]
        held_step += lo <= 0.5 <= hi
        assert step5["direction_n_effective"] < step5["direction_n"] / 2  # overlapping moves
        lo, hi = score(actual, forecast, last, naive_mae=1.0)["direction_ci"]
        held_pooled += lo <= 0.5 <= hi
    assert held_step / runs > 0.9 and held_pooled / runs > 0.9


def test_independent_direction_calls_keep_the_plain_wilson_interval():
    rng = np.random.default_rng(1)
    last = np.full(400, 100.0)
    actual = last[:, None] + rng.choice([-1.0, 1.0], size=(400, 1))
    forecast = last[:, None] + rng.choice([-1.0, 1.0], size=(400, 1))
    result = score(actual, forecast, last, naive_mae=1.0)
    hits = round(result["direction_accuracy"] * 400)
    lo, hi = result["direction_ci"]
    # close to Wilson's on n calls, and never narrower: the effective size is at most n
    assert (lo, hi) == pytest.approx(wilson_interval(hits, 400), abs=0.01)
    assert hi - lo >= wilson_interval(hits, 400)[1] - wilson_interval(hits, 400)[0] - 1e-12
