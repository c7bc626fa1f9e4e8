"""A universe: many symbols loaded together, each fetched, cached and validated on its own."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from marketcast.config import DataConfig
from marketcast.data.sources import Loaded, Offline, asking_once_offline, load, retry_jitter
from marketcast.data.symbols import canonical_symbol, without_symbol
from marketcast.errors import MarketcastError
from marketcast.progress import progress

log = logging.getLogger(__name__)

FILE_SUFFIXES = (".csv", ".txt", ".parquet", ".xlsx")


@dataclass(frozen=True)
class UniverseLoad:
    """What loading a universe gave: the symbols that loaded and why the others did not."""

    loaded: dict[str, Loaded] = field(default_factory=dict)  # in universe order
    failed: dict[str, str] = field(default_factory=dict)  # symbol -> the error message

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        return {symbol: item.frame for symbol, item in self.loaded.items()}


class NoSymbols(MarketcastError):
    """The symbols and the universe file name no symbol."""


def universe_symbols(cfg: DataConfig) -> list[str]:
    """``data.symbols``, then the symbols of ``data.universe_file``, without repeats.

    With neither set, ``data.symbol`` alone. Each in its canonical spelling
    (``symbols.canonical_symbol``: aapl is AAPL).
    """
    symbols = list(cfg.symbols)
    if cfg.universe_file:
        symbols += _read_universe_file(cfg.universe_file)
    if not symbols and cfg.symbol:
        symbols = [cfg.symbol]
    paths = [s for s in symbols if _is_path(s)]
    if paths:
        raise MarketcastError(
            f"{paths[0]!r} is a file path, not a symbol: a universe holds FinanceDataReader "
            "symbols (005930, AAPL), fetched into the cache. Train on a CSV file alone with "
            "data=csv data.path=FILE."
        )
    spelled = [s for s in map(canonical_symbol, symbols) if s]
    unique = list(dict.fromkeys(spelled))
    if len(unique) < len(spelled):
        twice = [s for s in unique if spelled.count(s) > 1]
        log.info("%s named more than once (any spelling): loaded once", ", ".join(twice))
    if not unique:
        empty = (
            f"data.universe_file={cfg.universe_file!r} holds none (only blank lines or # "
            "comments); "
            if cfg.universe_file
            else ""
        )
        raise NoSymbols(
            f"no symbols to load: {empty}name them with "
            "data.symbols=[005930,000660] or data.universe_file=FILE (one symbol per line)."
        )
    return unique


def load_universe(
    cfg: DataConfig, now: pd.Timestamp | None = None, columns: Collection[str] | None = None
) -> UniverseLoad:
    """Load every symbol of the universe ``cfg`` names (see ``sources.load``, also for
    ``columns``).

    Up to ``data.max_concurrency`` symbols are fetched at once (threads: a fetch waits
    on the network, and pandas and pyarrow release the GIL for the rest); each keeps
    its own deadline and retries, and the results are in universe order. With
    ``data.on_error=skip`` a symbol that fails is logged and listed in ``failed``, and
    the others still load; with ``raise`` the first failure stops the load: symbols
    not yet started are cancelled, those in flight are abandoned. Config errors stop
    it either way, before any fetch.
    """
    if cfg.source != "fdr":
        raise MarketcastError(
            f"a universe (data.symbols, data.universe_file) is loaded from FinanceDataReader "
            f"and its cache, not data.source={cfg.source}: use data=fdr with symbols (offline "
            "from a cache that marketcast fetch filled: data.refresh=never), or train on one "
            "CSV file with data=csv data.path=FILE."
        )
    symbols = universe_symbols(cfg)
    now = pd.Timestamp.now(tz="UTC") if now is None else now  # one "now" for every symbol
    # The field joins DataConfig with the pool; until then the default applies.
    workers = max(1, min(cfg.max_concurrency, len(symbols)))
    if cfg.refresh != "never":
        # Import FDR (slow, and a package of many modules) once here, not in every thread.
        importlib.import_module("FinanceDataReader")

    offline = Offline()  # a source the resolver does not know is not asked for each symbol

    def load_one(symbol: str) -> Loaded:
        with asking_once_offline(offline):
            if workers == 1:
                return load(cfg, symbol=symbol, now=now, columns=columns)
            with retry_jitter(1.0):  # spread the retries of requests that failed together
                return load(cfg, symbol=symbol, now=now, columns=columns)

    outcomes: dict[str, Loaded | str] = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="marketcast-load")
    stopped = False
    try:
        futures = {pool.submit(load_one, symbol): symbol for symbol in symbols}
        with progress(as_completed(futures), len(futures), "fetched", "symbol", log) as done:
            for future in done:
                symbol = futures[future]
                try:
                    outcomes[symbol] = future.result()
                except MarketcastError as exc:
                    if cfg.on_error == "raise":
                        raise
                    said = without_symbol(exc, symbol)  # every list names the symbol
                    log.warning("%s: skipped: %s", symbol, said)
                    done.fail()
                    outcomes[symbol] = said
    except BaseException:
        stopped = True
        raise
    finally:
        # On a failure, do not wait for the fetches in flight: each ends by its deadline.
        pool.shutdown(wait=not stopped, cancel_futures=stopped)
        offline.say()  # the symbols of each source not asked, in one line
    result = UniverseLoad()
    for symbol in symbols:
        outcome = outcomes[symbol]
        if isinstance(outcome, str):
            result.failed[symbol] = outcome
        else:
            result.loaded[symbol] = outcome
    return result


def _is_path(symbol: object) -> bool:
    """A file's path or name where a symbol belongs (FDR would upper-case it and ask Yahoo
    for '/DATA/AAPL.CSV', then blame the network). FDR's own symbols hold a '/' too
    (USD/KRW), so a path is told by where it starts or how it ends."""
    text = str(symbol).strip().lower()
    return text.startswith(("/", "~", "./", "../", "\\")) or text.endswith(FILE_SUFFIXES)


def _read_universe_file(path: str) -> list[str]:
    file = Path(path)
    if not file.is_file():
        raise MarketcastError(
            f"data.universe_file={path!r} does not exist or is not a file: "
            "write one symbol per line, or pass data.symbols=[...] instead."
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MarketcastError(f"data.universe_file={path!r} is not UTF-8 text ({exc}).") from None
    return [line.split("#", 1)[0].strip() for line in text.splitlines()]
