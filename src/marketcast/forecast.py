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
    log.info(
        "run %s: %s from %s, window %d, horizon %d",
        run_dir,
        prep.target,
        prep.features,
        prep.window,
        prep.horizon,
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
    """The forecast table from ``frame``'s last ``window`` rows (pure apart from the model).

    Columns: symbol, as_of (last observed date), date (forecast date), step, forecast.
    """
    selected = select_columns(
        frame, FeaturesConfig(columns=prep.features, target=prep.target, scaler=prep.scaler.method)
    )
    if len(selected) < prep.window:
        raise MarketcastError(
            f"only {len(selected)} rows of data up to {selected.index[-1].date()}; the run needs "
            f"window={prep.window}. Use a later as_of or a run with a smaller window."
        )
    recent = selected.iloc[-prep.window :]
    x = prep.scaler.transform(recent[prep.features].to_numpy("float64"), prep.features)
    x = x[None].astype("float32")  # -> (1, W, F)
    output = np.asarray(model.predict_on_batch(x))
    prices = prep.scaler.inverse(point_forecast(output)[0], prep.target)  # -> (H,)
    as_of = recent.index[-1]
    return pd.DataFrame(
        {
            "symbol": prep.data.get("symbol") or Path(prep.data.get("path") or "").stem,
            "as_of": as_of.date(),
            "date": next_trading_days(as_of, prep.horizon, _exchange(prep.data)).date,
            "step": np.arange(1, prep.horizon + 1),
            "forecast": prices,
        }
    )


def _exchange(data: dict) -> str | None:
    exchange = data.get("exchange", "auto")
    return exchange_for(data.get("symbol")) if exchange == "auto" else exchange
