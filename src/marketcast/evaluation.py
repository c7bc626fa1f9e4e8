"""Forecasts of a fitted model and of every baseline on one segment, and their scores.

Everything here is in price units and on exactly the same targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from marketcast.baselines import BASELINES, ridge_output
from marketcast.dataset import SegmentData, Transform
from marketcast.intervals import Intervals, coverage, mean_width
from marketcast.metrics import add_relative_mae, score, score_per_step
from marketcast.model import point_forecast


@dataclass(frozen=True)
class SegmentForecasts:
    """actual: (B, H); forecasts: name -> (B, H), the model first; bands: (B, H, L) or None."""

    part: SegmentData
    forecasts: dict[str, np.ndarray]
    bands: np.ndarray | None
    levels: list[float]


def model_prices(model: keras.Model, transform: Transform, part: SegmentData) -> np.ndarray:
    """(B, H) model forecasts in price units."""
    output = model.predict(part.windows.inputs, batch_size=1024, verbose=0)
    return transform.prices(point_forecast(np.asarray(output)), part.last)


def forecast_segment(
    model: keras.Model,
    transform: Transform,
    ridge: Ridge,
    intervals: Intervals | None,
    part: SegmentData,
    model_forecast: np.ndarray | None = None,
) -> SegmentForecasts:
    forecast = model_prices(model, transform, part) if model_forecast is None else model_forecast
    forecasts = {"model": forecast}
    for name, baseline in BASELINES.items():
        forecasts[name] = baseline(part.history, transform.horizon)
    forecasts["ridge"] = transform.prices(ridge_output(ridge, part.windows.inputs), part.last)
    bands = intervals.apply(forecast, part.history) if intervals else None
    return SegmentForecasts(part, forecasts, bands, intervals.levels if intervals else [])


def score_segment(f: SegmentForecasts, naive_mae: float) -> dict[str, dict]:
    """``{forecaster: metrics}``; the model's row also holds interval coverage and width."""
    actual, last = f.part.actual, f.part.last
    table = {}
    for name, forecast in f.forecasts.items():
        table[name] = score(actual, forecast, last, naive_mae)
        if actual.shape[1] > 1:
            table[name]["per_step"] = score_per_step(actual, forecast, last, naive_mae)
    add_relative_mae(table)
    if f.bands is not None and len(f.levels) >= 2:
        lower, upper = f.bands[..., 0], f.bands[..., -1]
        table["model"]["interval"] = {
            "levels": [f.levels[0], f.levels[-1]],
            "nominal": f.levels[-1] - f.levels[0],
            "coverage": coverage(actual, lower, upper),
            "width_pct": mean_width(lower, upper, actual),
        }
    return table


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
