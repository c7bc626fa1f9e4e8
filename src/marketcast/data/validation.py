"""The common price schema, and the checks every price series passes before use (pure).

Schema: a ``DatetimeIndex`` named ``Date`` (naive dates, datetime64[ns]),
ascending and unique, and float64 columns among ``Open, High, Low, Close, Volume`` in that
order. ``validate`` brings a frame to it and applies, in this order:

===================  ==============================================  ==========================
check                what counts                                     what happens
===================  ==============================================  ==========================
rows after today     a date after ``last_day`` (the caller's today)  warned; nothing changes
repeated dates       the same date twice                             the last row with a
                                                                     price kept (a cut-off
                                                                     last line has none)
missing values       NaN or +-inf in a column the run uses           ``missing``: drop the row,
                     (``columns``; all by default)                   or ffill (previous row's
                                                                     values; rows left
                                                                     incomplete at the start
                                                                     are dropped)
                     ... in a column it does not use                 the column left out, the
                                                                     rows kept
bad prices           a price <= 0 or above ``MAX_PRICE`` (1e15), or   row dropped
                     Volume < 0
High/Low             High below max(Open, Close, Low), or Low        row dropped
                     above min(Open, Close, High) (relative
                     tolerance 1e-6)
trading halts        Volume 0 and Open = High = Low = Close          ``halts``: keep or drop
gaps                 more than ``max_gap_sessions`` sessions of the  warned; nothing changes
                     exchange missing between two rows
off-calendar rows    a date the exchange does not trade (a weekend,  warned; nothing changes
                     a holiday), where its calendar covers it
large moves          a Close more than 65% above or 39% below the    warned; nothing changes
                     previous one (abs log return > 0.5): a split
                     the prices were not adjusted for, or a bad price
===================  ==============================================  ==========================

Every check that finds something adds a ``Finding`` to the report; nothing
is changed silently.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketcast.data import trading_days

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Volume")
PRICES = ("Open", "High", "Low", "Close")
MISSING_POLICIES = ("drop", "ffill")
HALT_POLICIES = ("keep", "drop")
_RTOL = 1e-6  # High/Low comparisons: float noise in adjusted prices is not an error


@dataclass(frozen=True)
class Finding:
    """One check's result: how many rows it concerned, and what was done to them."""

    check: str  # e.g. "rows with missing values"
    rows: int
    action: str  # dropped | filled | kept | warned
    first: pd.Timestamp  # the first date concerned
    detail: str = ""

    def __str__(self) -> str:
        detail = f"; {self.detail}" if self.detail else ""
        return f"{self.rows} {self.check} {self.action} (first {self.first.date()}{detail})"


@dataclass(frozen=True)
class ValidationReport:
    rows_in: int
    rows_out: int
    findings: tuple[Finding, ...] = ()
    left_out: tuple[str, ...] = ()  # columns the caller does not use that missed values

    @property
    def changed(self) -> bool:
        """Whether validation dropped or filled any row (warned-only findings do not count)."""
        return any(f.action in ("dropped", "filled") for f in self.findings)

    def summary(self) -> str:
        if not self.findings:
            return "clean"
        return "; ".join(str(f) for f in self.findings)


def validate(
    frame: pd.DataFrame,
    *,
    missing: str = "drop",
    halts: str = "keep",
    max_gap_sessions: int | None = 5,
    exchange: str | None = None,
    columns: Collection[str] | None = None,
    last_day: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check ``frame`` (Date index, numeric price columns) and return it cleaned, with a report.

    The result satisfies the schema of the module docstring and has no
    missing values; it may have no rows. ``exchange`` (an exchange-calendars
    code, or ``None`` for weekdays) defines the sessions the gap check expects.
    ``columns`` are those the caller uses (``None``: all): a row is dropped or filled
    only for their missing values, and another column with missing values is left
    out instead (a Volume that an index's source gives only for recent years must not
    cost a Close-only run its older rows). ``halts=drop`` uses Volume. ``last_day``: the
    latest date a row may have (today, where the caller knows it).
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing={missing!r}: use one of {MISSING_POLICIES}")
    if halts not in HALT_POLICIES:
        raise ValueError(f"halts={halts!r}: use one of {HALT_POLICIES}")
    rows_in = len(frame)
    findings: list[Finding] = []
    frame = _schema(frame, findings)
    if last_day is not None:  # warned, not dropped: what else the file holds is the user's
        future = frame.index > last_day
        _report(findings, frame.index, future, f"rows dated after {last_day.date()}", "warned")
    # Gaps on the rows as delivered: a hole is a property of the source, not of what we drop.
    gaps = _gaps(frame.index, max_gap_sessions, exchange) if max_gap_sessions is not None else []
    gaps += _off_calendar(frame.index, exchange)
    used = _used(frame, columns, halts)
    frame = _missing_values(frame, missing, findings, used)
    # The row checks on one array, every column in it (a value an unused column misses
    # fails no check); each row is counted under the first check it fails.
    values = {c: frame[c].to_numpy() for c in frame.columns}  # each (N,)
    dates = frame.index
    bad_prices = _bad_prices(values, len(frame))
    bad_range = _bad_range(values, len(frame)) & ~bad_prices
    halted = _halted(values, len(frame)) & ~bad_prices & ~bad_range
    _report(
        findings,
        dates,
        bad_prices,
        f"rows with prices <= 0 or above {MAX_PRICE:g}, or Volume < 0",
        "dropped",
    )
    _report(findings, dates, bad_range, "rows with High/Low outside Open/Close", "dropped")
    _report(findings, dates, halted, "trading-halt rows (Volume 0, flat prices)",
            "dropped" if halts == "drop" else "kept")  # fmt: skip
    drop = bad_prices | bad_range | (halted if halts == "drop" else False)
    if drop.any():
        frame = frame[~drop]
    # Left out after the row checks: which rows a run keeps does not depend on whether an
    # unused column is whole over the range loaded (predict loads fewer years than train).
    frame, left_out = _unused_incomplete(frame, used, findings)
    moves = _large_moves(frame)
    return frame, ValidationReport(rows_in, len(frame), (*findings, *gaps, *moves), left_out)


def schema_problem(frame: pd.DataFrame) -> str | None:
    """What keeps ``frame`` from the common schema, or ``None`` if it conforms."""
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.dtype != "datetime64[ns]":
        return f"the index is not naive datetime64[ns] dates (it is {frame.index.dtype})"
    if frame.index.name != "Date":
        return f"the index is named {frame.index.name!r}, not 'Date'"
    if not (frame.index.is_monotonic_increasing and frame.index.is_unique):
        return "the dates are not ascending and unique"
    columns = [str(c) for c in frame.columns]
    if not columns or columns != [c for c in PRICE_COLUMNS if c in columns]:
        return f"columns {columns} are not among {list(PRICE_COLUMNS)} in that order"
    wrong = [c for c in columns if frame[c].dtype != np.float64]
    if wrong:
        return f"columns {wrong} are not float64"
    return None


def _schema(frame: pd.DataFrame, findings: list[Finding]) -> pd.DataFrame:
    columns = [c for c in PRICE_COLUMNS if c in frame.columns]
    out = frame[columns].astype("float64")
    out.index = pd.DatetimeIndex(frame.index).normalize().as_unit("ns").rename("Date")
    out, dropped = last_priced_rows(out)
    if dropped is not None:
        findings.append(
            Finding(
                "repeated dates",
                dropped[1],
                "dropped",
                dropped[0],
                "the last row with a price of each date kept",
            )
        )
    if np.isinf(out.to_numpy()).any():
        out = out.replace([np.inf, -np.inf], np.nan)
    return out


def last_priced_rows(
    frame: pd.DataFrame,
) -> tuple[pd.DataFrame, tuple[pd.Timestamp, int] | None]:
    """``frame`` sorted by date with one row per date, and (the first repeated date, how
    many rows were dropped), or None where no date repeats. Of a date's rows the last with a
    price wins: a revision comes later in the file, and a line cut off mid-write
    ("2020-06-2") is read as a date without prices."""
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
    if frame.index.is_unique:
        return frame, None
    priced = frame[[c for c in PRICES if c in frame.columns]].notna().any(axis=1).to_numpy()
    order = np.lexsort((priced, frame.index.to_numpy()))  # stable: file order within a key
    frame = frame.iloc[order]
    dropped = frame.index.duplicated(keep="last")
    return frame[~dropped], (frame.index[dropped][0], int(dropped.sum()))


def wanted_columns(columns: Collection[str] | None, halts: str) -> set[str] | None:
    """The columns a caller that uses ``columns`` (None: all) needs: Volume too with
    halts=drop, which reads it."""
    return None if columns is None else {*columns, *(["Volume"] if halts == "drop" else [])}


def _used(frame: pd.DataFrame, columns: Collection[str] | None, halts: str) -> list[str]:
    """The columns of ``frame`` the caller uses (all where ``columns`` is None or names none
    of them: the caller's own check then says what is missing); Volume with halts=drop."""
    wanted = wanted_columns(columns, halts)
    if wanted is None or not wanted & set(frame.columns):
        return list(frame.columns)
    return [c for c in frame.columns if c in wanted]


def _missing_rows(frame: pd.DataFrame, columns: Collection[str]) -> np.ndarray:
    """(N,) whether each row of ``frame`` misses a value in any of ``columns``.

    On the arrays: pandas' ``frame[columns].isna().any(axis=1)`` costs about 0.5 ms on a
    few hundred rows, and a nightly predict asks it several times per symbol.
    """
    missing = np.zeros(len(frame), dtype=bool)
    for column in columns:
        missing |= pd.isna(frame[column].to_numpy())
    return missing


def _unused_incomplete(
    frame: pd.DataFrame, used: list[str], findings: list[Finding]
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """``frame`` without the columns outside ``used`` that miss a value, and those columns."""
    gaps = {c: _missing_rows(frame, [c]) for c in frame.columns if c not in used}  # each (N,)
    unused = tuple(c for c, rows in gaps.items() if rows.any())
    if not unused:  # nothing to leave out (dropping no column copied the frame)
        return frame, unused
    for column in unused:
        rows = gaps[column]
        findings.append(
            Finding(
                f"rows without {column}",
                int(rows.sum()),
                "kept",
                frame.index[rows][0],
                f"{column} left out: not used",
            )
        )
    return frame.drop(columns=list(unused)), unused


def _missing_values(
    frame: pd.DataFrame, policy: str, findings: list[Finding], used: list[str]
) -> pd.DataFrame:
    """The missing-values policy, on the ``used`` columns' values."""
    incomplete = _missing_rows(frame, used)
    if not incomplete.any():
        return frame
    first = frame.index[incomplete][0]
    if policy == "drop":
        findings.append(
            Finding("rows with missing values", int(incomplete.sum()), "dropped", first)
        )
        return frame[~incomplete]
    filled = frame.copy()
    filled[used] = frame[used].ffill()
    unfilled = _missing_rows(filled, used)  # nothing earlier to fill from
    if (incomplete & ~unfilled).any():
        findings.append(
            Finding(
                "rows with missing values",
                int((incomplete & ~unfilled).sum()),
                "filled",
                frame.index[incomplete & ~unfilled][0],
                "from the previous row",
            )
        )
    if unfilled.any():
        findings.append(
            Finding(
                "rows with missing values at the start",
                int(unfilled.sum()),
                "dropped",
                frame.index[unfilled][0],
            )
        )
    return filled[~unfilled]


# No security's price comes near it in any currency; beyond it squares and sums of prices
# overflow (a Close of 1e308 ended training as 'a bug' and was published as forecast 1e308)
MAX_PRICE = 1e15


def _bad_prices(values: dict[str, np.ndarray], n: int) -> np.ndarray:
    bad = np.zeros(n, dtype=bool)
    for column in PRICES:
        if column in values:
            bad |= (values[column] <= 0) | (values[column] > MAX_PRICE)
    if "Volume" in values:
        bad |= values["Volume"] < 0
    return bad


@np.errstate(over="ignore")  # prices near the largest floats: an infinite gap still compares
def _bad_range(values: dict[str, np.ndarray], n: int) -> np.ndarray:
    bad = np.zeros(n, dtype=bool)
    # Differences, not products: no overflow near the largest floats.
    if "High" in values:
        others = [values[c] for c in ("Open", "Close", "Low") if c in values]
        if others:
            ceiling = np.fmax.reduce(others)  # fmax, fmin: a missing value bounds nothing
            bad |= ceiling - values["High"] > _RTOL * ceiling
    if "Low" in values:
        others = [values[c] for c in ("Open", "Close", "High") if c in values]
        if others:
            floor = np.fmin.reduce(others)
            bad |= values["Low"] - floor > _RTOL * floor
    return bad


def _halted(values: dict[str, np.ndarray], n: int) -> np.ndarray:
    if not set(PRICE_COLUMNS) <= set(values):
        return np.zeros(n, dtype=bool)
    close = values["Close"]
    flat = (values["Open"] == close) & (values["High"] == close) & (values["Low"] == close)
    return flat & (values["Volume"] == 0)


def _report(
    findings: list[Finding], dates: pd.DatetimeIndex, rows: np.ndarray, check: str, action: str
) -> None:
    if rows.any():
        findings.append(Finding(check, int(rows.sum()), action, dates[rows][0]))


LARGE_MOVE = 0.5  # |log return| of Close: +65% / -39% in a day


def _large_moves(frame: pd.DataFrame) -> list[Finding]:
    """Daily Close moves too large to be trading (warned only): an unadjusted split
    (2-for-1: -50%) or a bad price. KRX caps a day's move at 30%."""
    if "Close" not in frame.columns or len(frame) < 2:
        return []
    with np.errstate(over="ignore", invalid="ignore"):
        moves = np.abs(np.diff(np.log(frame["Close"].to_numpy())))
    large = np.flatnonzero(moves > LARGE_MOVE) + 1
    if not len(large):
        return []
    first = large[0]
    with np.errstate(over="ignore"):  # "xinf" for absurd prices is still the right warning
        ratio = frame["Close"].iloc[first] / frame["Close"].iloc[first - 1]
    return [
        Finding(
            "daily Close moves beyond 65% up or 39% down",
            len(large),
            "warned",
            frame.index[first],
            f"x{ratio:.3g} that day: a split the prices were not adjusted for, or a bad price? "
            "Use split-adjusted prices",
        )
    ]


def _off_calendar(dates: pd.DatetimeIndex, exchange: str | None) -> list[Finding]:
    """Rows dated on a day the exchange does not trade (warned only): a file of another
    market than ``data.exchange``, or dates a time zone moved by a day."""
    off = trading_days.off_sessions(dates, exchange)
    if not off.any():
        return []
    return [
        Finding(
            f"rows on days {exchange} does not trade" if exchange else "rows on weekends",
            int(off.sum()),
            "warned",
            dates[off][0],
            "prices of another market than data.exchange, or dates a time zone moved by a day?",
        )
    ]


def _gaps(dates: pd.DatetimeIndex, limit: int, exchange: str | None) -> list[Finding]:
    if len(dates) < 2:
        return []
    expected = trading_days.sessions(dates[0], dates[-1], exchange)
    # Sessions strictly between each pair of consecutive rows.
    between = expected.searchsorted(dates[1:], side="left") - expected.searchsorted(
        dates[:-1], side="right"
    )
    long = between > limit
    if not long.any():
        return []
    longest = int(np.argmax(between))
    return [
        Finding(
            f"gaps of more than {limit} missing {exchange or 'weekday'} sessions",
            int(long.sum()),
            "warned",
            dates[1:][long][0],
            f"longest {int(between[longest])} sessions, before {dates[longest + 1].date()}",
        )
    ]
