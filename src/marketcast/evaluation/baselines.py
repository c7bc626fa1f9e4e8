"""Baselines computed on exactly the model's targets.

The naive ones take ``history`` (B, W), the target column over the input
window, and return (B, H) forecasts in price units. The ridge baseline is a
linear model fitted on the model's own scaled training windows.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge


def persistence(history: np.ndarray, horizon: int) -> np.ndarray:
    """Every step equals the last observed value."""
    return np.repeat(history[:, -1:], horizon, axis=1)


def drift(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last value plus the window's mean step per day, extended ``h`` days."""
    width = history.shape[1]
    if width < 2:
        return persistence(history, horizon)
    slope = (history[:, -1] - history[:, 0]) / (width - 1)  # -> (B,)
    return history[:, -1:] + slope[:, None] * np.arange(1, horizon + 1)[None, :]


def window_mean(history: np.ndarray, horizon: int) -> np.ndarray:
    """Every step equals the mean of the window."""
    return np.repeat(history.mean(axis=1, keepdims=True), horizon, axis=1)


BASELINES = {"persistence": persistence, "drift": drift, "window_mean": window_mean}


def fit_ridge(inputs: np.ndarray, targets: np.ndarray, alpha: float = 1.0) -> Ridge:
    """A linear model on the model's own scaled windows: (B, W, F) -> (B, H) targets."""
    return Ridge(alpha=alpha).fit(inputs.reshape(len(inputs), -1), targets)


def ridge_output(ridge: Ridge, inputs: np.ndarray) -> np.ndarray:
    """Scaled (B, H) outputs of a fitted ridge for windows (B, W, F)."""
    out = ridge.predict(inputs.reshape(len(inputs), -1))
    return out.reshape(len(inputs), -1)
