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

from omegaconf import DictConfig

from marketcast.data.universe import UniverseLoad, load_universe
from marketcast.errors import EXIT_OK, EXIT_PARTIAL
from marketcast.progress import counted


def fetch(cfg: DictConfig) -> int:
    """Load (and so cache) every symbol of the universe; print a summary; return the status."""
    result = load_universe(cfg.data)
    for line in summary_lines(result):
        print(line)
    return EXIT_PARTIAL if result.failed else EXIT_OK


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
    lines.append(f"{len(result.loaded)} of {counted(len(symbols), 'symbol')} loaded")
    return lines
