"""The flat CSV export of the forecast table: ``DIR/as_of=YYYY-MM-DD/forecasts.csv``.

For tools that want plain files. Each day's file is replaced atomically
(temporary name, then rename: a reader sees the old file or the new one), and
a write merges the written (symbol, as_of) pairs into each day's file as the
other stores do. It is NOT transactional across days: a write spanning
several as_of dates that is killed part-way leaves some days new and the
others old, and a reader listing the files during a write may see such a mix.
Use store.format=delta where that matters; there is no history, no time
travel and nothing to maintain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd

from marketcast.atomic import atomic_write
from marketcast.errors import MarketcastError
from marketcast.storage.forecast_store import (
    CSV_FILE,
    LOCK_FILE,
    RunInfo,
    file_lock,
    no_store,
    prepare,
    tidy,
)


class CsvForecastExport:
    """One CSV file per as_of under the directory ``location``."""

    holds_signals = True  # a file per day: stopped part-way, some days written
    compacts = False  # the export keeps no old versions

    def __init__(self, location: str | Path):
        self.root = Path(location)
        self.location = str(location)
        self.setting = f"store.dir={self.location}"

    def exists(self) -> bool:
        """Whether any day's file is there."""
        return any(self._files())

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An flock on ``DIR/.marketcast.lock``, as for the Delta store."""
        with file_lock(self.root / LOCK_FILE, self.setting):
            yield

    def write(self, table: pd.DataFrame, info: RunInfo) -> None:
        """Merge ``table`` into each of its days' files (each file atomic); no version."""
        frame = prepare(table, info)
        for as_of, rows in frame.groupby("as_of", sort=True):
            path = self.root / f"as_of={as_of.isoformat()}" / CSV_FILE
            if path.exists():
                old = _read(path)
                kept = old[~old["symbol"].isin(rows["symbol"])]
                rows = pd.concat([kept, rows], ignore_index=True) if len(kept) else rows
            merged = tidy(rows)
            atomic_write(path, lambda tmp, m=merged: m.to_csv(tmp, index=False))

    def read(
        self, version: int | None = None, timestamp: str | datetime | None = None
    ) -> pd.DataFrame:
        """Every day's file as one table, sorted by as_of, symbol, step."""
        if version is not None or timestamp is not None:
            raise MarketcastError(
                "time travel needs store.format=delta: the CSV export keeps only the latest "
                "forecasts."
            )
        files = sorted(self._files())
        if not files:
            raise no_store(self)
        return tidy(pd.concat([_read(f) for f in files], ignore_index=True))

    def history(self) -> pd.DataFrame:
        """Refused: the export records no runs (an empty history would read as no writes)."""
        if not self.exists():
            raise no_store(self)
        raise MarketcastError(
            f"{self.setting} is a CSV export, which keeps no history of runs: the runs and "
            "versions are kept by store.format=delta or a SQL store (store.url=...)."
        )

    def maintain(self, retention_hours: int) -> dict:
        """Nothing to do: the export keeps no old versions."""
        if not self.exists():
            raise no_store(self)
        return {}

    def _files(self) -> Iterator[Path]:
        return self.root.glob(f"as_of=*/{CSV_FILE}")


def _read(path: Path) -> pd.DataFrame:
    # symbols such as 005930 must stay strings, not become the number 5930
    frame = pd.read_csv(path, dtype={"symbol": str, "run_dir": str, "run_id": str})
    return tidy(frame)
