"""The training job: data -> windows -> model -> evaluation -> run artifacts.

Only this module and ``forecast`` read the whole config; each stage gets its own slice.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from marketcast.data.sources import load_prices
from marketcast.errors import MarketcastError
from marketcast.evaluation import plots
from marketcast.evaluation.forecasts import EVAL_SEGMENTS, predictions_table, score_segment
from marketcast.evaluation.metrics import format_table
from marketcast.features.dataset import check_features, check_window, prepare
from marketcast.jobs.backtest import run_backtest
from marketcast.jobs.forecaster import fit_forecaster, log_data, save
from marketcast.jobs.global_model import train_global
from marketcast.model import runtime
from marketcast.model.training import check_train_config

log = logging.getLogger(__name__)

MODES = ("single", "backtest")


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
        return train_global(cfg, run_dir)

    frame = load_prices(cfg.data)
    if cfg.evaluation.mode == "backtest":
        return run_backtest(frame, cfg, run_dir)

    prepared = prepare(frame, cfg.features, cfg.window, cfg.split)
    log_data(prepared, cfg.data.symbol or cfg.data.path)
    fitted = fit_forecaster(prepared, cfg)
    forecasts = {name: fitted.forecast(prepared.parts[name]) for name in EVAL_SEGMENTS}
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
