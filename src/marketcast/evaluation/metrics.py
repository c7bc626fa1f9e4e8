"""Forecast error metrics in price units, for the model and the baselines alike."""

from __future__ import annotations

import math

import numpy as np

from marketcast.evaluation.scores import ORIGINS_PER_STEP, SAME_FORECAST_RTOL, long_run_variance

METRIC_NAMES = ("mae", "rmse", "mape", "mase", "direction_accuracy", "rel_mae")
HEADINGS = {"mape": "mape_%", "direction_accuracy": "dir_acc"}


def score(
    actual: np.ndarray,
    forecast: np.ndarray,
    last_observed: np.ndarray,
    naive_mae: float,
    step: int | None = None,
) -> dict[str, float | None]:
    """Metrics of ``forecast`` against ``actual``, both (B, H) in price units.

    ``last_observed`` (B,) is the value at the forecast origin, for the direction of each
    step's move; ``naive_mae`` scales MASE (the training segment's one-step persistence
    MAE). ``direction_accuracy`` is the share of steps whose forecast move has the sign of
    the actual move, counted over the ``direction_n`` steps where both moved (beyond float
    noise: ``_moves``), with its 95% Wilson interval (``direction_ci``) at the effective
    size of those calls (``direction_n_effective``, ``effective_calls``); it is ``None``
    for a forecast that never moves, and the interval is ``None`` below
    ``ORIGINS_PER_STEP`` origins per step ahead where moves overlap. ``step``: the step
    these H = 1 columns are (``score_per_step``); by default steps 1..H. ``mape`` is in
    percent.
    """
    error = forecast - actual
    mae = float(np.mean(np.abs(error)))
    predicted_move = _moves(forecast, last_observed)
    actual_move = _moves(actual, last_observed)
    counted = (predicted_move != 0) & (actual_move != 0)
    n = int(counted.sum())
    hits = (predicted_move == actual_move) & counted
    overlap = (step or forecast.shape[1]) - 1  # the step-h move shares h - 1 days
    accuracy = int(hits.sum()) / n if n else None
    # where moves overlap, its interval needs ORIGINS_PER_STEP origins a step, as the tests:
    # from fewer the long-run variance collapses (9 origins of h = 105 "excluded 0.5" at the
    # full 945 moves); one-step calls are independent, and Wilson's interval holds for few
    sized = n and (overlap == 0 or len(actual) >= ORIGINS_PER_STEP * (overlap + 1))
    effective = effective_calls(hits, counted, overlap) if sized else None
    return {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": float(100.0 * np.mean(np.abs(error) / np.abs(actual))),
        "mase": mae / naive_mae if naive_mae > 0 else None,
        "direction_accuracy": accuracy,
        "direction_ci": list(wilson_interval(accuracy * effective, effective)) if sized else None,
        "direction_n": n,
        "direction_n_effective": effective,  # the independent calls the n are worth
    }


def _moves(values: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(B, H) the sign of each value's move from its origin's, 0 for a move within float
    noise of it (``SAME_FORECAST_RTOL``, as the DM test's "identical"): a forecast that is
    persistence but for the last bits of a float makes no call. A NaN is no move either."""
    move = values - origin[:, None]
    noise = SAME_FORECAST_RTOL * np.abs(origin)[:, None]
    return np.where(np.abs(move) > noise, np.sign(move), 0.0)


def score_per_step(
    actual: np.ndarray, forecast: np.ndarray, last_observed: np.ndarray, naive_mae: float
) -> list[dict]:
    """``score`` for each step 1..H separately."""
    return [
        score(actual[:, [h]], forecast[:, [h]], last_observed, naive_mae, step=h + 1)
        for h in range(actual.shape[1])
    ]


def effective_calls(hits: np.ndarray, counted: np.ndarray, lags: int) -> float:
    """The effective sample size of the direction accuracy ``hits.sum() / counted.sum()``
    (both (B, H) bool, consecutive origins): the size its 95% Wilson interval is taken at.

    The moves of consecutive origins overlap (the step-h move of origin b shares h - 1
    days with that of origin b + 1, and one origin's steps share their first days), so
    the hits are not independent and n of them carry less than n coin flips' evidence:
    the effective size is n p (1 - p) / (B x the long-run variance of the per-origin
    hit surplus over ``lags`` origins), at most n. With independent hits it is n.
    """
    n = int(counted.sum())
    p = int(hits.sum()) / n
    surplus = hits.sum(axis=1) - p * counted.sum(axis=1)  # -> (B,) a ratio's linearisation
    variance = long_run_variance(surplus.astype(float), lags) * len(surplus)  # of sum(hits)
    return max(1.0, n if variance <= 0 else min(n, n * n * p * (1 - p) / variance))


def wilson_interval(hits: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``hits / n`` (``n`` may be an effective,
    fractional sample size)."""
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def add_relative_mae(table: dict[str, dict], reference: str = "persistence") -> None:
    """Add ``rel_mae`` (MAE / ``reference``'s MAE on the same targets) and ``skill`` (1 - it),
    to each step's row too (``per_step``)."""
    for row in table.values():
        pairs = [
            (row, table[reference]),
            *zip(row.get("per_step", []), table[reference].get("per_step", []), strict=True),
        ]
        for own, ref in pairs:
            ref_mae = ref["mae"]
            own["rel_mae"] = own["mae"] / ref_mae if ref_mae > 0 else None
            own["skill"] = 1.0 - own["rel_mae"] if ref_mae > 0 else None


def format_table(metrics: dict[str, dict[str, dict]]) -> str:
    """A plain-text table of ``{segment: {forecaster: {metric: value}}}``."""
    header = f"{'segment':<8}{'forecaster':<13}" + "".join(
        f"{HEADINGS.get(m, m):>11}" for m in METRIC_NAMES
    )
    lines = [header, "-" * len(header)]
    for segment, rows in metrics.items():
        for name, row in rows.items():
            cells = "".join(
                f"{'n/a':>11}" if row.get(m) is None else f"{row[m]:>11.4f}" for m in METRIC_NAMES
            )
            lines.append(f"{segment:<8}{name:<13}{cells}")
    return "\n".join(lines)
