"""Scores that do not flatter: interval, quantile, coverage by regime and its test, DM-HLN,
and the long-run variance they share (pure).

All inputs are prices on the same samples: actual (B, H), forecasts (B, H),
bounds (B, H) or bands (B, H, L). Results are per step unless said otherwise:
pooling the H steps of overlapping origins would count one market move H times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from marketcast.errors import MarketcastError

# A difference is called significant where its test's p-value is below this: every verdict
# in words (evaluation.verdicts) and every count of significant files (bench/) reads it here.
ALPHA = 0.05
# A test needs this many origins per step ahead (h - 1 autocovariances, estimated from n
# origins): below it the long-run variance is unreliable, and can collapse (h = 60 on 148
# origins gave 0.013 where Bartlett's gives 16.7: "DM -18.4, p < 0.001" for a forecast no
# better than persistence's), so the test is not made.
ORIGINS_PER_STEP = 10
# Forecasts closer than this (relative) are the same forecast: an ARIMA that settled on
# persistence differs from it by float noise, which a test would otherwise read.
SAME_FORECAST_RTOL = 1e-9


def same_forecast(forecast: np.ndarray, reference: np.ndarray) -> bool:
    """Whether two forecasts are one but for float noise (``SAME_FORECAST_RTOL``): no test
    compares them."""
    return bool(np.allclose(forecast, reference, rtol=SAME_FORECAST_RTOL, atol=0.0))


def significant_side(statistic: float, p_value: float | None) -> int:
    """-1 where a test's statistic is significantly negative (the forecast's loss is the
    smaller, a band covers less), +1 where significantly positive, 0 where not significant
    or not testable (``p_value`` None)."""
    if p_value is None or not p_value < ALPHA or not math.isfinite(statistic):
        return 0  # not testable, or a NaN from degenerate losses: no verdict
    return -1 if statistic < 0 else 1


def winkler_score(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, nominal: float
) -> np.ndarray:
    """(H,) mean interval (Winkler) score in % of the actual price, per step.

    Width, plus ``2 / alpha`` times the distance by which the actual falls
    outside (``alpha = 1 - nominal``): lower is better, and a band cannot win by
    being narrow and missing.
    """
    return np.mean(winkler_scores(actual, lower, upper, nominal), axis=0)


def winkler_scores(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, nominal: float
) -> np.ndarray:
    """(B, H) the interval (Winkler) score of every origin and step, in % of the actual."""
    if not 0 < nominal < 1:
        raise MarketcastError(f"nominal coverage {nominal} must lie in (0, 1), e.g. 0.8.")
    alpha = 1.0 - nominal
    penalty = np.maximum(lower - actual, 0) + np.maximum(actual - upper, 0)
    score = (upper - lower) + 2.0 / alpha * penalty
    return 100.0 * score / np.abs(actual)


def pinball_loss(actual: np.ndarray, bands: np.ndarray, levels: list[float]) -> np.ndarray:
    """(H, L) mean pinball (quantile) loss in % of the actual price, per step and level."""
    diff = actual[:, :, None] - bands  # -> (B, H, L)
    q = np.asarray(levels, dtype=float)[None, None, :]
    loss = np.maximum(q * diff, (q - 1.0) * diff)
    return 100.0 * np.mean(loss / np.abs(actual)[:, :, None], axis=0)


def inside(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Whether each actual lies inside its band, bounds included; any equal shapes."""
    return (actual >= lower) & (actual <= upper)


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(H,) share of actuals inside [lower, upper], per step."""
    return np.mean(inside(actual, lower, upper), axis=0)


def coverage_by_tercile(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, volatility: np.ndarray
) -> np.ndarray:
    """(3, H) coverage per step in the calm, middle and turbulent third of origins.

    ``volatility`` (B,) ranks the origins (any measure known at the origin,
    e.g. the EWMA window volatility); terciles are of this segment's origins.
    A band that covers 0.80 overall by covering 0.95 when calm and 0.60 when
    turbulent fails when it matters.
    """
    # by rank, not by quantile edges: tied volatilities (flat windows, a halt) fall into
    # thirds of equal size in time order instead of emptying one
    rank = np.argsort(np.argsort(volatility, kind="stable"), kind="stable")
    tercile = 3 * rank // len(rank)  # -> (B,) 0, 1, 2
    covered = inside(actual, lower, upper)
    return np.stack([covered[tercile == k].mean(axis=0) for k in range(3)])


@dataclass(frozen=True)
class DieboldMariano:
    """A Diebold-Mariano test of equal mean absolute error at one step."""

    statistic: float  # HLN-corrected; negative: the forecast has the smaller error
    p_value: float  # two-sided, Student-t with n - 1 degrees of freedom
    n: int
    step: int
    mean_difference: float  # mean |e_forecast| - |e_reference|, price units


def diebold_mariano_hln(
    actual: np.ndarray, forecast: np.ndarray, reference: np.ndarray, step: int
) -> DieboldMariano | None:
    """DM test with the Harvey-Leybourne-Newbold correction, at one forecast step.

    actual, forecast, reference: (B,) the ``step``-ahead values of consecutive
    origins. Loss: absolute error. The long-run variance of the loss
    differential sums its autocovariances up to lag ``step - 1`` (an h-step
    error of overlapping origins is MA(h - 1)), falling back to Bartlett weights
    if that sum is not positive. The statistic is scaled by
    ``sqrt((n + 1 - 2h + h(h - 1) / n) / n)`` and referred to t(n - 1).
    ``None`` below ``ORIGINS_PER_STEP`` origins per step ahead, or when the two forecasts
    are the same (within ``SAME_FORECAST_RTOL``).
    """
    if same_forecast(forecast, reference):
        return None
    d = np.abs(forecast - actual) - np.abs(reference - actual)  # -> (B,)
    return loss_difference_test(d, step)


def loss_difference_test(d: np.ndarray, step: int) -> DieboldMariano | None:
    """DM-HLN on a loss differential ``d`` (B,) of consecutive origins (forecast's loss
    minus the reference's, any loss), ``step`` ahead: ``diebold_mariano_hln`` on absolute
    errors, ``interval_score_test`` on interval scores."""
    n = len(d)
    if n < ORIGINS_PER_STEP * step or not np.any(d):
        return None
    variance = long_run_variance(d, step - 1)
    if variance <= 0:
        return None
    dm = d.mean() / math.sqrt(variance / n)
    correction = math.sqrt((n + 1 - 2 * step + step * (step - 1) / n) / n)
    statistic = float(dm * correction)
    p_value = float(2 * stats.t.sf(abs(statistic), df=n - 1))
    return DieboldMariano(statistic, p_value, n, step, float(d.mean()))


def long_run_variance(x: np.ndarray, lags: int) -> float:
    """The long-run variance of a series ``x`` (B,) of consecutive origins whose values
    overlap over ``lags`` origins (an h-step error or hit is MA(h - 1): lags = h - 1).

    Its autocovariances up to ``lags`` summed with equal weights (Bartlett's taper would
    down-weight exactly the overlap that makes them large, and call too much significant:
    a calibrated h = 5 band then fails the coverage test about twice as often as it
    should), falling back to Bartlett weights if that sum is not positive. May still be
    <= 0 for a degenerate series: the callers then do not test.
    """
    n = len(x)
    centred = x - x.mean()
    autocov = [centred @ centred / n] + [
        centred[k:] @ centred[:-k] / n for k in range(1, min(lags, n - 1) + 1)
    ]
    variance = autocov[0] + 2 * sum(autocov[1:])
    if variance <= 0:
        variance = autocov[0] + 2 * sum(
            (1 - k / (lags + 1)) * g for k, g in enumerate(autocov[1:], start=1)
        )
    return float(variance)


def diebold_mariano_per_step(
    actual: np.ndarray, forecast: np.ndarray, reference: np.ndarray
) -> list[DieboldMariano | None]:
    """``diebold_mariano_hln`` for each step 1..H of (B, H) arrays."""
    return [
        diebold_mariano_hln(actual[:, h], forecast[:, h], reference[:, h], h + 1)
        for h in range(actual.shape[1])
    ]


def interval_score_test(
    actual: np.ndarray, band: np.ndarray, reference: np.ndarray, nominal: float
) -> DieboldMariano | None:
    """DM-HLN of equal interval score: the outermost bounds of ``band`` against those of
    ``reference`` (both (B, H, L)) on ``actual`` (B, H). Each origin's loss is its mean
    score over the H steps (lag H - 1, as for overlapping h-step errors); a negative
    statistic: ``band`` scores lower (better)."""
    ours = winkler_scores(actual, band[..., 0], band[..., -1], nominal).mean(axis=1)
    theirs = winkler_scores(actual, reference[..., 0], reference[..., -1], nominal).mean(axis=1)
    return loss_difference_test(ours - theirs, actual.shape[1])


@dataclass(frozen=True)
class CoverageTest:
    """A test of an interval's coverage against its nominal share."""

    statistic: float  # (coverage - nominal) / its HAC standard error; > 0: covers more
    p_value: float  # two-sided, Student-t with n - 1 degrees of freedom
    n: int  # origins
    lags: int  # autocovariances in the long-run variance


def coverage_test(inside: np.ndarray, nominal: float) -> CoverageTest | None:
    """Is the share of outcomes inside the band (``inside`` (B, H) bool, consecutive
    origins) different from ``nominal``?

    Each origin counts once, by its share of steps covered. Misses cluster (a band that
    reacts late misses several days of a new regime in a row, and an origin's H steps
    share their moves), so the variance is the long-run one (``long_run_variance``) over
    ``max(H - 1, floor(4 (B / 100) ** (2 / 9)))`` lags rather than the binomial one, which
    would call too many chance deviations significant. ``None`` below ``ORIGINS_PER_STEP``
    origins per step ahead, or when every origin is covered alike (no variance to test with).
    """
    hits = np.asarray(inside, dtype=float).mean(axis=1) - nominal  # -> (B,)
    n = len(hits)
    if n < ORIGINS_PER_STEP * inside.shape[1]:
        return None
    lags = min(n - 1, max(inside.shape[1] - 1, math.floor(4 * (n / 100) ** (2 / 9))))
    variance = long_run_variance(hits, lags)
    if variance <= 0:
        return None
    statistic = float(hits.mean() / math.sqrt(variance / n))
    return CoverageTest(statistic, float(2 * stats.t.sf(abs(statistic), df=n - 1)), n, lags)
