"""Forecasts of a fitted model, its published combination, every baseline and every classical
peer on one segment, in price units and on exactly the same targets."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from marketcast.evaluation import peers as peer_models
from marketcast.evaluation.baselines import BASELINES, drift, ridge_output
from marketcast.evaluation.combination import Weights
from marketcast.evaluation.intervals import Checkpoint, Intervals, recent_prices
from marketcast.features.dataset import Prepared, SegmentData, Transform
from marketcast.model.backend import keras
from marketcast.model.network import point_forecast

COMPONENTS = ("lstm", "ets", "arima", "drift")  # what the published combination may move towards
PEER_COMPONENTS = ("ets", "arima")  # the components fitted per symbol at forecast time


@dataclass(frozen=True)
class SegmentForecasts:
    """actual: (B, H); forecasts: name -> (B, H), the published ``model`` first; bands:
    (B, H, L) around it or None; reference_bands: name -> (B, H, L) (the GARCH band);
    peer_bands: peer -> (B, H, L), the ETS's and ARIMA's own prediction intervals."""

    part: SegmentData
    forecasts: dict[str, np.ndarray]
    bands: np.ndarray | None
    levels: list[float]
    reference_bands: dict[str, np.ndarray] = field(default_factory=dict)
    peer_bands: dict[str, np.ndarray] = field(default_factory=dict)


def model_prices(model: keras.Model, transform: Transform, part: SegmentData) -> np.ndarray:
    """(B, H) model forecasts in price units."""
    output = model.predict(part.windows.inputs, batch_size=1024, verbose=0)
    return transform.prices(point_forecast(np.asarray(output)), part.last)


def fit_peers(prep: Prepared, names: list[str]) -> dict:
    """The peers ``names`` (ets, arima) fitted on ``prep``'s training rows, once for every
    segment's rolling pass (``peer_forecasts_and_bands``)."""
    return {
        name: peer_models.fit_peer(name, prep.raw_target, prep.segments.val_start) for name in names
    }


def peer_forecasts_and_bands(
    prep: Prepared, segment: str, fitted: dict, refit_every: int, levels: list[float] | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(B, H) forecasts of each peer of ``fitted`` (``fit_peers``) for ``segment``'s samples,
    fitted on the rows before the validation segment (and refitted every ``refit_every``
    origins after), and (B, H, L) each peer's own band at quantile ``levels`` (none where
    ``levels`` is None), from the same pass."""
    part = prep.parts[segment]
    forecasts, bands = {}, {}
    for name, model in fitted.items():
        forecasts[name], bands[name] = peer_models.rolling_forecasts(
            peer_models.PEER_MODELS[name],
            prep.raw_target,
            part.windows.first_target,
            prep.transform.horizon,
            refit_every,
            prep.segments.val_start,
            first=model,
            levels=levels,
        )
    return forecasts, {name: band for name, band in bands.items() if band is not None}


def ets_saved(prep: Prepared, fitted: dict, refit_every: int) -> dict | None:
    """The ETS peer of ``fitted`` as predict continues it (``peers.ets_state``): where it is
    never refitted, the model behind every forecast of the run; None otherwise."""
    if "ets" not in fitted or refit_every:
        return None
    last_origin = int(prep.parts["test"].windows.first_target.max()) - 1
    return peer_models.ets_state(
        fitted["ets"], prep.raw_target, prep.segments.val_start, last_origin, prep.dates
    )


def garch_reference(prep: Prepared, segment: str, levels: list[float]) -> np.ndarray:
    """(B, H, L) the GARCH(1,1) band around persistence, fitted on training returns."""
    return peer_models.garch_band(
        prep.raw_target,
        prep.parts[segment].windows.first_target,
        prep.transform.horizon,
        levels,
        prep.segments.val_start,
    )


def publish(
    lstm: np.ndarray, part: SegmentData, peers: dict[str, np.ndarray], weights: Weights | None
) -> np.ndarray:
    """(B, H) the published forecast: the validated combination, or the raw LSTM."""
    if weights is None:
        return lstm
    horizon = lstm.shape[1]
    components = {"lstm": lstm, "drift": drift(part.history, horizon), **peers}
    return weights.apply(BASELINES["persistence"](part.history, horizon), components)


def forecast_segment(
    model: keras.Model,
    transform: Transform,
    ridge: Ridge,
    intervals: Intervals,
    weights: Weights | None,
    symbol: str,
    prep: Prepared,
    segment: str,
    peers: dict[str, np.ndarray],
    reference_bands: dict[str, np.ndarray] | None = None,
    peer_bands: dict[str, np.ndarray] | None = None,
) -> tuple[SegmentForecasts, Intervals]:
    """The segment's forecasts, and the interval state after adapting through it.

    The test segment's band goes on from ``intervals`` (the state at an origin before
    it: the last validation origin, or the earlier fold's last test origin, ``horizon``
    origins before its first). The validation segment's starts afresh at its first
    origin, from the nominal levels: the fitted state has seen the later validation
    outcomes, which its first origins had not.
    """
    part = prep.parts[segment]
    lstm = model_prices(model, transform, part)
    published = publish(lstm, part, peers, weights)
    forecasts = {"model": published, "lstm": lstm}
    for name, baseline in BASELINES.items():
        forecasts[name] = baseline(part.history, transform.horizon)
    forecasts["ridge"] = transform.prices(ridge_output(ridge, part.windows.inputs), part.last)
    forecasts.update(peers)
    t = part.windows.first_target
    days = part.origin_days(prep.dates)
    bands, state = intervals.adapt(
        symbol,
        published,
        intervals.scale(recent_prices(prep.raw_target, t, intervals.rows), symbol),
        part.actual,
        days,
        intervals.fresh() if segment == "val" else _resumed(intervals, symbol, prep, days[0]),
    )
    segment_forecasts = SegmentForecasts(
        part, forecasts, bands, intervals.levels, reference_bands or {}, peer_bands or {}
    )
    return segment_forecasts, state


def _resumed(intervals: Intervals, symbol: str, prep: Prepared, first: str) -> Checkpoint:
    """``symbol``'s interval state for a pass whose first origin's last observed day is
    ``first``: the origins between the state's and it counted on ``prep.dates`` (all its
    updates applied at once where the state's day is not among them)."""
    since = intervals.band(symbol).as_of
    if since is None:
        return intervals.resume(symbol, 1)
    days = pd.DatetimeIndex(prep.dates)
    start, end = days.searchsorted(pd.Timestamp(since)), days.searchsorted(pd.Timestamp(first))
    found = start < len(days) and days[start] == pd.Timestamp(since)
    return intervals.resume(symbol, int(end - start) if found else intervals.horizon)
