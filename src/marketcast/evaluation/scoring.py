"""Scores of a segment's forecasts: every forecaster on the same targets, pooled over folds,
averaged over symbols (pure)."""

from __future__ import annotations

import numpy as np

from marketcast.evaluation.forecasts import SegmentForecasts
from marketcast.evaluation.intervals import coverage, mean_width
from marketcast.evaluation.metrics import add_relative_mae, diebold_mariano, score, score_per_step
from marketcast.features.dataset import SegmentData
from marketcast.features.windows import Windows


def score_segment(f: SegmentForecasts, naive_mae: float) -> dict[str, dict]:
    """``{forecaster: metrics}``; the model's row also holds interval coverage and width."""
    actual, last = f.part.actual, f.part.last
    table = {}
    for name, forecast in f.forecasts.items():
        table[name] = score(actual, forecast, last, naive_mae)
        if actual.shape[1] > 1:
            table[name]["per_step"] = score_per_step(actual, forecast, last, naive_mae)
    add_relative_mae(table)
    table["model"]["dm_vs_persistence"] = diebold_mariano(
        actual, f.forecasts["model"], f.forecasts["persistence"]
    )
    if f.bands is not None and len(f.levels) >= 2:
        lower, upper = f.bands[..., 0], f.bands[..., -1]
        table["model"]["interval"] = {
            "levels": [f.levels[0], f.levels[-1]],
            "nominal": f.levels[-1] - f.levels[0],
            "coverage": coverage(actual, lower, upper),
            "width_pct": mean_width(lower, upper, actual),
        }
    return table


def pool_forecasts(
    results: list[tuple[SegmentForecasts, float]],
) -> tuple[SegmentForecasts, float]:
    """Several segments' forecasts (folds, symbols) as one, with the mean MASE scale.

    Each item is a segment's forecasts and its naive MAE; scoring the pooled
    result gives metrics over all their targets together.
    """
    parts = [f.part for f, _ in results]
    windows = Windows(
        np.concatenate([p.windows.inputs for p in parts]),
        np.concatenate([p.windows.targets for p in parts]),
        np.concatenate([p.windows.first_target for p in parts]),
    )
    part = SegmentData(
        windows,
        np.concatenate([p.history for p in parts]),
        np.concatenate([p.actual for p in parts]),
    )
    first = results[0][0]
    forecasts = {
        name: np.concatenate([f.forecasts[name] for f, _ in results]) for name in first.forecasts
    }
    bands = np.concatenate([f.bands for f, _ in results]) if first.bands is not None else None
    naive = float(np.mean([scale for _, scale in results]))
    return SegmentForecasts(part, forecasts, bands, first.levels), naive


def mean_over(tables: list[dict[str, dict]]) -> dict[str, dict]:
    """The mean of each forecaster's scalar metrics over several tables (symbols).

    For symbols in different currencies only the scale-free means (mase, mape,
    rel_mae, skill, direction_accuracy, interval coverage) are meaningful.
    """
    out: dict[str, dict] = {}
    for name in tables[0]:
        rows = [t[name] for t in tables]
        out[name] = {
            key: _mean([r[key] for r in rows])
            for key, value in rows[0].items()
            if isinstance(value, int | float) or value is None
        }
        intervals = [r["interval"] for r in rows if "interval" in r]
        if intervals:
            out[name]["interval"] = {
                "levels": intervals[0]["levels"],
                "nominal": intervals[0]["nominal"],
                "coverage": _mean([i["coverage"] for i in intervals]),
                "width_pct": _mean([i["width_pct"] for i in intervals]),
            }
    return out


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None
