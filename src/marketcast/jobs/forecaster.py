"""Fitting one forecaster, and saving it: shared by the single-split, backtest and
global-model jobs.

``fit_forecaster`` trains the model on a segment's windows with early stopping on
validation, fits the ridge baseline on the same windows, and calibrates the
prediction intervals on validation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from sklearn.linear_model import Ridge

from marketcast.config import SplitConfig
from marketcast.evaluation.baselines import fit_ridge
from marketcast.evaluation.forecasts import SegmentForecasts, forecast_segment, model_prices
from marketcast.evaluation.intervals import Intervals
from marketcast.features.dataset import Prepared, SegmentData, Transform
from marketcast.model import runtime
from marketcast.model.network import build_model
from marketcast.model.training import compile_model, fit, seed_everything
from marketcast.storage import artifacts

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


def fit_forecaster(prepared: Prepared | list[Prepared], cfg: DictConfig) -> Fitted:
    """Fit the model, the ridge baseline and the interval calibration on ``prepared``.

    The model trains on the training segment with early stopping on the
    validation segment, which also calibrates the intervals. A list of
    prepared symbols (sharing one transform) is pooled into one model.
    """
    preps = prepared if isinstance(prepared, list) else [prepared]
    transform = preps[0].transform
    train_xy = _pooled_xy(preps, "train", cfg.model.head)
    runtime.clear_session()  # a fresh graph per fit: sweeps and backtests do not grow
    seed_everything(cfg.train.seed)
    with runtime.strategy_scope(cfg.train.distribute):  # the model trains where it is built
        model = build_model(cfg.model, transform.window, len(transform.features), transform.horizon)
        compile_model(model, cfg.train, len(train_xy[0]))
    history = fit(model, *train_xy, *_pooled_xy(preps, "val", cfg.model.head), cfg.train)
    train_inputs = train_xy[0]
    train_targets = np.concatenate([p.parts["train"].windows.targets for p in preps])
    ridge = fit_ridge(train_inputs, train_targets)
    val_parts = [p.parts["val"] for p in preps]
    intervals = Intervals.calibrate(
        np.concatenate([part.actual for part in val_parts]),
        np.concatenate([model_prices(model, transform, part) for part in val_parts]),
        np.concatenate([part.history for part in val_parts]),
        list(cfg.evaluation.interval_levels),
    )
    return Fitted(model, transform, ridge, intervals, history)


def save(
    run_dir: Path,
    cfg: DictConfig,
    fitted: Fitted,
    dates: pd.DatetimeIndex,
    metrics: dict,
    predictions: pd.DataFrame,
    symbols: list[str] | None = None,
) -> None:
    """Write the run; ``symbols``: the universe a global model was trained on."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    if symbols is not None:
        data["symbols"] = list(symbols)
    preprocessing = artifacts.Preprocessing(
        transform=fitted.transform,
        intervals=fitted.intervals,
        head=cfg.model.head,
        data=data,
        last_date=str(dates[-1].date()),
    )
    artifacts.save_run(
        run_dir,
        fitted.model,
        preprocessing,
        metrics,
        predictions,
        OmegaConf.to_yaml(cfg, resolve=True),
    )


def split_for(dates: pd.DatetimeIndex, val_start: int, test_start: int) -> SplitConfig:
    """A split by the dates of rows ``val_start`` and ``test_start``."""
    return SplitConfig(
        val_start=str(dates[val_start].date()), test_start=str(dates[test_start].date())
    )


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


def log_data(prepared: Prepared, label: str | None) -> None:
    dates, t = prepared.dates, prepared.transform
    log.info(
        "data %s: %d rows, %s..%s; features %s, target %s, representation %s",
        label,
        len(dates),
        dates[0].date(),
        dates[-1].date(),
        t.features,
        t.target,
        t.representation,
    )
    for name, part in prepared.parts.items():
        start, stop = prepared.segments.bounds(name)
        log.info(
            "  %-5s rows %s..%s: %d samples",
            name,
            dates[start].date(),
            dates[stop - 1].date(),
            len(part.windows),
        )
