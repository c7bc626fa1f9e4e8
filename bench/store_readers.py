"""Readers of the Delta forecast store while its writer is killed with SIGKILL mid-write.

A writer process does N nightly writes of S symbols x 5 steps; each night's
day is written twice (the full universe, then a re-run of the first half of
the symbols with 4 steps, so rows are replaced and a step vanishes). In K of
the writes the writer gets SIGKILL at a random moment within a write's usual
duration; it is restarted and that write re-run. Meanwhile a reader process
loops, every few ms, over four readers: marketcast's ``read``,
``deltalake.DeltaTable(uri).to_pandas()``, ``polars.read_delta(uri)`` and
DuckDB over ``DeltaTable(uri).to_pyarrow_dataset()``.

Every row carries the run_id of the write that made it and a value derived
from it, so the content after each write is known in advance: a read is
consistent when its content equals the table after some prefix of the writes
(compared by an order-free hash of the rows). At the end the table must equal
a clean run's, with no key lost or duplicated.

    python bench/store_readers.py [--writes 20] [--symbols 1000] [--kills 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd

STEPS = 5
READERS = ("marketcast", "deltalake", "polars", "duckdb")
FIRST_DAY = dt.date(2024, 1, 1)


def night(i: int, symbols: int) -> pd.DataFrame:
    """Write i's table: day i // 2; even i all symbols x 5 steps, odd i half of them x 4."""
    as_of = FIRST_DAY + dt.timedelta(days=i // 2)
    count, steps = (symbols, STEPS) if i % 2 == 0 else (max(1, symbols // 2), STEPS - 1)
    names = np.repeat([f"S{k:05d}" for k in range(count)], steps)
    step = np.tile(np.arange(1, steps + 1), count)
    value = i * 1000.0 + np.repeat(np.arange(count), steps) + step / 10
    return pd.DataFrame(
        {
            "symbol": names,
            "as_of": as_of,
            "target_date": [as_of + dt.timedelta(days=int(s)) for s in step],
            "step": step,
            "forecast": value,
            "q10": value - 1,
            "q90": value + 1,
            "run_dir": f"/runs/{i}",
        }
    )


def fingerprint(frame: pd.DataFrame) -> tuple[int, int]:
    """(rows, order-free hash of symbol, as_of, step, forecast, run_id) of a read table."""
    if not len(frame):
        return (0, 0)
    days = pd.to_datetime(frame["as_of"]).to_numpy().astype("datetime64[D]").astype("int64")
    rows = pd.DataFrame(
        {
            "symbol": frame["symbol"].astype(str).to_numpy(),
            "as_of": days,
            "step": frame["step"].astype("int64").to_numpy(),
            "forecast": frame["forecast"].astype("float64").to_numpy(),
            "run_id": frame["run_id"].astype(str).to_numpy(),
        }
    )
    hashes = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    return (len(rows), int(hashes.sum(dtype="uint64")))


def expected_states(writes: int, symbols: int) -> dict[tuple[int, int], int]:
    """fingerprint -> the number of writes after which the table has that content."""
    from marketcast.storage.forecast_store import PAIR, RunInfo, prepare

    table = pd.DataFrame()
    states = {(0, 0): 0}
    for i in range(writes):
        rows = prepare(night(i, symbols), RunInfo.for_table(night(i, symbols), f"w{i}"))
        if len(table):
            keys = pd.MultiIndex.from_frame(table[PAIR])
            table = table[~keys.isin(pd.MultiIndex.from_frame(rows[PAIR]))]
        table = pd.concat([table, rows], ignore_index=True)
        states[fingerprint(table)] = i + 1
    return states


def write_nights(location: str, symbols: int) -> None:
    """The writer: read write numbers on stdin, do each under the lock, report on stdout."""
    from marketcast.storage.forecast_store import RunInfo
    from marketcast.storage.stores import open_store

    store = open_store("delta", location)
    print("ready", flush=True)
    for line in sys.stdin:
        i = int(line)
        table = night(i, symbols)
        print(f"start {i}", flush=True)
        with store.locked():
            store.write(table, RunInfo.for_table(table, run_id=f"w{i}"))
        print(f"done {i}", flush=True)


def read_loop(location: str, writes: int, symbols: int, ready, stop, results) -> None:
    """The reader process: read with each reader in turn until ``stop``; count the outcomes."""
    import duckdb
    import polars as pl
    from deltalake import DeltaTable

    from marketcast.storage.stores import open_store

    states = expected_states(writes, symbols)
    store = open_store("delta", location)
    con = duckdb.connect()
    readers = {
        "marketcast": store.read,
        "deltalake": lambda: DeltaTable(location).to_pandas(),
        "polars": lambda: pl.read_delta(location).to_pandas(),
        "duckdb": lambda: con.from_arrow(DeltaTable(location).to_pyarrow_dataset()).df(),
    }
    counts = {name: {"reads": 0, "inconsistent": 0, "errors": 0} for name in readers}
    seen: set[int] = set()
    ready.set()
    while not stop.is_set():
        for name, read in readers.items():
            existed = DeltaTable.is_deltatable(location)  # before the read starts
            try:
                frame = read()
            except Exception as exc:  # a reader failing is a finding, not a crash
                if not existed or not DeltaTable.is_deltatable(location):
                    # no table when the read began: the first commit may land mid-read
                    # ("No files in log segment"), which is not a torn table
                    frame = pd.DataFrame()
                else:
                    counts[name]["errors"] += 1
                    print(f"reader {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
            counts[name]["reads"] += 1
            state = states.get(fingerprint(frame))
            if state is None:
                counts[name]["inconsistent"] += 1
            else:
                seen.add(state)
            time.sleep(0.003)
    results.put({"counts": counts, "states_seen": len(seen)})


def orphan_files(location: str) -> set[str]:
    """Parquet files no commit ever added: what killed writers left behind."""
    added = set()
    for entry in Path(location, "_delta_log").glob("*.json"):
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                added.add(unquote(action["add"]["path"]))
    on_disk = {str(p.relative_to(location)) for p in Path(location).rglob("*.parquet")}
    return on_disk - added


class Writer:
    """The writer process, restarted after each kill."""

    def __init__(self, location: str, symbols: int):
        self.location = location
        self.command = [sys.executable, __file__, "--writer", location, "--symbols", str(symbols)]
        self.start()

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.process.stdout.readline().strip() == "ready"

    def write(self, i: int, kill_after: float | None) -> bool:
        """Do write i; with ``kill_after``, SIGKILL the writer that long after it starts.

        Returns whether the killed write had not committed (the last commit is another run's).
        """
        self.process.stdin.write(f"{i}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == f"start {i}"
        if kill_after is None:
            assert self.process.stdout.readline().strip() == f"done {i}"
            return False
        time.sleep(kill_after)
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process.stdout.read()
        self.start()
        from deltalake import DeltaTable

        last = DeltaTable(self.location).history(limit=1)[0]
        return last.get("marketcast.run_id") != f"w{i}"

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


def run(writes: int = 20, symbols: int = 1000, kills: int = 10, seed: int = 0) -> dict:
    """The whole bench in a temporary directory; returns the figures it prints."""
    from marketcast.storage.forecast_store import KEY, RunInfo
    from marketcast.storage.stores import open_store

    rng = random.Random(seed)
    killed_writes = set(rng.sample(range(2, writes), min(kills, writes - 2)))
    with tempfile.TemporaryDirectory(prefix="store-readers-") as tmp:
        location = str(Path(tmp, "store"))
        ctx = multiprocessing.get_context("spawn")
        ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
        reader = ctx.Process(
            target=read_loop, args=(location, writes, symbols, ready, stop, results)
        )
        reader.start()
        assert ready.wait(300), "the reader did not start"
        writer = Writer(location, symbols)
        durations, kills_done, kills_mid_write = [], 0, 0
        started = time.perf_counter()
        for i in range(writes):
            if i in killed_writes:
                kill_after = rng.uniform(0, 1.2 * float(np.median(durations)))
                kills_mid_write += writer.write(i, kill_after)
                kills_done += 1
            t0 = time.perf_counter()
            writer.write(i, None)  # the (re-)run
            durations.append(time.perf_counter() - t0)
        writer.close()
        elapsed = time.perf_counter() - started
        time.sleep(0.2)  # a few reads of the final table
        stop.set()
        outcome = results.get(timeout=120)
        reader.join(60)

        store = open_store("delta", location)
        final = store.read()
        orphans = len(orphan_files(location))
        with store.locked():
            store.maintain(retention_hours=0)  # sweeps the killed writers' orphan files too
        after_maintain = store.read()
        clean = open_store("delta", str(Path(tmp, "clean")))
        for i in range(writes):
            table = night(i, symbols)
            clean.write(table, RunInfo.for_table(table, run_id=f"w{i}"))
        reference = clean.read()

    final_keys = pd.MultiIndex.from_frame(final[KEY].astype(str))
    clean_keys = pd.MultiIndex.from_frame(reference[KEY].astype(str))
    figures = {
        "writes": writes,
        "symbols": symbols,
        "kills": kills_done,
        "kills_before_commit": kills_mid_write,
        "orphan_files_left_by_kills": orphans,
        "write_seconds_median": float(np.median(durations)),
        "elapsed_seconds": elapsed,
        "reads": {n: c["reads"] for n, c in outcome["counts"].items()},
        "inconsistent_reads": {n: c["inconsistent"] for n, c in outcome["counts"].items()},
        "reader_errors": {n: c["errors"] for n, c in outcome["counts"].items()},
        "versions_seen_by_readers": outcome["states_seen"],
        "rows": len(final),
        "rows_lost": int((~clean_keys.isin(final_keys)).sum()),
        "rows_duplicated": int(final.duplicated(KEY).sum()),
        "equals_clean_run": final.equals(reference),
        "maintain_kept_table": after_maintain.equals(final),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--writer", help=argparse.SUPPRESS)  # internal: the writer process
    args = parser.parse_args()
    if args.writer:
        write_nights(args.writer, args.symbols)
        return
    figures = run(args.writes, args.symbols, args.kills, args.seed)
    for name, value in figures.items():
        print(f"{name:>30}: {value}")


if __name__ == "__main__":
    main()
