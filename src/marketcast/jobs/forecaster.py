"""Fitting one forecaster: the model and everything fitted beside it on the same rows.

``fit_forecaster`` trains the model on a segment's windows with early stopping on
validation, fits the ridge baseline on the same windows, and calibrates the
prediction intervals on validation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge

from marketcast.config import ModelConfig, TrainConfig
from marketcast.evaluation.baselines import fit_ridge
from marketcast.evaluation.forecasts import SegmentForecasts, forecast_segment, model_prices
from marketcast.evaluation.intervals import Intervals
from marketcast.features.dataset import Prepared, SegmentData, Transform
from marketcast.model import runtime
from marketcast.model.backend import keras
from marketcast.model.network import build_model
from marketcast.model.training import compile_model, fit, seed_everything

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fitted:
    """A model with everything fitted alongside it on the same training data."""

    model: keras.Model
    transform: Transform
    ridge: Ridge
    intervals: Intervals
    history: dict[str, list[float]]

    def forecast(self, part: SegmentData) -> SegmentForecasts:
        """The model's and every baseline's forecasts for one segment, in price units."""
        return forecast_segment(self.model, self.transform, self.ridge, self.intervals, part)


def fit_forecaster(
    preps: list[Prepared],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    interval_levels: list[float],
    callbacks: list | tuple = (),
) -> Fitted:
    """Fit the model, the ridge baseline and the interval calibration on ``preps``.

    The model trains on the training segment with early stopping on the
    validation segment, which also calibrates the intervals. Several prepared
    symbols (sharing one transform) are pooled into one model. ``callbacks`` (loggers,
    an Optuna pruner) join the fit.
    """
    transform = preps[0].transform
    train_xy = _pooled_xy(preps, "train", model_cfg.head)
    runtime.clear_session()  # a fresh graph per fit: sweeps and backtests do not grow
    seed_everything(train_cfg.seed)
    with runtime.strategy_scope(train_cfg.distribute):  # the model trains where it is built
        model = build_model(model_cfg, transform.window, len(transform.features), transform.horizon)
        compile_model(model, train_cfg, len(train_xy[0]))
    val_xy = _pooled_xy(preps, "val", model_cfg.head)
    history = fit(model, *train_xy, *val_xy, train_cfg, extra_callbacks=callbacks)
    train_inputs = train_xy[0]
    train_targets = np.concatenate([p.parts["train"].windows.targets for p in preps])
    ridge = fit_ridge(train_inputs, train_targets)
    val_parts = [p.parts["val"] for p in preps]
    intervals = Intervals.calibrate(
        np.concatenate([part.actual for part in val_parts]),
        np.concatenate([model_prices(model, transform, part) for part in val_parts]),
        np.concatenate([part.history for part in val_parts]),
        list(interval_levels),
    )
    return Fitted(model, transform, ridge, intervals, history)


def _pooled_xy(preps: list[Prepared], segment: str, head: str) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (B, W, F) and targets: (B, H), or (B, W, H) for the sequence head."""
    inputs = [p.parts[segment].windows.inputs for p in preps]
    if head == "sequence":
        targets = [p.sequence_targets(segment) for p in preps]
    else:
        targets = [p.parts[segment].windows.targets for p in preps]
    if len(preps) == 1:  # no copy in the common single-symbol case
        return inputs[0], targets[0]
    return np.concatenate(inputs), np.concatenate(targets)
