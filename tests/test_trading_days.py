import pandas as pd
import pytest

from marketcast.data.trading_days import (
    exchange_for,
    last_completed_session,
    next_trading_days,
    resolve_exchange,
    sessions,
)
from marketcast.errors import MarketcastError


def test_krx_skips_weekend_and_chuseok():
    # Chuseok 2025: 2025-10-03..10-09 closed (with National Foundation and Hangul days)
    got = next_trading_days(pd.Timestamp("2025-10-02"), 3, "XKRX")
    assert [str(d.date()) for d in got] == ["2025-10-10", "2025-10-13", "2025-10-14"]


def test_nyse_skips_new_year_and_weekend():
    got = next_trading_days(pd.Timestamp("2018-12-31"), 3, "XNYS")
    assert [str(d.date()) for d in got] == ["2019-01-02", "2019-01-03", "2019-01-04"]


def test_plain_weekdays_without_an_exchange():
    got = next_trading_days(pd.Timestamp("2024-05-03"), 2, None)  # a Friday
    assert [str(d.date()) for d in got] == ["2024-05-06", "2024-05-07"]


def test_exchange_for_symbol():
    assert exchange_for("005930") == "XKRX"
    assert exchange_for("AAPL") == "XNYS"
    for stem in ("krx_005380", "KOSPI-000660", "005930.KS", "035720.KQ"):  # CSV file names
        assert exchange_for(stem) == "XKRX", stem
    # KRX indices and FinanceDataReader's other spellings were dated on NYSE's calendar.
    for symbol in ("KS11", "kq11", "KS200", "KOSPI", "KRX:KS11", "KRX:005930", "^KS11",
                   "krx_KS11", "0126Z0", "00088K", "28513K", "krx_18064K", "NAVER:005930",
                   "KRX-INDEX:1001", "YAHOO:005930.KS", "00088K.KS",
                   "YAHOO:0126Z0.KQ"):  # fmt: skip
        assert exchange_for(symbol) == "XKRX", symbol
    for symbol in ("US500", "FRED:M2", "IXIC", "YAHOO:AAPL", "2024Q1", "2023H1"):
        assert exchange_for(symbol) == "XNYS", symbol
    assert (exchange_for("n225"), exchange_for("GDAXI")) == ("XTKS", "XETR")  # Yahoo's indices
    for stem in ("us_AAPL", "1005930", "prices_202401", "aapl_20240115_093000", "data-123456"):
        assert exchange_for(stem) == "XNYS", stem
    # the exchange FinanceDataReader's prefix or Yahoo's suffix names: all were NYSE's
    for symbol, exchange in (
        ("TSE:9984", "XTKS"), ("SSE:600519", "XSHG"), ("SZSE:000001", "XSHG"),
        ("HKEX:0700", "XHKG"), ("7203.T", "XTKS"), ("0700.HK", "XHKG"), ("600519.SS", "XSHG"),
        ("^N225", "XTKS"), ("YAHOO:^N225", "XTKS"), ("VOD.L", "XLON"), ("BRK.B", "XNYS"),
        ("NASDAQ:AAPL", "XNYS"),
    ):  # fmt: skip
        assert exchange_for(symbol) == exchange, symbol


def test_forecasts_are_dated_up_to_the_calendars_last_session_and_refused_beyond(caplog):
    """Shanghai's calendar ends with the year its holidays are published for: every origin
    from a month before its end was refused, and took every other symbol of the night with
    it; before its first session the dates came out wrong (1979-12-20 gave 1980-01-02..)."""
    from marketcast.data import calendars

    closes = calendars.calendar("XNYS").closes
    last_three = closes.index[-3:]
    got = next_trading_days(closes.index[-4], 3, "XNYS")
    assert list(got) == list(last_three)
    with pytest.raises(MarketcastError, match=r"the XNYS calendar ends on .*: it cannot date 4"):
        next_trading_days(closes.index[-4], 4, "XNYS")
    with pytest.raises(MarketcastError, match="1979-12-20 is before the first session of the"):
        next_trading_days(pd.Timestamp("1979-12-20"), 5, "XNYS")
    # past its last close the sessions since are unknown: weekdays, said, so that a cache
    # does not pass for up to date for ever (its last session did)
    last = closes.iloc[-1] + pd.Timedelta(hours=1)  # no later session can have closed yet
    assert last_completed_session("XNYS", last) == closes.index[-1]
    later = closes.iloc[-1] + pd.Timedelta(days=10)
    with caplog.at_level("WARNING", logger="marketcast"):
        got = last_completed_session("XNYS", later)
    assert got == later.tz_localize(None).normalize() - pd.offsets.BDay(1)
    assert f"the XNYS calendar ends on {closes.index[-1].date()}, before" in caplog.text


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_calendar_not_defined_back_to_1980_starts_on_its_own_first_day(calendar_home):
    """Tokyo's is defined from 1997: it was built from 20 years before today, so prices of
    2003 went unchecked and an origin in 2005 was given no date at all."""
    assert len(sessions(pd.Timestamp("2003-01-01"), pd.Timestamp("2003-12-31"), "XTKS")) == 245
    got = next_trading_days(pd.Timestamp("2005-03-18"), 1, "XTKS")  # Vernal Equinox Monday
    assert [str(d.date()) for d in got] == ["2005-03-22"]


def test_unknown_exchange_is_named():
    with pytest.raises(MarketcastError, match="data.exchange='XXXX'"):
        next_trading_days(pd.Timestamp("2024-05-03"), 1, "XXXX")


def test_nyse_forecast_dates_skip_thanksgiving_and_good_friday():
    got = next_trading_days(pd.Timestamp("2025-11-26"), 2, "XNYS")
    assert [str(d.date()) for d in got] == ["2025-11-28", "2025-12-01"]
    got = next_trading_days(pd.Timestamp("2025-04-17"), 1, "XNYS")
    assert [str(d.date()) for d in got] == ["2025-04-21"]


def test_krx_forecast_dates_skip_lunar_new_year():
    # Seollal 2025: 01-27 (temporary holiday) .. 01-30 closed
    got = next_trading_days(pd.Timestamp("2025-01-24"), 2, "XKRX")
    assert [str(d.date()) for d in got] == ["2025-01-31", "2025-02-03"]


def test_krx_forecast_dates_skip_the_2026_local_election():
    """Closed on 2026-06-03, which exchange-calendars lists from 4.13.3 (pyproject's floor)."""
    got = next_trading_days(pd.Timestamp("2026-06-02"), 2, "XKRX")
    assert [str(d.date()) for d in got] == ["2026-06-04", "2026-06-05"]


@pytest.mark.parametrize(
    ("exchange", "now", "expected"),
    [
        # KRX closes 15:30 in Seoul (06:30 UTC); Chuseok closed 2025-10-03..10-09.
        ("XKRX", "2025-10-10 05:00+00:00", "2025-10-02"),  # 14:00 in Seoul: still trading
        ("XKRX", "2025-10-10 06:31+00:00", "2025-10-10"),
        ("XKRX", "2025-10-11 03:00+09:00", "2025-10-10"),  # any time zone
        # CSAT day: KRX opens and closes an hour late, 10:00 to 16:30 (exchange-calendars
        # 4.13.3 on): a bar fetched at 16:00 would be a partial one
        ("XKRX", "2025-11-13 16:00+09:00", "2025-11-12"),
        ("XKRX", "2025-11-13 16:31+09:00", "2025-11-13"),
        # NYSE: July 4 2025 (a Friday) closed; closes 16:00 in New York.
        ("XNYS", "2025-07-07 13:00", "2025-07-03"),  # naive: UTC, before Monday's open
        ("XNYS", "2025-07-07 20:01", "2025-07-07"),
        ("XNYS", "2025-11-28 18:05", "2025-11-28"),  # early close at 13:00 after Thanksgiving
        (None, "2025-07-07 13:00", "2025-07-04"),  # plain weekdays: the last one before today
        (None, "2025-07-06 23:00", "2025-07-04"),  # a Sunday
    ],
)
def test_last_completed_session(exchange, now, expected):
    assert last_completed_session(exchange, pd.Timestamp(now)) == pd.Timestamp(expected)


def test_sessions_of_an_exchange_and_their_range():
    chuseok = sessions(pd.Timestamp("2025-10-01"), pd.Timestamp("2025-10-13"), "XKRX")
    assert [str(d.date()) for d in chuseok] == ["2025-10-01", "2025-10-02", "2025-10-10",
                                                "2025-10-13"]  # fmt: skip
    early = sessions(pd.Timestamp("1970-01-01"), pd.Timestamp("1980-01-08"), "XNYS")
    assert early[0] == pd.Timestamp("1980-01-02")  # the calendar starts in 1980
    assert len(sessions(pd.Timestamp("2024-05-03"), pd.Timestamp("2024-05-06"), None)) == 2


def test_resolve_exchange():
    assert resolve_exchange("auto", "000660") == "XKRX"
    assert resolve_exchange("auto", None) == "XNYS"
    assert resolve_exchange("XNAS", "000660") == "XNAS"
    assert resolve_exchange(None, "AAPL") is None


def test_unknown_exchange_is_named_for_staleness_too():
    with pytest.raises(MarketcastError, match="data.exchange='XXXX'"):
        last_completed_session("XXXX", pd.Timestamp("2025-01-02"))


@pytest.fixture
def calendar_home(tmp_path, monkeypatch):
    """Calendars kept under ``tmp_path`` (``$XDG_CACHE_HOME``), none in this process yet;
    ``built`` counts the calendars exchange-calendars builds."""
    import exchange_calendars as xcals

    from marketcast.data import calendars, trading_days

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    built = []
    real = xcals.get_calendar

    def counted(name, *args, **kwargs):
        built.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(xcals, "get_calendar", counted)

    def fresh_process():
        calendars.calendar.cache_clear()
        trading_days._next_sessions.cache_clear()

    fresh_process()
    yield built, fresh_process
    fresh_process()


def _nyse_answers():
    return (
        sessions(pd.Timestamp("1970-01-01"), pd.Timestamp("2025-12-31"), "XNYS"),
        next_trading_days(pd.Timestamp("2025-11-26"), 3, "XNYS"),
        last_completed_session("XNYS", pd.Timestamp("2025-11-28 18:05")),
    )


def test_a_calendar_is_built_once_then_read_back_by_later_processes(calendar_home, tmp_path):
    """XKRX's calendar takes 4-6 s to build: a one-symbol predict spent half its time on it."""
    import exchange_calendars as xcals

    from marketcast.data import calendars
    from marketcast.data.calendars import cache_dir, kept_path

    built, fresh_process = calendar_home
    first = _nyse_answers()
    assert built == ["XNYS"]
    assert cache_dir() == tmp_path / "cache" / "marketcast" / "calendars"
    assert kept_path("XNYS").name == f"XNYS-{xcals.__version__}-{calendars._BUILD}.parquet"
    with pytest.MonkeyPatch.context() as mp:  # the XDG spec ignores a relative path
        mp.setenv("XDG_CACHE_HOME", "cache")
        mp.setenv("HOME", str(tmp_path / "home"))
        assert cache_dir() == tmp_path / "home" / ".cache" / "marketcast" / "calendars"
        mp.setenv("HOME", "")  # expanduser gives "/": no place to keep calendars in
        assert cache_dir() is None
    assert [p.name for p in cache_dir().iterdir()] == [kept_path("XNYS").name]
    library = xcals.get_calendar("XNYS", start="1980-01-01")
    pd.testing.assert_index_equal(first[0], library.sessions_in_range("1980-01-02", "2025-12-31"))
    assert [str(d.date()) for d in first[1]] == ["2025-11-28", "2025-12-01", "2025-12-02"]

    built.clear()
    fresh_process()
    again = _nyse_answers()
    assert built == []  # read back, not built
    pd.testing.assert_index_equal(again[0], first[0])
    pd.testing.assert_index_equal(again[1], first[1])
    assert again[2] == first[2] == pd.Timestamp("2025-11-28")


def _restamp(path, **changes):
    import json

    import pyarrow.parquet as pq

    table = pq.read_table(path)
    stamp = {**json.loads(table.schema.metadata[b"marketcast"]), **changes}
    pq.write_table(table.replace_schema_metadata({b"marketcast": json.dumps(stamp)}), path)


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda p: _restamp(p, built="2020-01-01T00:00:00+00:00"), id="stale"),
        pytest.param(lambda p: _restamp(p, exchange_calendars="4.0"), id="other-version"),
        pytest.param(lambda p: _restamp(p, start="1990-01-01T00:00:00"), id="other-start"),
        pytest.param(lambda p: _restamp(p, build="1"), id="built-another-way"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:1000]), id="truncated"),
        pytest.param(lambda p: p.write_text("not parquet"), id="not-parquet"),
    ],
)
def test_a_kept_calendar_unfit_to_use_is_built_again(calendar_home, spoil):
    from marketcast.data.calendars import kept_path

    built, fresh_process = calendar_home
    first = _nyse_answers()
    spoil(kept_path("XNYS"))
    built.clear()
    fresh_process()
    again = _nyse_answers()
    assert built == ["XNYS"]
    pd.testing.assert_index_equal(again[0], first[0])
    built.clear()
    fresh_process()
    _nyse_answers()
    assert built == []  # the rebuilt file is fit again


@pytest.mark.parametrize("where", ["a file in the way", "no home"])
def test_a_calendar_that_cannot_be_kept_is_built_and_said_once(
    calendar_home, tmp_path, caplog, monkeypatch, where
):
    built, _ = calendar_home
    if where == "no home":  # a cron job's environment without HOME or XDG_CACHE_HOME
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.setenv("HOME", "")
    else:
        (tmp_path / "cache").write_text("a file where the cache folder must be")
    with caplog.at_level("INFO", logger="marketcast.data.calendars"):
        got = _nyse_answers()
        sessions(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01"), "XNYS")
    assert built == ["XNYS"]
    assert len(got[0]) > 11_000
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "XNYS calendar cannot be kept" in said[0], said
    assert "Set XDG_CACHE_HOME to a writable folder" in said[0]


def test_an_unknown_exchange_leaves_no_file(calendar_home):
    from marketcast.data.calendars import cache_dir

    with pytest.raises(MarketcastError, match="data.exchange='XXXX'"):
        next_trading_days(pd.Timestamp("2024-05-03"), 1, "XXXX")
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_kept_krx_calendar_equals_exchange_calendars(calendar_home):
    import exchange_calendars as xcals

    from marketcast.data import calendars

    built, fresh_process = calendar_home
    calendars.calendar("XKRX")  # built and kept
    fresh_process()
    kept = calendars.calendar("XKRX")
    assert built == ["XKRX"]
    library = xcals.get_calendar("XKRX", start="1980-01-01")
    pd.testing.assert_index_equal(kept.closes.index, library.closes.index, check_exact=True)
    assert (kept.closes.to_numpy() == library.closes.to_numpy()).all()
    assert (kept.first_session, kept.last_session) == (library.first_session, library.last_session)
