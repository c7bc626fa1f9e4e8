"""What a user can get wrong about the forecast store: a location that cannot be written, a
version whose files were vacuumed, a misspelt location. Each is one MarketcastError naming
store.dir or store.url (exit 2), and leaves nothing behind."""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import CONF, run_in_process, without_write_access
from deltalake.exceptions import DeltaError
from postgres import postgres_url  # noqa: F401  (the fixture)
from sqlalchemy import create_engine, text
from test_forecast_store import DAY1, DAY2, RUNS, forecasts, write

from marketcast.config import StoreConfig, StoreFormat
from marketcast.errors import EXIT_OK, EXIT_USER_ERROR, MarketcastError
from marketcast.storage import delta_store
from marketcast.storage.forecast_store import RunInfo, os_cause
from marketcast.storage.stores import check_location, open_store

FORMATS = ["delta", "csv", "sql"]


def location(fmt: str, path: Path) -> str:
    """What names a store of ``fmt`` at ``path``: a directory, or a SQLite URL."""
    return f"sqlite:///{path}.db" if fmt == "sql" else str(path)


def setting(fmt: str, path: Path) -> str:
    return f"{'store.url' if fmt == 'sql' else 'store.dir'}={location(fmt, path)}"


def store_command(tmp_path: Path, *args: str) -> int:
    """``marketcast store ARGS`` in this process; its exit status."""
    return run_in_process("store", *args, f"paths.output_root={tmp_path / 'outputs'}")


# --- a store that cannot be written ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_store_below_a_plain_file_is_refused_naming_it(tmp_path, fmt):
    (tmp_path / "file").write_text("")
    where = tmp_path / "file" / "store"
    store = open_store(fmt, location(fmt, where))
    with pytest.raises(MarketcastError) as caught, store.locked():
        pass
    message = str(caught.value)
    assert message.startswith(f"cannot write to the forecast store {setting(fmt, where)}: ")
    # the Delta and CSV directory cannot be made (ENOTDIR); nor the folder of the SQLite
    # file's lock, tmp/file itself (EEXIST)
    assert "ENOTDIR" in message or "EEXIST" in message
    assert "a file stands where a folder must be" in message
    assert message.endswith("Move that file away, or choose another location.")  # not space
    assert sorted(tmp_path.iterdir()) == [tmp_path / "file"]


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_a_store_whose_parent_cannot_be_made_is_refused_naming_it():
    where = "/proc/marketcast-no-such-dir/store"
    refused = pytest.raises(MarketcastError, match=f"forecast store store.dir={where}: ")
    with refused, open_store("delta", where).locked():
        pass


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_read_only_directory_is_refused_naming_the_store(fmt):
    # not under tmp_path: pytest's base directory is the user's alone (0o700), and nobody
    # must be able to reach this one to be refused in it
    folder = Path(tempfile.mkdtemp(prefix="marketcast-read-only-"))
    try:
        store = open_store(fmt, location(fmt, folder / "store"))
        # as root: what the store imports on first use is imported while files can be read
        # (a checkout under a folder of mode 0o700 is no place for nobody to import from)
        assert not store.exists()
        refused = pytest.raises(MarketcastError, match="EACCES")
        with without_write_access(folder), refused as caught, store.locked():
            pass
        assert setting(fmt, folder / "store") in str(caught.value)
        assert not list(folder.iterdir())
    finally:
        shutil.rmtree(folder)


def test_a_sqlite_store_in_a_folder_the_reader_cannot_write_is_read(capsys, caplog):
    """A WAL database's reader makes a -shm file beside it: show, history and maintain of a
    store on a read-only mount, or in another user's folder, each failed with "cannot write
    to the forecast store" (exit 2), though none of them writes."""
    from hydra import compose, initialize_config_dir

    from marketcast.jobs.store import store as store_job

    folder = Path(tempfile.mkdtemp(prefix="marketcast-read-only-"))  # see above: not tmp_path
    try:
        store = open_store("sql", location("sql", folder / "store"))
        write(store, forecasts(["A", "B"], DAY1), "r1")
        expected, runs = store.read(), store.history()
        store.reader.dispose()  # the night ended: its last connection gone, no -shm file left
        store.engine.dispose()
        assert sorted(p.name for p in folder.iterdir()) == ["store.db", "store.db.lock"]
        url = f"store.url={store.location}"
        # the commands' configs composed here: the checkout may be no place for nobody to
        # read from (CI's clone is under a folder of mode 0o700)
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            jobs = {
                action: compose("store", overrides=[f"action={action}", "store.format=sql", url])
                for action in ("show", "history", "maintain")
            }
        with without_write_access(folder), caplog.at_level("INFO", logger="marketcast"):
            reader = open_store("sql", store.location)
            assert reader.exists()
            pd.testing.assert_frame_equal(reader.read(), expected)
            pd.testing.assert_frame_equal(reader.history(), runs)
            for action, job in jobs.items():
                assert store_job(job) == EXIT_OK, action
        said = capsys.readouterr().out
        assert "nothing to do (compaction and vacuum are a Delta table's)" in said
        assert f"its folder {folder} cannot be written by this user: read without" in caplog.text
        assert sorted(p.name for p in folder.iterdir()) == ["store.db", "store.db.lock"]
        # a night written since is read by the same reader: no connection kept its old pages
        write(store, forecasts(["A", "B"], DAY2), "r2")
        store.reader.dispose()
        store.engine.dispose()
        with without_write_access(folder):
            assert len(reader.read()) == 2 * len(expected)
            assert len(reader.history()) == 2
        # while a writer is connected, its -shm file is there, and read through
        with store.engine.connect() as writer:
            writer.exec_driver_sql("SELECT count(*) FROM forecasts")
            assert (folder / "store.db-shm").exists()
            with without_write_access(folder):
                assert len(open_store("sql", store.location).read()) == 2 * len(expected)
        # a database changed under a reader without the writers' shared memory (a write
        # began; here: a page overwritten) is said so; a file that is no database is that
        torn = folder / "torn.db"
        shutil.copy(folder / "store.db", torn)
        with torn.open("r+b") as opened:  # the pages after the first: the tables' rows
            opened.seek(4096)
            opened.write(b"\xff" * (torn.stat().st_size - 4096))
        (folder / "other.db").write_text("not a database, but long enough to be read as one\n")
        with without_write_access(folder):
            with pytest.raises(MarketcastError, match="a night's write began while it was read"):
                open_store("sql", f"sqlite:///{torn}").read()
            with pytest.raises(MarketcastError, match="is not a forecast store: file is not a"):
                open_store("sql", f"sqlite:///{folder / 'other.db'}").read()
        # a database file this user may not read: said as a read, not as a write (the
        # writer's pooled connection closed first: SQLite reuses a file this process holds
        # open, whoever asks, and whether one still does was up to the garbage collector)
        store.engine.dispose()
        (folder / "store.db").chmod(0o600)
        with without_write_access(folder), pytest.raises(MarketcastError) as refused:
            open_store("sql", store.location).read()
        assert str(refused.value) == (
            f"cannot read the forecast store {url}: unable to open database file "
            f"(SQLITE_CANTOPEN). Check that this user may read {folder / 'store.db'} and its "
            "folder."
        )
    finally:
        shutil.rmtree(folder)


FULL = (  # what delta-rs 1.x raises when the disk fills during a write
    "Failed to parse parquet: External: Generic LocalFileSystem error: Unable to copy data to "
    "file: No space left on device (os error 28)"
)


def test_a_full_disk_is_one_message_and_the_table_stays_as_it_was(tmp_path, monkeypatch):
    store = open_store("delta", str(tmp_path))
    write(store, forecasts(["A"], DAY1), "r1")
    before = store.read()

    def disk_full(*_args, **_kwargs):
        raise DeltaError(FULL)

    monkeypatch.setattr(delta_store, "write_deltalake", disk_full)
    with pytest.raises(MarketcastError) as caught:
        write(store, forecasts(["A"], DAY1, value=5.0), "r2")
    assert str(caught.value).startswith(
        f"cannot write to the forecast store store.dir={tmp_path}: No space left on device "
        "(ENOSPC); nothing was written to it."
    )
    pd.testing.assert_frame_equal(store.read(), before)


def test_a_delta_error_without_a_user_fixable_cause_is_not_disguised(tmp_path, monkeypatch):
    def bug(*_args, **_kwargs):
        raise DeltaError("Generic DeltaTable error: Schema error: invalid data type")

    monkeypatch.setattr(delta_store, "write_deltalake", bug)
    with pytest.raises(DeltaError, match="invalid data type") as caught:
        write(open_store("delta", str(tmp_path)), forecasts(["A"], DAY1), "r1")
    assert not isinstance(caught.value, MarketcastError)


def test_os_cause_reads_an_errno_or_the_one_in_a_delta_rs_message():
    assert os_cause(DeltaError(FULL)).cause == "No space left on device (ENOSPC)"
    read_only = OSError(errno.EROFS, "Read-only file system", "/srv/store")
    assert os_cause(read_only).cause == "Read-only file system (EROFS) at /srv/store"
    denied = os_cause(OSError("Permission denied (os error 13)"))
    assert denied.cause == "Permission denied (EACCES)"
    assert denied.fix == "Choose a location this user can write to."
    assert os_cause(DeltaError(FULL)).fix == "Free some space, or choose another location."
    assert os_cause(OSError(errno.EIO, "Input/output error")) is None  # not the user's to fix
    assert os_cause(DeltaError("Schema error: invalid data type")) is None


def test_a_sqlite_url_at_a_file_that_is_no_database_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not a database\n" * 100)
    store = open_store("sql", f"sqlite:///{path}")
    table = forecasts(["A"], DAY1)
    # taking the writer's lock already says so: predict takes it before it forecasts
    for use in (store.locked().__enter__, lambda: write(store, table, "r1"), store.read):
        with pytest.raises(MarketcastError) as caught:
            use()
        assert str(caught.value).startswith(
            f"store.url=sqlite:///{path} is not a forecast store: file is not a database "
            "(SQLITE_NOTADB)."
        )
    assert path.read_text() == "not a database\n" * 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db", "notes.db.lock"]


def test_a_postgresql_server_that_cannot_be_reached_is_one_message():
    """Nothing listens on port 1: the lock (which predict takes first) and the readers say
    which store.url they could not reach (exit 2), without the password."""
    store = open_store("sql", "postgresql+psycopg://marketcast:secret@127.0.0.1:1/forecasts")
    for use in (store.locked().__enter__, store.read):
        with pytest.raises(MarketcastError) as caught:
            use()
        message = str(caught.value)
        assert message.startswith(
            "cannot connect to the forecast store store.url=postgresql+psycopg://marketcast:***@"
            "127.0.0.1:1/forecasts: "
        )
        assert "secret" not in message


def _pg_role(url: str, name: str, *grants: str) -> str:
    """A new login role on the test server, given ``grants`` (SQL run as the superuser);
    the URL that connects as it."""
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(
            text(f"DROP OWNED BY {name}") if _role_exists(conn, name) else text("SELECT 1")
        )
        conn.execute(text(f"DROP ROLE IF EXISTS {name}"))
        conn.execute(text(f"CREATE ROLE {name} LOGIN"))
        for grant in grants:
            conn.execute(text(grant.format(role=name)))
    admin.dispose()
    return url.replace("://postgres@", f"://{name}@")


def _role_exists(conn, name: str) -> bool:
    return bool(
        conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).scalar()
    )


def _fresh_tables(url: str) -> None:
    with create_engine(url).begin() as conn:  # the server is shared
        conn.execute(text("DROP TABLE IF EXISTS forecasts, forecast_runs"))


def _checked(url: str) -> None:
    """predict's start-up check of a SQL store at ``url`` (before the runs load Keras)."""
    check_location(StoreConfig(format=StoreFormat.sql, url=url))


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_postgresql_role_that_may_not_write_is_told_which_grants_at_start_up(request):
    """A role without CREATE on the schema, or with SELECT alone on the tables: predict's
    start-up check says what the role lacks (exit 2). It was the write, once every forecast
    was made, failing as 'unexpected ProgrammingError' (a bug, exit 1) in fourteen lines of
    SQL."""
    url = request.getfixturevalue("postgres_url")
    _fresh_tables(url)
    prefix = (
        f"cannot write to the forecast store store.url={url.replace('postgres@', 'newcomer@')}: "
    )
    with create_engine(url).begin() as conn:  # as PostgreSQL 15 does, whatever the version
        conn.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    newcomer = _pg_role(url, "newcomer")
    with pytest.raises(MarketcastError) as caught:
        _checked(newcomer)
    said = str(caught.value)
    assert said.startswith(prefix + "role newcomer lacks CREATE on the schema; nothing was written")
    assert "Grant the role" in said and "\n" not in said
    write(open_store("sql", url), forecasts(["A"], DAY1), "r1")  # the owner makes the tables
    reader = _pg_role(url, "reader", "GRANT SELECT ON forecasts, forecast_runs TO {role}")
    assert set(open_store("sql", reader).read()["symbol"]) == {"A"}  # it may read
    with pytest.raises(MarketcastError) as caught:
        _checked(reader)
    assert (
        "role reader lacks INSERT, DELETE on forecasts; INSERT on forecast_runs; USAGE on "
        "public.forecast_runs_version_seq; nothing was written" in str(caught.value)
    )
    for sequence in ("USAGE", "UPDATE"):  # nextval takes either
        writer = _pg_role(
            url,
            "writer",
            "GRANT SELECT, INSERT, DELETE ON forecasts TO {role}",
            "GRANT SELECT, INSERT ON forecast_runs TO {role}",
            f"GRANT {sequence} ON SEQUENCE forecast_runs_version_seq TO {{role}}",
        )
        _checked(writer)  # every grant a night needs
        store = open_store("sql", writer)
        table = forecasts([sequence], DAY1)
        with store.locked():
            store.write(table, RunInfo.for_table(table, f"r-{sequence}"))
    assert set(open_store("sql", url).read()["symbol"]) == {"A", "USAGE", "UPDATE"}


def test_a_store_a_role_may_not_write_is_still_one_it_may_look_after(request, tmp_path):
    """`marketcast store maintain` takes the writers' lock and writes nothing to a SQL
    store: a read-only role is told there is nothing to do (exit 0), not refused."""
    url = request.getfixturevalue("postgres_url")
    _fresh_tables(url)
    write(open_store("sql", url), forecasts(["A"], DAY1), "r1")
    reader = _pg_role(url, "reader", "GRANT SELECT ON forecasts, forecast_runs TO {role}")
    assert store_command(tmp_path, "maintain", "store.format=sql", f"store.url={reader}") == 0


def test_a_postgresql_write_or_read_the_server_refuses_is_one_line_naming_the_store(request):
    """What the start-up check cannot see: a run with other interval levels adds a column,
    which only the tables' owner may (ALTER TABLE); a role without SELECT reads. Each is one
    line with the server's reason and what to do (exit 2), and the refused write leaves
    nothing."""
    url = request.getfixturevalue("postgres_url")
    _fresh_tables(url)
    write(open_store("sql", url), forecasts(["A"], DAY1), "r1")
    writer = open_store(
        "sql",
        _pg_role(
            url,
            "writer",
            "GRANT SELECT, INSERT, DELETE ON forecasts TO {role}",
            "GRANT SELECT, INSERT ON forecast_runs TO {role}",
            "GRANT USAGE ON SEQUENCE forecast_runs_version_seq TO {role}",
        ),
    )
    wider = forecasts(["A"], DAY1, value=2.0, levels=("q05", "q95"))
    with pytest.raises(MarketcastError) as caught, writer.locked():
        writer.write(wider, RunInfo.for_table(wider, "r2"))
    said = str(caught.value)
    assert said.startswith(
        f"cannot write to the forecast store store.url={url.replace('postgres@', 'writer@')}: "
    )
    assert "must be owner of table forecasts (SQLSTATE 42501); nothing was written" in said
    assert said.endswith("or have the owner add the columns first.")  # no grant would do
    assert "\n" not in said and "[SQL" not in said
    assert set(open_store("sql", url).read()["run_id"]) == {"r1"}
    stranger = open_store("sql", _pg_role(url, "stranger"))
    for use in (stranger.read, stranger.history):
        with pytest.raises(MarketcastError) as caught:
            use()
        said = str(caught.value)
        assert said.startswith("cannot read the forecast store store.url=")
        assert "permission denied for table" in said and said.endswith(
            "(SQLSTATE 42501). Grant the role SELECT on forecasts and forecast_runs."
        )


def test_a_read_only_postgresql_server_is_told_at_start_up(request):
    """A standby (or default_transaction_read_only): the start-up check says the server
    takes no writes and to point store.url at the primary."""
    url = request.getfixturevalue("postgres_url")
    role = _pg_role(url, "standby_role", "ALTER ROLE {role} SET default_transaction_read_only = on")
    with pytest.raises(MarketcastError) as caught:
        _checked(role)
    said = str(caught.value)
    assert "the server takes no writes" in said and "Point store.url at the primary server" in said


# --- a version whose files were vacuumed -----------------------------------------------------


def test_a_vacuumed_version_names_the_oldest_readable_one(tmp_path, capsys):
    store = open_store("delta", str(tmp_path / "store"))
    for run_id, table in RUNS[:3]:  # the third replaces the first's day: its file is dropped
        write(store, table(), run_id)
    committed = store.history()["timestamp"]
    with store.locked():
        store.maintain(retention_hours=0)

    vacuumed = "files were vacuumed (store.retention_hours); the oldest readable version is 2."
    with pytest.raises(MarketcastError) as caught:
        store.read(version=1)
    assert f"store.dir={store.location}: version 1's {vacuumed}" in str(caught.value)
    with pytest.raises(MarketcastError) as caught:
        store.read(timestamp=committed.iloc[1].to_pydatetime())  # inside version 1
    assert "reads version 1, whose " + vacuumed in str(caught.value)
    assert len(store.read(version=2)) == len(store.read())  # the one it names does read

    status = store_command(tmp_path, "show", f"store.dir={store.location}", "version=0")
    assert status == EXIT_USER_ERROR
    assert f"version 0's {vacuumed}" in capsys.readouterr().err


# --- a misspelt store ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_misspelt_store_is_refused_by_every_reader_and_nothing_is_made(tmp_path, fmt, capsys):
    where = tmp_path / "typo"
    store = open_store(fmt, location(fmt, where))
    missing = f"there is no forecast store at {setting(fmt, where)}: check it for a typo."
    for use in (store.read, store.history, lambda: store.maintain(168)):
        with pytest.raises(MarketcastError) as caught:
            use()
        assert str(caught.value).startswith(missing)
    assert not store.exists()

    key = "store.url" if fmt == "sql" else "store.dir"
    for action in ("show", "history", "maintain"):
        status = store_command(tmp_path, action, f"store.format={fmt}", f"{key}={store.location}")
        assert status == EXIT_USER_ERROR
        assert missing in capsys.readouterr().err
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith("typo")]


def test_a_directory_without_a_delta_table_is_no_store(tmp_path):
    (tmp_path / "notes.txt").write_text("a folder, not a Delta table")
    store = open_store("delta", str(tmp_path))
    for use in (store.read, store.history):
        with pytest.raises(MarketcastError, match="there is no forecast store at store.dir="):
            use()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_first_write_still_makes_the_store(tmp_path):
    for fmt in FORMATS:
        store = open_store(fmt, location(fmt, tmp_path / fmt))
        assert not store.exists()
        write(store, forecasts(["A"], DAY1), "r1")
        assert store.exists() and len(store.read()) == 3


# --- the SQL store's own key -----------------------------------------------------------------


def test_an_unsupported_database_is_named_by_store_url_without_its_password():
    with pytest.raises(MarketcastError) as caught:
        open_store("sql", "mysql://user:secret@host/db")
    message = str(caught.value)
    assert message.startswith("store.url='mysql://user:***@host/db': the SQL store supports")
    assert "secret" not in message


def test_a_url_whose_port_is_no_number_is_named():
    """SQLAlchemy raises ValueError there, not ArgumentError: it was 'a bug', exit 1."""
    with pytest.raises(MarketcastError, match=r"^store.url='sqlite://host:port/x' is not a data"):
        open_store("sql", "sqlite://host:port/x")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_store_is_refused(tmp_path, url):
    """Each connection to one is a new, empty database: predict wrote its forecasts into
    it, exit 0, and they were gone when the job ended."""
    with pytest.raises(MarketcastError, match=rf"^store.url='{url}' is an in-memory SQLite"):
        open_store("sql", url)
    status = store_command(tmp_path, "show", "store.format=sql", f"store.url={url}")
    assert status == EXIT_USER_ERROR


@pytest.mark.parametrize("fmt", ["sql", "csv"])
@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_maintain_where_there_is_nothing_to_do_says_so(tmp_path, fmt, capsys):
    """It printed the store's location and a colon, then nothing."""
    store = open_store(fmt, location(fmt, tmp_path / "store"))
    write(store, forecasts(["A"], DAY1), "r1")
    key = "store.url" if fmt == "sql" else "store.dir"
    status = store_command(tmp_path, "maintain", f"store.format={fmt}", f"{key}={store.location}")
    assert status == EXIT_OK
    assert capsys.readouterr().out.strip() == (
        f"{store.location}: nothing to do (compaction and vacuum are a Delta table's)"
    )


def test_a_sqlite_disk_io_error_is_one_message_and_the_store_stays(tmp_path):
    """A full disk under a SQLite store in WAL mode arrives as SQLITE_IOERR ('disk I/O
    error' at the first PRAGMA): it was 'unexpected OperationalError', a bug, exit 1. The
    error itself is made here (a full disk cannot be), where the driver raises it."""
    import sqlite3

    from sqlalchemy import event

    store = open_store("sql", f"sqlite:///{tmp_path / 'f.db'}")
    write(store, forecasts(["A"], DAY1), "r1")
    before = store.read()
    failure = sqlite3.OperationalError("disk I/O error")
    failure.sqlite_errorcode, failure.sqlite_errorname = sqlite3.SQLITE_IOERR, "SQLITE_IOERR"

    def disk_io_error(*_args):
        raise failure

    event.listen(store.engine, "before_cursor_execute", disk_io_error)
    with pytest.raises(MarketcastError) as caught:
        write(store, forecasts(["A"], DAY1, value=5.0), "r2")
    assert str(caught.value) == (
        f"cannot write to the forecast store store.url=sqlite:///{tmp_path / 'f.db'}: disk I/O "
        "error (SQLITE_IOERR); nothing was written to it. Check the disk: free some space, or "
        "look at its mount and its health."
    )
    event.remove(store.engine, "before_cursor_execute", disk_io_error)
    pd.testing.assert_frame_equal(store.read(), before)


def test_a_timestamp_with_its_time_zone_reads_the_table_as_of_then(tmp_path, capsys):
    """store show timestamp=...+02:00 (the help's form) failed as 'unexpected TypeError:
    Cannot compare tz-naive and tz-aware timestamps' in the start-up date check."""
    store = open_store("delta", str(tmp_path / "store"))
    for run_id, table in RUNS[:2]:
        write(store, table(), run_id)
    later = (store.history()["timestamp"].iloc[-1] + pd.Timedelta(hours=1)).tz_convert("+02:00")
    where = f"store.dir={tmp_path / 'store'}"
    for zoned in (later.isoformat(), later.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")):
        assert store_command(tmp_path, "show", where, f"timestamp='{zoned}'") == EXIT_OK
        assert "r2" in capsys.readouterr().out


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_show_says_how_many_rows_it_leaves_out(tmp_path, capsys):
    """pandas' '...' alone: 2,000 rows printed as 60 lines, no count, no word of output=."""
    store = open_store("delta", str(tmp_path / "store"))
    write(store, forecasts([f"S{i:03d}" for i in range(25)], DAY1, steps=3), "r")  # 75 rows
    assert store_command(tmp_path, "show", f"store.dir={tmp_path / 'store'}") == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "75 rows: the first and last 30 shown (output=FILE writes them all)"
    assert len(lines) == 1 + 60 + 1 + 1  # header, rows, pandas' "...", the count
    small = tmp_path / "small"
    store = open_store("delta", str(small))
    write(store, forecasts(["A"], DAY1, steps=3), "r")
    assert store_command(tmp_path, "show", f"store.dir={small}") == EXIT_OK
    assert "rows:" not in capsys.readouterr().out  # all shown: nothing to add


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_history_writes_its_whole_table_on_request_and_refuses_shows_keys(tmp_path, capsys):
    """'store history output=F.csv' exited 0 and wrote no file, and 'history version=0' /
    'maintain version=1' ignored the key; the printed history cuts run_dirs at 60 chars."""
    import json

    store = open_store("delta", str(tmp_path / "store"))
    for run_id, table in RUNS[:2]:
        write(store, table(), run_id)
    where = f"store.dir={tmp_path / 'store'}"
    out = tmp_path / "history.csv"
    assert store_command(tmp_path, "history", where, f"output={out}") == EXIT_OK
    assert capsys.readouterr().out.strip() == f"2 runs written to {out}"
    history = pd.read_csv(out)
    assert list(history["run_id"]) == ["r1", "r2"]
    assert [json.loads(d) for d in history["as_of"]] == [["2024-05-02"], ["2024-05-03"]]
    for action, given in (
        ("history", "version=0"),
        ("maintain", "timestamp=2024-05-03"),
        ("maintain", f"output={out}"),
    ):
        assert store_command(tmp_path, action, where, given) == EXIT_USER_ERROR
        said = capsys.readouterr().err
        readers = "show's and history's" if given.startswith("output") else "show's"
        assert f"{given} is not read by marketcast store {action}: it is {readers} " in said
