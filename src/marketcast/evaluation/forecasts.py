"""Forecasts of a fitted model and of every baseline on one segment, in price units and on
exactly the same targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge

from marketcast.evaluation.baselines import BASELINES, ridge_output
from marketcast.evaluation.intervals import Intervals
from marketcast.features.dataset import SegmentData, Transform
from marketcast.model.backend import keras
from marketcast.model.network import point_forecast


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
