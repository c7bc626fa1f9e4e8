"""Loading a universe from a warm price cache against building it through the fetch path.

50 synthetic KRX-style symbols of 20 years of daily prices (about 5,200 rows each). The
fetch path is what a run without a cache does: FinanceDataReader.DataReader, then
normalisation and validation; it is timed twice:
- with a fake DataReader that hands over ready-made frames in Naver's schema (the
  boundary the tests fake), so only marketcast's own work is counted;
- with FDR's real DataReader and Naver reader parsing a canned HTTP response, so FDR's
  parsing is counted too (still no network).
The warm-cache path is what a scheduled run does when the cache is up to date: read each
symbol's Parquet file, then validate. All return the same frames (checked). Rounds
alternate and the median round is reported; the XKRX calendar is built before timing,
since it is built once per process.

Real fetches add network time (typically 0.3-2 s per symbol), so the ratios printed here
are lower bounds of what the cache saves.

Then the fetch pool (``marketcast.data.universe.load_universe``): a universe of
``--pool-symbols`` symbols fetched into an empty cache from a fake DataReader that waits
``--latency-ms`` per call, as a request to Naver or Yahoo does, once one at a time
(data.max_concurrency=1) and once with the default pool (8); the ratio is printed.

    python bench/data_cache.py [--symbols 50] [--years 20] [--rounds 5]
                               [--pool-symbols 200] [--latency-ms 200] [--pool-only]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import FinanceDataReader
import numpy as np
import pandas as pd
import requests
from synthetic import random_walk_bars  # bench/synthetic.py

from marketcast.config import DataConfig
from marketcast.data.cache import read_cached
from marketcast.data.sources import load
from marketcast.data.trading_days import last_completed_session


def synthetic_history(rows: int, seed: int) -> pd.DataFrame:
    """A random walk in Naver's schema: int prices, Volume, Change; index named Date."""
    rng = np.random.default_rng(seed)
    frame = random_walk_bars(rng, rows, "2005-01-03", 50_000, 0.0002, 0.02).round(0)
    frame = frame.astype("int64")
    frame["Volume"] = rng.integers(100_000, 5_000_000, rows)
    frame["Change"] = frame["Close"].pct_change()
    return frame


class ReadyReader:
    """DataReader stand-in: the prepared answer, sliced as FDR slices it; no network time."""

    def __init__(self, answers: dict[str, pd.DataFrame]):
        self.answers = answers

    def __call__(self, symbol, start=None, end=None, exchange=None, data_source=None):
        return self.answers[symbol].loc[start:end]


class CannedNaver:
    """``requests.get`` for FDR's Naver reader: the chart XML of each prepared history."""

    def __init__(self, answers: dict[str, pd.DataFrame]):
        self.bodies = {}
        for symbol, frame in answers.items():
            rows = frame[["Open", "High", "Low", "Close", "Volume"]].itertuples()
            self.bodies[symbol] = "\n".join(
                f'<item data="{d:%Y%m%d}|{o}|{h}|{lo}|{c}|{v}" />' for d, o, h, lo, c, v in rows
            )

    def __call__(self, url, *args, **kwargs):
        return SimpleNamespace(text=self.bodies[url.rsplit("=", 1)[1]])


class SlowReader(ReadyReader):
    """ReadyReader that waits ``latency_s`` per call first (the network's share)."""

    def __init__(self, answers: dict[str, pd.DataFrame], latency_s: float):
        super().__init__(answers)
        self.latency_s = latency_s

    def __call__(self, symbol, start=None, end=None, exchange=None, data_source=None):
        time.sleep(self.latency_s)
        return super().__call__(symbol, start, end)


def time_pool(symbols: int, rows: int, latency_s: float, workers: list[int]) -> dict[int, float]:
    """Seconds to load ``symbols`` fresh symbols through the pool, for each pool size."""
    from marketcast.data.universe import load_universe

    names = [f"{200000 + 10 * i:06d}" for i in range(symbols)]
    answers = {s: synthetic_history(rows, seed) for seed, s in enumerate(names)}
    now = pd.Timestamp(next(iter(answers.values())).index[-1]) + pd.Timedelta(days=1)
    last_completed_session("XKRX", now)
    real_reader = FinanceDataReader.DataReader
    seconds = {}
    try:
        FinanceDataReader.DataReader = SlowReader(answers, latency_s)
        for n in workers:
            with tempfile.TemporaryDirectory(prefix="marketcast-pool-") as tmp:
                cfg = DataConfig(source="fdr", symbols=names, cache_dir=str(Path(tmp) / "c"))
                cfg.max_concurrency = n  # a DataConfig field once the schema has it
                began = time.perf_counter()
                result = load_universe(cfg, now=now)
                seconds[n] = time.perf_counter() - began
                assert len(result.loaded) == symbols and not result.failed, result.failed
    finally:
        FinanceDataReader.DataReader = real_reader
    return seconds


def print_pool(args: argparse.Namespace, rows: int) -> None:
    seconds = time_pool(args.pool_symbols, rows, args.latency_ms / 1000, [1, 8])
    print(
        f"fetch pool: {args.pool_symbols} symbols x {rows} rows, {args.latency_ms:g} ms "
        "per request, into an empty cache"
    )
    for n, s in seconds.items():
        label = "one at a time (max_concurrency=1)" if n == 1 else f"pool (max_concurrency={n})"
        print(f"  {label:<36} {s:7.2f} s  {s / args.pool_symbols * 1000:6.1f} ms/symbol")
    print(f"  speed-up of the pool: {seconds[1] / seconds[8]:.2f}x")


def time_round(cfg: DataConfig, symbols: list[str], now: pd.Timestamp) -> tuple[float, dict]:
    began = time.perf_counter()
    frames = {symbol: load(cfg, symbol=symbol, now=now).frame for symbol in symbols}
    return time.perf_counter() - began, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pool-symbols", type=int, default=200, help="0: no pool measurement")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--pool-only", action="store_true", help="only the pool measurement")
    args = parser.parse_args()

    rows = args.years * 261
    if args.pool_only:
        print_pool(args, rows)
        return
    symbols = [f"{100000 + 10 * i:06d}" for i in range(args.symbols)]
    answers = {s: synthetic_history(rows, seed) for seed, s in enumerate(symbols)}
    last_day = next(iter(answers.values())).index[-1]
    now = pd.Timestamp(last_day) + pd.Timedelta(days=1)  # every synthetic day has closed
    real_reader, real_get = FinanceDataReader.DataReader, requests.get
    ready, canned = ReadyReader(answers), CannedNaver(answers)
    last_completed_session("XKRX", now)  # build the calendar outside the timings

    with tempfile.TemporaryDirectory(prefix="marketcast-bench-") as tmp:
        cache_dir = Path(tmp) / "cache"
        fetch_cfg = DataConfig(source="fdr", cache_dir=None)  # no cache: fetch every time
        cache_cfg = DataConfig(source="fdr", cache_dir=str(cache_dir))
        FinanceDataReader.DataReader = ready
        warmed = [load(cache_cfg, symbol=s, now=now) for s in symbols]
        assert all(item.origin == "fetched (whole history)" for item in warmed)

        times: dict[str, list[float]] = {"ready": [], "parsed": [], "cache": [], "read": []}
        try:
            for _ in range(args.rounds):
                FinanceDataReader.DataReader = ready
                seconds, fetched = time_round(fetch_cfg, symbols, now)
                times["ready"].append(seconds)
                FinanceDataReader.DataReader, requests.get = real_reader, canned
                seconds, parsed = time_round(fetch_cfg, symbols, now)
                times["parsed"].append(seconds)
                requests.get = real_get
                seconds, cached = time_round(cache_cfg, symbols, now)
                times["cache"].append(seconds)
                began = time.perf_counter()
                for symbol in symbols:
                    read_cached(cache_dir, symbol)
                times["read"].append(time.perf_counter() - began)
        finally:
            FinanceDataReader.DataReader, requests.get = real_reader, real_get
        for symbol in symbols:
            pd.testing.assert_frame_equal(fetched[symbol], cached[symbol])
            pd.testing.assert_frame_equal(parsed[symbol], cached[symbol])
        origins = {load(cache_cfg, symbol=s, now=now).origin for s in symbols}
        assert origins == {"cache (up to date)"}, origins

    median = {name: statistics.median(values) for name, values in times.items()}
    per = 1000 / len(symbols)
    print(f"{len(symbols)} symbols x {rows} rows, median of {args.rounds} rounds, no network")
    labels = {
        "ready": "fetch path, fake DataReader",
        "parsed": "fetch path, FDR parsing a canned response",
        "cache": "warm cache (read + validate)",
        "read": "  of which the Parquet reads",
    }
    for name, label in labels.items():
        print(f"{label:<44} {median[name]:7.3f} s  {median[name] * per:6.2f} ms/symbol")
    print(
        f"ratio fetch path / warm cache: {median['ready'] / median['cache']:.2f} (fake "
        f"DataReader), {median['parsed'] / median['cache']:.2f} (FDR parsing)"
    )
    if args.pool_symbols:
        print_pool(args, rows)


if __name__ == "__main__":
    main()
