"""The price cache: incremental refresh, refresh policies, damage, concurrency, offline fallback."""

import logging
import multiprocessing
import time

import FinanceDataReader
import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_prices
from fake_fdr import FailingReader, FakeReader

from marketcast.config import DataConfig
from marketcast.data.cache import DamagedCache, cache_path, read_cached, write_cached
from marketcast.data.sources import load, load_prices
from marketcast.data.validation import schema_problem
from marketcast.errors import MarketcastError

SYMBOL = "005930"  # KRX: Naver's schema, XKRX calendar
# 2024-03-04 is a Monday; XKRX closes at 06:30 UTC.
HISTORY = synthetic_prices(80, start="2024-01-02", exchange="XKRX") * 500  # to 2024-04-22
NOW = pd.Timestamp("2024-03-04 12:00", tz="UTC")  # 2024-03-04 closed: the last complete session
LATER = pd.Timestamp("2024-03-26 12:00", tz="UTC")


def cached_config(tmp_path, **overrides) -> DataConfig:
    values = {
        "source": "fdr",
        "symbol": SYMBOL,
        "cache_dir": str(tmp_path / "cache"),
        "backoff_s": 0.0,
        **overrides,
    }
    return DataConfig(**values)


@pytest.fixture
def fake(monkeypatch):
    reader = FakeReader({SYMBOL: HISTORY})
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    return reader


def offline(monkeypatch):
    reader = FailingReader(ConnectionError("Max retries exceeded"))
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    return reader.calls


def test_first_load_caches_the_whole_history_and_the_next_reads_it(tmp_path, fake):
    cfg = cached_config(tmp_path)
    first = load(cfg, now=NOW)
    assert fake.starts == [None]
    assert first.origin == "fetched (whole history)"
    assert first.frame.index[-1] == pd.Timestamp("2024-03-04")
    assert cache_path(tmp_path / "cache", SYMBOL).is_file()

    again = load(cfg, now=NOW + pd.Timedelta(hours=10))  # no session has closed since
    assert fake.starts == [None]
    assert again.origin == "cache (up to date)"
    pd.testing.assert_frame_equal(again.frame, first.frame)


def test_incremental_refresh_fetches_from_the_last_cached_day_and_equals_a_full_fetch(
    tmp_path, fake
):
    cfg = cached_config(tmp_path)
    load(cfg, now=NOW)
    refreshed = load(cfg, now=LATER)
    # The last cached day is fetched again (to notice re-adjusted history), nothing earlier.
    assert fake.starts == [None, "2024-03-04"]
    assert refreshed.origin == "cache + 16 new rows"

    full = load(cached_config(tmp_path / "other"), now=LATER)
    pd.testing.assert_frame_equal(refreshed.frame, full.frame)
    pd.testing.assert_frame_equal(
        read_cached(tmp_path / "cache", SYMBOL), read_cached(tmp_path / "other" / "cache", SYMBOL)
    )


def test_a_session_still_trading_is_neither_used_nor_cached(tmp_path, fake):
    during = pd.Timestamp("2024-03-05 03:00", tz="UTC")  # 12:00 in Seoul: 03-05 is trading
    got = load_prices(cached_config(tmp_path), now=during)
    assert got.index[-1] == pd.Timestamp("2024-03-04")
    assert read_cached(tmp_path / "cache", SYMBOL).index[-1] == pd.Timestamp("2024-03-04")


def test_no_new_rows_at_the_source_yet_leaves_the_cache_alone(tmp_path, monkeypatch):
    reader = FakeReader({SYMBOL: HISTORY.loc[:"2024-03-04"]})  # the source lags a day
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    cfg = cached_config(tmp_path)
    load(cfg, now=NOW)
    path = cache_path(tmp_path / "cache", SYMBOL)
    written = path.stat().st_mtime_ns
    later = load(cfg, now=NOW + pd.Timedelta(days=1))
    assert reader.starts == [None, "2024-03-04"]
    assert later.origin == "cache (no newer rows at the source yet)"
    assert path.stat().st_mtime_ns == written


def test_data_end_within_the_cache_needs_no_fetch(tmp_path, fake):
    load(cached_config(tmp_path), now=NOW)
    got = load_prices(cached_config(tmp_path, end="2024-02-29"), now=LATER)
    assert fake.starts == [None]
    assert got.index[-1] == pd.Timestamp("2024-02-29")


def test_an_open_data_end_ahead_of_the_calendar_loads_up_to_today(tmp_path, fake):
    """data.end=2099-12-31 (an open end) was asked of the calendar as if it were today."""
    load(cached_config(tmp_path), now=NOW)
    got = load_prices(cached_config(tmp_path, end="2099-12-31"), now=NOW)
    assert fake.starts == [None]  # up to date: no fetch
    assert got.index[-1] == pd.Timestamp("2024-03-04")


def test_refresh_always_fetches_the_whole_history(tmp_path, fake):
    load(cached_config(tmp_path), now=NOW)
    load(cached_config(tmp_path, refresh="always"), now=NOW)
    assert fake.starts == [None, None]


def test_refresh_never_reads_only_the_cache(tmp_path, fake):
    load(cached_config(tmp_path), now=NOW)
    got = load(cached_config(tmp_path, refresh="never"), now=LATER)
    assert fake.starts == [None] and got.origin == "cache"
    with pytest.raises(MarketcastError, match=r"data.refresh=never and no cached prices at .*AAPL"):
        load(cached_config(tmp_path, refresh="never", symbol="AAPL"), now=LATER)
    assert fake.starts == [None]


def test_re_adjusted_history_is_fetched_whole(tmp_path, monkeypatch, caplog):
    reader = FakeReader({SYMBOL: HISTORY})
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    cfg = cached_config(tmp_path)
    load(cfg, now=NOW)
    reader.histories[SYMBOL] = HISTORY / 2  # a 2-for-1 split: the source adjusts all history
    got = load(cfg, now=LATER)
    assert reader.starts == [None, "2024-03-04", None]
    assert got.origin.startswith("fetched (whole history: cached prices had been re-adjusted")
    assert "changed since they were cached" in caplog.text
    np.testing.assert_allclose(got.frame["Close"], (HISTORY / 2).round(0).loc[:"2024-03-26"].Close)


def test_a_column_the_source_starts_to_give_refetches_the_whole_history(
    tmp_path, monkeypatch, caplog
):
    """An index cached while its Volume was empty (left out), then given with Volume: the
    merge would leave the cached rows without Volume, and validation drop them all."""
    reader = FakeReader({SYMBOL: HISTORY})
    without_volume = reader.__call__

    def answer(symbol, start=None, end=None, **kwargs):
        frame = without_volume(symbol, start, end).astype("float64")
        if reader.volume_empty:
            frame["Volume"] = np.nan
        return frame

    reader.volume_empty = True
    monkeypatch.setattr(FinanceDataReader, "DataReader", answer)
    cfg = cached_config(tmp_path)
    assert "Volume" not in load(cfg, now=NOW).frame.columns
    reader.volume_empty = False
    got = load(cfg, now=LATER)
    assert reader.starts == [None, "2024-03-04", None]
    assert got.origin.startswith("fetched (whole history: the source now gives Volume")
    assert "the source now gives Volume" in caplog.text
    full = load(cached_config(tmp_path / "other"), now=LATER)
    pd.testing.assert_frame_equal(got.frame, full.frame)
    assert got.report.summary() == full.report.summary()


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not parquet at all"),
        lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),  # torn
        lambda path: pd.DataFrame({"foo": [1, 2]}).to_parquet(path),  # another table
    ],
    ids=["garbage", "truncated", "wrong-schema"],
)
def test_a_damaged_cache_file_is_reported_and_replaced(tmp_path, fake, caplog, damage):
    cfg = cached_config(tmp_path)
    first = load(cfg, now=NOW)
    path = cache_path(tmp_path / "cache", SYMBOL)
    damage(path)
    with pytest.raises(DamagedCache):
        read_cached(tmp_path / "cache", SYMBOL)
    again = load(cfg, now=NOW)
    assert fake.starts == [None, None]  # fetched whole again, not trusted
    assert "the cache file" in caplog.text and "fetching the whole history again" in caplog.text
    pd.testing.assert_frame_equal(again.frame, first.frame)
    assert schema_problem(read_cached(tmp_path / "cache", SYMBOL)) is None

    damage(path)
    with pytest.raises(MarketcastError, match="data.refresh=never forbids fetching it again"):
        load(cached_config(tmp_path, refresh="never"), now=NOW)


def test_a_damaged_cache_file_with_the_source_unreachable_is_said_as_damaged(
    tmp_path, fake, monkeypatch
):
    """It was said as missing: 'there is no cached copy at X', with X there."""
    cfg = cached_config(tmp_path)
    load(cfg, now=NOW)
    path = cache_path(tmp_path / "cache", SYMBOL)
    path.write_bytes(b"not parquet at all")
    offline(monkeypatch)
    with pytest.raises(MarketcastError) as refused:
        load(cfg, now=NOW)
    said = str(refused.value)
    assert f"and the cache file {path} cannot be read (" in said, said
    assert "no cached copy" not in said


def test_unreachable_source_falls_back_to_the_cache_with_one_warning(tmp_path, fake, monkeypatch,
                                                                      caplog):  # fmt: skip
    cfg = cached_config(tmp_path)
    cached = load(cfg, now=NOW)
    calls = offline(monkeypatch)
    caplog.set_level(logging.INFO)
    got = load(cfg, now=LATER)
    assert len(calls) == 3  # data.retries=2
    pd.testing.assert_frame_equal(got.frame, cached.frame)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "could not be reached" in message
    assert "cached prices, which end on 2024-03-04 (16 sessions before the last completed" in (
        message
    )


def test_a_symbol_gone_from_the_source_is_an_error_naming_it(tmp_path, monkeypatch):
    reader = FakeReader({SYMBOL: HISTORY})
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    cfg = cached_config(tmp_path)
    load(cfg, now=NOW)
    del reader.histories[SYMBOL]
    with pytest.raises(MarketcastError, match=r"'005930' \(Naver\).*delisted or renamed"):
        load(cfg, now=LATER)


def test_symbols_map_to_distinct_safe_file_names(tmp_path):
    names = {cache_path(tmp_path, s).name for s in ["USD/KRW", "USD_KRW", "S&P500", "aapl"]}
    assert names == {"USD%2FKRW.parquet", "USD_KRW.parquet", "S%26P500.parquet", "AAPL.parquet"}
    assert all(cache_path(tmp_path, s).parent == tmp_path for s in ["../x", "a/b"])


def _big_history(seed: int) -> pd.DataFrame:
    frame = synthetic_prices(2000, seed=seed)
    frame.index = frame.index.as_unit("ns")  # the cache's schema
    return frame


def _write_repeatedly(cache_dir: str, seed: int, rounds: int) -> None:
    frame = _big_history(seed)
    for _ in range(rounds):
        write_cached(cache_dir, SYMBOL, frame)


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_two_processes_writing_one_symbol_leave_a_valid_file(tmp_path):
    cache_dir = tmp_path / "cache"
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_write_repeatedly, args=(str(cache_dir), seed, 40))
        for seed in (1, 2)
    ]
    for writer in writers:
        writer.start()
    expected = [_big_history(seed) for seed in (1, 2)]
    reads = 0
    deadline = time.monotonic() + 120
    while any(w.is_alive() for w in writers) and time.monotonic() < deadline:
        frame = read_cached(cache_dir, SYMBOL)  # never torn: raises DamagedCache if it were
        if frame is not None:
            reads += 1
            assert any(frame.equals(e) for e in expected)
    for writer in writers:
        writer.join(30)
        assert writer.exitcode == 0
    final = read_cached(cache_dir, SYMBOL)
    assert any(final.equals(e) for e in expected)
    assert reads > 0
    assert [p.name for p in cache_dir.iterdir()] == [f"{SYMBOL}.parquet"]  # no temp files left


def test_an_unwritable_cache_directory_is_named(tmp_path, fake):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(MarketcastError, match="cannot write the cache file .*data.cache_dir"):
        load(cached_config(tmp_path), now=NOW)
