"""One model for a whole universe: trained on the pooled windows of every symbol.

Each symbol is split and windowed on its own dates; a scale-free
representation (relative or log_return) lets a 20,000-KRW stock and a
400-USD stock share the model. Evaluation is per symbol, against that
symbol's own baselines, and averaged over symbols.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from marketcast.data.universe import load_universe
from marketcast.errors import MarketcastError
from marketcast.evaluation.forecasts import (
    EVAL_SEGMENTS,
    mean_over,
    predictions_table,
    score_segment,
)
from marketcast.evaluation.metrics import format_table
from marketcast.features.dataset import prepare_many
from marketcast.jobs.forecaster import fit_forecaster, save

log = logging.getLogger(__name__)


def train_global(cfg: DictConfig, run_dir: Path) -> float:
    """Train and evaluate one model on the universe ``cfg.data`` names; return mean val MASE."""
    universe = load_universe(cfg.data)
    if not universe.loaded:
        raise MarketcastError(
            "no symbol of the universe could be loaded: "
            + "; ".join(f"{s}: {m}" for s, m in universe.failed.items())
        )
    preps = prepare_many(universe.frames, cfg.features, cfg.window, cfg.split)
    symbols = list(preps)
    log.info(
        "global model on %d symbols (%s); %d training windows in all",
        len(symbols),
        ", ".join(symbols),
        sum(len(p.parts["train"].windows) for p in preps.values()),
    )
    fitted = fit_forecaster(list(preps.values()), cfg)

    per_symbol, tables = {}, []
    for symbol, prepared in preps.items():
        per_symbol[symbol] = {}
        for segment in EVAL_SEGMENTS:
            f = fitted.forecast(prepared.parts[segment])
            per_symbol[symbol][segment] = score_segment(f, prepared.naive_mae)
            if segment == "test":
                table = predictions_table(f, prepared.dates)
                table.insert(0, "symbol", symbol)
                tables.append(table)
    metrics = {
        segment: mean_over([per_symbol[s][segment] for s in symbols]) for segment in EVAL_SEGMENTS
    }
    metrics["symbols"] = per_symbol
    metrics["failed"] = universe.failed
    last = max(p.dates[-1] for p in preps.values())
    predictions = pd.concat(tables, ignore_index=True)
    save(run_dir, cfg, fitted, pd.DatetimeIndex([last]), metrics, predictions, symbols=symbols)

    print(format_table({s: metrics[s] for s in EVAL_SEGMENTS}) + "   (means over symbols)")
    for symbol in symbols:
        row = per_symbol[symbol]["test"]["model"]
        print(f"  {symbol:<10} test rel_mae {row['rel_mae']:.4f}  MASE {row['mase']:.4f}")
    for symbol, message in universe.failed.items():
        print(f"  {symbol:<10} skipped: {message}")
    print(f"run directory: {run_dir}")
    return float(metrics["val"]["model"]["mase"])
