"""Synthetic daily bars for the benchmarks: geometric random walks, no network, no files."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_walk_bars(
    rng: np.random.Generator,
    rows: int,
    start: str,
    level: float,
    drift: float,
    volatility: float,
) -> pd.DataFrame:
    """Open, High, Low, Close on ``rows`` weekdays from ``start``; index named Date.

    Close is a geometric random walk from ``level``; Open is near it and High / Low
    bracket both. The caller adds Volume (and any other column) from the same ``rng``.
    """
    close = level * np.exp(np.cumsum(rng.normal(drift, volatility, rows)))
    open_ = close * np.exp(rng.normal(0, 0.005, rows))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, rows))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, rows))
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close},
        index=pd.bdate_range(start, periods=rows, name="Date"),
    )
