"""The published intervals: GARCH- or EWMA-scaled, adaptive, saved and restored exactly."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from marketcast.errors import MarketcastError
from marketcast.evaluation.intervals import (
    CHECKPOINT_EVERY,
    Intervals,
    coverage,
    mean_width,
    ratio_scaled,
    recent_prices,
    shrunk,
    shrunk_ratios,
    variance_ratios,
    window_volatility,
)
from marketcast.evaluation.peers import MAX_SHOCK_WEIGHT, fit_garch, fit_problem, garch_scale

LEVELS = [0.1, 0.9]
# what a calibration of the ewma band takes beside its data (no GARCH variance to shape)
EWMA_SETTINGS = {
    "step_rates": "flat",
    "shrink": 0.0,
    "step_persistence": None,
    "variance_ratio": 0.0,
}


def test_coverage_on_known_quantiles():
    """N(0, 1) outcomes inside its own 10% and 90% quantiles: 80% of the time."""
    rng = np.random.default_rng(0)
    actual = rng.normal(size=200_000)
    z = 1.2815515655446004  # the 90% quantile of N(0, 1)
    assert coverage(actual, np.full_like(actual, -z), np.full_like(actual, z)) == pytest.approx(
        0.8, abs=0.005
    )
    assert coverage(
        np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 0.0]), np.array([1.0, 3.0, 2.0])
    ) == pytest.approx(1 / 3)


def test_width_in_percent():
    assert mean_width(np.array([99.0]), np.array([101.0]), np.array([100.0])) == pytest.approx(2)


def garch_prices(n: int, seed: int, omega=2e-6, alpha=0.08, beta=0.9, leverage=0.0) -> np.ndarray:
    """(n,) prices whose daily log returns follow a GJR-GARCH(1,1,1) with normal shocks
    (``leverage`` = 0: a GARCH(1,1))."""
    rng = np.random.default_rng(seed)
    var, returns = omega / (1 - alpha - leverage / 2 - beta), np.empty(n - 1)
    for i in range(n - 1):
        returns[i] = np.sqrt(var) * rng.standard_normal()
        var = omega + (alpha + leverage * (returns[i] < 0)) * returns[i] ** 2 + beta * var
    return 100 * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))


def garch_intervals(prices, train_stop, gamma=0.0, horizon=1, symbol="S", model="garch"):
    """Intervals with ``model`` parameters fitted on ``prices[:train_stop]``, nominal tails."""
    start = Intervals(LEVELS, horizon, 20, model, gamma)
    return start.with_symbol(symbol, fit_garch(prices, train_stop, model))


def persistence_band(intervals, prices, first, symbol="S"):
    """Bands around persistence for origins with first targets ``first``, adapted in order."""
    h = intervals.horizon
    centre = np.repeat(prices[first - 1][:, None], h, axis=1)
    actual = prices[first[:, None] + np.arange(h)]
    scale = intervals.scale(recent_prices(prices, first, intervals.rows), symbol)
    band, state = intervals.adapt(symbol, centre, scale, actual, days(first))
    return band, actual, state


def days(rows) -> list[str]:
    """Row numbers as the ISO days an interval state records (row 0: 2000-01-01)."""
    return [str((pd.Timestamp("2000-01-01") + pd.Timedelta(days=int(t))).date()) for t in rows]


@pytest.mark.parametrize(("model", "leverage"), [("garch", 0.0), ("gjr", 0.0), ("gjr", 0.1)])
@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_garch_band_covers_its_level_on_garch_returns(model, leverage):
    prices = garch_prices(6000, seed=1, alpha=0.08 - leverage / 2, leverage=leverage)
    intervals = garch_intervals(prices, 3000, model=model)
    band, actual, _ = persistence_band(intervals, prices, np.arange(3000, 5999))
    assert coverage(actual, band[..., 0], band[..., 1]) == pytest.approx(0.8, abs=0.03)
    # the band follows the volatility: widest where the filtered volatility is highest
    scale = garch_scale(
        intervals.band("S").garch, recent_prices(prices, np.arange(3000, 5999), 251), 1
    )
    width = (band[..., 1] - band[..., 0])[:, 0] / actual[:, 0]
    assert np.corrcoef(width, scale[:, 0])[0, 1] > 0.99


@pytest.mark.parametrize("model", ["garch", "gjr"])
def test_garch_scale_is_the_arch_filter_at_fixed_parameters(model):
    """The hand-written GARCH(1,1) / GJR-GARCH(1,1,1) recursion agrees with arch's own
    forecast (the variance forecast does not depend on the shocks' distribution)."""
    from arch import arch_model

    prices = garch_prices(1500, seed=2, alpha=0.04, leverage=0.08)
    params = fit_garch(prices, 1000, model)
    assert (params["gamma"] > 0.02) == (model == "gjr")  # the leverage is found where fitted
    returns = 100 * np.diff(np.log(prices))
    o = int(model == "gjr")
    spec = {"mean": "Zero", "vol": "GARCH", "p": 1, "o": o, "q": 1, "rescale": False}
    fixed = arch_model(returns, **spec).fix(
        [params["omega"] * 1e4, params["alpha"], *[params["gamma"]] * o, params["beta"]]
    )
    arch_var = fixed.forecast(horizon=3, start=1400, reindex=False).variance.to_numpy()
    first = np.arange(1402, 1497)  # arch's row j uses returns up to j: prices up to j + 1
    ours = garch_scale(params, recent_prices(prices, first, 251), 3) ** 2
    np.testing.assert_allclose(ours, np.cumsum(arch_var[: len(first)], axis=1) / 1e4, rtol=1e-3)


def test_a_fit_that_does_not_converge_falls_back_and_says_so(caplog):
    """A handful of distinct prices: the GJR-GARCH optimiser gives up; the symbol gets a
    GARCH(1,1) band and a warning naming it, rather than a broken band or a failed run."""
    prices = 100 + np.round(np.random.default_rng(1).normal(0, 0.3, 3000))
    with caplog.at_level("WARNING"):
        params = fit_garch(prices, 2000, "gjr", "ODD")
    assert "ODD: the gjr fit on 1999 training returns did not converge" in caplog.text
    assert "uses a garch fit instead" in caplog.text
    assert params["gamma"] == 0.0 and params["omega"] > 0
    with pytest.raises(MarketcastError, match="training prices of FLAT never move"):
        fit_garch(np.full(500, 50.0), 400, "gjr", "FLAT")


@pytest.mark.parametrize(("seed", "flat"), [(2, 500), (5, 700)])
def test_a_fit_arch_calls_converged_is_still_checked(caplog, seed, flat):
    """Flat for half or more of its rows, then noise: arch reports fits converged, but at
    alpha near 1 and beta near 0 (tomorrow's variance is today's squared move, so a flat
    day gets no band), or at its own starting values (nothing was fitted). Neither is used:
    the symbol gets a constant variance and a warning naming it and why. Which fit arch
    calls converged, and where it stops, differs from one CPU's floating point to another's
    (on an AMD EPYC the gjr fit did not converge where elsewhere it was degenerate): each
    reason on its own is the next test's."""
    rng = np.random.default_rng(seed)
    returns = np.concatenate([np.zeros(flat), rng.normal(0, 0.01, 1000 - flat)])
    prices = 100 * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    with caplog.at_level("WARNING"):
        params = fit_garch(prices, len(prices), "gjr", "HALF")
    converged = ("is degenerate (alpha + gamma/2 = ", "stopped at its starting values")
    for model in ("gjr", "garch"):
        said = [f"the {model} fit on 1000 training returns {r}" for r in ("did not converge",)]
        said += [f"the {model} fit on 1000 training returns {r}" for r in converged]
        assert any(s in caplog.text for s in said), caplog.text
    # at least one fit arch called converged was refused all the same
    assert any(f"fit on 1000 training returns {r}" in caplog.text for r in converged)
    assert "HALF: " in caplog.text and "uses a constant variance" in caplog.text
    assert params["alpha"] == params["gamma"] == params["beta"] == 0.0


@pytest.mark.parametrize(
    ("alpha", "gamma", "converged", "moved", "problem"),
    [
        (0.08, 0.06, True, True, ""),  # a usual equity fit: 0.11 of the variance is the shock
        (0.1, 0.0, False, True, "did not converge"),
        (0.1, 0.0, True, False, "stopped at its starting values"),
        (MAX_SHOCK_WEIGHT - 0.01, 0.0, True, True, ""),
        (MAX_SHOCK_WEIGHT, 0.0, True, True, "is degenerate (alpha + gamma/2 = 0.500 >= 0.5"),
        (0.3, 0.5, True, True, "is degenerate (alpha + gamma/2 = 0.550"),
        (float("nan"), 0.0, True, True, "gave unusable parameters"),
    ],
)
def test_each_fit_check_decides_on_its_own(alpha, gamma, converged, moved, problem):
    """The checks ``fit_garch`` applies to an arch fit, on parameters made here (the test
    above reaches them through arch's optimiser, which a new arch may steer elsewhere)."""
    params = {"omega": 2e-6, "alpha": alpha, "gamma": gamma, "beta": 0.85}
    start = np.array([0.05, 0.1, 0.0, 0.8])
    fitted = start + 0.01 if moved else start.copy()
    verdict = fit_problem(params, fitted, start, converged)
    assert verdict.startswith(problem) and (verdict == "") == (problem == "")


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_adaptive_calibration_recovers_after_a_volatility_jump():
    """A constant-volatility model (GARCH with alpha = beta = 0) and daily volatility
    jumping from 1% to 1.8%: the frozen band under-covers for good, the adapted one
    comes back to 80%."""
    rng = np.random.default_rng(3)
    vol = np.where(np.arange(5000) < 1000, 0.01, 0.018)
    prices = 100 * np.exp(np.cumsum(vol * rng.standard_normal(5000)))
    constant = {"omega": 1e-4, "alpha": 0.0, "beta": 0.0, "start": 1e-4}
    first = np.arange(1000, 5000)

    def band(gamma):
        intervals = Intervals(LEVELS, 1, 20, "garch", gamma).with_symbol("S", constant)
        return persistence_band(intervals, prices, first)

    frozen, actual, _ = band(0.0)
    adapted, _, state = band(0.01)
    late = slice(1000, None)  # once the adaptation has had time to act

    def cover(b):
        return coverage(actual[late], b[late, :, 0], b[late, :, 1])

    assert cover(frozen) < 0.65
    assert abs(cover(adapted) - 0.8) < 0.05
    assert np.all(np.asarray(state.band("S").tails) < 0.1)  # both bounds reach further out


def test_an_outcome_reaches_a_step_only_once_it_is_realised():
    prices = garch_prices(1200, seed=5)
    intervals = garch_intervals(prices, 800, gamma=0.05, horizon=3)
    first = np.arange(800, 1000)
    band, actual, _ = persistence_band(intervals, prices, first)
    centre = np.repeat(prices[first - 1][:, None], 3, axis=1)
    scale = intervals.scale(recent_prices(prices, first, intervals.rows), "S")
    i = 100
    for h in range(3):  # origin i at step h + 1 may see origins <= i - h - 1 only
        changed = actual.copy()
        changed[i - h :, h] *= 1.2
        band2, _ = intervals.adapt("S", centre, scale, changed, days(first))
        np.testing.assert_array_equal(band2[: i + 1, h], band[: i + 1, h])
        assert not np.array_equal(band2[i + 1 :, h], band[i + 1 :, h])


@pytest.mark.parametrize(("step_rates", "divisor"), [("inverse", [1, 2, 3]), ("flat", [1, 1, 1])])
def test_each_miss_moves_a_step_by_its_rate(step_rates, divisor):
    """Every outcome far above the band: the upper bound misses, the lower never does. By
    the last of n origins step h has seen n - h outcomes, each moving its tails by
    gamma / h (inverse) or gamma (flat, as runs saved before the choice adapt)."""
    n, gamma = 8, 0.01
    prices = garch_prices(1200, seed=7)
    intervals = replace(garch_intervals(prices, 800, gamma, horizon=3), step_rates=step_rates)
    first = np.arange(1000, 1000 + n)
    centre = np.repeat(prices[first - 1][:, None], 3, axis=1)
    scale = intervals.scale(recent_prices(prices, first, intervals.rows), "S")
    _, state = intervals.adapt("S", centre, scale, 2 * centre, days(first))
    rates = gamma / np.asarray(divisor, dtype=float)
    np.testing.assert_allclose(intervals.rates(), rates)
    seen = n - np.arange(1, 4)  # -> (H,) outcomes of step h realised by the last origin
    moved = np.asarray(state.band("S").tails) - 0.1  # -> (H, L): lower, upper
    np.testing.assert_allclose(moved[:, 0], rates * 0.1 * seen)  # never missed: narrower
    np.testing.assert_allclose(moved[:, 1], rates * -0.9 * seen)  # always missed: wider


@pytest.mark.parametrize("horizon", [1, 3])
def test_the_state_continues_where_it_stopped_and_round_trips(horizon):
    """Adapting over two halves equals adapting over the whole: predict, the test segment
    after validation and a backtest's next fold go on from a saved state, and the
    outcomes of its last origins that are realised after it (h > 1) still count. The
    state survives JSON exactly."""
    prices = garch_prices(1500, seed=6)
    intervals = garch_intervals(prices, 900, gamma=0.02, horizon=horizon)
    first = np.arange(900, 1400)
    whole, _, end = persistence_band(intervals, prices, first)
    head, _, mid = persistence_band(intervals, prices, first[:250])
    tail, _, end2 = persistence_band(mid, prices, first[250:])  # from the next origin on
    np.testing.assert_array_equal(np.concatenate([head, tail]), whole)
    assert end2.band("S").tails == end.band("S").tails
    assert end2.band("S").pending == end.band("S").pending
    assert np.any(end.band("S").pending)  # at least the last origin's step-1 outcome
    assert end.band("S").as_of == days(first[-1:])[0]
    again = Intervals.from_dict(json.loads(json.dumps(end.to_dict())))
    assert again == end


@pytest.mark.parametrize("horizon", [1, 3])
def test_the_test_segment_goes_on_from_validation_across_the_origins_between_them(horizon):
    """A run's segments leave horizon - 1 origins between them (their targets straddle the
    boundary). Resumed ``horizon`` origins on, the validation state's pending updates are all
    realised: the test band is the one an uninterrupted pass gives where those origins'
    own outcomes are unknown (NaN)."""
    prices = garch_prices(1500, seed=6)
    intervals = garch_intervals(prices, 900, gamma=0.02, horizon=horizon)
    first = np.arange(900, 1400)
    centre = np.repeat(prices[first - 1][:, None], horizon, axis=1)
    scale = intervals.scale(recent_prices(prices, first, intervals.rows), "S")
    actual = prices[first[:, None] + np.arange(horizon)]
    between = slice(250, 250 + horizon - 1)
    unknown = actual.copy()
    unknown[between] = np.nan
    whole, _ = intervals.adapt("S", centre, scale, unknown, days(first))
    val, state = intervals.adapt("S", centre[:250], scale[:250], actual[:250], days(first[:250]))
    test = slice(250 + horizon - 1, None)
    resumed = state.resume("S", horizon)
    bands, _ = state.adapt("S", centre[test], scale[test], actual[test], days(first[test]), resumed)
    np.testing.assert_allclose(
        np.concatenate([val, bands]),
        np.delete(whole, range(250, 250 + horizon - 1), axis=0),
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize("horizon", [1, 3])
def test_an_earlier_forecast_replays_from_the_checkpoint_before_it_not_from_the_end(horizon):
    """The saved state keeps the state at every CHECKPOINT_EVERY-th origin of the pass (its
    tails and the updates still pending from the origins before): an as_of anywhere
    inside the pass replays at most that many origins, from the one after the checkpoint
    before it, and gets the pass's own band at as_of exactly; one before the pass has no
    state that has not seen later outcomes (None)."""
    prices = garch_prices(1500, seed=6)
    intervals = garch_intervals(prices, 900, gamma=0.02, horizon=horizon)
    first = np.arange(900, 1400)
    whole, actual, end = persistence_band(intervals, prices, first)
    saved = end.band("S")
    assert [c.as_of for c in saved.checkpoints] == days(first[::CHECKPOINT_EVERY])
    latest = saved.state_at(days([1450])[0])
    assert (latest.tails, latest.as_of, latest.pending) == (saved.tails, saved.as_of, saved.pending)
    centre = np.repeat(prices[first - 1][:, None], horizon, axis=1)
    scale = end.scale(recent_prices(prices, first, end.rows), "S")
    for k in (0, 137, 200, 201, 321, 498):  # origins inside the pass
        state = saved.state_at(days([first[k]])[0])
        start = days(first).index(state.as_of)
        assert 0 <= k - start < CHECKPOINT_EVERY
        if k == start:  # as_of is the checkpoint's own origin: its tails serve as they are
            band = end._band(centre[[k]], scale[[k]], end._bounds_at(np.array(state.tails), None))
            np.testing.assert_array_equal(band[0], whole[k])
            continue
        part = slice(start + 1, k + 1)
        known = actual[part].copy()
        known[np.arange(k - start)[:, None] + np.arange(horizon) + 1 > k - start] = np.nan
        replayed, _ = end.adapt("S", centre[part], scale[part], known, days(first[part]), state)
        np.testing.assert_array_equal(replayed[-1], whole[k])
    stale, _ = end.adapt("S", centre[:1], scale[:1], actual[:1], days(first[:1]))
    assert not np.allclose(stale[0], whole[0])  # the end's tails have seen later outcomes
    assert saved.state_at(days([800])[0]) is None
    assert saved.earliest == intervals.band("S").tails


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_ewma_conformal_calibration_covers_and_narrows_in_calm_markets():
    """Relative errors proportional to each window's volatility: the band adapts to it."""
    rng = np.random.default_rng(7)

    def sample(n):
        vol = rng.uniform(0.005, 0.04, n)
        steps = rng.normal(0, 1, (n, 30)) * vol[:, None]
        history = 100 * np.exp(np.cumsum(steps, axis=1))
        centre = history[:, -1:].repeat(2, axis=1)
        actual = centre * (1 + rng.normal(0, 1, (n, 2)) * window_volatility(history)[:, None])
        return history, centre, actual

    history, centre, actual = sample(4000)
    dates = [str(i) for i in range(4000)]
    calibration = {"centre": centre, "actual": actual, "recent": history, "garch": None}
    intervals = Intervals.calibrate(
        LEVELS, 2, 30, "ewma", 0.0, {"S": {**calibration, "as_of": dates}}, **EWMA_SETTINGS
    )
    history, centre, actual = sample(4000)
    # adapt_rate 0: frozen, every origin at the calibrated quantiles
    bands, _ = intervals.adapt("S", centre, intervals.scale(history, "S"), actual, dates)
    assert bands.shape == (4000, 2, 2)
    assert coverage(actual, bands[..., 0], bands[..., 1]) == pytest.approx(0.8, abs=0.02)
    calm = window_volatility(history) < 0.01
    width = bands[..., 1] - bands[..., 0]
    assert width[calm].mean() < width[~calm].mean()


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_an_adapting_ewma_band_widens_past_its_largest_calibration_score():
    """30 calibration scores, then scores half as wide again: the band must widen beyond
    the largest of them (where the conformal quantile is infinite) to cover 80% again.
    Stuck at the calibration's extreme, it covered 0.72."""
    rng = np.random.default_rng(0)
    calibration = rng.normal(size=(30, 1))
    intervals = Intervals(
        LEVELS, 1, 20, "ewma", 0.005, scores=calibration.tolist(), step_rates="flat"
    ).with_symbol("S", None)
    n = 3000
    centre, scale = np.full((n, 1), 100.0), np.full((n, 1), 0.01)
    actual = centre * (1 + 1.5 * rng.normal(size=(n, 1)) * scale)
    bands, _ = intervals.adapt("S", centre, scale, actual, [str(i) for i in range(n)])
    assert bands[1000:, 0, 1].max() > 100 * (1 + 0.01 * calibration.max())
    assert coverage(actual[1000:], bands[1000:, :, 0], bands[1000:, :, 1]) == pytest.approx(
        0.8, abs=0.03
    )


def test_too_few_calibration_samples_for_the_levels_are_refused():
    a = np.ones((4, 1))
    state = {"centre": a, "actual": a * 1.01, "recent": np.full((4, 5), 100.0), "garch": None}
    with pytest.raises(MarketcastError, match="too few"):
        Intervals.calibrate(
            [0.05, 0.95],
            1,
            5,
            "ewma",
            0.0,
            {"S": {**state, "as_of": list("abcd")}},
            **EWMA_SETTINGS,
        )


def test_a_bad_method_or_rate_is_named():
    with pytest.raises(MarketcastError, match="'normal' is not one of"):
        Intervals(LEVELS, 1, 20, "normal")
    with pytest.raises(MarketcastError, match="adapt_rate=1.5"):
        Intervals(LEVELS, 1, 20, "garch", 1.5)
    with pytest.raises(MarketcastError, match="shrink=1.5"):
        Intervals(LEVELS, 1, 20, "garch", shrink=1.5)
    with pytest.raises(MarketcastError, match="shrink applies to .*not to ewma"):
        Intervals(LEVELS, 1, 20, "ewma", shrink=0.2)
    with pytest.raises(MarketcastError, match=r"step_persistence=1.0 must lie in \[0, 1\)"):
        Intervals(LEVELS, 5, 20, "gjr", step_persistence=1.0)
    with pytest.raises(MarketcastError, match="step_persistence applies to .*not to ewma"):
        Intervals(LEVELS, 5, 20, "ewma", step_persistence=0.9)
    with pytest.raises(MarketcastError, match="step_rates 'sqrt' is not one of"):
        Intervals(LEVELS, 5, 20, "gjr", step_rates="sqrt")
    with pytest.raises(MarketcastError, match=r"variance_ratio=1.5 must lie in \[0, 1\]"):
        Intervals(LEVELS, 5, 20, "gjr", variance_ratio=1.5)
    with pytest.raises(MarketcastError, match="variance_ratio applies to .*not to ewma"):
        Intervals(LEVELS, 5, 20, "ewma", variance_ratio=1.0)


def test_step_persistence_reverts_later_steps_to_the_trailing_year():
    """Step 1 is the GARCH forecast bit for bit; from step 2 the variance's deviation from
    the trailing year's mean squared return decays by min(p, rho) a step, so a shock's
    variance fades within days instead of weeks, towards the recent level rather than the
    training years'. A horizon-1 band is the GARCH band whatever the setting."""
    prices = garch_prices(1200, seed=5)
    prices[900:] = prices[899] * (prices[900:] / prices[899]) ** 0.5  # a calmer last year
    fitted = garch_intervals(prices, 800, horizon=5, model="gjr")
    reverting = replace(fitted, step_persistence=0.5)
    recent = recent_prices(prices, np.arange(1150, 1195), fitted.rows)
    before, after = fitted.scale(recent, "S"), reverting.scale(recent, "S")
    np.testing.assert_array_equal(after[:, 0], before[:, 0])
    returns = np.diff(np.log(recent), axis=1)
    level = np.nanmean(returns**2, axis=1)[:, None]  # the trailing year's daily variance
    garch = fitted.band("S").garch
    p = garch["alpha"] + garch["gamma"] / 2 + garch["beta"]
    assert p > 0.5
    by_hand = level + 0.5 ** np.arange(5) * (before[:, :1] ** 2 - level)  # per step
    np.testing.assert_allclose(after**2, np.cumsum(by_hand, axis=1), rtol=1e-12)
    # the fitted GARCH reverts towards its training years' level, above this calmer year's
    assert np.all(after[:, -1] < before[:, -1])
    # where the fit reverts faster than rho it keeps its own speed, towards the recent level
    assert p < 0.999
    slower = replace(fitted, step_persistence=0.999).scale(recent, "S")
    by_hand = level + p ** np.arange(5) * (before[:, :1] ** 2 - level)
    np.testing.assert_allclose(slower**2, np.cumsum(by_hand, axis=1), rtol=1e-12)
    # an origin with no known return keeps its GARCH scale
    lone = np.full((1, fitted.rows), np.nan)
    lone[0, -1] = 100.0
    np.testing.assert_array_equal(reverting.scale(lone, "S"), fitted.scale(lone, "S"))
    one = replace(fitted, horizon=1)
    np.testing.assert_array_equal(
        replace(one, step_persistence=0.5).scale(recent, "S"), one.scale(recent, "S")
    )


def test_shrink_pulls_the_garch_variance_toward_the_trailing_year():
    """share 0: the GARCH scale bit for bit; 1: the year's mean squared return per step;
    between: the variances mixed. Right after a burst of large moves the band narrows
    (a GARCH forecast over-reacts to it), after a calm stretch it widens."""
    rng = np.random.default_rng(11)
    moves = rng.normal(0, 0.01, 400)
    moves[240:250] *= 6  # a burst ten days before origin 250
    moves[330:] *= 0.3  # a calm stretch before origin 400
    prices = 100 * np.exp(np.concatenate([[0.0], np.cumsum(moves)]))
    intervals = Intervals(LEVELS, 3, 20, "gjr").with_symbol("S", fit_garch(prices, 240, "gjr"))
    first = np.array([251, 401])
    recent = recent_prices(prices, first, intervals.rows)
    scale = intervals.scale(recent, "S")
    assert shrunk(scale, recent, 0.0) is scale
    returns = np.diff(np.log(recent), axis=1)
    year = np.nanmean(returns**2, axis=1)[:, None] * np.arange(1, 4)
    np.testing.assert_allclose(shrunk(scale, recent, 1.0) ** 2, year)
    np.testing.assert_allclose(shrunk(scale, recent, 0.2) ** 2, 0.8 * scale**2 + 0.2 * year)
    mixed = replace(intervals, shrink=0.2).scale(recent, "S")
    np.testing.assert_allclose(mixed, shrunk(scale, recent, 0.2))
    assert mixed[0, 0] < scale[0, 0]  # after the burst
    assert mixed[1, 0] > scale[1, 0]  # after the calm stretch
    # an origin with no known return yet keeps its GARCH scale
    lone = np.full((1, intervals.rows), np.nan)
    lone[0, -1] = 100.0
    np.testing.assert_array_equal(shrunk(scale[:1], lone, 0.2), scale[:1])


def test_a_state_saved_before_shrink_and_step_persistence_loads_with_the_garch_scale():
    prices = garch_prices(900, seed=12)
    intervals = replace(
        garch_intervals(prices, 600, horizon=3, model="gjr"),
        shrink=0.2,
        step_persistence=0.9,
        step_rates="inverse",
        variance_ratio=1.0,
    )
    state = intervals.to_dict()
    assert Intervals.from_dict(json.loads(json.dumps(state))) == intervals
    newer = ("shrink", "step_persistence", "step_rates", "variance_ratio")
    old = Intervals.from_dict({k: v for k, v in state.items() if k not in newer})
    assert old.shrink == 0.0 and old.step_persistence is None and old.step_rates == "flat"
    assert old.variance_ratio == 0.0
    recent = recent_prices(prices, np.arange(600, 620), intervals.rows)
    np.testing.assert_array_equal(
        old.scale(recent, "S"), garch_scale(old.band("S").garch, recent, 3)
    )


def reversing_prices(n: int, seed: int, phi: float) -> np.ndarray:
    """(n,) prices whose daily log returns are AR(1) with coefficient ``phi`` and a
    volatility that drifts (so a GARCH fit has something to follow)."""
    rng = np.random.default_rng(seed)
    vol = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    returns = np.zeros(n)
    for i in range(1, n):
        returns[i] = phi * returns[i - 1] + vol[i] * rng.standard_normal()
    return 100 * np.exp(np.cumsum(returns))


def test_variance_ratios_read_reversal_and_trend_from_the_trailing_returns():
    """Lo-MacKinlay's ratio: 1 + 2 sum (1 - j/h) rho_j for AR(1) returns, so about 1 + phi
    at h = 2; 1 at h = 1 and for independent returns; 1 where too few returns are known."""
    rng = np.random.default_rng(3)
    n = 20_000
    for phi in (-0.4, 0.0, 0.3):
        returns = np.zeros(n)
        shocks = rng.normal(0, 0.01, n)
        for i in range(1, n):
            returns[i] = phi * returns[i - 1] + shocks[i]
        ratios = variance_ratios(returns[None], 3)[0]
        rho = phi ** np.arange(1, 3)
        expected = [1.0, 1 + rho[0], 1 + 2 * (2 / 3 * rho[0] + 1 / 3 * rho[1])]
        np.testing.assert_allclose(ratios, expected, atol=0.03)
        assert ratios[0] == 1.0
    # shrunk towards 1 by a year's sampling noise: a deviation within it counts for nothing
    year = np.full(3, 250)
    noise = 2 * 3 * 1 / (3 * 2 * 250)  # h = 2
    ratios = np.array([[1.0, 1 + 0.9 * np.sqrt(noise)], [1.0, 0.5], [1.0, 1.0]])
    shrunk = shrunk_ratios(ratios, year)
    assert shrunk[0, 1] == 1.0 and shrunk[2, 1] == 1.0
    assert shrunk[1, 1] == pytest.approx(1 - 0.5 * (1 - noise / 0.25))
    np.testing.assert_array_equal(shrunk[:, 0], 1.0)
    few = np.full((1, 250), np.nan)
    few[0, -59:] = rng.normal(0, 0.01, 59)
    np.testing.assert_array_equal(variance_ratios(few, 5), np.ones((1, 5)))
    few[0, -60:] = rng.normal(0, 0.01, 60)
    assert np.all(variance_ratios(few, 5)[0, 1:] != 1.0)


def test_variance_ratio_narrows_the_week_ahead_band_of_a_whipsaw_market():
    """Returns that reverse day to day (phi = -0.4): five days move much less than five
    independent days would, so the summed GARCH variance over-covers the 5-step band; scaled
    by the trailing year's variance ratio it covers near 80% and scores lower. Step 1 stays
    the GARCH band bit for bit, and weight 0 is the GARCH scale as it was."""
    from marketcast.evaluation.scores import winkler_score

    prices = reversing_prices(3000, seed=4, phi=-0.4)
    plain = garch_intervals(prices, 1500, horizon=5, model="gjr")
    ratio = replace(plain, variance_ratio=1.0)
    first = np.arange(1800, 2996)
    recent = recent_prices(prices, first, plain.rows)
    actual = prices[first[:, None] + np.arange(5)]
    centre = np.repeat(prices[first - 1][:, None], 5, axis=1)
    before, after = plain.scale(recent, "S"), ratio.scale(recent, "S")
    np.testing.assert_array_equal(after[:, 0], before[:, 0])
    assert ratio_scaled(before, recent, 0.0) is before
    np.testing.assert_allclose(after, ratio_scaled(before, recent, 1.0))
    dates = [str(i) for i in first]
    bands = {
        name: intervals.adapt("S", centre, scale, actual, dates)[0]
        for name, intervals, scale in (("plain", plain, before), ("ratio", ratio, after))
    }
    covered = {k: coverage(actual[:, 4], b[:, 4, 0], b[:, 4, 1]) for k, b in bands.items()}
    assert covered["plain"] > 0.9
    assert covered["ratio"] == pytest.approx(0.8, abs=0.04)
    score = {
        k: winkler_score(actual[:, 4], b[:, 4, 0], b[:, 4, 1], 0.8).mean() for k, b in bands.items()
    }
    assert score["ratio"] < score["plain"]
    # independent returns: the ratio stays near 1 and so does the band
    calm = garch_prices(1500, seed=6)
    fitted = garch_intervals(calm, 900, horizon=5, model="gjr")
    recent = recent_prices(calm, np.arange(1000, 1400), fitted.rows)
    change = replace(fitted, variance_ratio=1.0).scale(recent, "S") / fitted.scale(recent, "S")
    assert np.abs(np.median(change, axis=0) - 1).max() < 0.1


def test_one_scale_call_for_many_symbols_equals_one_call_each():
    """predict scales a whole universe's origins at once, each with its own parameters
    (B's as a run saved before the leverage term: no gamma, read as 0), with the defaults'
    trailing-year share and variance ratio, and A's history shorter than a year."""
    a, b = garch_prices(900, seed=8), reversing_prices(900, seed=9, phi=-0.4) * 3
    a[:480] = np.nan  # A's prices begin 120 rows before the first origin
    old = {k: v for k, v in fit_garch(b, 600, "garch").items() if k != "gamma"}
    fitted_a = fit_garch(a[480:], 100, "gjr")
    settings = {"shrink": 0.2, "step_persistence": 0.9, "variance_ratio": 1.0}
    intervals = Intervals(LEVELS, 3, 20, "gjr", **settings).with_symbols({"A": fitted_a, "B": old})
    first = np.arange(600, 650)
    ra, rb = (recent_prices(p, first, intervals.rows) for p in (a, b))
    both = intervals.scale(np.concatenate([ra, rb]), ["A"] * 50 + ["B"] * 50)
    np.testing.assert_array_equal(both[:50], intervals.scale(ra, "A"))
    np.testing.assert_array_equal(both[50:], intervals.scale(rb, "B"))
    assert not np.allclose(intervals.scale(ra, "A"), intervals.scale(ra, "B"))
    plain = replace(intervals, variance_ratio=0.0).scale(
        np.concatenate([ra, rb]), ["A"] * 50 + ["B"] * 50
    )
    assert not np.allclose(both[50:, 1:], plain[50:, 1:])  # B's ratio took part
