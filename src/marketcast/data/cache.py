"""The local price cache: one Parquet file per symbol, written atomically.

A file holds a symbol's daily history as the source delivered it, brought to
the common schema (``validation.PRICE_COLUMNS``) but not cleaned, so that
changing a validation policy needs no new download. Writes go to a
temporary file that is renamed into place: parallel sweep jobs and
overlapping cron runs see the old file or the new one, never a torn one.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow.parquet as pq

from marketcast.atomic import atomic_write
from marketcast.data.symbols import canonical_symbol
from marketcast.data.validation import schema_problem


class DamagedCache(Exception):
    """A cache file that cannot be read or does not hold a price history."""


def cache_path(cache_dir: Path, symbol: str) -> Path:
    """The file of ``symbol``: its canonical spelling (``symbols``), %-escaped."""
    return Path(cache_dir) / f"{quote(canonical_symbol(symbol), safe='')}.parquet"


def read_cached(cache_dir: Path, symbol: str) -> pd.DataFrame | None:
    """The cached history of ``symbol``, or ``None`` if there is none.

    Raises ``DamagedCache`` (with the reason) for a file that is truncated,
    is not Parquet, or does not hold a non-empty frame in the common schema.
    """
    path = cache_path(cache_dir, symbol)
    try:
        # One open file for the whole read: given a path, pyarrow opens it more than once
        # (footer, then pages), and a writer's rename in between mixes two versions.
        # ParquetFile skips the dataset layer pd.read_parquet goes through: the same frame
        # in half the time (a nightly predict reads a thousand files).
        with path.open("rb") as file:
            frame = pq.ParquetFile(file).read(use_pandas_metadata=True).to_pandas()
    except FileNotFoundError:
        return None
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise DamagedCache(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    problem = "it has no rows" if frame.empty else schema_problem(frame)
    if problem:
        raise DamagedCache(f"{path} is not a price history: {problem}")
    return frame


def write_cached(cache_dir: Path, symbol: str, frame: pd.DataFrame) -> Path:
    """Replace the cached history of ``symbol`` with ``frame`` (common schema), atomically."""
    problem = schema_problem(frame)
    if problem:  # a bug upstream, not a user error: never write a file readers would reject
        raise ValueError(f"refusing to cache {symbol}: {problem}")
    path = cache_path(cache_dir, symbol)
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, engine="pyarrow"))
    return path
