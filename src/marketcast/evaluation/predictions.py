"""The table of every forecast beside its actual value (test_predictions.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketcast.evaluation.forecasts import SegmentForecasts


def predictions_table(f: SegmentForecasts, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per (origin, step): every forecast beside the actual value."""
    n, horizon = f.part.actual.shape
    columns = {
        "origin": np.repeat(f.part.origin_dates(dates), horizon),
        "date": f.part.target_dates(dates).ravel(),
        "step": np.tile(np.arange(1, horizon + 1), n),
        "actual": f.part.actual.ravel(),
    }
    for name, forecast in f.forecasts.items():
        columns[name] = forecast.ravel()
    for j, level in enumerate(f.levels):
        columns[quantile_column(level)] = f.bands[..., j].ravel()
    frame = pd.DataFrame(columns)
    frame["origin"] = frame["origin"].dt.date
    frame["date"] = frame["date"].dt.date
    return frame


def quantile_column(level: float) -> str:
    """Column name of an interval bound: 0.1 -> q10, 0.025 -> q2.5."""
    return f"q{100 * level:g}"
