"""Walk-forward backtest: refit before each origin, forecast the block after it.

Fold ``k`` forecasts rows ``[origin_k, origin_k + test_size)``. Its scaler,
model, ridge baseline and interval calibration are fitted on rows before
``origin_k`` only (the last ``val_fraction`` of them for early stopping and
calibration); inside the block each forecast uses the prices observed up to
its own origin, as a daily job would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from marketcast.config import BacktestConfig
from marketcast.errors import MarketcastError
from marketcast.evaluation import plots
from marketcast.evaluation.forecasts import (
    pool_forecasts,
    predictions_table,
    score_segment,
)
from marketcast.evaluation.metrics import format_table
from marketcast.evaluation.report import backtest_report
from marketcast.features.dataset import prepare, select_columns
from marketcast.jobs.forecaster import Fitted, fit_forecaster, log_data, save, split_for
from marketcast.storage.artifacts import write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    """Row indices of one fold: train ``[start, val_start)``, validation
    ``[val_start, origin)``, test ``[origin, stop)``."""

    start: int
    val_start: int
    origin: int
    stop: int


def plan_folds(n: int, cfg: BacktestConfig, min_rows: int) -> list[Fold]:
    """The folds over ``n`` rows; each fold's pre-origin rows hold at least ``min_rows``."""
    if cfg.folds < 1:
        raise MarketcastError(f"evaluation.backtest.folds={cfg.folds} must be at least 1.")
    if cfg.scheme not in ("expanding", "rolling"):
        raise MarketcastError(
            f"evaluation.backtest.scheme={cfg.scheme!r} is not known: use expanding or rolling."
        )
    if not 0 < cfg.val_fraction < 1:
        raise MarketcastError(
            f"evaluation.backtest.val_fraction={cfg.val_fraction} must lie between 0 and 1."
        )
    if cfg.refit_every < 1:
        raise MarketcastError(
            f"evaluation.backtest.refit_every={cfg.refit_every} must be at least 1."
        )
    test_size = cfg.test_size or max(1, round(0.15 * n / cfg.folds))
    first_origin = n - cfg.folds * test_size
    if first_origin < min_rows:
        raise MarketcastError(
            f"{cfg.folds} folds of {test_size} rows leave {max(first_origin, 0)} rows before the "
            f"first origin, fewer than the {min_rows} a fold needs. Use fewer folds, a smaller "
            "evaluation.backtest.test_size, a smaller window, or more data."
        )
    folds = []
    for k in range(cfg.folds):
        origin = first_origin + k * test_size
        start = 0
        if cfg.scheme == "rolling":
            size = cfg.train_size or first_origin
            if size < min_rows:
                raise MarketcastError(
                    f"evaluation.backtest.train_size={size} is below the {min_rows} rows a "
                    "fold needs."
                )
            start = max(0, origin - size)
        val_start = start + round((origin - start) * (1 - cfg.val_fraction))
        folds.append(Fold(start, val_start, origin, origin + test_size))
    return folds


def run_backtest(frame: pd.DataFrame, cfg: DictConfig, run_dir: Path) -> float:
    """Run every fold, write the predictions, metrics, report and figures; return val MASE."""
    bt = cfg.evaluation.backtest
    rows = select_columns(frame, cfg.features)
    window, horizon = cfg.window.size, cfg.window.horizon
    min_rows = round((window + 1 + horizon + 1) / min(bt.val_fraction, 1 - bt.val_fraction))
    folds = plan_folds(len(rows), bt, min_rows)
    dates = pd.DatetimeIndex(rows.index)
    log.info(
        "backtest: %d folds of %d rows, %s, refit every %d; first origin %s",
        len(folds),
        folds[0].stop - folds[0].origin,
        bt.scheme,
        bt.refit_every,
        dates[folds[0].origin - 1].date(),
    )

    fitted: Fitted | None = None
    fold_metrics, tables, results = [], [], {"val": [], "test": []}
    for k, fold in enumerate(folds):
        part_rows = rows.iloc[fold.start : fold.stop]
        split = split_for(part_rows.index, fold.val_start - fold.start, fold.origin - fold.start)
        refit = fitted is None or k % bt.refit_every == 0
        prepared = prepare(
            part_rows,
            cfg.features,
            cfg.window,
            split,
            transform=None if refit else fitted.transform,
        )
        log.info(
            "fold %d/%d: origin %s%s",
            k + 1,
            len(folds),
            dates[fold.origin - 1].date(),
            "" if refit else " (model of an earlier fold)",
        )
        if refit:
            log_data(prepared, cfg.data.symbol or cfg.data.path)
            fitted = fit_forecaster(prepared, cfg)
        entry = {
            "fold": k + 1,
            "train_start": str(dates[fold.start].date()),
            "origin": str(dates[fold.origin - 1].date()),  # the last day the fold's fit sees
            "test_start": str(dates[fold.origin].date()),
            "test_end": str(dates[fold.stop - 1].date()),
            "refit": refit,
        }
        for segment in ("val", "test"):
            f = fitted.forecast(prepared.parts[segment])
            entry[segment] = score_segment(f, prepared.naive_mae)
            results[segment].append((f, prepared.naive_mae))
        table = predictions_table(results["test"][-1][0], prepared.dates)
        table.insert(0, "fold", k + 1)
        tables.append(table)
        fold_metrics.append(entry)
        print(
            f"fold {k + 1}/{len(folds)} origin {entry['origin']}: test rel_mae "
            f"{entry['test']['model']['rel_mae']:.4f}, MASE {entry['test']['model']['mase']:.4f}"
        )

    metrics = {segment: score_segment(*pool_forecasts(results[segment])) for segment in results}
    metrics["folds"] = fold_metrics
    predictions = pd.concat(tables, ignore_index=True)
    label = cfg.data.symbol or Path(cfg.data.path or "").stem
    _write_outputs(run_dir, cfg, fitted, dates, metrics, predictions, label)
    print(format_table({s: metrics[s] for s in ("val", "test")}))
    print(f"run directory: {run_dir}")
    # The pooled figure, as in metrics.json: what a sweeper minimises is what the summary ranks.
    return float(metrics["val"]["model"]["mase"])


def _write_outputs(run_dir, cfg, fitted, dates, metrics, predictions, label) -> None:
    if cfg.plots:
        plots.plot_forecast(
            predictions,
            f"{label}: walk-forward backtest, one step ahead",
            run_dir / "backtest_forecast.png",
        )
        names = [n for n in metrics["test"] if n != "model"]
        plots.plot_folds(
            {n: [f["test"][n]["rel_mae"] for f in metrics["folds"]] for n in ["model", *names]},
            run_dir / "folds.png",
        )
        per_step = {
            name: [s["mae"] for s in row.get("per_step", [row])]
            for name, row in metrics["test"].items()
        }
        plots.plot_error_per_step(per_step, run_dir / "error_per_step.png")
    write_text(run_dir / "report.md", backtest_report(metrics, cfg, label))
    # The last fold's model is the newest: predict.py forecasts with it.
    save(run_dir, cfg, fitted, dates, metrics, predictions)
