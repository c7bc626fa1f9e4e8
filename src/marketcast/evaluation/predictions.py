"""The table of every forecast beside its actual value (test_predictions.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketcast.evaluation.forecasts import SegmentForecasts
from marketcast.evaluation.intervals import window_volatility

# The column of the volatility that ranks origins into the coverage thirds (the metrics'
# coverage_by_tercile), beside the bands: the tests and thirds can be recomputed from the file.
VOLATILITY_COLUMN = "volatility"


def predictions_table(f: SegmentForecasts, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per (origin, step): every forecast beside the actual value, the published
    band (``q10``, ``q90``), the reference band it is scored against (``garch_q10``, ...),
    the peers' own bands (``ets_q10``, ``arima_q90``, ...) and the origin's window
    volatility."""
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
    for band, bounds in {**f.reference_bands, **f.peer_bands}.items():
        for j, level in enumerate(f.levels):
            columns[f"{band}_{quantile_column(level)}"] = bounds[..., j].ravel()
    if f.levels and f.part.history.shape[1] >= 3:
        columns[VOLATILITY_COLUMN] = np.repeat(window_volatility(f.part.history), horizon)
    frame = pd.DataFrame(columns)
    frame["origin"] = frame["origin"].dt.date
    frame["date"] = frame["date"].dt.date
    return frame


def quantile_column(level: float) -> str:
    """Column name of an interval bound: 0.1 -> q10, 0.025 -> q2.5."""
    return f"q{100 * level:g}"
