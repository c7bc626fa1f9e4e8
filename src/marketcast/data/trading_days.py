"""Trading sessions of an exchange, from its calendar (exchange-calendars, kept on disk
by ``calendars``).

Forecast dates, the "last completed trading day" that decides whether cached
prices are stale, and the sessions a price series should have (gap checks).
``exchange`` is an exchange-calendars code (XNYS, XKRX, ...) or ``None`` for
plain weekdays, for data from no particular exchange.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd

from marketcast.data import calendars
from marketcast.data.symbols import canonical_symbol, is_krx
from marketcast.errors import MarketcastError

log = logging.getLogger(__name__)

_ENDED: set[str] = set()  # the exchanges whose calendar has ended, said once a process

# FinanceDataReader's names of the indices of other exchanges (it reads them from Yahoo).
_INDEX_EXCHANGES = {
    "N225": "XTKS", "SSEC": "XSHG", "FTSE": "XLON", "HSI": "XHKG", "FCHI": "XPAR",
    "GDAXI": "XETR",
}  # fmt: skip
# The exchanges FinanceDataReader's prefixes name (TSE:9984); Shenzhen trades on Shanghai's
# calendar, which exchange-calendars keeps for both.
_PREFIX_EXCHANGES = {
    "TSE": "XTKS", "SSE": "XSHG", "SZSE": "XSHG", "HKEX": "XHKG",
    "NYSE": "XNYS", "NASDAQ": "XNYS", "AMEX": "XNYS",
}  # fmt: skip
# Yahoo's market suffixes (7203.T); a US ticker's class (BRK.B) is none of them
_SUFFIX_EXCHANGES = {
    ".T": "XTKS", ".HK": "XHKG", ".SS": "XSHG", ".SZ": "XSHG", ".L": "XLON", ".DE": "XETR",
    ".PA": "XPAR",
}  # fmt: skip


def exchange_for(symbol: str | None) -> str:
    """The exchange-calendars code of a symbol: XKRX for KRX codes and indices; the exchange
    a FinanceDataReader prefix (TSE:9984) or a Yahoo suffix (7203.T) names; the home
    exchange of FinanceDataReader's other foreign indices (N225, ^N225: XTKS); else XNYS.

    A CSV file's name serves as its symbol (``symbols.is_krx`` lists the spellings).
    """
    if not symbol:
        return "XNYS"
    if is_krx(symbol):
        return "XKRX"
    source, _, code = "".join(canonical_symbol(symbol).split()).rpartition(":")
    if source in _PREFIX_EXCHANGES:
        return _PREFIX_EXCHANGES[source]
    code = code.removeprefix("^")
    if code in _INDEX_EXCHANGES:
        return _INDEX_EXCHANGES[code]
    return _SUFFIX_EXCHANGES.get(code[code.rfind(".") :] if "." in code else "", "XNYS")


def resolve_exchange(setting: str | None, symbol: str | None) -> str | None:
    """``data.exchange`` made concrete: ``auto`` becomes the symbol's exchange."""
    return exchange_for(symbol) if setting == "auto" else setting


def next_trading_days(last: pd.Timestamp, count: int, exchange: str | None) -> pd.DatetimeIndex:
    """The ``count`` sessions of ``exchange`` after ``last`` (its holidays skipped)."""
    return _next_sessions(pd.Timestamp(last).normalize(), count, exchange)


@functools.lru_cache(maxsize=4096)
def _next_sessions(last: pd.Timestamp, count: int, exchange: str | None) -> pd.DatetimeIndex:
    # Cached: a batch forecast asks this for every symbol, mostly with the same last day.
    if exchange is None:
        return pd.bdate_range(last + pd.offsets.BDay(1), periods=count, name="date")
    calendar = calendars.calendar(exchange)
    if last < calendar.first_session:  # the days before it are no sessions it knows of
        raise MarketcastError(
            f"{last.date()} is before the first session of the {exchange} calendar "
            f"({calendar.first_session.date()}): it cannot date forecasts from that day. Pass "
            "a later as_of."
        )
    after = calendar.sessions_in_range(last + pd.Timedelta(days=1), calendar.last_session)[:count]
    if len(after) < count:  # a calendar reaches as far as its exchange's holidays are known
        raise MarketcastError(
            f"the {exchange} calendar ends on {calendar.last_session.date()}: it cannot date "
            f"{count} sessions after {last.date()}. Update exchange-calendars."
        )
    return pd.DatetimeIndex(after, name="date")


def last_completed_session(exchange: str | None, now: pd.Timestamp) -> pd.Timestamp:
    """The last session of ``exchange`` that had closed at ``now`` (a naive date).

    ``now`` is an instant; without a time zone it is read as UTC. With no exchange, the
    last weekday before ``now``'s UTC date; likewise a day or more past the last close of
    the exchange's calendar (which knows no sessions since: its last session would pass
    for the latest, and a cache for up to date, for ever), with a warning once a process.
    """
    now = _utc(now)
    if exchange is None:
        today = now.tz_localize(None).normalize()
        return today - pd.offsets.BDay(1)
    closes = calendars.calendar(exchange).closes  # session (naive date) -> close (UTC), ascending
    position = int(closes.searchsorted(now, side="right")) - 1
    if position < 0:
        raise MarketcastError(
            f"{now} is before the first session of the {exchange} calendar ({closes.index[0]})."
        )
    if now - closes.iloc[-1] >= pd.Timedelta(days=1):  # a later session may have closed
        if exchange not in _ENDED:
            _ENDED.add(exchange)
            log.warning(
                "the %s calendar ends on %s, before %s: the sessions since are taken to be "
                "weekdays. Update exchange-calendars",
                exchange, closes.index[-1].date(), now.date(),
            )  # fmt: skip
        return last_completed_session(None, now)
    return pd.Timestamp(closes.index[position])


def sessions(first: pd.Timestamp, last: pd.Timestamp, exchange: str | None) -> pd.DatetimeIndex:
    """The sessions of ``exchange`` from ``first`` to ``last`` (dates, inclusive).

    Only the part the calendar covers: a calendar starts in 1980 at the
    earliest (later for some exchanges) and ends a year from today.
    """
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    if exchange is None:
        return pd.bdate_range(first, last)
    calendar = calendars.calendar(exchange)
    first = max(first, calendar.first_session)
    last = min(last, calendar.last_session)
    if first > last:
        return pd.DatetimeIndex([])
    return pd.DatetimeIndex(calendar.sessions_in_range(first, last))


def off_sessions(dates: pd.DatetimeIndex, exchange: str | None) -> np.ndarray:
    """(N,) whether each of the ascending ``dates`` is a day ``exchange`` does not trade
    (null: a weekend), where its calendar covers that day."""
    if not len(dates):
        return np.zeros(0, dtype=bool)
    off = ~dates.isin(sessions(dates[0], dates[-1], exchange))
    if exchange is not None:
        calendar = calendars.calendar(exchange)
        off &= (dates >= calendar.first_session) & (dates <= calendar.last_session)
    return np.asarray(off)


def _utc(now: pd.Timestamp) -> pd.Timestamp:
    now = pd.Timestamp(now)
    return now.tz_localize("UTC") if now.tz is None else now.tz_convert("UTC")
