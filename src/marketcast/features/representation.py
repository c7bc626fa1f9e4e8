"""How prices are shown to the model, and how its outputs become prices again (pure).

Each representation maps a raw input window and the last observed target value
to model inputs, and targets to model targets; ``decode_target`` undoes the
target mapping, so every forecast comes back in price units.

- ``level``: prices as they are (the tutorial's way; the scaler then maps them
  to [0, 1]). A level never seen in training is out of the model's range.
- ``relative``: each window divided by its last observed target value, minus 1;
  targets are the change relative to that value. Scale-free, so a new price
  level is no problem.
- ``log_return``: inputs are daily log returns; targets the log return from the
  last observed value to each target day.

Volume, where used as a feature, is shown as ``log1p(volume)`` (level), relative
to the window's mean volume (relative), or as the change of ``log1p(volume)``
(log_return).
"""

from __future__ import annotations

import numpy as np


def encode_inputs(raw: np.ndarray, last: np.ndarray, columns: list[str], name: str) -> np.ndarray:
    """Model inputs from raw windows.

    raw: (B, W + 1, F) prices of ``columns``, one row before the window included
    (log returns need it); last: (B,) last observed target value.
    Returns (B, W, F).
    """
    out = np.empty((raw.shape[0], raw.shape[1] - 1, raw.shape[2]), dtype="float64")
    for j, column in enumerate(columns):
        series = raw[:, :, j]  # -> (B, W + 1)
        if column == "Volume":
            out[:, :, j] = _encode_volume(series, name)
        elif name == "level":
            out[:, :, j] = series[:, 1:]
        elif name == "relative":
            out[:, :, j] = series[:, 1:] / last[:, None] - 1.0
        else:
            out[:, :, j] = np.log(series[:, 1:] / series[:, :-1])
    return out


def encode_target(actual: np.ndarray, last: np.ndarray, name: str) -> np.ndarray:
    """Model targets from prices: actual (B, ..., H), last (B, ...) -> (B, ..., H)."""
    last = last[..., None]
    if name == "level":
        return actual.copy()
    if name == "relative":
        return actual / last - 1.0
    return np.log(actual / last)


def decode_target(encoded: np.ndarray, last: np.ndarray, name: str) -> np.ndarray:
    """Prices from model outputs: encoded (B, H, ...), last (B,) -> (B, H, ...)."""
    last = last.reshape(last.shape + (1,) * (encoded.ndim - 1))
    if name == "level":
        return encoded.copy()
    if name == "relative":
        return last * (1.0 + encoded)
    return last * np.exp(encoded)


def centres_target(name: str) -> bool:
    """Whether the target scaler may shift the target.

    For change-like targets a zero model output must mean "no change", so the
    target is only scaled, not centred on the training period's mean move.
    """
    return name == "level"


def _encode_volume(series: np.ndarray, name: str) -> np.ndarray:
    logged = np.log1p(np.maximum(series, 0.0))
    if name == "level":
        return logged[:, 1:]
    if name == "relative":
        mean = series[:, 1:].mean(axis=1, keepdims=True)
        return np.where(mean > 0, series[:, 1:] / np.where(mean > 0, mean, 1.0) - 1.0, 0.0)
    return np.diff(logged, axis=1)
