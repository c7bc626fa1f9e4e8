"""The forecast stores (Delta, SQLite, PostgreSQL, CSV): replace semantics, locks, history."""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest
from deltalake import DeltaTable
from postgres import postgres_url  # noqa: F401  (the fixture)
from sqlalchemy import create_engine, text

from marketcast.errors import MarketcastError
from marketcast.storage import sql_store as sql_store_module
from marketcast.storage.forecast_store import LOCK_FILE, RunInfo, StoreLocked
from marketcast.storage.stores import open_store

DAY1, DAY2, DAY3 = dt.date(2024, 5, 2), dt.date(2024, 5, 3), dt.date(2024, 5, 6)
SQL_KINDS = ["sqlite", "postgres"]
KINDS = ["delta", *SQL_KINDS]


def forecasts(symbols, as_of, value=1.0, steps=3, levels=("q10", "q90")) -> pd.DataFrame:
    """A forecast table as forecast_windows() makes it: one row per symbol and step."""
    rows = []
    for i, symbol in enumerate(symbols):
        for step in range(1, steps + 1):
            row = {
                "symbol": symbol,
                "as_of": as_of,
                "target_date": as_of + dt.timedelta(days=step),
                "step": step,
                "forecast": value + i + step / 10,
            }
            row.update({q: value + i - 1 + k * 2 for k, q in enumerate(levels)})
            row["run_dir"] = f"/runs/{value:g}"
            rows.append(row)
    return pd.DataFrame(rows)


def write(store, table: pd.DataFrame, run_id: str):
    with store.locked():
        return store.write(table, RunInfo.for_table(table, run_id=run_id))


def open_kind(kind: str, tmp_path: Path, request):
    if kind == "delta":
        return open_store("delta", str(tmp_path / "delta"))
    if kind == "sqlite":
        return open_store("sql", f"sqlite:///{tmp_path / 'forecasts.db'}")
    url = request.getfixturevalue("postgres_url")
    with create_engine(url).begin() as conn:  # the server is shared: start from no tables
        conn.execute(text("DROP TABLE IF EXISTS forecasts, forecast_runs"))
    return open_store("sql", url)


@pytest.fixture(params=KINDS)
def store(request, tmp_path):
    return open_kind(request.param, tmp_path, request)


@pytest.fixture(params=SQL_KINDS)
def sql_store(request, tmp_path):
    return open_kind(request.param, tmp_path, request)


# A night's re-run, and the other runs around it: which rows each write may touch.
RUNS = [
    ("r1", lambda: forecasts(["A", "B", "C"], DAY1)),
    ("r2", lambda: forecasts(["A", "B"], DAY2)),
    ("r3", lambda: forecasts(["B"], DAY1, value=7.0, steps=2)),  # re-run of B, one step fewer
    ("r4", lambda: forecasts(["C", "D"], DAY3, levels=("q5", "q10", "q90", "q95"))),
]


def test_a_rerun_replaces_exactly_its_keys(store):
    for run_id, table in RUNS[:2]:
        write(store, table(), run_id)
    before = store.read()
    write(store, RUNS[2][1](), "r3")
    after = store.read()

    b_day1 = after[(after["symbol"] == "B") & (after["as_of"] == DAY1)]
    assert list(b_day1["step"]) == [1, 2]  # step 3 vanished with the re-run
    assert list(b_day1["forecast"]) == [7.1, 7.2]
    assert set(b_day1["run_id"]) == {"r3"}
    untouched = ~((before["symbol"] == "B") & (before["as_of"] == DAY1))
    pd.testing.assert_frame_equal(
        after[after["run_id"] != "r3"].reset_index(drop=True),
        before[untouched].reset_index(drop=True),
    )
    assert not after.duplicated(["symbol", "as_of", "step"]).any()
    assert len(after) == 9 + 6 - 3 + 2
    assert list(after.columns[:5]) == ["symbol", "as_of", "target_date", "step", "forecast"]
    assert type(after["as_of"][0]) is dt.date and type(after["target_date"][0]) is dt.date

    write(store, RUNS[2][1](), "r3")  # the same re-run again changes nothing
    pd.testing.assert_frame_equal(store.read(), after)


def test_delta_sqlite_and_postgres_hold_identical_tables(tmp_path, request):
    tables = {}
    for kind in KINDS:
        store = open_kind(kind, tmp_path / kind, request)
        for run_id, table in RUNS:
            write(store, table(), run_id)
        tables[kind] = store.read()
    # r4 added q5 and q95: older rows hold NaN there, in every format
    assert list(tables["delta"].columns) == [
        "symbol", "as_of", "target_date", "step", "forecast",
        "q5", "q10", "q90", "q95", "run_dir", "run_id",
    ]  # fmt: skip
    assert tables["delta"]["q5"].isna().sum() == len(tables["delta"]) - 6
    pd.testing.assert_frame_equal(tables["sqlite"], tables["delta"])
    pd.testing.assert_frame_equal(tables["postgres"], tables["delta"])


@contextmanager
def lock_held_by_another_writer(store):
    """While inside, a second thread (its own file handle or connection) holds the lock."""
    ready, release, failed = threading.Event(), threading.Event(), []

    def hold():
        try:
            with store.__class__(*_location(store)).locked():
                ready.set()
                release.wait(20)
        except BaseException as exc:
            failed.append(exc)
            ready.set()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert ready.wait(20) and not failed, failed
        yield
    finally:
        release.set()
        holder.join(20)


def _location(store):
    return (getattr(store, "location", None) or getattr(store, "url", None),)


def test_a_sqlite_store_is_one_file_between_nights_and_a_reader_does_not_stop_a_night(
    tmp_path,
):
    """The nights stayed in the -wal file: a copy of the database file alone lacked them.
    And a reader in the middle of a read must not stop the next night's write."""
    import shutil
    import sqlite3

    store = open_store("sql", f"sqlite:///{tmp_path / 'f.db'}")
    for run_id, table in RUNS[:2]:
        write(store, table(), run_id)
    wal = tmp_path / "f.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # folded into the file
    shutil.copy(tmp_path / "f.db", tmp_path / "copy.db")
    copy = sqlite3.connect(f"file:{tmp_path / 'copy.db'}?mode=ro", uri=True)
    assert copy.execute("SELECT count(*) FROM forecasts").fetchone() == (9 + 6,)
    copy.close()

    reader = sqlite3.connect(f"file:{tmp_path / 'f.db'}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM forecasts").fetchone() == (15,)
    later = open_store("sql", f"sqlite:///{tmp_path / 'f.db'}")  # the next night's process
    write(later, RUNS[3][1](), "r4")
    assert reader.execute("SELECT count(*) FROM forecasts").fetchone() == (15,)  # its snapshot
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM forecasts").fetchone() == (15 + 6,)
    reader.close()


def test_a_second_writer_gets_store_locked(store):
    table = forecasts(["A"], DAY1)
    with lock_held_by_another_writer(store), pytest.raises(StoreLocked, match="another") as caught:
        write(store, table, "late")
    assert " ;" not in str(caught.value)  # PostgreSQL's said "...db ; this run wrote nothing"
    assert not store.exists()  # the refused write made no table
    write(store, table, "after")  # the lock is free again once the holder is done
    assert set(store.read()["run_id"]) == {"after"}


def test_a_sql_write_outside_locked_is_refused_while_another_writer_holds_it(
    sql_store, monkeypatch
):
    table = forecasts(["A"], DAY1)
    info = RunInfo.for_table(table, run_id="late")
    if sql_store.dialect == "sqlite":
        # the flock only guards locked(); the write's own guard is BEGIN IMMEDIATE, which
        # waits out another program's write lock for a while (here 0.2 s), then gives up
        monkeypatch.setattr(sql_store_module, "_BUSY_S", 0.2)
        sql_store = open_store("sql", f"sqlite:///{sql_store.file}")
        with (
            sqlite3.connect(sql_store.file, isolation_level=None) as other,
            pytest.raises(StoreLocked, match=r"another program kept .* over 0\.2 s"),
        ):
            other.execute("BEGIN IMMEDIATE")
            sql_store.write(table, info)
    else:
        with lock_held_by_another_writer(sql_store), pytest.raises(StoreLocked):
            sql_store.write(table, info)
    assert not sql_store.exists()


def test_a_sqlite_night_waits_out_another_programs_short_write(tmp_path):
    """The busy timeout was 0: another program's write lock on the file, however brief (a
    maintenance job's UPDATE), failed the night as 'another forecast run is writing'."""
    store = open_store("sql", f"sqlite:///{tmp_path / 'f.db'}")
    write(store, forecasts(["A"], DAY1), "r1")
    other = sqlite3.connect(tmp_path / "f.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE forecasts SET forecast = forecast + 1 WHERE symbol = 'A'")
    done = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    done.start()
    try:
        write(store, forecasts(["B"], DAY1), "r2")
    finally:
        done.join()
        other.close()
    assert set(store.read()["run_id"]) == {"r1", "r2"}


def test_a_sql_read_during_a_write_sees_the_last_commit(sql_store):
    write(sql_store, forecasts(["A", "B"], DAY1), "r1")
    committed = sql_store.read()
    with sql_store.engine.connect() as writer, writer.begin():  # a write, not yet committed
        writer.execute(text("DELETE FROM forecasts WHERE symbol = 'A'"))
        pd.testing.assert_frame_equal(sql_store.read(), committed)
        assert len(sql_store.history()) == 1


def test_history_lists_each_run_with_its_run_info(store):
    for run_id, table in RUNS:
        write(store, table(), run_id)
    history = store.history()
    assert list(history.columns) == [
        "version", "timestamp", "run_id", "run_dirs", "as_of", "symbols",
    ]  # fmt: skip
    assert list(history["run_id"]) == ["r1", "r2", "r3", "r4"]
    assert history["version"].is_monotonic_increasing and history["version"].is_unique
    last = history.iloc[-1]
    assert last["run_dirs"] == ["/runs/1"] and last["as_of"] == ["2024-05-06"]
    assert last["symbols"] == 2
    assert (history["timestamp"] <= pd.Timestamp.now(tz="UTC")).all()


@contextmanager
def sessions_in_seoul(url: str):
    """The test database's new sessions in Asia/Seoul (UTC+9), as a server set up in Korea."""
    database = url.rsplit("/", 1)[1]
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"ALTER DATABASE {database} SET timezone = 'Asia/Seoul'"))
        try:
            yield
        finally:
            conn.execute(text(f"ALTER DATABASE {database} RESET timezone"))


LEGACY_RUNS_TABLE = """CREATE TABLE forecast_runs (
    version SERIAL PRIMARY KEY, run_id VARCHAR(64) NOT NULL,
    committed_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, run_dirs TEXT NOT NULL,
    as_of TEXT NOT NULL, symbols INTEGER NOT NULL, marketcast_version VARCHAR(32) NOT NULL)"""


README_MIGRATION = (
    "ALTER TABLE forecast_runs ALTER COLUMN committed_at TYPE timestamptz USING\n"
    "committed_at AT TIME ZONE 'UTC'"
)


@pytest.mark.parametrize("legacy", [False, True], ids=["new-table", "plain-timestamp-table"])
def test_postgresql_commit_times_are_instants_whatever_the_servers_time_zone(
    tmp_path, request, legacy
):
    """A new table keeps committed_at as timestamptz, so another job reading it in any zone
    reads the moment; a table made before (a plain timestamp) is still written in UTC."""
    store = open_kind("postgres", tmp_path, request)
    url = request.getfixturevalue("postgres_url")
    with create_engine(url).begin() as conn:
        if legacy:
            conn.execute(text(LEGACY_RUNS_TABLE))
    with sessions_in_seoul(url):
        before = pd.Timestamp.now(tz="UTC")
        write(store, forecasts(["A"], DAY1), "r1")
        after = pd.Timestamp.now(tz="UTC")
        stamp = store.history()["timestamp"].iloc[0]
        assert before - pd.Timedelta(seconds=1) <= stamp <= after + pd.Timedelta(seconds=1)
        with create_engine(url).connect() as conn:  # another job, in Seoul
            kind, raw = conn.execute(
                text(
                    "SELECT data_type, (SELECT committed_at FROM forecast_runs) "
                    "FROM information_schema.columns "
                    "WHERE table_name = 'forecast_runs' AND column_name = 'committed_at'"
                )
            ).one()
    if legacy:
        assert kind == "timestamp without time zone"
        raw = pd.Timestamp(raw).tz_localize("UTC")  # UTC, as the table has always meant
    else:
        assert kind == "timestamp with time zone"
        assert raw.utcoffset() == dt.timedelta(hours=9)  # read in Seoul: the same instant
    assert pd.Timestamp(raw) == stamp
    if legacy:  # the owner's one statement the README gives makes it an instant, as it was
        with create_engine(url).begin() as conn:
            conn.execute(text(README_MIGRATION))
        with sessions_in_seoul(url):
            write(store, forecasts(["A"], DAY2), "r2")
            history = store.history()
        assert history["timestamp"].iloc[0] == stamp
        assert stamp < history["timestamp"].iloc[1] <= pd.Timestamp.now(tz="UTC")


def test_delta_commits_name_the_run_and_hold_the_whole_replacement(tmp_path):
    """Each write is one log entry: the removes, the adds and the RunInfo together."""
    store = open_store("delta", str(tmp_path))
    for run_id, table in RUNS[:3]:
        version = write(store, table(), run_id)
    assert version == 2
    log = Path(tmp_path, "_delta_log", f"{version:020d}.json").read_text().splitlines()
    actions = [json.loads(line) for line in log]
    kinds = {next(iter(a)) for a in actions}
    assert {"commitInfo", "remove", "add"} <= kinds
    info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
    assert RunInfo.from_metadata(info) == RunInfo.for_table(RUNS[2][1](), run_id="r3")


def test_delta_time_travel_returns_the_forecasts_before_the_rerun(tmp_path):
    store = open_store("delta", str(tmp_path))
    for run_id, table in RUNS[:2]:
        write(store, table(), run_id)
    before = store.read()
    committed = store.history()["timestamp"].iloc[-1]
    write(store, RUNS[2][1](), "r3")
    assert not store.read().equals(before)
    pd.testing.assert_frame_equal(store.read(version=1), before)
    pd.testing.assert_frame_equal(store.read(timestamp=committed.to_pydatetime()), before)
    with pytest.raises(MarketcastError, match="did not exist yet"):
        store.read(timestamp="2000-01-01")
    with pytest.raises(MarketcastError) as refused:  # said plainly, not delta-rs' kernel error
        store.read(version=99)
    latest = store.history()["version"].max()
    assert str(refused.value) == (
        f"the forecast store store.dir={store.location} has no version 99: its latest is "
        f"{latest} (marketcast store history store.dir={store.location} lists them)."
    )


def test_sql_has_no_time_travel(sql_store):
    with pytest.raises(MarketcastError) as refused:
        sql_store.read(version=0)
    assert str(refused.value) == (  # it said "only the latest forecasts": it keeps every night
        "time travel (version=, timestamp=) needs store.format=delta: the SQL store keeps each "
        "night's latest forecasts, not the earlier versions of them (marketcast store history "
        f"{sql_store.setting} lists its runs)."
    )


def test_maintain_after_many_writes_leaves_read_unchanged(store):
    for night in range(8):
        day = DAY1 + dt.timedelta(days=night % 3)
        write(store, forecasts(["A", "B", "C"][: 1 + night % 3], day, value=night), f"n{night}")
    before = store.read()
    with store.locked():
        done = store.maintain(retention_hours=0)
    pd.testing.assert_frame_equal(store.read(), before)
    if "vacuumed" in done:  # delta: the replaced files deleted, one left per as_of
        assert len(done["vacuumed"]) == 8 - 3  # 8 writes of one file each, 3 days left
        assert len(list(Path(store.location).rglob("*.parquet"))) == 3
        assert Path(store.location, LOCK_FILE).exists()  # vacuum leaves the lock file
        write(store, forecasts(["A"], DAY1, value=50.0), "after")  # still writable
        assert len(store.read()) == len(before) - 3 + 3


def test_maintain_removes_the_files_a_killed_delta_writer_left(tmp_path):
    """A writer killed before its commit leaves Parquet files no log entry names; maintain's
    vacuum (delta-rs' lite mode) never removed them, though the module said it did."""
    import os
    import shutil
    import time

    store = open_store("delta", str(tmp_path / "delta"))
    write(store, forecasts(["A", "B"], DAY1), "r1")
    before = store.read()
    (written,) = (tmp_path / "delta").glob("as_of=*/*.parquet")
    killed = "part-00001-0948af15-b5cd-4212-bae2-8163c01b9b64-c000.snappy.parquet"  # delta-rs'
    orphan = written.with_name(killed)
    shutil.copy(written, orphan)
    old = time.time() - 3 * 3600
    os.utime(orphan, (old, old))
    with store.locked():
        done = store.maintain(retention_hours=1)
    assert not orphan.exists() and written.exists()
    assert any(orphan.name in f for f in done["vacuumed"])
    pd.testing.assert_frame_equal(store.read(), before)


def test_maintain_refuses_to_delete_files_the_delta_table_did_not_write(tmp_path):
    """A full vacuum deletes every file no commit names: notes, a price cache, a CSV export
    put in the table's folder were deleted with the killed writers' files."""
    import os
    import time

    store = open_store("delta", str(tmp_path / "delta"))
    for value in (1.0, 2.0):  # two writes of one day: the first's file is vacuumable
        write(store, forecasts(["A", "B"], DAY1, value=value), f"r{value:g}")
    before, version = store.read(), store.history()["version"].max()
    root = tmp_path / "delta"
    (root / "sub").mkdir()
    mine = [root / "notes.txt", root / "sub" / "keep.csv", root / "000660.parquet"]
    old = time.time() - 3 * 3600
    for path in mine:
        path.write_text("mine\n")
        os.utime(path, (old, old))
    parquet = sorted(p.relative_to(root) for p in root.rglob("part-*.parquet"))
    with store.locked(), pytest.raises(MarketcastError) as refused:
        store.maintain(retention_hours=1)
    assert str(refused.value) == (
        f"store.dir={root} holds 3 files the Delta table did not write (000660.parquet, "
        "notes.txt, sub/keep.csv), which maintain's vacuum would delete: move them out of its "
        "folder, then run maintain again. Nothing was compacted or deleted."
    )
    assert all(path.exists() for path in mine)
    assert sorted(p.relative_to(root) for p in root.rglob("part-*.parquet")) == parquet
    assert store.history()["version"].max() == version
    for path in mine:
        path.unlink()
    with store.locked():
        done = store.maintain(retention_hours=0)
    assert done["vacuumed"] and all("part-" in f for f in done["vacuumed"])
    pd.testing.assert_frame_equal(store.read(), before)
    write(store, forecasts(["A", "B"], DAY1, value=3.0), "r3")  # the compacted files replaced
    with store.locked():  # what compaction and writes leave is Delta's own: not refused
        again = store.maintain(retention_hours=0)
    assert again["vacuumed"]


def test_other_readers_see_the_same_committed_table_and_change_nothing(tmp_path):
    store = open_store("delta", str(tmp_path))
    for run_id, table in RUNS:
        write(store, table(), run_id)
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    expected = store.read()
    readers = {
        "deltalake": DeltaTable(str(tmp_path)).to_pandas(),
        "polars": pl.read_delta(str(tmp_path)).to_pandas(),
        "duckdb": duckdb.connect().from_arrow(DeltaTable(str(tmp_path)).to_pyarrow_dataset()).df(),
    }
    for name, frame in readers.items():
        frame = frame[list(expected.columns)]
        for column in ("as_of", "target_date"):
            frame[column] = pd.to_datetime(frame[column]).dt.date
        frame = frame.sort_values(["as_of", "symbol", "step"], ignore_index=True)
        pd.testing.assert_frame_equal(frame, expected, check_dtype=False, obj=name)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == files


def test_a_filesystem_without_flock_gives_a_clear_error(tmp_path, monkeypatch):
    def no_flock(*_args):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    for fmt in ("delta", "csv"):
        store = open_store(fmt, str(tmp_path / fmt))
        locks = pytest.raises(MarketcastError, match="does not support file locks")
        with locks as caught, store.locked():
            pass
        assert not isinstance(caught.value, StoreLocked)
        assert "ENOSYS" in str(caught.value) and "store.dir" in str(caught.value)


def test_csv_export_round_trip_and_replace(tmp_path):
    export = open_store("csv", str(tmp_path))
    delta = open_store("delta", str(tmp_path / "delta"))
    table = forecasts(["005930", "A"], DAY1)  # a Korean code: must stay a string
    for run_id, t in [("r1", table), ("r2", forecasts(["A"], DAY2)), *RUNS[2:3]]:
        write(export, t() if callable(t) else t, run_id)
        write(delta, t() if callable(t) else t, run_id)
    assert sorted(p.parent.name for p in tmp_path.glob("as_of=*/forecasts.csv")) == [
        "as_of=2024-05-02",
        "as_of=2024-05-03",
    ]
    got = export.read()
    assert "005930" in set(got["symbol"])
    pd.testing.assert_frame_equal(got, delta.read())
    with pytest.raises(MarketcastError, match="a CSV export, which keeps no history of runs"):
        export.history()
    assert not list(tmp_path.glob("as_of=*/.*"))  # no temporary files left behind


def test_a_bad_table_or_format_is_refused_with_the_reason(tmp_path):
    store = open_store("delta", str(tmp_path))
    doubled = pd.concat([forecasts(["A"], DAY1)] * 2)
    with pytest.raises(MarketcastError, match="repeated key, e.g. symbol=A"):
        store.write(doubled, RunInfo.for_table(doubled))
    odd = forecasts(["A"], DAY1).assign(extra=1.0)
    with pytest.raises(MarketcastError, match="unknown column.*extra"):
        store.write(odd, RunInfo.for_table(odd))
    with pytest.raises(MarketcastError, match=r"store.format='parquet'.*delta, sql, csv"):
        open_store("parquet", str(tmp_path))


@pytest.mark.slow
def test_readers_see_only_committed_versions_while_the_writer_is_killed(monkeypatch):
    """bench/store_readers.py scaled down: 8 writes of 100 symbols, 4 of them SIGKILLed."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    monkeypatch.syspath_prepend(str(bench))
    import store_readers

    # the check can fail: a half-replaced table matches no committed state
    states = store_readers.expected_states(3, 10)
    first, second = store_readers.night(0, 10), store_readers.night(1, 10)
    half = pd.concat([first.assign(run_id="w0"), second.assign(run_id="w1")])
    assert store_readers.fingerprint(half) not in states

    figures = store_readers.run(writes=8, symbols=100, kills=4, seed=3)
    assert figures["kills"] == 4
    assert all(n > 0 for n in figures["reads"].values())
    assert set(figures["inconsistent_reads"].values()) == {0}
    assert set(figures["reader_errors"].values()) == {0}
    assert figures["rows_lost"] == figures["rows_duplicated"] == 0
    assert figures["equals_clean_run"] and figures["maintain_kept_table"]


def test_the_delta_predicate_names_whole_days_only_where_the_write_covers_them():
    from marketcast.storage.delta_store import replace_predicate

    frame = pd.concat([forecasts(["A", "B"], DAY1), forecasts(["O'K"], DAY2)])
    stored = {DAY1: {"A"}, DAY2: {"O'K", "Z"}}
    assert replace_predicate(frame, stored) == (
        "(as_of = '2024-05-02') OR (as_of = '2024-05-03' AND symbol IN ('O''K'))"
    )
    assert replace_predicate(frame, {}) is None  # nothing to replace: an append
    # a day not stored yet beside one stored: every written row must match the predicate
    assert replace_predicate(frame, {DAY1: {"A"}}) == (
        "(as_of = '2024-05-02') OR (as_of = '2024-05-03')"
    )


def test_a_night_on_a_stored_day_and_a_new_one_is_written(store):
    """One symbol a session behind: the night's rows fall on a day the store holds and on
    a new one. Delta refused the whole night, exit 1 ('rows failed validation check')."""
    write(store, forecasts(["A"], DAY2), "r1")
    write(store, pd.concat([forecasts(["A"], DAY3), forecasts(["B"], DAY2)]), "r2")
    table = store.read()
    assert sorted(zip(table["symbol"], table["as_of"], strict=True)) == sorted(
        [("A", DAY2)] * 3 + [("B", DAY2)] * 3 + [("A", DAY3)] * 3
    )
    assert set(table[table["as_of"] == DAY3]["run_id"]) == {"r2"}


def test_a_delta_writer_that_lost_a_race_gets_store_locked(tmp_path):
    """Without the flock (object stores), delta-rs's commit check refuses the later writer."""
    from marketcast.storage.delta_store import DeltaForecastStore

    store = open_store("delta", str(tmp_path))
    write(store, forecasts(["A", "B"], DAY1), "r1")
    snapshot = DeltaTable(str(tmp_path))  # what a second writer loaded before the first commit

    class LateWriter(DeltaForecastStore):
        def _table(self, version=None):
            return snapshot

    write(store, forecasts(["A"], DAY1, value=5.0), "winner")
    late = forecasts(["A"], DAY1, value=9.0)
    with pytest.raises(StoreLocked, match="another writer committed"):
        LateWriter(str(tmp_path)).write(late, RunInfo.for_table(late, run_id="loser"))
    assert set(store.read()["run_id"]) == {"r1", "winner"}


def test_a_postgres_server_lost_mid_night_is_one_message_naming_the_store(request):
    """The server stopped while predict held its lock: 'unexpected OperationalError' (a
    bug, exit 1), and the unlock in the lock's finally hid the real cause."""
    url = request.getfixturevalue("postgres_url")
    with create_engine(url).begin() as conn:  # the server is shared
        conn.execute(text("DROP TABLE IF EXISTS forecasts, forecast_runs"))
    store = open_store("sql", url)
    write(store, forecasts(["A"], DAY1), "r1")
    admin = create_engine(url)
    with pytest.raises(MarketcastError) as caught, store.locked():
        writer = store._held.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        store._held.commit()  # the write begins its own transaction
        with admin.begin() as conn:  # the server ends the writer's session, as a stop does
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": writer})
        store.write(forecasts(["A"], DAY2), RunInfo.for_table(forecasts(["A"], DAY2), "r2"))
    said = str(caught.value)
    assert said.startswith("lost the connection to the forecast store store.url=postgresql")
    assert "re-run (a re-run replaces its own rows)" in said and "\n" not in said
    admin.dispose()
    again = open_store("sql", url)
    assert set(again.read()["as_of"]) == {DAY1}  # the broken-off write left nothing
    write(again, forecasts(["A"], DAY2), "r3")  # and no lock behind it
