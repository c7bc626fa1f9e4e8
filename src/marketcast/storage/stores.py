"""The forecast store a format names: the one place that knows every backend, and predict's
start-up check that the store can be written where it is named.

Each backend imports only when chosen (Delta, SQLAlchemy and their dependencies stay off the
start-up path of a job that writes csv, or none).
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from omegaconf import DictConfig

from marketcast.atomic import refusal_words
from marketcast.config import StoreConfig, StoreFormat, check_predict_job, check_writable
from marketcast.errors import MarketcastError
from marketcast.progress import listed
from marketcast.storage.forecast_store import (
    CSV_FILE,
    FORMATS,
    REMOTE_SCHEMES,
    ForecastStore,
    folder_kind,
)


def open_store(fmt: str, location: str) -> ForecastStore:
    """The store of format ``fmt`` (delta | sql | csv) at ``location`` (a path, URI or URL)."""
    if fmt == "sql":
        from marketcast.storage.sql_store import SqlForecastStore

        return SqlForecastStore(location)
    if fmt in ("delta", "csv"):
        if fmt == "delta":
            from marketcast.storage.delta_store import DeltaForecastStore as Store
        else:
            from marketcast.storage.csv_export import CsvForecastExport as Store
        store = Store(folder_location(fmt, location))
        store.setting = f"store.dir={location}"  # messages name it as the user wrote it
        return store
    raise MarketcastError(
        f"store.format={fmt!r} is not known: use one of {', '.join(FORMATS)} "
        "(delta is the default)."
    )


# A URI's scheme (RFC 3986), two letters at least: C:\\x is a Windows drive, not a scheme.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


def folder_location(fmt: str, location: str) -> str:
    """Where a Delta table or CSV export named ``store.dir=location`` is: a local folder's
    path (also for a ``file:`` URI, ``file:///path`` or ``file:/path``, which delta-rs takes
    but the store's lock file and start-up checks read as the relative folder ``file:``), or
    object storage (Delta only; its scheme in lower case, as the store tells it by). Any
    other URI is refused: it was made a folder named after it in the current directory."""
    scheme = _SCHEME.match(location)
    name = scheme.group(1).lower() if scheme else None
    if name == "file":
        parts = urlsplit(location)
        path = url2pathname(parts.path)
        if parts.netloc not in ("", "localhost") or not path or parts.query or parts.fragment:
            raise MarketcastError(
                f"store.dir={location} is no local folder's file: URI: write one as "
                "file:///path (no host, no ?query or #fragment), or give the folder's path."
            )
        return path
    if name is None or not location[scheme.end() :].startswith("//"):
        return location  # a path (a colon in a folder's name is no scheme)
    uri = name + location[len(name) :]
    if fmt == "delta" and uri.startswith(REMOTE_SCHEMES):
        return uri
    if uri.startswith(REMOTE_SCHEMES):
        raise MarketcastError(
            f"store.dir={location} is object storage, which the CSV export does not write "
            "to (it writes a local folder): use the default store.format=delta there, or "
            "give a local folder."
        )
    raise MarketcastError(
        f"store.dir={location}: {name}:// is no storage the forecast store writes to. Give "
        f"a local folder's path, or a Delta table on {', '.join(REMOTE_SCHEMES)}."
    )


def from_config(cfg) -> ForecastStore | None:
    """The store a ``StoreConfig`` names (``dir`` for delta and csv, ``url`` for sql), if any."""
    location = cfg.url if str(cfg.format) == "sql" else cfg.dir
    return open_store(str(cfg.format), str(location)) if location else None


def check_predict_start(cfg: DictConfig) -> None:
    """``marketcast predict``'s start-up checks, before the runs load Keras: the config's
    (``config.check_predict_job``), then that the store can be written where it is named."""
    check_predict_job(cfg)
    if not cfg.dry_run:  # a dry run writes nothing
        check_location(cfg.store)


def _check_folder(store: StoreConfig, folder: Path) -> None:
    """That ``folder`` (``store.dir``'s) holds nothing, or a store of ``store.format``:
    predict made a Delta table in any folder it was pointed at (the price cache, a CSV
    export), and the store's maintain then vacuumed every file of that folder as a file no
    commit names."""
    fmt = str(store.format)
    kind, others = folder_kind(folder)
    if kind in (None, fmt):
        return
    setting = f"store.dir={store.dir}"
    if kind == "delta":
        raise MarketcastError(
            f"{setting} holds a Delta table (its _delta_log), not a {fmt} store: drop "
            f"store.format={fmt} to write to it, or point store.dir at a new folder."
        )
    if kind == "csv":
        raise MarketcastError(
            f"{setting} holds a CSV export (as_of=DATE/{CSV_FILE}), not a {fmt} store: add "
            "store.format=csv to write to it, or point store.dir at a new folder."
        )
    raise MarketcastError(
        f"{setting} is a folder of other files ({listed(others)}), not a forecast store: a "
        "store is started only in a new or empty folder, which it keeps to itself. Point "
        "store.dir at the store, or at a new folder."
    )


def check_location(store: StoreConfig) -> None:
    """That the forecast store can be written where it is named, checked before the runs
    load Keras (the store said so only when the night's forecasts were ready to write)."""
    if store.format != StoreFormat.sql:
        folder = folder_location(str(store.format), str(store.dir)) if store.dir else None
        if folder and not folder.startswith(REMOTE_SCHEMES):  # object storage: not here
            check_writable("store.dir", Path(folder) / ".marketcast-probe", shown=store.dir)
            _check_folder(store, Path(folder))
        return
    from marketcast.storage.sql_store import SQLITE_HEADER, SqlForecastStore

    # the store's own reading of the URL: a URL it cannot take is named here
    sql = SqlForecastStore(store.url)
    file = sql.file  # SQLite's file, as the store opens it; else None
    if file is None:
        sql.check_writable()  # a server: one that is down, read-only, or lacks a grant
        return
    check_writable("store.url", file, shown=store.url)
    try:
        with file.open("r+b") as opened:  # r+: a database this user may not write is refused
            header = opened.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return  # a new file: the first write makes it
    except IsADirectoryError:
        raise MarketcastError(
            f"store.url={store.url} names a folder, {file}: point it at a database file "
            "(a new one starts a store)."
        ) from None
    except PermissionError as exc:
        what, fix = refusal_words(errno.EACCES)
        raise MarketcastError(
            f"store.url={store.url} cannot be written: {file}: {exc.strerror} (EACCES){what}. {fix}"
        ) from None
    if header and header != SQLITE_HEADER:
        raise MarketcastError(
            f"store.url={store.url} is not a forecast store: {file} is not an SQLite "
            "database. Point store.url at the store's database, or at a new file to start one."
        )
