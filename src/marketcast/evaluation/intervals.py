"""Prediction intervals: split-conformal, scaled by each window's volatility (pure).

Calibration takes a segment the model did not train on (validation): for each
step ``h`` the relative errors ``actual / forecast - 1`` are divided by the
volatility of the input window (an exponentially weighted average of its
squared daily log returns), and their empirical quantiles are kept. An interval for a new window
is ``forecast * (1 + q * volatility)``: wider in turbulent markets, narrower in
calm ones, with the coverage measured on recent data rather than assumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from marketcast.errors import MarketcastError

EWMA_DECAY = 0.94  # RiskMetrics' daily decay: a shock counts at once, fades in weeks


def window_volatility(history: np.ndarray) -> np.ndarray:
    """(B,) volatility of each window (B, W): the EWMA of its squared daily log returns.

    Exponential weights let a crash widen the next day's band at once, where a
    plain standard deviation over the window would take weeks to catch up.
    """
    if history.shape[1] < 3:
        raise MarketcastError("prediction intervals need window.size >= 3.")
    returns = np.diff(np.log(history), axis=1)  # -> (B, W - 1)
    weights = EWMA_DECAY ** np.arange(returns.shape[1] - 1, -1, -1)  # newest weighs most
    variance = (returns**2 * weights).sum(axis=1) / weights.sum()
    return np.maximum(np.sqrt(variance), 1e-4)  # a flat window still gets a band


@dataclass(frozen=True)
class Intervals:
    """Calibrated quantiles of volatility-scaled relative errors, per step."""

    levels: list[float]  # e.g. [0.1, 0.9]
    quantiles: list[list[float]]  # (H, L)

    @classmethod
    def calibrate(
        cls, actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, levels: list[float]
    ) -> Intervals:
        """From a held-out segment: actual, forecast (B, H) prices; history (B, W)."""
        scaled = (actual / forecast - 1.0) / window_volatility(history)[:, None]  # -> (B, H)
        quantiles = np.quantile(scaled, sorted(levels), axis=0, method="higher").T  # -> (H, L)
        return cls(sorted(float(q) for q in levels), quantiles.tolist())

    def apply(self, forecast: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Interval bounds (B, H, L) around forecasts (B, H) from windows (B, W)."""
        vol = window_volatility(history)[:, None, None]
        return forecast[:, :, None] * (1.0 + np.asarray(self.quantiles)[None] * vol)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> Intervals:
        return cls(list(state["levels"]), [list(r) for r in state["quantiles"]])


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of ``actual`` inside ``[lower, upper]``; any equal shapes."""
    return float(np.mean((actual >= lower) & (actual <= upper)))


def mean_width(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> float:
    """Mean interval width relative to the actual price, in percent."""
    return float(100.0 * np.mean((upper - lower) / np.abs(actual)))
