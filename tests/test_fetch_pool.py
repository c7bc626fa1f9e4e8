"""A universe is fetched on a bounded pool: the bound, the deadline, order, errors, retries."""

import threading
import time

import FinanceDataReader
import pandas as pd
import pytest
from conftest import synthetic_prices
from fake_fdr import FakeReader

from marketcast.config import DataConfig
from marketcast.data.universe import load_universe
from marketcast.errors import MarketcastError

NOW = pd.Timestamp("2016-06-01 12:00", tz="UTC")
SYMBOLS = [f"{100000 + i:06d}" for i in range(12)]
HISTORIES = {s: synthetic_prices(120, seed=i) * 100 for i, s in enumerate(SYMBOLS)}


def pool_config(tmp_path, max_concurrency: int, **overrides) -> DataConfig:
    values = {"source": "fdr", "cache_dir": str(tmp_path / "cache"), "backoff_s": 0.0}
    cfg = DataConfig(**{"symbols": SYMBOLS, **values, **overrides})
    # DataConfig(max_concurrency=...) once the schema has the field; the loader reads the
    # attribute either way.
    cfg.max_concurrency = max_concurrency
    return cfg


class SlowReader(FakeReader):
    """FakeReader whose calls take ``seconds`` each (per symbol if a dict); records overlap."""

    def __init__(self, histories, seconds):
        super().__init__(histories)
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, symbol, *args, **kwargs):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            wait = self.seconds.get(symbol, 0.0) if isinstance(self.seconds, dict) else self.seconds
            time.sleep(wait)
            return super().__call__(symbol, *args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("bound", [1, 3])
def test_no_more_requests_at_once_than_the_bound(tmp_path, monkeypatch, bound):
    reader = SlowReader(HISTORIES, 0.05)
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    result = load_universe(pool_config(tmp_path, bound), now=NOW)
    assert reader.most == bound
    assert len(reader.calls) == len(SYMBOLS) and not result.failed


def test_results_keep_universe_order_whatever_finishes_first(tmp_path, monkeypatch):
    # The first symbols answer last.
    seconds = {s: 0.02 * (len(SYMBOLS) - i) for i, s in enumerate(SYMBOLS)}
    monkeypatch.setattr(FinanceDataReader, "DataReader", SlowReader(HISTORIES, seconds))
    result = load_universe(pool_config(tmp_path, 6), now=NOW)
    assert list(result.loaded) == SYMBOLS
    for symbol in SYMBOLS:
        assert result.loaded[symbol].frame["Close"].iloc[-1] == pytest.approx(
            HISTORIES[symbol]["Close"].round(0).iloc[-1]
        )


def test_a_hanging_symbol_fails_at_its_deadline_and_the_others_load(tmp_path, monkeypatch):
    release = threading.Event()
    fake = FakeReader(HISTORIES)

    def reader(symbol, *args, **kwargs):
        if symbol == SYMBOLS[2]:
            release.wait(30)  # a stalled socket
        return fake(symbol, *args, **kwargs)

    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    began = time.monotonic()
    try:
        result = load_universe(pool_config(tmp_path, 4, timeout_s=0.3, retries=0), now=NOW)
    finally:
        release.set()
    assert time.monotonic() - began < 3
    assert list(result.failed) == [SYMBOLS[2]]
    assert (
        "1 try, which failed with TimeoutError: no answer within 0.3 s"
        in (result.failed[SYMBOLS[2]])
    )
    assert list(result.loaded) == [s for s in SYMBOLS if s != SYMBOLS[2]]


def test_on_error_raise_cancels_the_symbols_not_started(tmp_path, monkeypatch):
    histories = {s: f for s, f in HISTORIES.items() if s != SYMBOLS[1]}  # SYMBOLS[1]: no data
    reader = SlowReader(histories, 0.05)
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    with pytest.raises(MarketcastError, match=f"'{SYMBOLS[1]}' \\(Naver\\): the source returned"):
        load_universe(pool_config(tmp_path, 2, on_error="raise"), now=NOW)
    time.sleep(0.2)  # let the fetches in flight end
    assert len(reader.calls) < len(SYMBOLS)


def test_retries_in_the_pool_back_off_with_jitter_and_give_up(tmp_path, monkeypatch):
    calls: list[str] = []

    def offline(symbol, *args, **kwargs):
        calls.append(symbol)
        raise ConnectionError("Max retries exceeded")

    slept: list[float] = []
    monkeypatch.setattr(FinanceDataReader, "DataReader", offline)
    monkeypatch.setattr(time, "sleep", slept.append)
    cfg = pool_config(tmp_path, 4, retries=2, backoff_s=0.5, symbols=SYMBOLS[:4])
    result = load_universe(cfg, now=NOW)
    assert not result.loaded and len(calls) == 3 * 4  # every symbol tried 3 times
    for message in result.failed.values():
        assert "could not be reached: 3 tries, the last failed with ConnectionError" in message
    first, second = sorted(slept)[:4], sorted(slept)[4:]
    assert all(0.5 <= s <= 1.0 for s in first)  # 0.5 * 2**0 plus up to backoff_s of jitter
    assert all(1.0 <= s <= 1.5 for s in second)  # 0.5 * 2**1 plus jitter
    assert len(set(slept)) > 1  # the jitter spread them


def test_one_at_a_time_waits_exactly_as_before(tmp_path, monkeypatch):
    def offline(symbol, *args, **kwargs):
        raise ConnectionError("Max retries exceeded")

    slept: list[float] = []
    monkeypatch.setattr(FinanceDataReader, "DataReader", offline)
    monkeypatch.setattr(time, "sleep", slept.append)
    cfg = pool_config(tmp_path, 1, retries=2, backoff_s=0.5, symbols=SYMBOLS[:2])
    result = load_universe(cfg, now=NOW)
    assert len(result.failed) == 2
    assert slept == [0.5, 1.0, 0.5, 1.0]
