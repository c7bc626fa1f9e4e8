"""Where daily prices come from: a CSV file (the bundled sample included) or FinanceDataReader.

This is the only module that reads price files or talks to FinanceDataReader.
Every source returns the same schema: a ``DatetimeIndex`` named ``Date``,
ascending and unique, and float columns ``Open, High, Low, Close, Volume``
(those the source has).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from marketcast.config import DataConfig
from marketcast.errors import MarketcastError

log = logging.getLogger(__name__)

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Volume")


def load_prices(cfg: DataConfig) -> pd.DataFrame:
    """Load the daily prices ``cfg`` names, restricted to ``cfg.start..cfg.end``.

    Returns a frame in the common schema (see the module docstring), with at
    least one row.
    """
    if cfg.source == "csv":
        frame = _read_csv(cfg.path)
        label = cfg.symbol or (Path(cfg.path).stem if cfg.path else "csv")
    elif cfg.source == "fdr":
        frame = _read_fdr(cfg.symbol, cfg.start, cfg.end)
        label = cfg.symbol
    else:
        raise MarketcastError(
            f"data.source={cfg.source!r} is not a known source: use 'csv' or 'fdr' "
            "(or pick a preset: data=sample, data=csv, data=fdr)."
        )
    frame = _restrict_dates(frame, cfg.start, cfg.end, label)
    return frame


def normalise(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Bring a raw price frame to the common schema.

    Accepts a ``Date`` column or a date index (named or not), column names in
    any capitalisation, and extra columns (``Change``, ``Adj Close``), which are
    dropped. Rows are sorted by date; for a repeated date the last row wins.
    """
    frame = frame.copy()
    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    if "date" in by_lower:
        frame = frame.set_index(by_lower["date"])
    elif not isinstance(frame.index, pd.DatetimeIndex):
        raise MarketcastError(
            f"{origin} has no Date column (columns found: {', '.join(map(str, frame.columns))}). "
            "Add a Date column with one trading day per row."
        )
    try:
        index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    except (ValueError, TypeError) as exc:
        raise MarketcastError(
            f"{origin} has dates that cannot be read ({exc}). Use ISO dates such as 2024-01-31."
        ) from None
    if index.tz is not None:
        index = index.tz_localize(None)
    frame.index = index.normalize().rename("Date")

    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    present = [c for c in PRICE_COLUMNS if c.lower() in by_lower]
    if not present:
        raise MarketcastError(
            f"{origin} has none of the price columns {', '.join(PRICE_COLUMNS)} "
            f"(columns found: {', '.join(map(str, frame.columns))})."
        )
    out = pd.DataFrame(index=frame.index)
    for name in present:
        values = pd.to_numeric(frame[by_lower[name.lower()]], errors="coerce")
        bad = values.isna() & frame[by_lower[name.lower()]].notna()
        if bad.any():
            first = frame.index[bad.to_numpy()][0].date()
            raise MarketcastError(
                f"{origin}: column {name} has {int(bad.sum())} non-numeric values "
                f"(first on {first}). Fix or remove those rows."
            )
        out[name] = values.astype("float64")
    out = out.sort_index(kind="stable")
    out = out[~out.index.duplicated(keep="last")]
    return out


def _read_csv(path: str | None) -> pd.DataFrame:
    if not path:
        raise MarketcastError("data.path is not set: pass data.path=FILE with data=csv.")
    file = Path(path)
    if not file.is_file():
        raise MarketcastError(f"data.path={path!r} does not exist or is not a file.")
    try:
        raw = pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MarketcastError(f"data.path={path!r} is not a readable CSV file ({exc}).") from None
    if raw.empty:
        raise MarketcastError(f"data.path={path!r} has no rows.")
    return normalise(raw, f"data.path={path!r}")


def _read_fdr(symbol: str | None, start: str | None, end: str | None) -> pd.DataFrame:
    if not symbol:
        raise MarketcastError("data.symbol is not set: pass data.symbol=SYMBOL with data=fdr.")
    import FinanceDataReader as fdr  # slow to import, and only this source needs it

    origin = f"FinanceDataReader symbol {symbol!r}"
    try:
        raw = fdr.DataReader(str(symbol), start, end)
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise MarketcastError(
            f"{origin}: the data source could not be reached ({type(exc).__name__}: {exc}). "
            "Check the network, or train offline with data=sample or data=csv."
        ) from None
    except Exception as exc:  # FDR raises bare exceptions for symbols its readers cannot map
        raise MarketcastError(
            f"{origin}: the source failed ({type(exc).__name__}: {exc}). "
            "Check that the symbol exists (KRX codes have six digits, e.g. 005930)."
        ) from None
    if raw is None or len(raw) == 0:
        raise MarketcastError(
            f"{origin}: the source returned no rows for {start or 'the start'}..{end or 'today'}. "
            "Check that the symbol exists and that the date range holds trading days."
        )
    return normalise(raw, origin)


def _restrict_dates(
    frame: pd.DataFrame, start: str | None, end: str | None, label: str | None
) -> pd.DataFrame:
    for key, value in (("data.start", start), ("data.end", end)):
        if value is not None:
            try:
                pd.Timestamp(value)
            except ValueError:
                raise MarketcastError(f"{key}={value!r} is not a date: use YYYY-MM-DD.") from None
    kept = frame.loc[start:end] if (start or end) else frame
    if kept.empty:
        raise MarketcastError(
            f"{label}: no rows between data.start={start} and data.end={end} "
            f"(the data covers {frame.index[0].date()}..{frame.index[-1].date()})."
        )
    return kept
