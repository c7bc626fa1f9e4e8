"""Exchange calendars' sessions and closes, built by exchange-calendars and kept on disk.

Building a calendar is slow for some exchanges: XKRX's takes 4 to 6 s on 2 cores (its
holiday rules are evaluated day by day), a third of a one-symbol ``marketcast predict``.
So each exchange's sessions and closes are written once to
``$XDG_CACHE_HOME/marketcast/calendars/EXCHANGE-VERSION-BUILD.parquet`` (``~/.cache``
where the variable is not set; VERSION: exchange-calendars', BUILD: ``_BUILD``, so that two
environments sharing a home do not rebuild each other's) and read back by later processes
in tens of milliseconds. A file is built again when it is older than ``MAX_AGE`` (a fresh calendar
reaches a year ahead, so a kept one still reaches 11 months), when ``CALENDAR_START`` or
``_BUILD`` changed, or when it cannot be read. Where nothing can be written (a read-only
home), each process builds its own, as before, and says so once.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from marketcast.atomic import Unwritable, atomic_write
from marketcast.errors import MarketcastError

log = logging.getLogger(__name__)

CALENDAR_START = pd.Timestamp("1980-01-01")  # gap checks before a calendar's first session skip
MAX_AGE = pd.Timedelta(days=30)
_KEY = b"marketcast"  # the Parquet schema metadata that says how a file was built
# How ``_build`` builds: raised when that changes, so that the files kept before are built
# again (2: a calendar not defined back to CALENDAR_START starts on its own first day)
_BUILD = "2"


@dataclass(frozen=True)
class Calendar:
    """An exchange's sessions (naive dates, ascending) and when each closes (UTC)."""

    closes: pd.Series  # session -> close

    @property
    def first_session(self) -> pd.Timestamp:
        return self.closes.index[0]

    @property
    def last_session(self) -> pd.Timestamp:
        return self.closes.index[-1]

    def sessions_in_range(self, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
        """The sessions from ``first`` to ``last`` (inclusive)."""
        index = self.closes.index
        return index[index.searchsorted(first) : index.searchsorted(last, side="right")]


def cache_dir() -> Path | None:
    """Where calendars are kept: ``$XDG_CACHE_HOME/marketcast/calendars``, or ``~/.cache``
    where the variable is unset or not an absolute path (the XDG spec ignores those); None
    where the home is not an absolute path either (HOME empty, no passwd entry)."""
    root = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(root):
        home = os.path.expanduser("~")
        if not os.path.isabs(home) or home == "/":
            return None
        root = os.path.join(home, ".cache")
    return Path(root) / "marketcast" / "calendars"


def kept_path(exchange: str) -> Path | None:
    """The file ``exchange``'s calendar is kept in, for this exchange-calendars version;
    None where there is no place for it (``cache_dir``) or no version to name it by."""
    folder = cache_dir()
    try:
        version = _stamp()["exchange_calendars"]
    except importlib.metadata.PackageNotFoundError:  # a vendored copy: no metadata
        return None
    # _BUILD in the name too: two marketcast versions sharing a home rebuild none of each
    # other's files (XKRX: 4-6 s a process)
    return None if folder is None else folder / f"{exchange}-{version}-{_BUILD}.parquet"


@functools.lru_cache(maxsize=8)
def calendar(exchange: str) -> Calendar:
    """``exchange``'s calendar (an exchange-calendars code), once per process: the kept
    file where it is fresh, else built and kept."""
    path = kept_path(exchange)
    kept = None if path is None else _read(path)
    if kept is not None:
        return kept
    started = time.perf_counter()
    built = _build(exchange)
    log.debug("%s calendar built in %.1f s", exchange, time.perf_counter() - started)
    if path is None:
        log.info(
            "the %s calendar cannot be kept (no absolute XDG_CACHE_HOME or home folder): each "
            "run builds it again, which takes seconds for some exchanges. Set XDG_CACHE_HOME "
            "to a writable folder.",
            exchange,
        )
        return built
    try:
        atomic_write(path, lambda tmp: pq.write_table(_table(built), tmp))
    except (Unwritable, OSError) as exc:
        reason = exc.cause if isinstance(exc, Unwritable) else exc
        log.info(
            "the %s calendar cannot be kept in %s (%s): each run builds it again, which takes "
            "seconds for some exchanges. Set XDG_CACHE_HOME to a writable folder.",
            exchange,
            path.parent,
            reason.strerror or reason,
        )
    return built


def _build(exchange: str) -> Calendar:
    import exchange_calendars as xcals

    try:
        built = xcals.get_calendar(exchange, start=CALENDAR_START)
    except xcals.errors.InvalidCalendarName:
        raise MarketcastError(_unknown(exchange)) from None
    except ValueError:  # calendars not defined back to CALENDAR_START: from their first day
        # (not exchange-calendars' default start, 20 years before today: Tokyo's calendar
        # lost 1997-2006, and gap checks and forecast dates there with it)
        earliest = xcals.get_calendar(exchange).bound_min()
        built = xcals.get_calendar(exchange, start=max(CALENDAR_START, earliest))
    closes = built.closes
    # Plain values: no CustomBusinessDay freq, so that a kept calendar reads back the same.
    return Calendar(pd.Series(closes.to_numpy(), index=pd.DatetimeIndex(closes.index.to_numpy())))


@functools.cache  # asked by every read and write of a kept file
def _stamp() -> dict[str, str]:
    """What a kept file must have been built with (its age aside). The version is read from
    the package's metadata: importing exchange-calendars takes a second."""
    return {
        "exchange_calendars": importlib.metadata.version("exchange-calendars"),
        "start": CALENDAR_START.isoformat(),
        "build": _BUILD,
    }


def _table(built: Calendar) -> pa.Table:
    frame = pd.DataFrame({"session": built.closes.index, "close": built.closes.to_numpy()})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    stamp = {**_stamp(), "built": pd.Timestamp.now(tz="UTC").isoformat()}
    return table.replace_schema_metadata({_KEY: json.dumps(stamp).encode()})


def _read(path: Path) -> Calendar | None:
    """The calendar kept at ``path``, or ``None`` where there is none fit to use."""
    try:
        with path.open("rb") as file:  # one open file: a writer's rename cannot mix versions
            table = pq.ParquetFile(file).read()
        stamp = json.loads((table.schema.metadata or {})[_KEY])
        age = pd.Timestamp.now(tz="UTC") - pd.Timestamp(stamp.pop("built"))
        frame = table.to_pandas()
        if stamp != _stamp() or not pd.Timedelta(0) <= age <= MAX_AGE or frame.empty:
            return None
        sessions = pd.DatetimeIndex(frame["session"].to_numpy())
        closes = pd.Series(frame["close"].to_numpy(), index=sessions)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged file: pyarrow, json and pandas raise several types
        log.debug("%s cannot be read (%s: %s): built again", path, type(exc).__name__, exc)
        return None
    if not (sessions.is_monotonic_increasing and sessions.is_unique):
        return None
    return Calendar(closes)


def _unknown(exchange: str) -> str:
    return (
        f"data.exchange={exchange!r} is not an exchange-calendars code: use e.g. XNYS, "
        "XNAS, XKRX (or null for plain weekdays)."
    )
