"""Forecast error metrics in price units, for the model and the baselines alike."""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("mae", "rmse", "mape", "mase", "direction_accuracy", "rel_mae")
HEADINGS = {"mape": "mape_%", "direction_accuracy": "dir_acc"}


def score(
    actual: np.ndarray, forecast: np.ndarray, last_observed: np.ndarray, naive_mae: float
) -> dict[str, float | None]:
    """Metrics of ``forecast`` against ``actual``, both (B, H) in price units.

    ``last_observed`` (B,) is the value at the forecast origin, for the
    direction of each step's move; ``naive_mae`` scales MASE (the training
    segment's one-step persistence MAE). ``direction_accuracy`` is the share
    of steps whose forecast move has the sign of the actual move, counted over
    steps where both moved; it is ``None`` for a forecast that never moves.
    ``mape`` is in percent.
    """
    error = forecast - actual
    mae = float(np.mean(np.abs(error)))
    predicted_move = np.sign(forecast - last_observed[:, None])
    actual_move = np.sign(actual - last_observed[:, None])
    counted = (predicted_move != 0) & (actual_move != 0)
    direction = (
        float(np.mean(predicted_move[counted] == actual_move[counted])) if counted.any() else None
    )
    return {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": float(100.0 * np.mean(np.abs(error) / np.abs(actual))),
        "mase": mae / naive_mae if naive_mae > 0 else None,
        "direction_accuracy": direction,
    }


def add_relative_mae(table: dict[str, dict], reference: str = "persistence") -> None:
    """Add ``rel_mae``: each forecaster's MAE over ``reference``'s MAE on the same targets."""
    ref = table[reference]["mae"]
    for row in table.values():
        row["rel_mae"] = row["mae"] / ref if ref > 0 else None


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
