"""The forecast store as a Delta Lake table (delta-rs), partitioned by ``as_of``.

A write is one Delta commit: ``write_deltalake(mode="overwrite",
predicate=...)`` removes the files holding the written (symbol, as_of) pairs,
adds their replacements (the untouched rows of those files rewritten beside
the new ones) and the commit's metadata (the RunInfo) in one log entry
(a write of days the table does not hold yet is a plain append),
``_delta_log/<version>.json``, which is created atomically (put-if-absent).
A writer killed before that entry exists leaves only unreferenced Parquet
files, which no reader sees and ``maintain()`` vacuums. Every reader (this
module's ``read``, ``DeltaTable(uri).to_pandas()``, ``polars.read_delta``,
DuckDB over ``DeltaTable(uri).to_pyarrow_dataset()``) sees one committed version.

Writers on a local filesystem serialise on an flock (``locked()``); on object
stores (s3://, gs://, az://) there is no flock: delta-rs's own commit
protocol (conditional put of the log entry) lets one of two racing writers win
and fails the other, which ``write`` reports as StoreLocked.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from marketcast.errors import MarketcastError
from marketcast.progress import listed
from marketcast.storage.forecast_store import (
    DELTA_DATA_FILE,
    HISTORY_COLUMNS,
    LOCK_FILE,
    REMOTE_SCHEMES,
    RunInfo,
    StoreLocked,
    empty_history,
    file_lock,
    no_store,
    os_cause,
    prepare,
    quantile_columns,
    tidy,
    unwritable,
)


class DeltaForecastStore:
    """The forecast table at ``location`` (a directory, or an object-store URI)."""

    holds_signals = True  # delta-rs commits in Rust: a signal waits for it anyway
    compacts = True

    def __init__(self, location: str | Path, storage_options: dict[str, str] | None = None):
        self.location = str(location)
        self.setting = f"store.dir={self.location}"
        self.storage_options = storage_options
        self.remote = self.location.startswith(REMOTE_SCHEMES)

    def exists(self) -> bool:
        """Whether a Delta table is at ``location`` (a directory without ``_delta_log`` is none)."""
        return self._table() is not None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """An flock on ``<table>/.marketcast.lock`` (vacuum leaves it); none on object stores."""
        if self.remote:
            yield  # delta-rs's conditional-put commit is the arbiter there
            return
        with file_lock(Path(self.location) / LOCK_FILE, self.setting):
            yield

    def write(self, table: pd.DataFrame, info: RunInfo) -> int:
        """Replace ``table``'s (symbol, as_of) pairs in one commit; the new table version."""
        frame = prepare(table, info)
        data = pa.Table.from_pandas(frame, schema=_schema(frame), preserve_index=False)
        commit = CommitProperties(custom_metadata=info.to_metadata())
        target = self._table()
        try:
            if target is None:
                write_deltalake(
                    self.location,
                    data,
                    mode="error",
                    partition_by=["as_of"],
                    storage_options=self.storage_options,
                    commit_properties=commit,
                )
                return self._table().version()
            predicate = replace_predicate(frame, stored_symbols(target, frame["as_of"].unique()))
            write_deltalake(
                target,
                data,
                mode="append" if predicate is None else "overwrite",
                predicate=predicate,
                schema_mode="merge",  # a run with other interval levels adds its q columns
                commit_properties=commit,
            )
        except CommitFailedError as exc:
            raise StoreLocked(
                f"another writer committed to {self.location} while this run wrote; this run "
                f"wrote nothing ({exc}). Re-run it."
            ) from exc
        except (OSError, DeltaError) as exc:  # a full disk arrives as DeltaError "(os error 28)"
            refusal = os_cause(exc)
            if refusal is None:
                raise
            raise unwritable(self.setting, refusal) from exc
        return target.version()

    def read(
        self, version: int | None = None, timestamp: str | datetime | None = None
    ) -> pd.DataFrame:
        """The table now, at ``version``, or as it was at ``timestamp`` (ISO string or datetime)."""
        if version is not None and timestamp is not None:
            raise MarketcastError("read at a version or at a timestamp, not both.")
        if timestamp is not None:
            version = self._version_at(timestamp)
        target = self._stored(version)
        try:
            return tidy(target.to_pyarrow_table().to_pandas())
        except FileNotFoundError as exc:  # the log still lists files that vacuum deleted
            read = target.version()
            asked = f"version {read}'s"
            if timestamp is not None:
                asked = f"timestamp={timestamp} reads version {read}, whose"
            oldest = self._oldest_readable(read)
            instead = (
                f"the oldest readable version is {oldest}"
                if oldest is not None
                else f"read a later version (marketcast store history {self.setting} lists them)"
            )
            raise MarketcastError(
                f"{self.setting}: {asked} files were vacuumed (store.retention_hours); {instead}. "
                "A longer store.retention_hours keeps more history."
            ) from exc

    def history(self) -> pd.DataFrame:
        """One row per committed run, oldest first (compactions and vacuums left out)."""
        target = self._stored()
        rows = []
        for commit in target.history():
            info = RunInfo.from_metadata(commit)
            if info is None:
                continue
            rows.append(
                {
                    "version": int(commit["version"]),
                    "timestamp": pd.Timestamp(commit["timestamp"], unit="ms", tz="UTC"),
                    "run_id": info.run_id,
                    "run_dirs": info.run_dirs,
                    "as_of": info.as_of,
                    "symbols": info.symbols,
                }
            )
        if not rows:
            return empty_history()
        return pd.DataFrame(rows, columns=HISTORY_COLUMNS).sort_values("version", ignore_index=True)

    def maintain(self, retention_hours: int) -> dict:
        """Compact small files, then delete files unreferenced for ``retention_hours``.

        ``retention_hours`` bounds time travel and must exceed the longest read:
        a reader still on an older version loses files vacuumed under it. Delta's
        7-day floor is not enforced, so a nightly store can keep a shorter window.
        Call it while holding ``locked()``.
        """
        if retention_hours < 0:
            raise MarketcastError(
                f"store.retention_hours={retention_hours} is negative: give the hours of "
                "history to keep (e.g. 168)."
            )
        target = self._stored()
        # A full vacuum deletes every file no commit names, whoever wrote it: refuse before
        # anything changes where some were not Delta's (files put in the table's folder).
        unreferenced = target.vacuum(
            retention_hours=0, enforce_retention_duration=False, dry_run=True, full=True
        )
        foreign = [f for f in unreferenced if not DELTA_DATA_FILE.fullmatch(os.path.basename(f))]
        if foreign:
            raise MarketcastError(
                f"{self.setting} holds {len(foreign)} files the Delta table did not write "
                f"({listed(sorted(foreign))}), which maintain's vacuum would delete: move them "
                "out of its folder, then run maintain again. Nothing was compacted or deleted."
            )
        compacted = target.optimize.compact()
        # full: also the files no log entry ever named (a writer killed before its commit);
        # a lite vacuum deletes only files that a commit removed
        vacuumed = target.vacuum(
            retention_hours=retention_hours,
            enforce_retention_duration=False,
            dry_run=False,
            full=True,
        )
        return {
            "version": target.version(),
            "files_added": compacted["numFilesAdded"],
            "files_removed": compacted["numFilesRemoved"],
            "vacuumed": sorted(vacuumed),
        }

    def _oldest_readable(self, unreadable: int) -> int | None:
        """The first version after ``unreadable`` whose files all exist; None if none is, or
        on object stores (not checked there). Each distinct file is looked up once."""
        if self.remote:
            return None
        target = DeltaTable(self.location, storage_options=self.storage_options)
        exists = functools.cache(os.path.exists)
        for version in range(unreadable + 1, target.version() + 1):
            target.load_as_version(version)
            if all(exists(path) for path in target.file_uris()):
                return version
        return None

    def _version_at(self, timestamp: str | datetime) -> int:
        """The last version committed at or before ``timestamp`` (naive: UTC)."""
        moment = pd.Timestamp(timestamp)
        moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
        target = self._stored()
        committed = [
            int(c["version"])
            for c in target.history()
            if pd.Timestamp(c["timestamp"], unit="ms", tz="UTC") <= moment
        ]
        if not committed:
            raise MarketcastError(
                f"the forecast store {self.location} did not exist yet at {moment}: read at a "
                "later timestamp (see its history)."
            )
        return max(committed)

    def _stored(self, version: int | None = None) -> DeltaTable:
        """The table (at ``version``) for a reader; ``no_store()`` where none has been written."""
        target = self._table(version)
        if target is None:
            raise no_store(self)
        return target

    def _table(self, version: int | None = None) -> DeltaTable | None:
        """The table (at ``version``), or None where none has been written yet."""
        try:
            return DeltaTable(self.location, version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            return None
        except DeltaError as exc:
            if version is None:
                raise
            latest = self._table()
            if latest is None or version <= latest.version():  # not a version out of range
                raise MarketcastError(
                    f"the forecast store {self.setting} has no version {version} ({exc}); "
                    f"marketcast store history {self.setting} lists the versions kept."
                ) from exc
            raise MarketcastError(
                f"the forecast store {self.setting} has no version {version}: its latest is "
                f"{latest.version()} (marketcast store history {self.setting} lists them)."
            ) from None


def stored_symbols(target: DeltaTable, days) -> dict:
    """as_of -> the set of symbols the table holds for that day (only those days' files read)."""
    dates = pa.array(list(days), pa.date32())
    held = target.to_pyarrow_dataset().to_table(
        columns=["as_of", "symbol"], filter=ds.field("as_of").isin(dates)
    )
    stored: dict = {}
    for as_of, symbol in zip(
        held.column("as_of").to_pylist(), held.column("symbol").to_pylist(), strict=True
    ):
        stored.setdefault(as_of, set()).add(symbol)
    return stored


def replace_predicate(frame: pd.DataFrame, stored: dict) -> str | None:
    """The SQL predicate matching exactly ``frame``'s (symbol, as_of) pairs; None: no such rows.

    One term per day written: ``as_of = '2024-05-02'`` where the write covers every
    symbol stored for that day, or the table holds none (a whole-partition replace, the
    common nightly case and much faster), else ``(as_of = ... AND symbol IN (...))``.
    Every written row must match the predicate (delta-rs refuses the whole write
    otherwise: a night whose symbols end on a stored day and a new one, one of them a
    session behind, failed with "rows failed validation check"). A write of days the
    table does not hold at all is an append (None); ``stored`` is ``stored_symbols()``.
    """
    if not any(stored.get(as_of) for as_of in frame["as_of"].unique()):
        return None
    terms = []
    for as_of, rows in frame.groupby("as_of", sort=True):
        written = set(rows["symbol"])
        day = f"as_of = '{as_of.isoformat()}'"
        if stored.get(as_of, set()) <= written:
            terms.append(f"({day})")
        else:
            symbols = ", ".join(_literal(s) for s in sorted(written))
            terms.append(f"({day} AND symbol IN ({symbols}))")
    return " OR ".join(terms) or None


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _schema(frame: pd.DataFrame) -> pa.Schema:
    floats = ["forecast", *quantile_columns(frame.columns)]
    types = {
        "symbol": pa.string(),
        "as_of": pa.date32(),
        "target_date": pa.date32(),
        "step": pa.int64(),
        **dict.fromkeys(floats, pa.float64()),
        "run_dir": pa.string(),
        "run_id": pa.string(),
    }
    return pa.schema([(c, types[c]) for c in frame.columns])
