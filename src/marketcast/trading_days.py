"""Dates of future trading days, from the exchange's calendar (exchange-calendars)."""

from __future__ import annotations

import re

import pandas as pd

from marketcast.errors import MarketcastError


def exchange_for(symbol: str | None) -> str:
    """The exchange-calendars code of a symbol: XKRX for six-digit KRX codes, else XNYS."""
    return "XKRX" if symbol and re.fullmatch(r"\d{6}", str(symbol)) else "XNYS"


def next_trading_days(last: pd.Timestamp, count: int, exchange: str | None) -> pd.DatetimeIndex:
    """The ``count`` sessions of ``exchange`` after ``last`` (its holidays skipped).

    ``exchange`` is an exchange-calendars code (XNYS, XKRX, ...); ``None``
    gives plain weekdays, for data from no particular exchange.
    """
    last = pd.Timestamp(last).normalize()
    if exchange is None:
        return pd.bdate_range(last + pd.offsets.BDay(1), periods=count, name="date")
    import exchange_calendars as xcals  # slow to import; only forecasting needs it

    end = last + pd.Timedelta(days=2 * count + 30)  # room for the longest holiday runs
    try:
        calendar = xcals.get_calendar(exchange, start=last - pd.Timedelta(days=7), end=end)
    except xcals.errors.InvalidCalendarName:
        raise MarketcastError(
            f"data.exchange={exchange!r} is not an exchange-calendars code: use e.g. XNYS, "
            "XNAS, XKRX (or null for plain weekdays)."
        ) from None
    sessions = calendar.sessions_in_range(last + pd.Timedelta(days=1), end)
    return pd.DatetimeIndex(sessions[:count], name="date")
