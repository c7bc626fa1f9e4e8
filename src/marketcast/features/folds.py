"""Walk-forward folds: which rows each fold trains, validates and tests on (pure).

Fold ``k`` forecasts rows ``[origin_k, origin_k + test_size)``; it is fitted on rows
before ``origin_k`` only, the last ``val_fraction`` of them for early stopping and
calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketcast.config import BacktestConfig, Scheme
from marketcast.errors import MarketcastError
from marketcast.features.split import Segments


@dataclass(frozen=True)
class Fold:
    """Row indices of one fold: train ``[start, val_start)``, validation
    ``[val_start, origin)``, test ``[origin, stop)``."""

    start: int
    val_start: int
    origin: int
    stop: int

    def segments(self) -> Segments:
        """The fold's split, in rows of its own slice ``[start, stop)``."""
        return Segments(
            n=self.stop - self.start,
            val_start=self.val_start - self.start,
            test_start=self.origin - self.start,
        )


# The fewest test origins a fold is scored on (its coverage thirds, its interval's replay).
MIN_FOLD_ORIGINS = 10


def plan_folds(n: int, cfg: BacktestConfig, min_rows: int, horizon: int) -> list[Fold]:
    """The folds over ``n`` rows; each fold's pre-origin rows hold at least ``min_rows``,
    and its test rows ``MIN_FOLD_ORIGINS`` origins of ``horizon`` steps."""
    test_size = cfg.test_size or max(1, round(0.15 * n / cfg.folds))
    origins = test_size - horizon + 1
    if origins < MIN_FOLD_ORIGINS:  # checked before the first fold trains, not after the last
        how = (
            f"evaluation.backtest.test_size={cfg.test_size}"
            if cfg.test_size
            else f"evaluation.backtest.folds={cfg.folds} (15% of the {n} rows / folds)"
        )
        least = MIN_FOLD_ORIGINS + horizon - 1
        raise MarketcastError(
            f"{how} gives each fold {test_size} test rows, {max(origins, 0)} origins of "
            f"window.horizon={horizon} steps: a fold's scores need at least "
            f"{MIN_FOLD_ORIGINS}. Pass evaluation.backtest.test_size={least} or more, fewer "
            "evaluation.backtest.folds, or more data."
        )
    first_origin = n - cfg.folds * test_size
    if first_origin < min_rows:
        raise MarketcastError(
            f"{cfg.folds} folds of {test_size} rows leave {max(first_origin, 0)} rows before the "
            f"first origin, fewer than the {min_rows} a fold needs. Use fewer folds, a smaller "
            "evaluation.backtest.test_size, a smaller window, or more data."
        )
    folds = []
    for k in range(cfg.folds):
        origin = first_origin + k * test_size
        start = 0
        if cfg.scheme == Scheme.rolling:
            size = cfg.train_size or first_origin
            if size < min_rows:
                raise MarketcastError(
                    f"evaluation.backtest.train_size={size} is below the {min_rows} rows a "
                    "fold needs."
                )
            start = max(0, origin - size)
        val_start = start + round((origin - start) * (1 - cfg.val_fraction))
        folds.append(Fold(start, val_start, origin, origin + test_size))
    return folds


def min_fold_rows(window: int, horizon: int, val_fraction: float) -> int:
    """Rows a fold needs before its origin so that training and validation each hold one sample."""
    return round((window + 1 + horizon + 1) / min(val_fraction, 1 - val_fraction))
