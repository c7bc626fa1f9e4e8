"""Warm or refresh the price cache for a universe, for use before a sweep or from cron.

    marketcast fetch symbols=[005930,000660]
    marketcast fetch universe_file=universe.txt data.refresh=always

Prints one line per symbol: rows, first and last date, where the rows came
from, and what validation found (README, "Data"). Exit status: 0 every
symbol loaded; 3 at least one symbol failed (each is listed; the others were
cached); 2 a user error that stopped everything (a bad value, a missing
universe file, or a failure with data.on_error=raise; one message on
stderr); 1 anything else.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from marketcast.cli import prepare_environment, user_errors
from marketcast.config import FetchJobConfig
from marketcast.data.universe import UniverseLoad, load_universe

ROOT = Path(__file__).resolve().parents[3]  # the repository (src layout, editable install)
SYMBOL_FAILED_EXIT = 3

ConfigStore.instance().store(name="fetch_schema", node=FetchJobConfig)


def fetch(cfg: DictConfig) -> int:
    """Load (and so cache) every symbol of the universe; print a summary; return the status."""
    result = load_universe(cfg.data)
    for line in summary_lines(result):
        print(line)
    return SYMBOL_FAILED_EXIT if result.failed else 0


def summary_lines(result: UniverseLoad) -> list[str]:
    """One line per symbol, in universe order, then a total."""
    symbols = [*result.loaded, *result.failed]
    width = max(len(s) for s in symbols) if symbols else 0
    lines = []
    for symbol, item in result.loaded.items():
        dates = item.frame.index
        lines.append(
            f"{symbol:<{width}}  {len(dates):>6} rows  {dates[0].date()}..{dates[-1].date()}  "
            f"{item.origin}; validation: {item.report.summary()}"
        )
    for symbol, message in result.failed.items():
        lines.append(f"{symbol:<{width}}  FAILED  {message}")
    lines.append(f"{len(result.loaded)} of {len(symbols)} symbols loaded")
    return lines


@hydra.main(version_base="1.3", config_path=str(ROOT / "conf"), config_name="fetch")
@user_errors
def main(cfg: DictConfig) -> None:
    status = fetch(cfg)
    if status:
        sys.exit(status)


if __name__ == "__main__":
    prepare_environment(ROOT)
    main()
