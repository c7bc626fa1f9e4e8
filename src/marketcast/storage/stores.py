"""The forecast store a format names: the one place that knows every backend.

Each backend imports only when chosen (Delta, SQLAlchemy and their dependencies stay off the
start-up path of a job that writes csv, or none).
"""

from __future__ import annotations

from marketcast.errors import MarketcastError
from marketcast.storage.forecast_store import FORMATS, ForecastStore


def open_store(fmt: str, location: str) -> ForecastStore:
    """The store of format ``fmt`` (delta | sql | csv) at ``location`` (a path, URI or URL)."""
    if fmt == "delta":
        from marketcast.storage.delta_store import DeltaForecastStore

        return DeltaForecastStore(location)
    if fmt == "sql":
        from marketcast.storage.sql_store import SqlForecastStore

        return SqlForecastStore(location)
    if fmt == "csv":
        from marketcast.storage.csv_export import CsvForecastExport

        return CsvForecastExport(location)
    raise MarketcastError(
        f"store.format={fmt!r} is not known: use one of {', '.join(FORMATS)} "
        "(delta is the default)."
    )


def from_config(cfg) -> ForecastStore | None:
    """The store a ``StoreConfig`` names (``dir`` for delta and csv, ``url`` for sql), if any."""
    location = cfg.url if str(cfg.format) == "sql" else cfg.dir
    return open_store(str(cfg.format), str(location)) if location else None
