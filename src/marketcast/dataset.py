"""From a price frame to scaled model windows per segment (pure: no I/O).

The scaler is fitted on the training rows only; changing any value after the
training segment changes neither the scaler nor the training windows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketcast.config import FeaturesConfig, SplitConfig, WindowConfig
from marketcast.errors import MarketcastError
from marketcast.scaling import Scaler
from marketcast.sources import PRICE_COLUMNS
from marketcast.split import SEGMENTS, Segments, split_rows
from marketcast.windows import Windows, make_windows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentData:
    """One segment's samples, scaled for the model and raw for evaluation.

    windows: scaled inputs (B, W, F) and scaled targets (B, H);
    history: (B, W) the raw target column over each input window;
    actual: (B, H) the raw target values to forecast, in price units.
    """

    windows: Windows
    history: np.ndarray
    actual: np.ndarray

    def target_dates(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """(B, H) dates of the targets."""
        horizon = self.actual.shape[1]
        return dates.to_numpy()[self.windows.first_target[:, None] + np.arange(horizon)]


@dataclass(frozen=True)
class Prepared:
    dates: pd.DatetimeIndex  # (N,)
    features: list[str]
    target: str
    window: int
    horizon: int
    scaler: Scaler
    segments: Segments
    parts: dict[str, SegmentData]
    scaled_target: np.ndarray  # (N,) the target column, scaled
    naive_mae: float  # training segment's one-step persistence MAE, price units (MASE scale)


def select_columns(frame: pd.DataFrame, cfg: FeaturesConfig) -> pd.DataFrame:
    """The feature and target columns, rows with missing values dropped (and logged)."""
    check_features(cfg)
    columns = list(dict.fromkeys([*cfg.columns, cfg.target]))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MarketcastError(
            f"the data has no {', '.join(missing)} column (it has {', '.join(frame.columns)}): "
            "choose features.columns and features.target among those."
        )
    selected = frame[columns]
    incomplete = selected.isna().any(axis=1)
    if incomplete.any():
        log.warning("dropped %d rows with missing values in %s", int(incomplete.sum()), columns)
        selected = selected[~incomplete]
    return selected


def check_features(cfg: FeaturesConfig) -> None:
    unknown = [c for c in [*cfg.columns, cfg.target] if c not in PRICE_COLUMNS]
    if unknown:
        raise MarketcastError(
            f"unknown feature {', '.join(map(repr, unknown))}: features.columns and "
            f"features.target take {', '.join(PRICE_COLUMNS)} (case-sensitive)."
        )
    if not cfg.columns:
        raise MarketcastError("features.columns is empty: name at least one, e.g. [Close].")


def check_window(cfg: WindowConfig) -> None:
    if cfg.size < 1:
        raise MarketcastError(f"window.size={cfg.size} must be at least 1 (e.g. window.size=60).")
    if cfg.horizon < 1:
        raise MarketcastError(
            f"window.horizon={cfg.horizon} must be at least 1 (1 forecasts the next day)."
        )


def prepare(
    frame: pd.DataFrame,
    features: FeaturesConfig,
    window: WindowConfig,
    split: SplitConfig,
) -> Prepared:
    """Split ``frame`` chronologically, fit the scaler on training rows, window each segment."""
    check_window(window)
    selected = select_columns(frame, features)
    dates = pd.DatetimeIndex(selected.index)
    segments = split_rows(dates, split)
    columns = list(selected.columns)
    raw = selected.to_numpy(dtype="float64")  # (N, C)
    train_stop = segments.val_start
    scaler = Scaler.fit(raw[:train_stop], columns, features.scaler)

    inputs = scaler.transform(
        raw[:, [columns.index(c) for c in features.columns]], features.columns
    ).astype("float32")  # (N, F)
    raw_target = raw[:, columns.index(features.target)]  # (N,) price units
    scaled_target = scaler.transform(raw_target[:, None], [features.target])[:, 0]
    scaled_target = scaled_target.astype("float32")

    parts = {}
    for name in SEGMENTS:
        start, stop = segments.bounds(name)
        scaled = make_windows(inputs, scaled_target, start, stop, window.size, window.horizon)
        if len(scaled) == 0:
            raise MarketcastError(_too_short(name, dates, start, stop, window))
        history = make_windows(
            raw_target[:, None], raw_target, start, stop, window.size, window.horizon
        )
        parts[name] = SegmentData(
            windows=Windows(
                np.ascontiguousarray(scaled.inputs),
                np.ascontiguousarray(scaled.targets),
                scaled.first_target,
            ),
            history=np.ascontiguousarray(history.inputs[:, :, 0]),
            actual=np.ascontiguousarray(history.targets),
        )
    train_target = raw_target[:train_stop]
    naive_mae = float(np.mean(np.abs(np.diff(train_target))))
    return Prepared(
        dates,
        list(features.columns),
        features.target,
        window.size,
        window.horizon,
        scaler,
        segments,
        parts,
        scaled_target,
        naive_mae,
    )


def _too_short(
    name: str, dates: pd.DatetimeIndex, start: int, stop: int, window: WindowConfig
) -> str:
    span = f"{dates[start].date()}..{dates[stop - 1].date()}, {stop - start} rows"
    need = (
        f"window.size + window.horizon = {window.size + window.horizon} rows"
        if name == "train"
        else f"window.horizon = {window.horizon} rows"
    )
    return (
        f"the {name} segment ({span}) is too short to hold one sample: it needs at least {need}. "
        "Use more data (data.start earlier), a smaller window.size or horizon, "
        "or a different split."
    )
