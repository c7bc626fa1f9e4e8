"""Writing one night's forecasts: the Delta store against the flat CSV export.

(Until it was removed, the baseline was the hand-written Parquet journal store: Delta took
40-140 ms against its 9-21 ms; the CSV export is the non-transactional writer left.)

One table of S symbols x 5 steps (default 1,000 x 5), written the way a
nightly run writes it, to both stores in the same process:
- ``new day``: a new as_of into a store that already holds D earlier days;
- ``re-run``: the same as_of again (every row of that day replaced);
- ``partial``: a re-run of half of that day's symbols (the others kept).
Each is repeated R times (fresh stores per repeat, the store's first write
excluded from timing); the median is printed, and the Delta / Parquet ratio.

    python bench/store_write_speed.py [--symbols 1000] [--days 20] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from store_readers import night  # bench/store_readers.py: the same tables

from marketcast.storage.forecast_store import RunInfo
from marketcast.storage.stores import open_store

CASES = ("new day", "re-run", "partial")


def day_table(symbols: int, day: int) -> pd.DataFrame:
    """Night 2 * day's table (all symbols, 5 steps) for as_of FIRST_DAY + day."""
    return night(2 * day, symbols)


def time_delta(root: Path, tables: list[pd.DataFrame], new: pd.DataFrame) -> list[float]:
    store = open_store("delta", str(root))
    for table in tables:
        store.write(table, RunInfo.for_table(table))
    half = new[new["symbol"].isin(new["symbol"].unique()[::2])]
    return [_timed(lambda t=t: _locked_write(store, t)) for t in (new, new, half)]


def time_csv(root: Path, tables: list[pd.DataFrame], new: pd.DataFrame) -> list[float]:
    store = open_store("csv", str(root))
    for table in tables:
        store.write(table, RunInfo.for_table(table))
    half = new[new["symbol"].isin(new["symbol"].unique()[::2])]
    return [_timed(lambda t=t: _locked_write(store, t)) for t in (new, new, half)]


def _locked_write(store, table: pd.DataFrame) -> None:
    with store.locked():
        store.write(table, RunInfo.for_table(table))


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    history = [day_table(args.symbols, d) for d in range(args.days)]
    new = day_table(args.symbols, args.days)
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="store-speed-") as tmp:
        for repeat in range(args.repeats):
            for name, timer in (("delta", time_delta), ("csv", time_csv)):
                seconds = timer(Path(tmp, f"{name}-{repeat}"), history, new)
                for case, value in zip(CASES, seconds, strict=True):
                    times.setdefault((name, case), []).append(value)
    print(
        f"{args.symbols} symbols x 5 steps, store holding {args.days} days, "
        f"median of {args.repeats} repeats (ms)"
    )
    for case in CASES:
        delta = statistics.median(times[("delta", case)]) * 1000
        csv = statistics.median(times[("csv", case)]) * 1000
        print(f"{case:>8}: delta {delta:7.1f}  csv {csv:7.1f}  delta/csv {delta / csv:5.2f}")


if __name__ == "__main__":
    main()
