"""Where daily prices come from: a CSV file, or FinanceDataReader through a local cache.

This is the only module that reads price files or talks to FinanceDataReader
(FDR); the Parquet cache is read and written through ``marketcast.data.cache``.
Every source returns the common schema of ``marketcast.data.validation``, checked
and cleaned by ``validation.validate`` under the ``data.*`` policies.

FDR and the cache (``data.cache_dir``; null: no cache):
- The cache holds each symbol's whole history; ``data.start`` / ``data.end``
  select from it. Only completed sessions are cached: a row for a session
  still trading (a partial bar) is never stored or used.
- ``data.refresh=if_stale`` fetches when the cache ends before the exchange's
  last completed session (or before ``data.end``), and then only from the last
  cached day on: that day is fetched again and compared, so a history the
  source has re-adjusted since (a split) is noticed and fetched whole.
  ``always`` fetches the whole history; ``never`` uses the cache only.
- Every fetch runs under a deadline (``data.timeout_s``) and is retried
  ``data.retries`` times with exponential backoff when the network fails.
  A source that cannot be reached falls back to the cache with one warning
  saying how old it is; a symbol the source does not know is an error. In a job of
  many symbols, a source whose host name the resolver did not know is not asked again
  for a minute (``asking_once_offline``), and the symbols it was not asked for are said
  in one warning per source at the end (each symbol's line goes to the job's log file).
"""

from __future__ import annotations

import functools
import logging
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import tenacity
from pandas.tseries.api import guess_datetime_format

from marketcast.atomic import Unwritable
from marketcast.config import DataConfig, check_csv_path
from marketcast.data.cache import DamagedCache, cache_path, read_cached, write_cached
from marketcast.data.symbols import KRX_CODE, KRX_INDICES, canonical_symbol
from marketcast.data.trading_days import last_completed_session, resolve_exchange, sessions
from marketcast.data.validation import (
    PRICE_COLUMNS,
    ValidationReport,
    last_priced_rows,
    validate,
    wanted_columns,
)
from marketcast.errors import MarketcastError, log_to_files
from marketcast.progress import counted, listed

log = logging.getLogger(__name__)

__all__ = ["PRICE_COLUMNS", "Loaded", "load", "load_prices", "normalise", "source_name"]

_OVERLAP_RTOL = 1e-6  # a re-fetched cached day whose prices differ more was re-adjusted


@dataclass(frozen=True)
class Loaded:
    """One symbol's prices, ready for use, and how they were obtained."""

    symbol: str  # the symbol, or a CSV's label
    frame: pd.DataFrame  # common schema, validated, restricted to data.start..data.end
    report: ValidationReport
    origin: str  # e.g. "csv FILE", "fetched (whole history)", "cache + 3 new rows"


class _Unreachable(Exception):
    """Every try to reach the source failed on the network (or timed out); ``unasked``: it
    was not asked, its host name having been unknown to the resolver a moment ago."""

    def __init__(self, message: str, unasked: bool = False) -> None:
        super().__init__(message)
        self.unasked = unasked


def load_prices(cfg: DataConfig, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """The validated daily prices ``cfg`` names, restricted to ``cfg.start..cfg.end``.

    ``now`` (default: the current time) decides which sessions are complete.
    Returns at least one row.
    """
    return load(cfg, now=now).frame


def load(
    cfg: DataConfig,
    symbol: str | None = None,
    now: pd.Timestamp | None = None,
    columns: Collection[str] | None = None,
    keep: bool = True,
) -> Loaded:
    """Like ``load_prices``, with the validation report; ``symbol`` overrides ``cfg.symbol``.

    ``columns``: those the caller uses (``None``: all); another column that misses values
    is left out rather than costing rows (``validation.validate``). ``keep=False``: what
    is fetched is not written to the cache (predict's dry run writes nothing).
    """
    symbol = symbol or cfg.symbol
    if cfg.source == "csv":
        history = _read_csv(cfg.path, wanted_columns(columns, cfg.halts))
        label = str(symbol or Path(cfg.path).stem)
        origin = f"csv {cfg.path}"
    elif cfg.source == "fdr":
        if not symbol:
            raise MarketcastError("data.symbol is not set: pass data.symbol=SYMBOL with data=fdr.")
        label = canonical_symbol(symbol)
        history, origin = _fdr_history(cfg, label, _now(now), keep)
    else:
        raise MarketcastError(
            f"data.source={cfg.source!r} is not a known source: use 'csv' or 'fdr' "
            "(or pick a preset: data=sample, data=csv, data=fdr)."
        )
    frame = _restrict_dates(history, cfg.start, cfg.end, label)
    frame, report = validate(
        frame,
        missing=cfg.missing,
        halts=cfg.halts,
        max_gap_sessions=cfg.max_gap_sessions,
        exchange=resolve_exchange(cfg.exchange, label),
        columns=columns,
        # a row dated after today is a typo or a clock gone wrong (a day of slack: in
        # Seoul it is tomorrow for nine hours of each UTC day)
        last_day=_now(now).tz_convert(None).normalize() + pd.Timedelta(days=1),
    )
    if report.findings:
        quiet = all(f.action == "kept" for f in report.findings)
        (log.info if quiet else log.warning)("%s: validation: %s", label, report.summary())
    if frame.empty:
        raise MarketcastError(
            f"{label}: no rows left after validation ({report.summary()}). "
            "Check the data, or change data.missing / data.halts."
        )
    return Loaded(label, frame, report, origin)


def source_name(symbol: str) -> str:
    """The FinanceDataReader reader a symbol goes to (Naver for KRX codes, else Yahoo)."""
    code = "".join(canonical_symbol(symbol).split())
    if ":" in code:
        return code.split(":")[0]
    if code in KRX_INDICES:
        return "KRX"
    return "Naver" if KRX_CODE.match(code) else "Yahoo"  # match: as FDR routes


def normalise(
    frame: pd.DataFrame, origin: str, used: Collection[str] | None = None
) -> pd.DataFrame:
    """Bring a raw price frame to the common schema.

    Accepts a ``Date`` column or a date index (named or not; ISO dates, with or without a
    time zone, or YYYYMMDD numbers), column names in any capitalisation, and extra columns
    (``Change``, ``Adj Close``), which are dropped. Rows without a date are dropped, with a
    warning (a trailing ``,,,,`` line from a spreadsheet). A column with no value at all (an
    index's empty Volume) is left out too, with a warning: it carries nothing, and keeping
    it would drop every row as incomplete. Text in a price column is refused where the run
    uses the column (``used``; None: every column), else the column is left out. Rows are
    sorted by date; of a repeated date's rows the last with a price is kept (a warning says
    how many were dropped).
    """
    frame = frame.copy()
    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    if "date" in by_lower:
        frame = frame.set_index(by_lower["date"])
    elif not isinstance(frame.index, pd.DatetimeIndex):
        raise MarketcastError(
            f"{origin} has no Date column (columns found: {', '.join(map(str, frame.columns))}). "
            "Add a Date column with one trading day per row."
        )
    index = _dates(frame.index, origin)
    undated = index.isna()
    if undated.any():
        empty = int(frame[undated].isna().all(axis=1).sum())
        log.warning(
            "%s: %d rows without a date dropped (%d of them empty)", origin, undated.sum(), empty
        )
        frame, index = frame[~undated], index[~undated]
    frame.index = index.normalize().as_unit("ns").rename("Date")

    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    if "adj close" in by_lower and "close" not in by_lower:
        log.warning(
            "%s: its Adj Close column is not read (marketcast reads Close): rename it to "
            "Close to forecast adjusted prices",
            origin,
        )
    present = [c for c in PRICE_COLUMNS if c.lower() in by_lower]
    empty = [c for c in present if len(frame) and frame[by_lower[c.lower()]].isna().all()]
    if empty and len(empty) < len(present):
        log.warning("%s: column %s has no values; left out", origin, ", ".join(empty))
        present = [c for c in present if c not in empty]
    if not present:
        raise MarketcastError(
            f"{origin} has none of the price columns {', '.join(PRICE_COLUMNS)} "
            f"(columns found: {', '.join(map(str, frame.columns))})."
        )
    out = pd.DataFrame(index=frame.index)
    for name in present:
        values = pd.to_numeric(frame[by_lower[name.lower()]], errors="coerce")
        bad = values.isna() & frame[by_lower[name.lower()]].notna()
        if bad.any():
            first = frame.index[bad.to_numpy()][0].date()
            said = f"{origin}: column {name} has {int(bad.sum())} non-numeric values"
            said += f" (first on {first})"
            if used is None or name in used:
                raise MarketcastError(f"{said}. Fix or remove those rows.")
            log.warning("%s; left out (this run does not use it)", said)
            continue
        out[name] = values.astype("float64")
    out, repeated = last_priced_rows(out)
    if repeated is not None:
        log.warning(
            "%s: %d repeated dates (first %s); of each, the last row with a price kept",
            origin,
            repeated[1],
            repeated[0].date(),
        )
    return out


# a time of day followed by its time zone's offset (Z, +09:00, -0500)
_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}:?\d{2})$")


def _dates(index: pd.Index, origin: str) -> pd.DatetimeIndex:
    """A raw frame's dates as naive local dates (a time zone's offset dropped, the day
    kept), NaT where a row has none. Numbers are read as YYYYMMDD, not as nanoseconds since
    1970 (which made a whole file one day)."""
    if isinstance(index, pd.DatetimeIndex):
        return index.tz_localize(None) if index.tz is not None else index
    if pd.api.types.is_numeric_dtype(index):
        numbers = index[pd.notna(index)]
        if not len(numbers):
            raise MarketcastError(f"{origin} has no dates: its Date column is empty.")
        eight_digits = (numbers >= 10_000_101) & (numbers <= 99_991_231)
        if not np.all((numbers == np.floor(numbers)) & eight_digits):
            raise MarketcastError(
                f"{origin} has dates that are numbers ({numbers[0]}): write them as ISO dates "
                "such as 2024-01-31, or as YYYYMMDD."
            )
        index = pd.Index([None if pd.isna(v) else str(int(v)) for v in index], dtype=object)
        form = "%Y%m%d"
    else:
        # a time zone's offset goes, its local time stays: offsets that change with summer
        # time are mixed time zones to pandas, which it refuses (or, in 2.x, warns of)
        index = pd.Index([_OFFSET.sub(r"\1", v) if isinstance(v, str) else v for v in index])
        # pandas reads other text its own way (ISO dates with a time on some rows only,
        # month names): only a numeric day-and-month format is given to it, both ways round
        guessed = _date_format(index) or _two_digit_year(index)
        form = guessed if _day_and_month(guessed) else None
    forms = _candidates(form)
    readings: list[pd.DatetimeIndex] = []
    failure = None
    for each in forms:
        try:
            readings.append(pd.DatetimeIndex(pd.to_datetime(index, format=each)))
        except (ValueError, TypeError) as exc:
            failure = failure or exc  # the first reading's: the one the file's first date gave
    if not readings:
        # pandas goes on with advice for its own callers ("You might want to try: ...")
        said = str(failure).split(" You might want to try")[0].splitlines()
        reason = (said or [type(failure).__name__])[0].rstrip(". ")
        raise MarketcastError(
            f"{origin} has dates that cannot be read ({reason}). Use ISO dates such as 2024-01-31."
        ) from None
    other = next((r for r in readings[1:] if not r.equals(readings[0])), None)
    if other is not None:  # readings that differ: the one in date order, if only one is
        ordered = [r for r in readings if _in_order(r)]
        if len(ordered) != 1:
            differ = np.flatnonzero(np.asarray(readings[0] != other))[0]
            raise MarketcastError(
                f"{origin} has dates such as {index[differ]} that read day-first and "
                "month-first alike (or year-first): write them as ISO dates such as "
                "2024-01-31."
            )
        readings = ordered
    parsed = readings[0]
    return parsed.tz_localize(None) if parsed.tz is not None else parsed


def _date_format(index: pd.Index) -> str | None:
    """pandas' guess at the format of the first date written as text (month-first where
    it reads both ways); None where there is none."""
    first = next((v for v in index if isinstance(v, str) and v.strip()), None)
    if first is None:
        return None
    with warnings.catch_warnings():  # "Parsing dates in %d.%m.%Y format when dayfirst=False"
        warnings.simplefilter("ignore", UserWarning)
        return guess_datetime_format(first.strip())


_TWO_DIGIT_YEAR = re.compile(r"\d{1,2}([./-])\d{1,2}\1\d{2}")


def _two_digit_year(index: pd.Index) -> str | None:
    """The day-and-month format of a first date with a two-digit year (31/01/24), which
    pandas does not guess: left to dateutil, each row was read on its own, month-first
    where it could be, and a day-first file scrambled with only gap warnings. A year
    ``yy`` is 20yy up to 68, else 19yy (strptime's rule)."""
    first = next((v.strip() for v in index if isinstance(v, str) and v.strip()), "")
    found = _TWO_DIGIT_YEAR.fullmatch(first)
    return None if found is None else "%d{0}%m{0}%y".format(found.group(1))


def _day_and_month(form: str | None) -> bool:
    """Whether ``form`` starts with a day and a month as numbers (31.01.2024, 01/31/2024),
    which only the file's other dates can tell apart; not 05-Jan-2024."""
    return (
        form is not None
        and form.startswith(("%d", "%m"))
        and "%d" in form
        and "%m" in form
        and not any(name in form for name in ("%b", "%B"))
    )


def _candidates(form: str | None) -> list[str | None]:
    """The formats a file's dates may be in, given its first date's: a day-and-month one
    either way round (``_either_way``), and with a two-digit year last, the year first
    too (24.01.31, as Korean exports write it, reads as 24 January 2031 day-first)."""
    if not _day_and_month(form):
        return [form]
    forms = _either_way(form)
    if form.endswith("%y"):
        sep = form[2]
        forms.append(f"%y{sep}%m{sep}%d")
    return forms


def _in_order(dates: pd.DatetimeIndex) -> bool:
    """Whether ``dates`` (NaT aside) run in time order, forwards or backwards, as a price
    file's rows do; a wrong reading of day, month and year jumps about."""
    dates = dates[dates.notna()]
    return dates.is_monotonic_increasing or dates.is_monotonic_decreasing


def _either_way(form: str) -> list[str]:
    """A day-and-month format and the same with day and month swapped: ``03.04.2024`` is
    3 April in Europe and March 4 in the US, and only the file's other dates can tell."""
    swapped = form.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    return [form, swapped]


def _now(now: pd.Timestamp | None) -> pd.Timestamp:
    """``now`` in UTC (a naive one is UTC, as in trading_days); default: the current time."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return now.tz_localize("UTC") if now.tz is None else now.tz_convert("UTC")


def _read_csv(path: str | None, used: Collection[str] | None = None) -> pd.DataFrame:
    check_csv_path(path)  # as training's start-up check said it
    file = Path(path).expanduser()
    try:
        raw = pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        said = " ".join(str(exc).split())  # pandas' tokenizer message ends in a newline
        raise MarketcastError(f"data.path={path!r} is not a readable CSV file ({said}).") from None
    if raw.empty:
        raise MarketcastError(f"data.path={path!r} has no rows.")
    return normalise(raw, f"data.path={path!r}", used)


# --- FinanceDataReader and the cache ---------------------------------------------------------


def _fdr_history(
    cfg: DataConfig, symbol: str, now: pd.Timestamp, keep: bool = True
) -> tuple[pd.DataFrame, str]:
    """The symbol's whole history (common schema, not yet validated) and where it came from;
    what is fetched is written to the cache unless ``keep`` is False."""
    exchange = resolve_exchange(cfg.exchange, symbol)
    # An exchange's calendar takes seconds to build where it is not kept yet (XKRX: 4-6 s;
    # calendars.py): only when it is needed, so an unknown symbol or an unreachable source
    # without a cache is reported at once.
    completed = functools.cache(lambda: last_completed_session(exchange, now))
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else None
    cached, damaged = None, None
    if cache_dir is not None:
        try:
            cached = read_cached(cache_dir, symbol)
        except DamagedCache as exc:
            damaged = exc
            if cfg.refresh == "never":
                raise MarketcastError(
                    f"{symbol}: the cache file {exc}, and data.refresh=never forbids fetching "
                    "it again: rerun without data.refresh=never to replace it."
                ) from None
            log.warning("%s: the cache file %s; fetching the whole history again", symbol, exc)

    if cfg.refresh == "never":
        if cached is None:
            where = cache_path(cache_dir, symbol) if cache_dir else "(data.cache_dir is not set)"
            into = f" paths.cache_dir={cache_dir}" if cache_dir else ""
            raise MarketcastError(
                f"{symbol}: data.refresh=never and no cached prices at {where}. Fetch them "
                f"first (marketcast fetch symbols=[{symbol}]{into}) or drop data.refresh=never."
            )
        return cached, "cache"
    if cfg.refresh == "if_stale" and cached is not None:
        # a session on `end` has closed by the next midnight, UTC: a past end needs no more
        end_of_day = pd.Timestamp(cfg.end).normalize() + pd.Timedelta(days=1) if cfg.end else None
        if end_of_day is not None and end_of_day.tz_localize("UTC") < now:
            needed = last_completed_session(exchange, end_of_day)
        else:
            needed = completed()
        if cached.index[-1] >= needed:
            return cached, "cache (up to date)"

    since = cached.index[-1] if cfg.refresh == "if_stale" and cached is not None else None
    try:
        history, origin = _fetch_history(cfg, symbol, since, cached, completed)
    except _Unreachable as exc:
        if cached is None:
            where = f" at {cache_path(cache_dir, symbol)}" if cache_dir else " (no data.cache_dir)"
            none = f"the cache file {damaged}" if damaged else f"there is no cached copy{where}"
            raise MarketcastError(
                f"FinanceDataReader symbol {symbol!r}: {exc}, and {none}. Check the network, "
                "or train offline with data=sample or data=csv."
            ) from None
        last = cached.index[-1]
        behind = len(sessions(last + pd.Timedelta(days=1), completed(), exchange))
        age = (
            f"{behind} sessions before the last completed one, {completed().date()}"
            if behind
            else "up to date"
        )
        said = f"{symbol}: {exc}; using the cached prices, which end on {last.date()} ({age})"
        offline = _offline.get()
        if exc.unasked and offline is not None:  # one warning per source, as the job ends
            offline.fell_back(source_name(symbol), symbol, last, behind)
            log_to_files(log, said)
        else:
            log.warning("%s", said)
        return cached, f"cache, {behind} sessions old (source unreachable)"
    if cache_dir is not None and history is not cached and keep:
        try:
            write_cached(cache_dir, symbol, history)
        except (OSError, Unwritable) as exc:
            exc = exc.cause if isinstance(exc, Unwritable) else exc
            raise MarketcastError(
                f"{symbol}: cannot write the cache file {cache_path(cache_dir, symbol)} "
                f"({type(exc).__name__}: {exc}). Set data.cache_dir to a writable directory, "
                "or to null to fetch without a cache."
            ) from None
    return history, origin


def _fetch_history(
    cfg: DataConfig,
    symbol: str,
    since: pd.Timestamp | None,
    cached: pd.DataFrame | None,
    completed: Callable[[], pd.Timestamp],
) -> tuple[pd.DataFrame, str]:
    """Fetch the whole history (``since`` None) or the rows from ``since`` and merge them;
    ``completed()``: the exchange's last completed session (only the rows up to it count)."""
    origin = f"FinanceDataReader symbol {symbol!r} ({source_name(symbol)})"
    if since is None or cached is None:
        fresh = _fetch(cfg, symbol, None).loc[: completed()]
        if fresh.empty:
            raise MarketcastError(
                f"{origin}: the source returned no rows: the symbol does not exist there, or "
                "has no completed sessions yet. Check it: KRX codes have six digits "
                "(005930), US tickers look like AAPL, indices like US500 or KS11."
            )
        return fresh, "fetched (whole history)"

    fresh = _fetch(cfg, symbol, since)
    if fresh.empty:
        raise MarketcastError(
            f"{origin}: the source returned no rows from {since.date()} on, though that day is "
            "cached: the symbol may have been delisted or renamed. To use the cached prices, "
            "pass data.refresh=never."
        )
    if since in fresh.index and not _same_prices(fresh.loc[since], cached.loc[since]):
        log.warning(
            "%s: the prices of %s changed since they were cached (a split or a correction?); "
            "fetching the whole history again",
            symbol,
            since.date(),
        )
        history, _ = _fetch_history(cfg, symbol, None, None, completed)
        return history, "fetched (whole history: cached prices had been re-adjusted)"
    added = [c for c in fresh.columns if c not in cached.columns]
    if added:  # the cached rows would lack it: a run that uses it would lose them
        log.warning(
            "%s: the source now gives %s, which the cached prices lack; fetching the whole "
            "history again",
            symbol,
            ", ".join(added),
        )
        history, _ = _fetch_history(cfg, symbol, None, None, completed)
        return history, f"fetched (whole history: the source now gives {', '.join(added)})"
    fresh = fresh.loc[: completed()]
    merged = pd.concat([cached, fresh])
    merged = merged[~merged.index.duplicated(keep="last")].sort_index(kind="stable")
    merged = merged[[c for c in PRICE_COLUMNS if c in merged.columns]]
    if merged.equals(cached):
        return cached, "cache (no newer rows at the source yet)"
    return merged, f"cache + {len(fresh.index.difference(cached.index))} new rows"


def _same_prices(new: pd.Series, old: pd.Series) -> bool:
    columns = [c for c in ("Open", "High", "Low", "Close") if c in new.index and c in old.index]
    return bool(
        np.allclose(
            new[columns].to_numpy(float),
            old[columns].to_numpy(float),
            rtol=_OVERLAP_RTOL,
            equal_nan=True,
        )
    )


def _fetch(cfg: DataConfig, symbol: str, since: pd.Timestamp | None) -> pd.DataFrame:
    """Rows of ``symbol`` from ``since`` (None: all) in the common schema; maybe none.

    Network failures are retried (tenacity) ``data.retries`` times, retry k after
    ``data.backoff_s * 2**(k-1)`` seconds plus the jitter of ``retry_jitter``, and end
    in ``_Unreachable``; a host name the resolver says is not known (offline, or no DNS:
    not a temporary failure, which is retried) ends there at once. A symbol the source
    does not know, or any other failure, is a user error and is not retried.
    """
    import FinanceDataReader as fdr  # slow to import, and only fetching needs it

    source = source_name(symbol)
    origin = f"FinanceDataReader symbol {symbol!r} ({source})"
    offline = _offline.get()
    if offline is not None and (said := offline.recent(source)):
        raise _Unreachable(said, unasked=True)
    start = None if since is None else str(since.date())
    tries = cfg.retries + 1
    wait = tenacity.wait_exponential(multiplier=cfg.backoff_s, exp_base=2)
    jitter = cfg.backoff_s * _retry_jitter.get()
    if jitter > 0:
        wait = wait + tenacity.wait_random(0, jitter)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        log.info(
            "%s: try %d of %d failed (%s); next try in %.1f s",
            symbol,
            state.attempt_number,
            tries,
            _brief(state.outcome.exception()),
            state.next_action.sleep,
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(tries),
        wait=wait,
        retry=tenacity.retry_if_exception(lambda exc: _failure_kind(exc) == "unreachable"),
        before_sleep=before_sleep,
        sleep=time.sleep,
        reraise=True,  # the last error itself, not tenacity's RetryError
    )
    try:
        raw = retrying(_with_deadline, lambda: fdr.DataReader(symbol, start, None), cfg.timeout_s)
    except Exception as exc:
        kind = _failure_kind(exc)
        made = retrying.statistics.get("attempt_number", tries)
        if kind == "missing":
            raise MarketcastError(
                f"{origin}: the source does not know this symbol ({exc}). Check it: KRX "
                "codes have six digits (005930), US tickers look like AAPL."
            ) from None
        if kind == "failed":
            raise MarketcastError(
                f"{origin}: the source failed ({type(exc).__name__}: {exc}). This is not a "
                "network error, so it was not retried: check that the symbol exists; to "
                "use cached prices meanwhile, pass data.refresh=never."
            ) from None
        unknown = " (its host name is not known to the resolver: offline, so not retried)"
        if kind == "unresolved" and offline is not None:
            offline.found(source, symbol)
        raise _Unreachable(
            f"the data source ({source}) could not be reached: {counted(made, 'try', 'tries')}, "
            f"{'which' if made == 1 else 'the last'} failed with {_brief(exc)}"
            + (unknown if kind == "unresolved" else "")
        ) from None
    if offline is not None:
        offline.reached(source)
    if raw is None or len(raw) == 0:  # FDR's answer (with a print) for a code it lacks
        return pd.DataFrame(index=pd.DatetimeIndex([], name="Date"))
    return normalise(raw, origin)


class Offline:
    """The sources whose host name the resolver did not know, in one job of many symbols.

    For ``ASK_AGAIN_S`` seconds after a source's host name was not known (``EAI_NONAME``;
    a temporary failure is not remembered), its later symbols are not asked: each falls
    back to its cache as an unreachable source does, and says why; then one asks again.
    Workers that asked before the first answer came still have their own answers. An
    offline fetch of 200 cached symbols took 27 s here, asking for each, and takes 5 s.
    """

    ASK_AGAIN_S = 60.0

    def __init__(self) -> None:
        self._unknown: dict[str, tuple[float, str]] = {}  # source: (when, the symbol asked)
        # source: (symbol, last cached day, sessions behind, whose lookup had failed) of each
        # symbol not asked
        self._cached: dict[str, list[tuple[str, pd.Timestamp, int, str]]] = {}
        self._lock = threading.Lock()

    def found(self, source: str, symbol: str) -> None:
        """``source``'s host name was not known to the resolver when ``symbol`` asked."""
        with self._lock:
            self._unknown[source] = (time.monotonic(), symbol)

    def fell_back(self, source: str, symbol: str, last: pd.Timestamp, behind: int) -> None:
        """``symbol`` used its cache, which ends on ``last``, without asking ``source``."""
        with self._lock:
            asker = self._unknown.get(source, (0.0, "a symbol"))[1]
            self._cached.setdefault(source, []).append((symbol, last, behind, asker))

    def say(self) -> None:
        """One warning per source for the symbols that used their caches without asking it
        (an offline night of 1,000 symbols wrote 1,000 lines); then none are held."""
        with self._lock:
            cached, self._cached = self._cached, {}
        for source, rows in cached.items():
            symbols = [symbol for symbol, _, _, _ in rows]
            first, last = min(r[1] for r in rows).date(), max(r[1] for r in rows).date()
            ends = f"on {first}" if first == last else f"between {first} and {last}"
            oldest = max(r[2] for r in rows)
            age = f"up to {counted(oldest, 'session')} old" if oldest else "up to date"
            log.warning(
                "the data source (%s) was not asked for %s (%s): its host name was unknown "
                "to the resolver when %s asked (offline); they use their cached prices, "
                "which end %s (%s; each symbol's line is in the job's log file)",
                source,
                counted(len(symbols), "symbol"),
                listed(symbols, most=5),
                " or ".join(dict.fromkeys(r[3] for r in rows)),
                ends,
                age,
            )

    def reached(self, source: str) -> None:
        with self._lock:
            self._unknown.pop(source, None)

    def recent(self, source: str) -> str | None:
        """Why ``source`` is not asked now, if it is not."""
        when, symbol = self._unknown.get(source, (None, None))
        age = None if when is None else time.monotonic() - when
        if age is None or age >= self.ASK_AGAIN_S:
            return None
        return (
            f"the data source ({source}) was not asked: its host name was unknown to the "
            f"resolver when {symbol} asked, {age:.0f} s ago (offline); it "
            f"is asked again after {self.ASK_AGAIN_S:.0f} s"
        )


@contextmanager
def asking_once_offline(offline: Offline | None = None) -> Iterator[Offline]:
    """Within the block (this thread), a source whose host name the resolver did not know
    is not asked again for a while (``Offline``); ``offline``: one shared with other
    threads, whose owner calls its ``say`` once they are done (default: a new one, said
    as the block ends)."""
    own = offline is None
    offline = Offline() if own else offline
    token = _offline.set(offline)
    try:
        yield offline
    finally:
        _offline.reset(token)
        if own:  # a shared one is said by its owner, once every thread is done
            offline.say()


_offline: ContextVar[Offline | None] = ContextVar("marketcast_offline", default=None)


@contextmanager
def retry_jitter(fraction: float) -> Iterator[None]:
    """Within the block (this thread), each retry waits up to ``fraction * data.backoff_s``
    seconds longer, at random.

    For concurrent fetches (``marketcast.data.universe``): requests that failed together
    (the source throttled them all) should not all come back in the same instant. A lone
    fetch has nothing to spread out from, and waits exactly ``backoff_s * 2**(k-1)``.
    """
    token = _retry_jitter.set(fraction)
    try:
        yield
    finally:
        _retry_jitter.reset(token)


_retry_jitter: ContextVar[float] = ContextVar("marketcast_retry_jitter", default=0.0)


def _with_deadline(call, timeout_s: float):
    """``call()``, or ``TimeoutError`` after ``timeout_s`` seconds.

    FDR passes no timeout to ``requests``, so a stalled connection would block
    for ever (and ``socket.setdefaulttimeout`` does not reach sockets that
    ``requests`` configures itself). The call runs in a daemon thread that is
    abandoned at the deadline; it cannot keep the process alive.
    """
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="marketcast-fetch", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _brief(exc: BaseException) -> str:
    """A network error in a few words (requests' own messages run to several lines)."""
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if url:
        return f"{type(exc).__name__} from {urlsplit(url).hostname}"
    text = str(exc)
    return f"{type(exc).__name__}: {text if len(text) <= 160 else text[:157] + '...'}"


def _failure_kind(exc: BaseException) -> str:
    """missing (the source does not know the symbol), unreachable (network), unresolved
    (the network, where the resolver says the host name is not known: offline, or no
    DNS; not worth a retry a second later), or failed."""
    import requests

    if _name_not_known(exc):
        return "unresolved"
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return "missing" if status == 404 else "unreachable"  # 5xx, 429, blocked: try later
    if isinstance(exc, OSError):  # TimeoutError, ConnectionError, and requests' own errors
        return "unreachable"
    return "failed"


def _name_not_known(exc: BaseException) -> bool:
    """Whether ``exc`` comes of a name lookup the resolver answered "not known"
    (``EAI_NONAME``, as on a machine without a network). Its "temporary failure"
    (``EAI_AGAIN``) is not this: a resolver blip, worth a retry."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror) and current.errno == socket.EAI_NONAME:
            return True
        current = current.__cause__ or current.__context__
    return False


class NoRowsInRange(MarketcastError):
    """The prices hold no row between ``start`` and ``end``; ``covers``: their first and
    last day (a caller that chose the range itself can say what that means)."""

    def __init__(self, message: str, covers: tuple[pd.Timestamp, pd.Timestamp]):
        super().__init__(message)
        self.covers = covers


def _restrict_dates(
    frame: pd.DataFrame, start: str | None, end: str | None, label: str | None
) -> pd.DataFrame:
    kept = frame.loc[start:end] if (start or end) else frame
    if kept.empty:
        raise NoRowsInRange(
            f"{label}: no rows between data.start={start} and data.end={end} "
            f"(the data covers {frame.index[0].date()}..{frame.index[-1].date()}).",
            (frame.index[0], frame.index[-1]),
        )
    return kept
