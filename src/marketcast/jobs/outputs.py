"""What a training run leaves: its scores over every fold and symbol, its run directory, its
printed report. Written once for the single split, the backtest and the global model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from marketcast.errors import signals_held
from marketcast.evaluation import plots
from marketcast.evaluation.forecasts import SegmentForecasts
from marketcast.evaluation.metrics import format_table
from marketcast.evaluation.predictions import predictions_table
from marketcast.evaluation.report import TESTED, run_report, universe_report
from marketcast.evaluation.scores import significant_side
from marketcast.evaluation.scoring import mean_over, pool_forecasts, score_segment, without_tests
from marketcast.evaluation.verdicts import (
    direction_words,
    dm_words,
    interval_words,
    score_test_words,
)
from marketcast.features.dataset import Prepared
from marketcast.features.split import fit_start, stop_samples
from marketcast.progress import counted
from marketcast.runfiles import (
    DONE_FILE,
    REPORT_FILE,
    STAGING_DIR,
    clear_earlier_run,
    finished_here,
)
from marketcast.storage import artifacts

SEGMENTS = ("val", "test")
# A global model's printed summary lists each symbol's significant verdicts up to this many
# symbols, and counts them above it: report.md holds every test.
SYMBOLS_LISTED = 10


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    """One fit (a fold) and its forecasts: symbol -> segment -> forecasts."""

    fold: int
    refit: bool
    preps: dict[str, Prepared]
    forecasts: dict[str, dict[str, SegmentForecasts]]
    combination: dict | None = None  # the weights its forecasts were published with


@dataclass(frozen=True)
class RunResult:
    metrics: dict  # val, test (means over symbols), and folds / symbols where there are several
    predictions: pd.DataFrame  # every test forecast beside the actual value
    val_predictions: pd.DataFrame  # every validation forecast, its use (stop / fit) marked
    backtest: bool
    universe: bool
    last_date: pd.Timestamp  # the last date the run saw


def tabulate(
    fits: list[FitResult], backtest: bool, stop_share: float, universe: bool = False
) -> RunResult:
    """Score each symbol over all its folds (pooled), then average over symbols.
    ``stop_share``: the share of each validation segment that decided early stopping
    (``evaluation.stop_share``), marked in the validation predictions; ``universe``: a
    global model, reported as one even where a single symbol of it was left to train."""
    symbols = list(fits[0].preps)
    universe = universe or len(symbols) > 1
    per_symbol = {}
    for symbol in symbols:
        per_symbol[symbol] = {
            segment: score_segment(
                *pool_forecasts(
                    [(fit.forecasts[symbol][segment], fit.preps[symbol].naive_mae) for fit in fits]
                )
            )
            for segment in SEGMENTS
        }
        if backtest:  # the folds' validation segments overlap: their pooled days repeat
            per_symbol[symbol]["val"] = without_tests(per_symbol[symbol]["val"])
    if universe:
        metrics = {s: mean_over([per_symbol[sym][s] for sym in symbols]) for s in SEGMENTS}
        metrics["symbols"] = per_symbol
    else:
        metrics = dict(per_symbol[symbols[0]])
    if backtest:
        metrics["folds"] = [_fold_entry(fit) for fit in fits]

    tables: dict[str, list[pd.DataFrame]] = {segment: [] for segment in SEGMENTS}
    for fit in fits:
        for symbol, prep in fit.preps.items():
            for segment in SEGMENTS:
                forecasts = fit.forecasts[symbol][segment]
                table = predictions_table(forecasts, prep.dates)
                if segment == "val":
                    table.insert(0, "use", _validation_use(forecasts, stop_share))
                if universe:
                    table.insert(0, "symbol", symbol)
                if backtest:
                    table.insert(0, "fold", fit.fold)
                tables[segment].append(table)
    last = max(prep.dates[-1] for prep in fits[-1].preps.values())
    test, val = (pd.concat(tables[s], ignore_index=True) for s in ("test", "val"))
    return RunResult(metrics, test, val, backtest, universe, last)


def _validation_use(forecasts: SegmentForecasts, stop_share: float) -> np.ndarray:
    """Per row of a validation predictions table: "stop" for the origins that decided early
    stopping, "gap" for the horizon - 1 after them (their targets overlap the stopping
    ones'), "fit" for the later ones, which fitted the combination and calibrated the
    intervals (``features.split.stop_samples``, ``fit_start``)."""
    n, horizon = forecasts.part.actual.shape
    stop, start = stop_samples(n, stop_share), fit_start(n, stop_share, horizon)
    origin = np.arange(n)
    use = np.where(origin < stop, "stop", np.where(origin < start, "gap", "fit"))
    return np.repeat(use, horizon)


def _fold_entry(fit: FitResult) -> dict:
    (symbol, prep), *_ = fit.preps.items()
    dates, test_start = prep.dates, prep.segments.test_start
    entry = {
        "fold": fit.fold,
        "train_start": str(dates[0].date()),
        "origin": str(dates[test_start - 1].date()),  # the last day the fold's fit sees
        "test_start": str(dates[test_start].date()),
        "test_end": str(dates[-1].date()),
        "refit": fit.refit,
    }
    if fit.combination is not None:
        entry["combination"] = fit.combination
    for segment in SEGMENTS:
        entry[segment] = score_segment(fit.forecasts[symbol][segment], prep.naive_mae)
    return entry


def describe(cfg: DictConfig) -> dict:
    """The settings a report names."""
    return {
        "representation": str(cfg.features.representation),
        "features": [str(c) for c in cfg.features.columns],
        "window": cfg.window.size,
        "horizon": cfg.window.horizon,
        "units": cfg.model.units,
        "layers": cfg.model.layers,
        "head": str(cfg.model.head),
        "ensemble": cfg.model.ensemble,
        "scheme": str(cfg.evaluation.backtest.scheme),
        "refit_every": cfg.evaluation.backtest.refit_every,
    }


def _saved_combination(fitted) -> dict | None:
    """The published combination as preprocessing.json saves it: its weights, and each
    symbol's fitted peers that it weights (``peers.ets_state``), which predict goes on
    from."""
    if fitted.weights is None:
        return None
    names = fitted.weights.names
    peers = {
        symbol: {name: state for name, state in saved.items() if name in names}
        for symbol, saved in fitted.peers.items()
    }
    return {**fitted.weights.to_dict(), "peers": {s: p for s, p in peers.items() if p}}


@contextlib.contextmanager
def _whole_or_none(staging: Path) -> Iterator[None]:
    """The run's files written in the block into ``staging``, or none of them (the folder
    removed) where it fails or is cut off."""
    try:
        yield
    except BaseException:
        try:
            shutil.rmtree(staging)
        except OSError as exc:  # the error that stopped the write is the one to report
            log.warning("%s: the run's files written so far not removed: %s", staging, exc)
        raise


def write_run(
    run_dir: Path,
    result: RunResult,
    fitted,
    data: dict,
    config_yaml: str,
    label: str,
    plots_on: bool,
    description: dict,
) -> None:
    """Plots and report first, then the artifacts, whose last file marks the run finished.

    They are written into ``run_dir/STAGING_DIR`` and moved into ``run_dir`` once all are
    written, the marker last. A write that fails (a full disk) or is interrupted removes
    that folder: no half a run is left, and an earlier run's files in ``run_dir``
    (``overwrite=true``) stay whole, as a run that failed in training leaves them. They are
    removed only at the move, which holds Ctrl-C and SIGTERM until it is done (the start-up
    checks refused a folder whose run files were not a finished run's)."""
    staging = Path(run_dir) / STAGING_DIR
    shutil.rmtree(staging, ignore_errors=True)  # a killed writer's (SIGKILL)
    staging.mkdir(parents=True)
    with _whole_or_none(staging):
        metrics, predictions = result.metrics, result.predictions
        if plots_on:
            plots.run_plots(
                staging,
                predictions,
                metrics,
                fitted.history,
                label,
                backtest=result.backtest,
                universe=result.universe,
            )
        report = universe_report if result.universe else run_report
        artifacts.write_text(staging / REPORT_FILE, report(metrics, description, label))
        preprocessing = artifacts.Preprocessing(
            transform=fitted.transform,
            intervals=fitted.intervals,
            head=description["head"],
            data=data,
            last_date=str(result.last_date.date()),
            run_id=uuid.uuid4().hex,
            combination=_saved_combination(fitted),
        )
        # The last fold's model is the newest: the forecaster uses it.
        artifacts.save_run(
            staging,
            fitted.model,
            preprocessing,
            metrics,
            predictions,
            config_yaml,
            val_predictions=result.val_predictions,
        )
    with signals_held("the run's files are moved in"):
        cleared = clear_earlier_run(run_dir)
        if cleared:
            log.info("the earlier run's files removed: %s", ", ".join(cleared))
        written = sorted(staging.iterdir(), key=lambda f: f.name == DONE_FILE)  # marker last
        for file in written:
            os.replace(file, Path(run_dir) / file.name)
        staging.rmdir()
        finished_here.append(Path(run_dir))


def print_fold(fit: FitResult, folds: int) -> None:
    (symbol, prep), *_ = fit.preps.items()
    row = score_segment(fit.forecasts[symbol]["test"], prep.naive_mae)["model"]
    origin = prep.dates[prep.segments.test_start - 1].date()
    print(
        f"fold {fit.fold}/{folds} origin {origin}: test rel_mae {row['rel_mae']:.4f}, "
        f"MASE {row['mase']:.4f}"
    )


def print_report(result: RunResult, failed: dict[str, str]) -> None:
    metrics = result.metrics
    if result.universe:
        print(
            f"means over {counted(len(metrics['symbols']), 'symbol')}"
            " (MAE and RMSE, in each symbol's own prices: per symbol in report.md and "
            "metrics.json)"
        )
    print(format_table({s: metrics[s] for s in SEGMENTS}))
    if "combination" in metrics:
        combination = metrics["combination"]
        print(
            f"published forecast (model), fitted on {combination['fitted_on']}: "
            f"{combination['words']}"
        )
    for segment in SEGMENTS:  # a universe's: the means over symbols (each: report.md)
        _print_intervals(metrics[segment], f"{segment}, mean" if result.universe else segment)
    if result.universe:
        _print_symbols(metrics["symbols"])
        for symbol, message in failed.items():
            print(f"  {symbol:<10} skipped: {message}")
        return
    direction = direction_words(metrics["test"])
    if direction:
        print(f"test: {direction}")
    for name, row in metrics["test"].items():  # as report.md lists them
        if name in TESTED:
            print(f"test MAE, {dm_words(row.get('dm_vs_persistence'), name)}")


def _print_intervals(table: dict[str, dict], segment: str) -> None:
    """A segment's published interval, the GARCH(1,1) band around persistence and the test
    between them, one line each (``segment``: how the lines start)."""
    interval = table["model"].get("interval")
    if interval:
        print(f"{segment}: {interval_words(interval)}")
    garch = table["persistence"].get("interval")
    if garch:
        print(f"{segment}: the GARCH(1,1) band around persistence: {interval_words(garch)}")
    if interval and interval.get("score_vs_reference"):
        print(f"{segment} interval score, {score_test_words(interval)}")


def _print_symbols(symbols: dict[str, dict]) -> None:
    """Per symbol of a global model, its test scores and each significant Diebold-Mariano
    verdict of the published forecast and the LSTM against persistence; above
    ``SYMBOLS_LISTED`` symbols, the verdicts counted instead (report.md has every test)."""
    listed = len(symbols) <= SYMBOLS_LISTED
    counts: Counter[str] = Counter()  # "lstm significantly worse" -> symbols
    for symbol, rows in symbols.items():
        row = rows["test"]["model"]
        print(f"  {symbol:<10} test rel_mae {row['rel_mae']:.4f}  MASE {row['mase']:.4f}")
        for name, side, verdict in _significant(rows["test"]):
            counts[f"{name} significantly {side}"] += 1
            if listed:
                print(f"  {symbol:<10} {verdict}")
    if not counts:
        print(
            "  test MAE: no symbol's model or lstm differs significantly from persistence "
            "(every test: report.md)"
        )
    elif not listed:
        said = ", ".join(f"{verdict} on {n}" for verdict, n in counts.items())
        print(f"  test MAE against persistence, {len(symbols)} symbols: {said} (each: report.md)")


def _significant(test: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(forecaster, "better" or "worse", the verdict in words) of the published forecast
    and the LSTM where their test MAE differs significantly from persistence's."""
    found = []
    for name in ("model", "lstm"):
        dm = test.get(name, {}).get("dm_vs_persistence")
        side = 0 if dm is None else significant_side(dm["statistic"], dm["p_value"])
        if side:
            found.append((name, "better" if side < 0 else "worse", dm_words(dm, name)))
    return found
