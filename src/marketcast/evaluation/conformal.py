"""Conformal prediction bands around any point forecast, volatility-scaled and adaptive (pure).

Scores are volatility-scaled relative errors, ``(actual / forecast - 1) / scale``
(B, H), where ``scale`` (B,) is each origin's volatility in daily log-return
units: the EWMA window volatility of ``marketcast.evaluation.intervals.window_volatility``
or the GARCH one of ``marketcast.evaluation.peers.garch_volatility`` (or (B, H),
one per step, e.g. the square root of ``peers.garch_variance``); this module
takes the array and does not care which. A bound at quantile level ``q`` is
``forecast * (1 + Q_q(scores) * scale)``, per step.

``conformal_quantile`` is the finite-sample split-conformal quantile; the lower
and upper bounds of a band are two one-sided sets, each with its own tail.
``adaptive_bands`` is adaptive conformal inference (Gibbs & Candès 2021): each
bound's quantile level moves after every realised outcome, so coverage recovers
when the calibration stops describing the market.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marketcast.errors import MarketcastError


def conformal_quantile(scores: np.ndarray, level: float) -> np.ndarray:
    """Finite-sample conformal bound of ``scores`` (n,) or (n, H) at quantile ``level``.

    Upper bound (``level >= 0.5``): the ``ceil((n + 1) level)``-th smallest score,
    so that a new exchangeable score falls at or below it with probability
    ``>= level``; ``+inf`` when that rank exceeds n. Lower bound (``level < 0.5``):
    the mirror image, the ``ceil((n + 1)(1 - level))``-th largest score (``-inf``
    beyond n), so that a new score falls at or above it with probability
    ``>= 1 - level``. Returns a scalar array, or (H,).
    """
    ordered = np.sort(np.asarray(scores, dtype=float), axis=0)
    n = ordered.shape[0]
    if n == 0:
        raise MarketcastError("conformal calibration needs at least one score.")
    upper = level >= 0.5
    k = math.ceil((n + 1) * (level if upper else 1.0 - level) - 1e-9)  # float dust: 0.9*10
    if k > n:
        return np.full(ordered.shape[1:], np.inf if upper else -np.inf)
    return ordered[k - 1] if upper else ordered[n - k]


def relative_scores(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(B, H) volatility-scaled relative errors of forecasts (B, H) with scale (B,) or (B, H)."""
    return (actual / forecast - 1.0) / _check_scale(scale)


@dataclass(frozen=True)
class ScaledConformal:
    """Split-conformal bounds of volatility-scaled relative errors, per step and level."""

    levels: list[float]  # (L,) e.g. [0.1, 0.9]
    quantiles: list[list[float]]  # (H, L) conformal bounds of the scores
    volatility: str = "ewma"  # what scaled the scores: a label, for the run's metadata

    @classmethod
    def calibrate(
        cls,
        actual: np.ndarray,
        forecast: np.ndarray,
        scale: np.ndarray,
        levels: list[float],
        volatility: str = "ewma",
    ) -> ScaledConformal:
        """From a held-out segment: actual, forecast (B, H) prices; scale (B,)."""
        levels = check_levels(levels)
        scores = relative_scores(actual, forecast, scale)
        q = np.stack([conformal_quantile(scores, level) for level in levels], axis=1)  # (H, L)
        if not np.all(np.isfinite(q)):
            raise MarketcastError(
                f"{len(scores)} calibration samples are too few for levels {levels}: "
                f"use at least {math.ceil(1 / min(min(levels), 1 - max(levels)))} or wider levels."
            )
        return cls(levels, q.tolist(), volatility)

    def apply(self, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Bounds (B, H, L) in price units around forecasts (B, H) with scale (B,)."""
        q = np.asarray(self.quantiles)[None]  # -> (1, H, L)
        return forecast[:, :, None] * (1.0 + q * _check_scale(scale)[:, :, None])

    def to_dict(self) -> dict:
        return {"levels": self.levels, "quantiles": self.quantiles, "volatility": self.volatility}

    @classmethod
    def from_dict(cls, state: dict) -> ScaledConformal:
        return cls(
            list(state["levels"]),
            [list(r) for r in state["quantiles"]],
            state.get("volatility", "ewma"),
        )


@dataclass(frozen=True)
class AdaptiveState:
    """Adaptive conformal state: what a forecast needs to continue where evaluation stopped.

    ``tails`` (H, L): the current adapted tail probability of each bound (the
    nominal one is ``level`` for a lower bound, ``1 - level`` for an upper one);
    ``scores`` (n, H): the calibration scores the levels index into.
    """

    levels: list[float]
    gamma: float
    tails: list[list[float]]  # (H, L)
    scores: list[list[float]]  # (n, H)

    @classmethod
    def start(cls, calib_scores: np.ndarray, levels: list[float], gamma: float) -> AdaptiveState:
        """The state before any outcome: every bound at its nominal tail."""
        levels = check_levels(levels)
        if not 0 <= gamma < 1:
            raise MarketcastError(f"ACI gamma={gamma} must lie in [0, 1), e.g. 0.005.")
        scores = np.asarray(calib_scores, dtype=float)
        tails = np.tile(_nominal_tails(levels), (scores.shape[1], 1))  # -> (H, L)
        return cls(levels, float(gamma), tails.tolist(), scores.tolist())

    def apply(self, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Bounds (B, H, L) at the current adapted levels (forecast time: B origins, one date)."""
        ordered = np.sort(np.asarray(self.scores), axis=0)
        upper = np.asarray(self.levels) >= 0.5
        bounds = _bounds_at(ordered, np.asarray(self.tails), upper)
        return forecast[:, :, None] * (1.0 + bounds[None] * _check_scale(scale)[:, :, None])

    def to_dict(self) -> dict:
        return {
            "levels": self.levels,
            "gamma": self.gamma,
            "tails": self.tails,
            "scores": self.scores,
        }

    @classmethod
    def from_dict(cls, state: dict) -> AdaptiveState:
        return cls(
            list(state["levels"]),
            float(state["gamma"]),
            [list(r) for r in state["tails"]],
            [list(r) for r in state["scores"]],
        )


def adaptive_bands(
    forecast: np.ndarray,
    scale: np.ndarray,
    actual: np.ndarray,
    calib_scores: np.ndarray,
    levels: list[float],
    gamma: float,
    state: AdaptiveState | None = None,
) -> tuple[np.ndarray, AdaptiveState]:
    """ACI bands (B, H, L) over consecutive origins in time order, and the state after them.

    forecast, actual (B, H) prices; scale (B,); calib_scores (n, H) from
    ``relative_scores`` on the calibration segment. Each bound's tail
    probability ``a`` follows ``a <- a + gamma * (nominal - miss)`` (miss: the
    outcome fell outside that bound). The outcome of origin ``i`` at step ``h``
    is known only ``h`` rows later, so the bound of origin ``i`` at step ``h``
    has seen the misses of origins ``<= i - h`` only. The returned state has
    seen every outcome in ``actual`` (all are known after the segment).
    ``gamma = 0`` is the frozen split-conformal band. Where ``a`` leaves the
    range the calibration can resolve, the bound stops at the extreme score
    rather than becoming infinite. ``state`` continues an earlier run.
    """
    state = state or AdaptiveState.start(calib_scores, levels, gamma)
    ordered = np.sort(np.asarray(state.scores), axis=0)  # -> (n, H)
    tails = np.asarray(state.tails, dtype=float).copy()  # -> (H, L)
    nominal = _nominal_tails(state.levels)  # -> (L,)
    upper = np.asarray(state.levels) >= 0.5  # -> (L,)
    scores = relative_scores(actual, forecast, scale)  # -> (B, H) realised scores
    n_origins, horizon = forecast.shape
    if ordered.shape[1] != horizon:
        raise MarketcastError(
            f"calibration scores have {ordered.shape[1]} steps, forecasts {horizon}."
        )
    bounds = np.empty((n_origins, horizon, len(nominal)))  # scaled-score bounds
    miss = np.zeros_like(bounds, dtype=bool)

    def learn(i: int, h: int) -> None:
        tails[h] += state.gamma * (nominal - miss[i, h])

    for i in range(n_origins):
        for h in range(horizon):
            if i - h - 1 >= 0:  # origin i - (h + 1) at step h + 1 has just been realised
                learn(i - h - 1, h)
        bounds[i] = _bounds_at(ordered, tails, upper)
        miss[i] = np.where(upper, scores[i, :, None] > bounds[i], scores[i, :, None] < bounds[i])
    for h in range(horizon):  # the outcomes still pending at the segment's end are known now
        for i in range(max(n_origins - h - 1, 0), n_origins):
            learn(i, h)
    final = AdaptiveState(state.levels, state.gamma, tails.tolist(), state.scores)
    band = forecast[:, :, None] * (1.0 + bounds * _check_scale(scale)[:, :, None])
    return band, final


def _bounds_at(ordered: np.ndarray, tails: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(H, L) conformal bounds of sorted scores (n, H) at tail probabilities (H, L).

    ``upper`` (L,) marks the upper bounds. Ranks are clipped to [1, n]: a bound
    the calibration cannot resolve stops at the extreme score.
    """
    n = ordered.shape[0]
    k = np.clip(np.ceil((n + 1) * (1.0 - tails) - 1e-9).astype(int), 1, n)  # -> (H, L)
    rank = np.where(upper[None, :], k - 1, n - k)  # index into the sorted scores
    return np.take_along_axis(ordered, rank.T, axis=0).T  # -> (H, L)


def _nominal_tails(levels: list[float]) -> np.ndarray:
    q = np.asarray(levels, dtype=float)
    return np.where(q >= 0.5, 1.0 - q, q)


def check_levels(levels: list[float]) -> list[float]:
    """Sorted levels, or a MarketcastError naming the bad value."""
    if not levels or any(not 0 < q < 1 for q in levels):
        raise MarketcastError(
            f"interval levels {list(levels)} must be quantile levels in (0, 1), e.g. [0.1, 0.9]."
        )
    return sorted(float(q) for q in levels)


def _check_scale(scale: np.ndarray) -> np.ndarray:
    """(B, 1) or (B, H): one volatility per origin, or one per origin and step."""
    scale = np.asarray(scale, dtype=float)
    if scale.ndim not in (1, 2) or not np.all(scale > 0):
        raise MarketcastError("conformal scale must be (B,) or (B, H) positive volatilities.")
    return scale[:, None] if scale.ndim == 1 else scale
