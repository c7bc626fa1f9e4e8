"""The forecast store's interface: what every format does, the run it records, and the
helpers every format shares (the factory that picks one is ``storage.stores``).

The forecast table (one row per symbol, as_of and step) has the columns
symbol (str), as_of (date), target_date (date), step (int), forecast (float),
one float column per interval bound (q10, q90, ... : the names follow the
run's levels), run_dir (str) and run_id (str, added by the store). Its key is
(symbol, as_of, step). A write replaces exactly the rows of the (symbol,
as_of) pairs it holds, steps that no longer exist included, and touches
nothing else, so re-running a night changes nothing twice.

Formats: ``delta`` (Delta Lake, the default: atomic commits, history, time
travel), ``sql`` (SQLAlchemy: SQLite or PostgreSQL) and ``csv`` (a flat
export, one file per as_of, not transactional across days).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

from marketcast.atomic import LOCATION_FIXABLE, refusal_words
from marketcast.errors import MarketcastError

FORMATS = ("delta", "sql", "csv")
KEY = ["symbol", "as_of", "step"]
PAIR = ["symbol", "as_of"]  # what a write replaces
LEADING = ["symbol", "as_of", "target_date", "step", "forecast"]
TRAILING = ["run_dir", "run_id"]
HISTORY_COLUMNS = ["version", "timestamp", "run_id", "run_dirs", "as_of", "symbols"]
# store.dir locations delta-rs writes to over the network, not on a local path
REMOTE_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "abfss://", "azure://")
# A data file delta-rs writes (a commit's, a compaction's, or a killed writer's), in the
# table's folder or a partition's: the name Spark gives them too
DELTA_DATA_FILE = re.compile(
    r"part-\d{5}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-c\d{3}(\.\w+)?\.parquet"
)
CSV_FILE = "forecasts.csv"  # the CSV export's file of each day: DIR/as_of=DATE/forecasts.csv
LOCK_FILE = ".marketcast.lock"  # a hidden name: Delta's vacuum skips names starting with . or _
_QUANTILE = re.compile(r"^q\d+(\.\d+)?$")  # marketcast.evaluation.quantile_column: q10, q2.5
_METADATA_PREFIX = "marketcast."
_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how delta-rs (Rust) quotes an errno in its messages


class StoreLocked(MarketcastError):
    """Another run holds the store's lock; this one wrote nothing."""


@dataclass(frozen=True)
class RunInfo:
    """What a write records about the run that made it (Delta commit metadata, SQL run row)."""

    run_dirs: list[str]
    as_of: list[str]  # ISO dates, YYYY-MM-DD
    symbols: int
    marketcast_version: str
    run_id: str

    @classmethod
    def for_table(cls, table: pd.DataFrame, run_id: str | None = None) -> RunInfo:
        """The RunInfo of writing ``table`` (a new random run_id unless one is given)."""
        from marketcast import __version__

        return cls(
            run_dirs=sorted(str(d) for d in table["run_dir"].unique()),
            as_of=sorted(str(pd.Timestamp(d).date()) for d in table["as_of"].unique()),
            symbols=int(table["symbol"].nunique()),
            marketcast_version=__version__,
            run_id=run_id or uuid.uuid4().hex,
        )

    def to_metadata(self) -> dict[str, str]:
        """Flat string metadata (lists as JSON), keys prefixed ``marketcast.``."""
        return {
            f"{_METADATA_PREFIX}run_id": self.run_id,
            f"{_METADATA_PREFIX}run_dirs": json.dumps(self.run_dirs),
            f"{_METADATA_PREFIX}as_of": json.dumps(self.as_of),
            f"{_METADATA_PREFIX}symbols": str(self.symbols),
            f"{_METADATA_PREFIX}version": self.marketcast_version,
        }

    @classmethod
    def from_metadata(cls, metadata: dict) -> RunInfo | None:
        """The inverse of ``to_metadata``; None where ``metadata`` names no marketcast run."""
        p = _METADATA_PREFIX
        if f"{p}run_id" not in metadata:
            return None
        return cls(
            run_dirs=list(json.loads(metadata[f"{p}run_dirs"])),
            as_of=list(json.loads(metadata[f"{p}as_of"])),
            symbols=int(metadata[f"{p}symbols"]),
            marketcast_version=str(metadata[f"{p}version"]),
            run_id=str(metadata[f"{p}run_id"]),
        )


class ForecastStore(Protocol):
    """One forecast table with all-or-nothing writes; see the module docstring."""

    location: str  # where it is, for messages (a SQL URL without its password)
    setting: str  # the config value that names it, for messages: store.dir=... or store.url=...
    # whether a SIGTERM or Ctrl-C waits for a write to end: True where a signal cannot stop
    # the write part-way anyway (delta-rs commits in Rust) or would leave part of it (a CSV
    # export, a file per day); False where it rolls the whole transaction back (SQL)
    holds_signals: bool
    # whether maintain compacts and vacuums (under the writers' lock): False where the
    # store keeps no old files, so that maintain needs no lock file, nor a writable folder
    compacts: bool

    def exists(self) -> bool:
        """Whether a forecast table is there; creates nothing."""
        ...

    def locked(self) -> AbstractContextManager[None]:
        """Hold the writer's lock, or raise StoreLocked at once if another writer holds it."""
        ...

    def write(self, table: pd.DataFrame, info: RunInfo) -> int | None:
        """Replace the (symbol, as_of) pairs of ``table`` in one transaction; the new version
        (None: a store that keeps no versions)."""
        ...

    def read(
        self, version: int | None = None, timestamp: str | datetime | None = None
    ) -> pd.DataFrame:
        """The table (at ``version`` or ``timestamp`` where supported), sorted by as_of, symbol,
        step; as_of and target_date as datetime.date. Raises ``no_store()`` where there is none."""
        ...

    def history(self) -> pd.DataFrame:
        """One row per committed run: version, timestamp, run_id, run_dirs, as_of, symbols.
        Raises ``no_store()`` where there is no table."""
        ...

    def maintain(self, retention_hours: int) -> dict:
        """Compact and vacuum where the format has it (``compacts``: only then does
        ``marketcast store maintain`` call it, under ``locked()``); what was done. Raises
        ``no_store()`` where there is no table (check ``exists()`` before ``locked()``, which
        creates files)."""
        ...


def folder_kind(folder: Path) -> tuple[str | None, list[str]]:
    """What the local folder of a store holds, and the names of the files of neither format:
    ``"delta"`` (a ``_delta_log``, or only the data files of a first write killed before its
    commit), ``"csv"`` (the export's ``as_of=DATE/CSV_FILE``, or only a first write's
    temporary files), ``"other"``, or None: nothing (no folder, an empty one, or only hidden
    names, as marketcast's lock file and a .DS_Store, which no store reads or deletes)."""
    try:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return None, []
    if not entries:
        return None, []
    if (folder / "_delta_log").is_dir():
        return "delta", []
    if any(folder.glob(f"as_of=*/{CSV_FILE}")):
        return "csv", []
    days = [p for p in entries if p.is_dir() and p.name.startswith("as_of=")]
    files = [f.name for day in days for f in day.iterdir()]
    others = sorted(p.name for p in entries if p not in days)
    if not others and files and all(DELTA_DATA_FILE.fullmatch(f) for f in files):
        return "delta", []
    if not others and files and all(f.startswith(f".{Path(CSV_FILE).stem}.") for f in files):
        return "csv", []
    return "other", others or sorted(p.name for p in days)


def no_store(store: ForecastStore) -> MarketcastError:
    """The error of reading or maintaining a store that does not exist (yet)."""
    return MarketcastError(
        f"there is no forecast store at {store.setting}: check it for a typo. Only marketcast "
        "predict creates a store, on its first write."
    )


@dataclass(frozen=True)
class Refusal:
    """Why the system refused a write (``cause``: what it said) and what the user can do."""

    cause: str
    fix: str


def unwritable(setting: str, refusal: Refusal) -> MarketcastError:
    """The error of a store the system refuses to write."""
    return MarketcastError(
        f"cannot write to the forecast store {setting}: {refusal.cause}; nothing was written "
        f"to it. {refusal.fix}"
    )


def os_cause(exc: BaseException) -> Refusal | None:
    """What a user-fixable OS error says (disk full, read-only, a file where a folder must be,
    no permission, an unreachable parent), as ``strerror (ENAME) at path`` with its fix;
    None for any other.

    Reads the errno of an OSError, else the ``(os error N)`` delta-rs writes into the
    message of its DeltaErrors and OSErrors, which carry no errno.
    """
    number = exc.errno if isinstance(exc, OSError) else None
    if number is None:
        quoted = _OS_ERROR.findall(str(exc))
        number = int(quoted[-1]) if quoted else None
    if number not in LOCATION_FIXABLE:
        return None
    cause = f"{os.strerror(number)} ({errno.errorcode[number]})"
    if getattr(exc, "filename", None):
        cause += f" at {exc.filename}"
    what, fix = refusal_words(number)
    return Refusal(cause + what, fix)


def quantile_columns(columns) -> list[str]:
    """The interval-bound columns among ``columns``, by level (q2.5 before q10 before q90)."""
    return sorted((c for c in columns if _QUANTILE.match(str(c))), key=lambda c: float(c[1:]))


def prepare(table: pd.DataFrame, info: RunInfo) -> pd.DataFrame:
    """``table`` checked and typed for writing, with ``run_id`` set to ``info.run_id``.

    Raises MarketcastError for an empty table, a missing or unknown column, or
    a key (symbol, as_of, step) that appears twice.
    """
    if not len(table):
        raise MarketcastError("the forecast table is empty: there is nothing to write.")
    missing = [c for c in [*LEADING, "run_dir"] if c not in table]
    if missing:
        raise MarketcastError(
            f"the forecast table lacks the column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, table.columns))}. Write a table from forecast_windows()."
        )
    quantiles = quantile_columns(table.columns)
    unknown = [c for c in table.columns if c not in {*LEADING, *TRAILING, *quantiles}]
    if unknown:
        raise MarketcastError(
            f"the forecast table has unknown column(s) {', '.join(map(str, unknown))}: the store "
            "holds symbol, as_of, target_date, step, forecast, q<level> bounds and run_dir."
        )
    frame = table.assign(run_id=info.run_id)[[*LEADING, *quantiles, *TRAILING]]
    frame = frame.astype({"symbol": str, "step": "int64", "forecast": "float64", "run_dir": str})
    frame = frame.astype(dict.fromkeys(quantiles, "float64"))
    for column in ("as_of", "target_date"):
        frame[column] = _dates(frame[column])
    duplicated = frame.duplicated(KEY, keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise MarketcastError(
            f"the forecast table holds {int(duplicated.sum())} rows with a repeated key, e.g. "
            f"symbol={first['symbol']} as_of={first['as_of']} step={first['step']}: each "
            "(symbol, as_of, step) may appear once. Forecast each symbol with one run."
        )
    return frame.reset_index(drop=True)


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """A read-back table in the one shape every format returns.

    Columns in the order symbol, as_of, target_date, step, forecast, q columns
    by level, run_dir, run_id; dates as datetime.date; sorted by as_of, symbol, step.
    """
    if frame is None or not len(frame.columns):
        return empty_table()
    quantiles = quantile_columns(frame.columns)
    frame = frame[[*LEADING, *quantiles, *TRAILING]].copy()
    for column in ("as_of", "target_date"):
        frame[column] = _dates(frame[column])
    frame = frame.astype(
        {"symbol": object, "step": "int64", "forecast": "float64", "run_dir": object}
    )
    frame["run_id"] = frame["run_id"].astype(object)
    frame = frame.astype(dict.fromkeys(quantiles, "float64"))
    return frame.sort_values(["as_of", "symbol", "step"], kind="stable").reset_index(drop=True)


def empty_table() -> pd.DataFrame:
    """A forecast table with no rows (and no interval columns)."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in [*LEADING, *TRAILING]}).astype(
        {"step": "int64", "forecast": "float64"}
    )


def empty_history() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in HISTORY_COLUMNS})


@contextmanager
def file_lock(path: Path, setting: str) -> Iterator[None]:
    """Hold an ``flock`` on the file ``path`` (made if missing), or raise StoreLocked at once.

    The kernel releases an flock when its holder exits, however it exits, so a
    killed run never leaves the store locked. A filesystem without flock
    (some Lustre or NFS mounts: ENOSYS, EOPNOTSUPP, ENOLCK), or a lock file that
    cannot be made (``os_cause``), raises MarketcastError naming ``setting``, the
    store's config value.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        refusal = os_cause(exc)
        if refusal is None:
            raise
        raise unwritable(setting, refusal) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLocked(
                f"another forecast run is writing to the forecast store {setting} (it holds "
                f"{path}); this run wrote nothing. Let it finish, or schedule runs further apart."
            ) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOLCK):
                raise
            raise MarketcastError(
                f"cannot lock the forecast store {setting}: flock on {path} failed "
                f"({errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}); this filesystem "
                "does not support file locks. Put the store on a local disk or one mounted with "
                "flock support, or use store.format=sql with a PostgreSQL URL."
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _dates(values: pd.Series) -> pd.Series:
    """datetime.date values from dates, timestamps or ISO strings."""
    return pd.Series(pd.to_datetime(values).dt.date, index=values.index, dtype=object)
