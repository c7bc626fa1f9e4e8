"""The forecast store: one table of every forecast, partitioned by ``as_of``.

Layout: ``<store>/as_of=YYYY-MM-DD/forecasts.parquet`` (or ``.csv``); each
file holds all columns, as_of included. ``read_store`` reads them back as one
table (after finishing an interrupted write, if there was one).

Writing replaces exactly the rows of the symbols written for their as_of, so
a re-run for the same day changes nothing twice. A write is all-or-nothing
even across several partitions: every new partition file is written in full
under a temporary name, then a journal naming them is renamed into place
(the commit point), then the files are renamed over the old ones. A run
killed before the commit point leaves the old store (its temporary files are
removed by the next write); one killed after it is rolled forward by the
next ``read_store`` or write.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from marketcast.atomic import atomic_write
from marketcast.errors import MarketcastError

KEY = ["symbol", "as_of", "step"]
_JOURNAL = "_commit.json"
_LOCK = ".lock"


class StoreLocked(MarketcastError):
    """Another run holds the store's lock."""


@contextmanager
def locked(store: Path) -> Iterator[None]:
    """Hold the store's lock, or raise ``StoreLocked`` at once if another run holds it.

    The lock is an ``flock`` on ``<store>/.lock``: the kernel releases it when
    its holder exits, however it exits, so a killed run never leaves it stuck.
    """
    store.mkdir(parents=True, exist_ok=True)
    with open(store / _LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLocked(
                f"another forecast run is writing to {store} (it holds {store / _LOCK}); "
                "this run wrote nothing. Let it finish, or schedule runs further apart."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_forecasts(store: Path, table: pd.DataFrame, fmt: str) -> list[Path]:
    """Merge ``table`` into the store; returns the partition files written.

    Call it while holding ``locked(store)``. Rows of the store with the same
    as_of and a symbol in ``table`` are replaced by ``table``'s rows.
    """
    recover(store)
    staged: list[tuple[Path, Path]] = []
    try:
        for as_of, rows in table.groupby("as_of", sort=True):
            final = _partition(store, as_of, fmt)
            old = _read_file(final, fmt) if final.exists() else table.iloc[:0]
            kept = old[~old["symbol"].isin(rows["symbol"])]
            merged = pd.concat([kept, rows], ignore_index=True) if len(kept) else rows
            merged = merged.sort_values(KEY, kind="stable").reset_index(drop=True)
            tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
            final.parent.mkdir(parents=True, exist_ok=True)
            _write_file(merged, tmp, fmt)
            staged.append((tmp, final))
        journal = [[str(t.relative_to(store)), str(f.relative_to(store))] for t, f in staged]
        atomic_write(store / _JOURNAL, lambda p: p.write_text(json.dumps(journal)))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    recover(store)  # the journal is committed: make it so
    return [final for _, final in staged]


def recover(store: Path) -> None:
    """Finish a committed write (rename its files), and drop uncommitted temporary files."""
    journal = store / _JOURNAL
    if journal.exists():
        for tmp, final in json.loads(journal.read_text()):
            if (store / tmp).exists():
                os.replace(store / tmp, store / final)
        journal.unlink()
    for leftover in store.glob("as_of=*/.*.tmp"):
        leftover.unlink(missing_ok=True)


def read_store(store: Path, fmt: str) -> pd.DataFrame:
    """Every forecast in the store, sorted by as_of, symbol, step."""
    if store.exists():
        recover(store)
    files = sorted(store.glob(f"as_of=*/forecasts.{fmt}")) if store.exists() else []
    if not files:
        return pd.DataFrame()
    frame = pd.concat([_read_file(f, fmt) for f in files], ignore_index=True)
    return frame.sort_values(["as_of", "symbol", "step"], kind="stable").reset_index(drop=True)


def _partition(store: Path, as_of, fmt: str) -> Path:
    return store / f"as_of={pd.Timestamp(as_of).date()}" / f"forecasts.{fmt}"


def _write_file(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, float_format="%.6f")


def _read_file(path: Path, fmt: str) -> pd.DataFrame:
    frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    for column in ("as_of", "target_date"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame
