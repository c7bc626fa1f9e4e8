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


@pytest.mark.parametrize(
    ("exchange", "now", "expected"),
    [
        # KRX closes 15:30 in Seoul (06:30 UTC); Chuseok closed 2025-10-03..10-09.
        ("XKRX", "2025-10-10 05:00+00:00", "2025-10-02"),  # 14:00 in Seoul: still trading
        ("XKRX", "2025-10-10 06:31+00:00", "2025-10-10"),
        ("XKRX", "2025-10-11 03:00+09:00", "2025-10-10"),  # any time zone
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
