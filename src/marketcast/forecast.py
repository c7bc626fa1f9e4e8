"""The forecasting job: a finished run + the latest prices -> the next trading days' forecast."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from marketcast import artifacts
from marketcast.config import DataConfig, FeaturesConfig
from marketcast.dataset import select_columns
from marketcast.errors import MarketcastError
from marketcast.evaluation import quantile_column
from marketcast.model import point_forecast
from marketcast.sources import load_prices
from marketcast.trading_days import exchange_for, next_trading_days

log = logging.getLogger(__name__)


def forecast(cfg: DictConfig) -> pd.DataFrame:
    """Forecast ``horizon`` trading days after the last available (or ``as_of``) date.

    Writes the table to ``cfg.output`` as CSV, prints it and returns it.
    """
    run_dir = (
        Path(cfg.run_dir) if cfg.run_dir else artifacts.latest_run(Path(cfg.paths.output_root))
    )
    model, prep = artifacts.load_run(run_dir)
    t = prep.transform
    log.info(
        "run %s: %s from %s (%s), window %d, horizon %d",
        run_dir,
        t.target,
        t.features,
        t.representation,
        t.window,
        t.horizon,
    )

    # The run's own source, up to as_of (or today) rather than the run's data.end.
    data_cfg = replace(DataConfig(**prep.data), end=cfg.as_of)
    frame = load_prices(data_cfg)
    table = forecast_frame(model, prep, frame)
    table["run_dir"] = str(run_dir)

    output = Path(cfg.output)
    artifacts.write_csv(output, table)
    print(table.drop(columns="run_dir").to_string(index=False))
    print(f"forecast written to {output}")
    return table


def forecast_frame(model, prep: artifacts.Preprocessing, frame: pd.DataFrame) -> pd.DataFrame:
    """The forecast table from ``frame``'s last rows (pure apart from the model).

    Columns: symbol, as_of (last observed date), date (forecast date), step,
    forecast, and one column per interval bound (q10, q90, ...).
    """
    t = prep.transform
    selected = select_columns(
        frame,
        FeaturesConfig(
            columns=t.features,
            target=t.target,
            representation=t.representation,
            scaler=t.input_scaler.method,
        ),
    )
    need = t.window + 1  # one row before the window: log returns need it
    if len(selected) < need:
        raise MarketcastError(
            f"only {len(selected)} rows of data up to {selected.index[-1].date()}; the run needs "
            f"{need} (window.size={t.window} + 1). Use a later as_of or a run with a smaller "
            "window."
        )
    recent = selected.iloc[-need:]
    raw = recent[t.features].to_numpy("float64")[None]  # -> (1, W + 1, F)
    history = recent[t.target].to_numpy("float64")[None, 1:]  # -> (1, W)
    last = history[:, -1]
    output = np.asarray(model.predict_on_batch(t.inputs(raw, last)))
    point = t.prices(point_forecast(output), last)  # -> (1, H)
    bands = prep.intervals.apply(point, history)  # -> (1, H, L)
    as_of = recent.index[-1]
    table = pd.DataFrame(
        {
            "symbol": prep.data.get("symbol") or Path(prep.data.get("path") or "").stem,
            "as_of": as_of.date(),
            "date": next_trading_days(as_of, t.horizon, _exchange(prep.data)).date,
            "step": np.arange(1, t.horizon + 1),
            "forecast": point[0],
        }
    )
    for j, level in enumerate(prep.intervals.levels):
        table[quantile_column(level)] = bands[0, :, j]
    return table


def _exchange(data: dict) -> str | None:
    exchange = data.get("exchange", "auto")
    return exchange_for(data.get("symbol")) if exchange == "auto" else exchange
