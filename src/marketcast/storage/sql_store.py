"""The forecast store in a SQL database (SQLAlchemy 2): SQLite or PostgreSQL.

Two tables. ``forecasts``: primary key (symbol, as_of, step), one DOUBLE
column per interval bound. The bound columns follow the data, as in the Delta
table: a write whose table has a bound the database lacks adds that column
(``ALTER TABLE ... ADD COLUMN``, inside the write's transaction), and rows
written before hold NULL there. Fixing the set to q10/q90 would refuse a run
trained with other interval levels; the names are checked (``q<level>``) before
they reach DDL. ``forecast_runs``: one row per write (version, run_id,
committed_at, run_dirs, as_of, symbols, marketcast_version), for ``history()``.

A write is one transaction: add any new bound column, delete every row of the
written (symbol, as_of) pairs, insert the new rows, record the run. Writers
exclude each other: on PostgreSQL with an advisory lock (``locked()`` holds a
session lock on its own connection; each write takes
``pg_try_advisory_xact_lock`` inside its transaction, which the same session
re-enters), on SQLite with an flock beside the database file for ``locked()``
and ``BEGIN IMMEDIATE`` for each write. Either way a second forecast run gets
StoreLocked at once instead of waiting. On SQLite another program's write (a maintenance
job's, say: it takes no flock) is waited for ``_BUSY_S`` seconds before the run gives up.
The SQLite file is switched to WAL mode, so readers neither wait for a writer nor block it (WAL
needs a local disk: not for a database on NFS). Readers open a SQLite file read-only
(``mode=ro``), so a mistyped URL never creates a database.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from marketcast.atomic import refusal_words
from marketcast.errors import MarketcastError, first_line, signals_act
from marketcast.storage.forecast_store import (
    HISTORY_COLUMNS,
    PAIR,
    Refusal,
    RunInfo,
    StoreLocked,
    empty_history,
    empty_table,
    file_lock,
    no_store,
    prepare,
    quantile_columns,
    tidy,
    unwritable,
)

# what a night's write does to each table, as PostgreSQL names the privileges
_WRITES = {"forecasts": ("SELECT", "INSERT", "DELETE"), "forecast_runs": ("SELECT", "INSERT")}
_GRANTS = (
    "Grant the role what a forecast run needs (CREATE on the schema for the first run; then "
    + "; ".join(f"{', '.join(p)} on {t}" for t, p in _WRITES.items())
    + "; USAGE on forecast_runs' sequence), or connect as a role that has them."
)
# ALTER TABLE (a run with other interval levels adds their columns): no grant allows it
_OWNER = (
    "Run this night as the tables' owner (a run with other interval levels adds their "
    "columns), or have the owner add the columns first."
)
# PostgreSQL's errors a user can fix (SQLSTATE), with what to do for a write and a read
_PG_REFUSED = {
    "42501": (_GRANTS, "Grant the role SELECT on forecasts and forecast_runs."),  # privilege
    "25006": (  # a read-only transaction: a standby, or default_transaction_read_only
        "Point store.url at the primary server, or turn default_transaction_read_only off.",
        "",
    ),
    "53100": ("Free space on the database server's disk.", ""),  # disk full
}
# pg advisory lock key: any constant shared by all marketcast writers ("mcst" in ASCII)
ADVISORY_KEY = 0x6D637374
_CHUNK = 500  # symbols per DELETE ... IN (...): under every driver's parameter limit
# The first 16 bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"
# SQLite's (primary) result codes a user can fix: a file that is no database, and a database
# that cannot be written (disk full, read-only, cannot be opened, no permission)
_NOT_A_DATABASE = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}
_UNWRITABLE = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,  # what a full disk gives where the WAL's shared memory cannot grow
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PERM,
}

log = logging.getLogger(__name__)


class SqlForecastStore:
    """The forecast table in the database at ``url`` (a SQLAlchemy URL)."""

    # a signal during the transaction's statements stops them at once, and they roll back
    # (signals_act); one during the COMMIT and the SQLite checkpoint waits, and is logged
    holds_signals = True
    compacts = False  # the database reclaims space itself

    def __init__(self, url: str):
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:  # a port that is no number: ValueError
            raise MarketcastError(
                f"store.url={url!r} is not a database URL: give one like "
                "sqlite:////srv/forecasts.db or postgresql+psycopg://user@host/db."
            ) from exc
        self.url = url
        self.location = parsed.render_as_string(hide_password=True)
        self.setting = f"store.url={self.location}"
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise MarketcastError(
                f"store.url={self.location!r}: the SQL store supports sqlite and postgresql, "
                f"not {self.dialect}."
            )
        self.database = parsed.database
        if self.dialect == "sqlite" and not parsed.host and self.database in (None, "", ":memory:"):
            # every connection of an in-memory database is a new, empty one: the forecasts
            # written would be gone when the job ends, and no other job could read them
            raise MarketcastError(
                f"store.url={url!r} is an in-memory SQLite database, gone when the "
                "job ends: point it at a file, sqlite:///relative.db or "
                "sqlite:////absolute/path.db."
            )
        # the SQLite database file; None for PostgreSQL
        self.file = Path(self.database) if self.dialect == "sqlite" and self.database else None
        try:
            self.engine = _engine(url, self.dialect)  # writes
        except ArgumentError as exc:  # sqlite://forecasts.db: a host, where SQLite has none
            said = str(exc).splitlines()[0]
            raise MarketcastError(
                f"store.url={self.location!r}: {said}. A SQLite file is sqlite:///relative.db "
                "or sqlite:////absolute/path.db (three or four slashes)."
            ) from None
        # reads: on SQLite a plain engine, since the writers' one begins every transaction
        # with BEGIN IMMEDIATE (a write lock); WAL lets it read while a writer works
        self.reader = self.engine
        if self.dialect == "sqlite":
            self.reader = create_engine(_read_only(parsed))
        self._parsed = parsed
        self._immutable: Engine | None = None  # the reader of a folder it cannot write
        self._read_immutable = False  # whether the read under way is that reader's
        self._held: Connection | None = None  # the connection holding locked()'s lock

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the writers' lock for the block, or raise StoreLocked at once."""
        if self.dialect == "sqlite":
            with file_lock(Path(f"{self.file}.lock"), self.setting):
                if self.file.is_file():
                    self.exists()  # a file that is no database: said now, not after forecasting
                yield
            return
        with self._connected(self.engine) as conn:
            acquired = conn.execute(select(_pg_fn("pg_try_advisory_lock"))).scalar()
            conn.commit()
            if not acquired:
                raise StoreLocked(self._locked_message())
            self._held = conn
            try:
                yield
            finally:
                self._held = None
                try:
                    conn.execute(select(_pg_fn("pg_advisory_unlock")))
                    conn.commit()
                except OperationalError:
                    # the connection is gone (the server stopped): the lock went with its
                    # session, and the error that ended the block is the one to report
                    log.warning("%s: the connection was lost; its lock went with it", self.setting)

    def check_writable(self) -> None:
        """PostgreSQL: that the server takes this role's writes to the store, said at
        predict's start-up (it was the write, once every forecast was made, failing as
        'unexpected ProgrammingError', exit 1). SQLite's file is checked by its path."""
        if self.dialect != "postgresql":
            return
        with self._reported(writing=True), self._connected(self.engine) as conn:
            refusal = _refusal(conn)
        if refusal is not None:
            raise unwritable(self.setting, refusal)

    def write(self, table: pd.DataFrame, info: RunInfo) -> int:
        """Replace ``table``'s (symbol, as_of) pairs in one transaction; the run's version."""
        frame = prepare(table, info)
        with self._waited_out(), self._reported(writing=True):
            if self._held is not None:
                return self._write(self._held, frame, info)
            with self._connected(self.engine) as conn:
                version = self._write(conn, frame, info)
                if self.dialect == "sqlite":
                    self._checkpoint(conn)
                return version

    def _checkpoint(self, conn: Connection) -> None:
        """SQLite after a write: the night's WAL folded into the database file (a truncating
        checkpoint), so that a copy of the one file holds every night. Best effort: a reader
        still reading keeps the rest in the -wal file until the next night's checkpoint. The
        file stays in WAL mode (switching modes waits on every reader, and readers never
        wait on the writer in WAL)."""
        dbapi = conn.connection.dbapi_connection
        dbapi.execute("PRAGMA busy_timeout = 0")  # a reader mid-read: not waited for
        try:
            busy, _, _ = dbapi.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            dbapi.execute(f"PRAGMA busy_timeout = {int(_BUSY_S * 1000)}")
        if busy:
            log.info("%s: a reader kept part of the night in its -wal file", self.setting)

    def exists(self) -> bool:
        """Whether the database holds the forecast table; creates nothing."""
        if self._no_file():
            return False
        with self._reported(), self._connected(self._reader()) as conn:
            return inspect(conn).has_table("forecasts")

    def _reader(self) -> Engine:
        """The engine that reads: on SQLite, where this user cannot write the database's
        folder and no writer has its shared-memory file open, one that opens the file
        ``immutable``. A reader of a WAL database must create that ``-shm`` file, so from a
        read-only folder (a read-only mount, another user's) every read failed, "cannot
        write"; with no writer connected, the database file alone holds every night."""
        self._read_immutable = False
        if self.dialect != "sqlite" or self._no_file():
            return self.reader
        folder = self.file.parent
        shared = Path(f"{self.file}-shm")
        effective = os.access in os.supports_effective_ids  # the ids files are opened with
        if os.access(folder, os.W_OK, effective_ids=effective) or shared.exists():
            return self.reader
        log.info(
            "%s: its folder %s cannot be written by this user: read without the writers' "
            "shared memory (immutable), from the database file as it stands",
            self.setting, folder.absolute(),
        )  # fmt: skip
        if self._immutable is None:
            # no pool: a connection kept open would keep its page cache, which an immutable
            # database never checks again, and read the nights written since as not there
            self._immutable = create_engine(_read_only(self._parsed, True), poolclass=NullPool)
        self._read_immutable = True
        return self._immutable

    def _sqlite_file(self) -> bool:
        """Whether the database file starts as every SQLite database does."""
        try:
            with self.file.open("rb") as opened:
                return opened.read(len(SQLITE_HEADER)) == SQLITE_HEADER
        except OSError:
            return False

    def _no_file(self) -> bool:
        """A SQLite store whose database file is not there (PostgreSQL: always False)."""
        return self.dialect == "sqlite" and not self.file.is_file()

    def read(
        self, version: int | None = None, timestamp: str | datetime | None = None
    ) -> pd.DataFrame:
        """Every forecast, sorted by as_of, symbol, step (no time travel: that is Delta's)."""
        if version is not None or timestamp is not None:
            raise MarketcastError(
                "time travel (version=, timestamp=) needs store.format=delta: the SQL store "
                "keeps each night's latest forecasts, not the earlier versions of them "
                f"(marketcast store history {self.setting} lists its runs)."
            )
        with self._reading() as conn:
            forecasts = _tables(conn)[0]
            rows = conn.execute(select(forecasts)).all()
        if not rows:
            return empty_table()
        return tidy(pd.DataFrame(rows, columns=[c.name for c in forecasts.columns]))

    def history(self) -> pd.DataFrame:
        """One row per committed write, oldest first."""
        with self._reading() as conn:
            if not inspect(conn).has_table("forecast_runs"):
                return empty_history()
            runs = _tables(conn)[1]
            rows = conn.execute(select(runs).order_by(runs.c.version)).mappings().all()
        if not rows:
            return empty_history()
        return pd.DataFrame(
            [
                {
                    "version": r["version"],
                    "timestamp": _utc(r["committed_at"]),
                    "run_id": r["run_id"],
                    "run_dirs": json.loads(r["run_dirs"]),
                    "as_of": json.loads(r["as_of"]),
                    "symbols": r["symbols"],
                }
                for r in rows
            ],
            columns=HISTORY_COLUMNS,
        )

    def maintain(self, retention_hours: int) -> dict:
        """Nothing to compact: the database reclaims space itself (autovacuum, SQLite reuse)."""
        if not self.exists():
            raise no_store(self)
        return {}

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection that reads the store; ``no_store()`` where there is none (checked on
        that connection: ``exists()`` would open a second one)."""
        if self._no_file():
            raise no_store(self)
        with self._reported(), self._connected(self._reader()) as conn:
            if not inspect(conn).has_table("forecasts"):
                raise no_store(self)
            yield conn

    @contextlib.contextmanager
    def _connected(self, engine) -> Iterator[Connection]:
        """A connection of ``engine``; a PostgreSQL server that cannot be reached (down, a
        wrong host, port or password) is one message naming store.url."""
        try:
            conn = engine.connect()
        except OperationalError as exc:
            if self.dialect != "postgresql":
                raise
            reason = first_line(exc.orig)
            raise MarketcastError(
                f"cannot connect to the forecast store {self.setting}: {reason}. Check that "
                "the database server is running and that store.url names it."
            ) from exc
        with conn:
            yield conn

    @contextlib.contextmanager
    def _reported(self, writing: bool = False) -> Iterator[None]:
        """Errors a user can fix become MarketcastError naming store.url; others pass."""
        try:
            yield
        except DBAPIError as exc:
            state = getattr(exc.orig, "sqlstate", None)  # PostgreSQL's (psycopg)
            if state in _PG_REFUSED:
                cause = f"{first_line(exc.orig)} (SQLSTATE {state})"
                fix = _PG_REFUSED[state][0 if writing else 1]
                if "must be owner" in cause:
                    fix = _OWNER
                if writing:
                    raise unwritable(self.setting, Refusal(cause, fix)) from exc
                raise MarketcastError(
                    f"cannot read the forecast store {self.setting}: {cause}. {fix}".rstrip()
                ) from exc
            if self.dialect == "postgresql" and exc.connection_invalidated:
                reason = first_line(exc.orig)
                raise MarketcastError(
                    f"lost the connection to the forecast store {self.setting}: {reason}. "
                    "A transaction it broke off is rolled back; check that the database "
                    "server is running, then re-run (a re-run replaces its own rows)."
                ) from exc
            code = getattr(exc.orig, "sqlite_errorcode", None)  # PostgreSQL's errors have none
            if code is None:
                raise
            cause = f"{exc.orig} ({exc.orig.sqlite_errorname})"
            if code & 0xFF in _NOT_A_DATABASE and self._read_immutable and self._sqlite_file():
                raise MarketcastError(
                    f"cannot read the forecast store {self.setting}: {cause}, read without the "
                    "writers' shared memory from a folder this user cannot write: a night's "
                    "write began while it was read. Run it again once the write is done."
                ) from exc
            if code & 0xFF in _NOT_A_DATABASE:
                raise MarketcastError(
                    f"{self.setting} is not a forecast store: {cause}. Point store.url at the "
                    "store's database, or at a new file to start one."
                ) from exc
            if code & 0xFF in _UNWRITABLE:
                primary = code & 0xFF
                fix = refusal_words(
                    errno.ENOSPC if primary == sqlite3.SQLITE_FULL else errno.EACCES
                )[1]
                if primary == sqlite3.SQLITE_IOERR:  # a full disk under WAL, or a failing one
                    fix = "Check the disk: free some space, or look at its mount and its health."
                elif not writing and primary != sqlite3.SQLITE_FULL:
                    fix = f"Check that this user may read {self.file} and its folder."
                if not writing:  # a reader writes nothing
                    raise MarketcastError(
                        f"cannot read the forecast store {self.setting}: {cause}. {fix}"
                    ) from exc
                raise unwritable(self.setting, Refusal(cause, fix)) from exc
            raise

    def _write(self, conn: Connection, frame: pd.DataFrame, info: RunInfo) -> int:
        with conn.begin(), signals_act():  # the statements: a signal rolls them back at once
            if self.dialect == "postgresql" and not _try_xact_lock(conn):
                raise StoreLocked(self._locked_message())
            forecasts, runs = _ensure_tables(conn, quantile_columns(frame.columns))
            for as_of, rows in frame[PAIR].drop_duplicates().groupby("as_of"):
                symbols = list(rows["symbol"])
                for start in range(0, len(symbols), _CHUNK):
                    chunk = symbols[start : start + _CHUNK]
                    conn.execute(
                        forecasts.delete().where(
                            forecasts.c.as_of == as_of, forecasts.c.symbol.in_(chunk)
                        )
                    )
            conn.execute(forecasts.insert(), frame.to_dict("records"))
            version = conn.execute(
                runs.insert().returning(runs.c.version),
                {
                    "run_id": info.run_id,
                    "committed_at": _committed_at(runs),
                    "run_dirs": json.dumps(info.run_dirs),
                    "as_of": json.dumps(info.as_of),
                    "symbols": info.symbols,
                    "marketcast_version": info.marketcast_version,
                },
            ).scalar_one()
        return version

    @contextlib.contextmanager
    def _waited_out(self) -> Iterator[None]:
        """SQLite: another program's write lock that outlasts the busy timeout (at the
        connection's WAL pragma or at BEGIN IMMEDIATE) is StoreLocked, nothing written."""
        try:
            yield
        except OperationalError as exc:
            code = getattr(exc.orig, "sqlite_errorcode", None)
            if code is None or code & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            raise StoreLocked(
                f"another program kept {self.location} locked for a write over "
                f"{_BUSY_S:g} s (forecast runs take {self.file}.lock first, so not one "
                f"of them); this run wrote nothing. Find what writes to the file (fuser "
                f"{self.file}), or schedule this run apart from it."
            ) from None

    def _locked_message(self) -> str:
        return (
            f"another forecast run is writing to the forecast store {self.setting}; this run "
            "wrote nothing. Let it finish, or schedule runs further apart."
        )


_BUSY_S = 10.0  # SQLite: how long a write waits for another program's write lock


def _engine(url: str, dialect: str) -> Engine:
    if dialect != "sqlite":
        return create_engine(url)
    # a forecast run's writes exclude each other with the flock (locked()): the busy timeout
    # waits out another program's write, which took the writers' lock without it
    engine = create_engine(url, connect_args={"timeout": _BUSY_S})

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        # WAL: readers never wait for the writer (nor it for them); it stays set in the file
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock first, not at the DELETE

    return engine


def _read_only(parsed: URL, immutable: bool = False) -> URL:
    """The SQLite URL ``parsed`` opened read-only: a reader never creates the file.
    ``immutable``: nor its ``-shm`` file (SQLite then takes no locks and reads no WAL)."""
    uri = Path(parsed.database).absolute().as_uri()  # file:///... with %-escapes
    query = {"mode": "ro", "uri": "true"} | ({"immutable": "1"} if immutable else {})
    return parsed.set(database=uri).update_query_dict(query)


def _pg_fn(name: str):
    return getattr(func, name)(ADVISORY_KEY)


def _try_xact_lock(conn: Connection) -> bool:
    """Take the writers' advisory lock until the transaction ends; False if another holds it."""
    return bool(conn.execute(select(_pg_fn("pg_try_advisory_xact_lock"))).scalar())


def _refusal(conn: Connection) -> Refusal | None:
    """PostgreSQL: why the server would refuse this connection's writes to the store, if
    it would: a read-only server, or what the role lacks (CREATE on the schema where a table
    is still to be made; the privileges on the tables and on forecast_runs' sequence)."""
    read_only = conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
    if read_only:
        conn.commit()
        cause = "the server takes no writes (a standby, or default_transaction_read_only)"
        return Refusal(cause, _PG_REFUSED["25006"][0])

    def granted(check: str, *args) -> bool:
        return bool(conn.execute(select(getattr(func, check)(*args))).scalar())

    lacking, present = [], [t for t in _WRITES if inspect(conn).has_table(t)]
    schema = func.current_schema()
    if len(present) < len(_WRITES) and not granted("has_schema_privilege", schema, "CREATE"):
        lacking.append("CREATE on the schema")
    for table in present:
        missing = [p for p in _WRITES[table] if not granted("has_table_privilege", table, p)]
        if missing:
            lacking.append(f"{', '.join(missing)} on {table}")
    if "forecast_runs" in present:
        serial = func.pg_get_serial_sequence("forecast_runs", "version")
        sequence = conn.execute(select(serial)).scalar()
        # nextval takes USAGE or UPDATE; the privilege list is true where either is held
        if sequence and not granted("has_sequence_privilege", sequence, "USAGE, UPDATE"):
            lacking.append(f"USAGE on {sequence}")
    role = conn.execute(select(func.current_user())).scalar()
    conn.commit()  # the checks' transaction ends here
    return Refusal(f"role {role} lacks {'; '.join(lacking)}", _GRANTS) if lacking else None


def _tables(conn: Connection, quantiles: list[str] = ()) -> tuple[Table, Table]:
    """The two tables, with the bound columns the database has plus ``quantiles``."""
    metadata = MetaData()
    inspector = inspect(conn)
    have = []
    if inspector.has_table("forecasts"):
        have = quantile_columns(c["name"] for c in inspector.get_columns("forecasts"))
    # committed_at: on PostgreSQL an instant (timestamptz), so that a reader in any time zone
    # reads the same moment; a table made before keeps its plain timestamp, written in UTC.
    # SQLite has no zoned type: plain UTC text.
    zoned = conn.dialect.name == "postgresql"
    if zoned and inspector.has_table("forecast_runs"):
        kinds = {c["name"]: c["type"] for c in inspector.get_columns("forecast_runs")}
        zoned = bool(getattr(kinds.get("committed_at"), "timezone", True))
    forecasts = Table(
        "forecasts",
        metadata,
        Column("symbol", String, primary_key=True),  # any length, as Delta and SQLite
        Column("as_of", Date, primary_key=True),
        Column("target_date", Date, nullable=False),
        Column("step", Integer, primary_key=True),
        Column("forecast", Double, nullable=False),
        *[Column(q, Double) for q in quantile_columns({*have, *quantiles})],
        Column("run_dir", Text, nullable=False),
        Column("run_id", String(64), nullable=False),
    )
    runs = Table(
        "forecast_runs",
        metadata,
        Column("version", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(64), nullable=False),
        Column("committed_at", DateTime(timezone=zoned), nullable=False),
        Column("run_dirs", Text, nullable=False),
        Column("as_of", Text, nullable=False),
        Column("symbols", Integer, nullable=False),
        Column("marketcast_version", String(32), nullable=False),
    )
    return forecasts, runs


def _committed_at(runs: Table) -> datetime:
    """Now, for the ``committed_at`` column: zoned where the column keeps a zone, else in
    UTC without one (a plain timestamp would take a zoned value in the session's zone)."""
    now = datetime.now(UTC)
    return now if runs.c.committed_at.type.timezone else now.replace(tzinfo=None)


def _utc(committed_at: datetime | str) -> pd.Timestamp:
    """A ``committed_at`` as read back: zoned (PostgreSQL, in the session's zone) or plain UTC."""
    stamp = pd.Timestamp(committed_at)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _ensure_tables(conn: Connection, quantiles: list[str]) -> tuple[Table, Table]:
    """Create the tables, or add the bound columns ``quantiles`` the database lacks."""
    inspector = inspect(conn)
    if inspector.has_table("forecasts"):
        have = {c["name"] for c in inspector.get_columns("forecasts")}
        preparer = conn.dialect.identifier_preparer
        for q in quantiles:
            if q not in have:
                conn.execute(
                    text(f"ALTER TABLE forecasts ADD COLUMN {preparer.quote(q)} DOUBLE PRECISION")
                )
    forecasts, runs = _tables(conn, quantiles)
    forecasts.metadata.create_all(conn)
    return forecasts, runs
