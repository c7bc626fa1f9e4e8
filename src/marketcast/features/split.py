"""Chronological train / validation / test boundaries, by fractions or by dates."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from marketcast.config import SplitConfig
from marketcast.errors import MarketcastError

SEGMENTS = ("train", "val", "test")


@dataclass(frozen=True)
class Segments:
    """Row ranges ``[start, stop)`` of each segment in a series of ``n`` rows."""

    n: int
    val_start: int
    test_start: int

    def bounds(self, name: str) -> tuple[int, int]:
        return {
            "train": (0, self.val_start),
            "val": (self.val_start, self.test_start),
            "test": (self.test_start, self.n),
        }[name]


def split_rows(dates: pd.DatetimeIndex, cfg: SplitConfig) -> Segments:
    """Segment boundaries for the ascending ``dates``.

    Dates, where set, win over fractions: ``val_start`` and ``test_start`` are
    the first days of their segments (the next trading day if not one).
    """
    n = len(dates)
    val_start = (
        _date_row(dates, cfg.val_start, "split.val_start")
        if cfg.val_start is not None
        else round(n * cfg.train)
    )
    test_start = (
        _date_row(dates, cfg.test_start, "split.test_start")
        if cfg.test_start is not None
        # the last split.test of the rows, however the others are written: 0.65 + 0.2 is
        # 0.8500000000000001 in floating point, and its test segment of 50 rows started a row
        # later than 0.7 + 0.15's
        else round(n * round(1 - cfg.test, 12))
    )
    if not 0 < val_start < test_start < n:
        raise MarketcastError(
            f"the split leaves an empty segment: train rows 0..{val_start}, val rows "
            f"{val_start}..{test_start}, test rows {test_start}..{n} of {n}. "
            "Choose split.val_start < split.test_start inside the data's date range, "
            "or fractions that each keep some rows."
        )
    return Segments(n=n, val_start=val_start, test_start=test_start)


def _date_row(dates: pd.DatetimeIndex, value: str, key: str) -> int:
    try:
        when = pd.Timestamp(value)
    except ValueError:
        raise MarketcastError(f"{key}={value!r} is not a date: use YYYY-MM-DD.") from None
    if not dates[0] < when <= dates[-1]:  # an empty segment on one side of it
        raise MarketcastError(
            f"{key}={value} is outside the data, which runs {dates[0].date()}.."
            f"{dates[-1].date()}: choose a date after its first day, up to its last."
        )
    return int(dates.searchsorted(when))


def stop_samples(n: int, share: float) -> int:
    """How many of a validation segment's ``n`` samples, the first ones, decide early
    stopping (``evaluation.stop_share``); the rest, which the stopped model was never
    chosen on, fit the published combination and calibrate the intervals. At least 1 and
    at most ``n - 1``, so each side has a sample."""
    return min(n - 1, max(1, round(n * share)))


def fit_start(n: int, share: float, horizon: int) -> int:
    """The first of a validation segment's ``n`` samples that fit the combination and
    calibrate the intervals: after the ``stop_samples`` that decided early stopping and the
    ``horizon - 1`` after them, whose targets overlap theirs (early stopping has seen those
    prices); at most ``n - 1``, so one sample is left."""
    return min(n - 1, stop_samples(n, share) + horizon - 1)
