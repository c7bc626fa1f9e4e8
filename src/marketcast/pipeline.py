"""The training job: data -> windows -> model -> evaluation -> run artifacts.

Only this module and ``forecast`` read the whole config; each stage gets its own slice.
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

from marketcast import artifacts, plots, runtime
from marketcast.baselines import fit_ridge
from marketcast.config import SplitConfig
from marketcast.dataset import Prepared, Transform, check_features, check_window, prepare
from marketcast.errors import MarketcastError
from marketcast.evaluation import (
    forecast_segment,
    model_prices,
    predictions_table,
    score_segment,
)
from marketcast.intervals import Intervals
from marketcast.metrics import format_table
from marketcast.model import build_model
from marketcast.sources import load_prices
from marketcast.training import check_train_config, compile_model, fit, seed_everything

log = logging.getLogger(__name__)

EVAL_SEGMENTS = ("val", "test")
MODES = ("single", "backtest")


@dataclass(frozen=True)
class Fitted:
    """A model with everything fitted alongside it on the same training data."""

    model: keras.Model
    transform: Transform
    ridge: Ridge
    intervals: Intervals
    history: dict[str, list[float]]


def train(cfg: DictConfig) -> float:
    """Run one training job; return the validation MASE (lower is better) for sweepers."""
    run_dir = Path(cfg.paths.run_dir)
    # Cheap checks first, so a bad value stops the run before any data is read.
    check_features(cfg.features)
    check_window(cfg.window)
    check_train_config(cfg.train)
    runtime.configure(cfg.train)  # threads: before TensorFlow starts in this process
    if cfg.evaluation.mode not in MODES:
        raise MarketcastError(
            f"evaluation.mode={cfg.evaluation.mode!r} is not known: use single or backtest "
            "(or evaluation=backtest)."
        )

    if cfg.data.symbols or cfg.data.universe_file:
        if cfg.evaluation.mode == "backtest":
            raise MarketcastError(
                "evaluation=backtest runs on one symbol: set data.symbol (not data.symbols), "
                "or backtest each symbol in a sweep (-m data.symbol=A,B,C)."
            )
        from marketcast.global_model import train_global  # only universes need it

        return train_global(cfg, run_dir)

    frame = load_prices(cfg.data)
    if cfg.evaluation.mode == "backtest":
        from marketcast.backtest import run_backtest  # only backtests need it

        return run_backtest(frame, cfg, run_dir)

    prepared = prepare(frame, cfg.features, cfg.window, cfg.split)
    log_data(prepared, cfg.data.symbol or cfg.data.path)
    fitted = fit_forecaster(prepared, cfg)
    forecasts = {
        name: forecast_segment(
            fitted.model, fitted.transform, fitted.ridge, fitted.intervals, prepared.parts[name]
        )
        for name in EVAL_SEGMENTS
    }
    metrics = {name: score_segment(forecasts[name], prepared.naive_mae) for name in EVAL_SEGMENTS}
    predictions = predictions_table(forecasts["test"], prepared.dates)

    if cfg.plots:  # before save_run, whose last file marks the run finished
        label = cfg.data.symbol or Path(cfg.data.path or "").stem
        plots.plot_forecast(
            predictions, f"{label}: test segment, one step ahead", run_dir / "test_forecast.png"
        )
        plots.plot_loss(fitted.history, run_dir / "loss.png")
    save(run_dir, cfg, fitted, prepared.dates, metrics, predictions)

    print(format_table(metrics))
    _print_interval(metrics)
    print(f"run directory: {run_dir}")
    val_mase = metrics["val"]["model"]["mase"]
    log.info("validation MASE %.4f, test MASE %.4f", val_mase, metrics["test"]["model"]["mase"])
    return float(val_mase)


def fit_forecaster(prepared: Prepared | list[Prepared], cfg: DictConfig) -> Fitted:
    """Fit the model, the ridge baseline and the interval calibration on ``prepared``.

    The model trains on the training segment with early stopping on the
    validation segment, which also calibrates the intervals. A list of
    prepared symbols (sharing one transform) is pooled into one model.
    """
    preps = prepared if isinstance(prepared, list) else [prepared]
    transform = preps[0].transform
    runtime.clear_session()  # a fresh graph per fit: sweeps and backtests do not grow
    seed_everything(cfg.train.seed)
    with runtime.strategy_scope(cfg.train.distribute):  # the model trains where it is built
        model = build_model(cfg.model, transform.window, len(transform.features), transform.horizon)
        compile_model(model, cfg.train)
    train_xy = _pooled_xy(preps, "train", cfg.model.head)
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


def _print_interval(metrics: dict) -> None:
    for segment in EVAL_SEGMENTS:
        interval = metrics[segment]["model"].get("interval")
        if interval:
            print(
                f"{segment}: {interval['nominal']:.0%} interval covers "
                f"{interval['coverage']:.1%} of outcomes, mean width {interval['width_pct']:.2f}%"
            )
    d = metrics["test"]["model"]
    if d["direction_accuracy"] is not None:
        lo, hi = d["direction_ci"]
        print(
            f"test direction accuracy {d['direction_accuracy']:.3f} "
            f"(95% CI {lo:.3f}..{hi:.3f}, n={d['direction_n']})"
            + ("  -- indistinguishable from a coin flip" if lo <= 0.5 <= hi else "")
        )
    dm = d.get("dm_vs_persistence")
    if dm:
        print(
            f"test MAE vs persistence: Diebold-Mariano {dm['statistic']:+.2f}, "
            f"p = {dm['p_value']:.3f}"
            + ("  -- no significant difference" if dm["p_value"] >= 0.05 else "")
        )


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
