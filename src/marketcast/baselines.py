"""Naive forecasts from the same input windows the model sees, in price units.

Each takes ``history`` (B, W), the target column over the input window, and
returns (B, H) forecasts for the next ``horizon`` steps.
"""

from __future__ import annotations

import numpy as np


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
