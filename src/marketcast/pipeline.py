"""The training job: data -> windows -> model -> evaluation -> run artifacts.

Only this module and ``forecast`` read the whole config; each stage gets its own slice.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from marketcast import artifacts, plots
from marketcast.baselines import BASELINES
from marketcast.dataset import Prepared, SegmentData, check_features, check_window, prepare
from marketcast.metrics import add_relative_mae, format_table, score
from marketcast.model import build_model, point_forecast
from marketcast.sources import load_prices
from marketcast.training import check_train_config, compile_model, fit, seed_everything
from marketcast.windows import sequence_targets

log = logging.getLogger(__name__)

EVAL_SEGMENTS = ("val", "test")


def train(cfg: DictConfig) -> float:
    """Run one training job; return the validation MASE (lower is better) for sweepers."""
    run_dir = Path(cfg.paths.run_dir)
    # Cheap checks first, so a bad value stops the run before any data is read.
    check_features(cfg.features)
    check_window(cfg.window)
    check_train_config(cfg.train)

    frame = load_prices(cfg.data)
    prepared = prepare(frame, cfg.features, cfg.window, cfg.split)
    _log_data(prepared, cfg.data.symbol or cfg.data.path)

    seed_everything(cfg.train.seed)
    model = build_model(cfg.model, prepared.window, len(prepared.features), prepared.horizon)
    compile_model(model, cfg.train)
    history = fit(
        model,
        *_xy(prepared, "train", cfg.model.head),
        *_xy(prepared, "val", cfg.model.head),
        cfg.train,
    )

    forecasts = {
        name: _forecast(model, prepared, prepared.parts[name], cfg.train.batch_size)
        for name in EVAL_SEGMENTS
    }
    metrics = {
        name: _score(prepared, prepared.parts[name], forecasts[name]) for name in EVAL_SEGMENTS
    }
    predictions = _predictions_table(prepared, prepared.parts["test"], forecasts["test"])

    preprocessing = artifacts.Preprocessing(
        features=prepared.features,
        target=prepared.target,
        window=prepared.window,
        horizon=prepared.horizon,
        head=cfg.model.head,
        scaler=prepared.scaler,
        data=OmegaConf.to_container(cfg.data, resolve=True),
        last_date=str(prepared.dates[-1].date()),
    )
    if cfg.plots:  # before save_run, whose last file marks the run finished
        label = cfg.data.symbol or Path(cfg.data.path or "").stem
        plots.plot_test_forecast(
            predictions, f"{label}: test segment, one step ahead", run_dir / "test_forecast.png"
        )
        plots.plot_loss(history, run_dir / "loss.png")
    artifacts.save_run(
        run_dir, model, preprocessing, metrics, predictions, OmegaConf.to_yaml(cfg, resolve=True)
    )

    print(format_table(metrics))
    print(f"run directory: {run_dir}")
    score_val = metrics["val"]["model"]["mase"]
    log.info("validation MASE %.4f, test MASE %.4f", score_val, metrics["test"]["model"]["mase"])
    return float(score_val)


def _xy(prepared: Prepared, segment: str, head: str) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (B, W, F) and targets: (B, H), or (B, W, H) for the sequence head."""
    windows = prepared.parts[segment].windows
    if head != "sequence":
        return windows.inputs, windows.targets
    return windows.inputs, sequence_targets(
        prepared.scaled_target, windows.first_target, prepared.window, prepared.horizon
    )


def _forecast(model, prepared: Prepared, part: SegmentData, batch_size: int) -> np.ndarray:
    """(B, H) model forecasts in price units."""
    output = model.predict(part.windows.inputs, batch_size=max(batch_size, 256), verbose=0)
    return prepared.scaler.inverse(point_forecast(np.asarray(output)), prepared.target)


def _score(prepared: Prepared, part: SegmentData, model_forecast: np.ndarray) -> dict:
    last = part.history[:, -1]
    table = {"model": score(part.actual, model_forecast, last, prepared.naive_mae)}
    for name, baseline in BASELINES.items():
        table[name] = score(
            part.actual, baseline(part.history, prepared.horizon), last, prepared.naive_mae
        )
    add_relative_mae(table)
    return table


def _predictions_table(
    prepared: Prepared, part: SegmentData, model_forecast: np.ndarray
) -> pd.DataFrame:
    """One row per (origin, step): the test forecasts beside the actual values."""
    n, horizon = part.actual.shape
    origin = prepared.dates.to_numpy()[part.windows.first_target - 1]
    columns = {
        "origin": np.repeat(origin, horizon),
        "date": part.target_dates(prepared.dates).ravel(),
        "step": np.tile(np.arange(1, horizon + 1), n),
        "actual": part.actual.ravel(),
        "model": model_forecast.ravel(),
    }
    for name, baseline in BASELINES.items():
        columns[name] = baseline(part.history, horizon).ravel()
    frame = pd.DataFrame(columns)
    frame["origin"] = frame["origin"].dt.date
    frame["date"] = frame["date"].dt.date
    return frame


def _log_data(prepared: Prepared, label: str | None) -> None:
    dates = prepared.dates
    log.info(
        "data %s: %d rows, %s..%s; features %s, target %s",
        label,
        len(dates),
        dates[0].date(),
        dates[-1].date(),
        prepared.features,
        prepared.target,
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
