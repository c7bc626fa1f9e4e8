"""A stand-in for FinanceDataReader.DataReader, returning frames in its readers' real schemas.

FDR's sources cannot be reached from the test machines; tests put a ``FakeReader``
at ``FinanceDataReader.DataReader`` (monkeypatch) and the rest of the code runs for real.
"""

from __future__ import annotations

import re
import socket

import pandas as pd
import requests


def naver_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """KRX codes (Naver): Open High Low Close Volume Change, index named Date, int prices."""
    out = frame.round(0).astype("int64")
    out["Change"] = out["Close"].pct_change()
    return out


def yahoo_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """US tickers and indices (Yahoo): adds Adj Close; index unnamed."""
    out = frame[["Open", "High", "Low", "Close"]].copy()
    out["Adj Close"] = out["Close"] * 0.98
    out["Volume"] = frame["Volume"].astype("int64")
    out.index = pd.DatetimeIndex(out.index.to_numpy())
    return out


def http_error(status: int) -> requests.HTTPError:
    """What Yahoo's reader raises (``raise_for_status``) for an HTTP error status."""
    response = requests.Response()
    response.status_code = status
    response.url = "https://query2.finance.yahoo.com/v8/finance/chart/X"
    return requests.HTTPError(f"{status} Client Error", response=response)


class FakeReader:
    """``DataReader(symbol, start, end)`` over fixed histories, sliced as FDR slices them.

    ``histories`` maps a symbol to a frame in the common schema; the answer is
    in Naver's schema for six-digit codes, Yahoo's otherwise. An unknown
    symbol gets what Naver gives for one (an empty frame) or Yahoo's HTTP 404.
    ``calls`` records ``(symbol, start, end)`` of every call.
    """

    def __init__(self, histories: dict[str, pd.DataFrame]):
        self.histories = dict(histories)
        self.calls: list[tuple[str, str | None, str | None]] = []

    def __call__(self, symbol, start=None, end=None, exchange=None, data_source=None):
        self.calls.append((symbol, start, end))
        naver = re.fullmatch(r"\d{6}", symbol) is not None
        if symbol not in self.histories:
            if naver:
                print(f'"{symbol}" invalid symbol or has no data')  # FDR says no more
                return pd.DataFrame()
            raise http_error(404)
        frame = self.histories[symbol].loc[start:end]
        return naver_frame(frame) if naver else yahoo_frame(frame)

    @property
    def starts(self) -> list[str | None]:
        return [start for _, start, _ in self.calls]


class FailingReader:
    """``DataReader`` that raises ``error`` on every call (a source down or broken)."""

    def __init__(self, error: Exception):
        self.error = error
        self.calls: list[tuple] = []

    def __call__(self, *args, **kwargs):
        self.calls.append(args)
        raise self.error


class UnresolvedReader:
    """``DataReader`` on a machine whose resolver does not know the sources' host names
    (offline): requests' ConnectionError caused by the lookup's ``gaierror`` (``errno``,
    ``EAI_NONAME`` by default; ``EAI_AGAIN`` is a resolver blip). ``asked``: the symbols."""

    def __init__(self, errno: int = socket.EAI_NONAME):
        self.errno = errno
        self.asked: list[str] = []

    def __call__(self, symbol, *args, **kwargs):
        self.asked.append(symbol)
        try:
            raise socket.gaierror(self.errno, "Name or service not known")
        except socket.gaierror as exc:
            raise requests.ConnectionError("Failed to resolve the source's host") from exc
