"""Sliding windows over a series, built without a Python loop over samples.

A sample whose first target is row ``t`` takes the inputs of rows
``t - window .. t - 1`` and the targets of rows ``t .. t + horizon - 1``. A
segment ``[start, stop)`` holds the samples whose targets all lie inside it;
their inputs may reach back into earlier rows (earlier segments), never forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from marketcast.errors import MarketcastError


@dataclass(frozen=True)
class Windows:
    """The samples of one segment.

    inputs: (B, W, F) model inputs; targets: (B, H) target values;
    first_target: (B,) row index of each sample's first target.
    """

    inputs: np.ndarray
    targets: np.ndarray
    first_target: np.ndarray

    def __len__(self) -> int:
        return len(self.first_target)


def first_targets(start: int, stop: int, window: int, horizon: int) -> np.ndarray:
    """Row indices ``t`` of the samples of segment ``[start, stop)``: (B,)."""
    lo = max(start, window)
    hi = stop - horizon  # last t whose targets end inside the segment
    return np.arange(lo, hi + 1) if hi >= lo else np.arange(0)


def make_windows(
    values: np.ndarray, target: np.ndarray, start: int, stop: int, window: int, horizon: int
) -> Windows:
    """Windows of segment ``[start, stop)`` of ``values`` (N, F) and ``target`` (N,).

    Returns views where possible; callers that keep them should copy.
    """
    if window < 1 or horizon < 1:
        raise MarketcastError(f"window ({window}) and horizon ({horizon}) must both be >= 1.")
    t = first_targets(start, stop, window, horizon)
    n_features = values.shape[1]
    if len(t) == 0:
        empty_x = np.empty((0, window, n_features), dtype=values.dtype)
        return Windows(empty_x, np.empty((0, horizon), dtype=target.dtype), t)
    # sliding_window_view(values, W, axis=0): (N-W+1, F, W); row i covers rows i..i+W-1
    all_inputs = sliding_window_view(values, window, axis=0).transpose(0, 2, 1)  # -> (N-W+1, W, F)
    all_targets = sliding_window_view(target, horizon)  # -> (N-H+1, H); row t covers t..t+H-1
    return Windows(inputs=all_inputs[t - window], targets=all_targets[t], first_target=t)


def sequence_targets(target: np.ndarray, first_target: np.ndarray, window: int, horizon: int):
    """Targets for a sequence head: for every input step, the ``horizon`` values after it.

    Step ``j`` of the sample with first target ``t`` sees rows up to
    ``t - window + j`` and is asked for rows ``t - window + j + 1 ..``; the last
    step's targets are the sample's own. Returns (B, W, H).
    """
    all_targets = sliding_window_view(target, horizon)  # -> (N-H+1, H)
    steps = first_target[:, None] - window + 1 + np.arange(window)[None, :]  # -> (B, W)
    return all_targets[steps]  # -> (B, W, H)
