import pandas as pd
import pytest

from marketcast.errors import MarketcastError
from marketcast.trading_days import exchange_for, next_trading_days


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


def test_unknown_exchange_is_named():
    with pytest.raises(MarketcastError, match="data.exchange='XXXX'"):
        next_trading_days(pd.Timestamp("2024-05-03"), 1, "XXXX")
