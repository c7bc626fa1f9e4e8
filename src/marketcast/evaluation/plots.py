"""PNG figures of a run: forecasts against actual prices, loss curves, backtest summaries."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: scheduled runs have no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from marketcast.atomic import atomic_write


def plot_forecast(predictions: pd.DataFrame, title: str, path: Path) -> None:
    """Actual vs one-step-ahead model and persistence forecasts, with the interval band.

    ``predictions`` has columns date, step, actual, model, persistence and,
    optionally, interval bounds named q<level> (the outermost two are drawn).
    """
    first = predictions[predictions["step"] == 1]
    dates = pd.to_datetime(first["date"])
    bounds = [c for c in predictions.columns if c.startswith("q") and c[1:2].isdigit()]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    if len(bounds) >= 2:
        ax.fill_between(
            dates,
            first[bounds[0]],
            first[bounds[-1]],
            color="tab:blue",
            alpha=0.18,
            linewidth=0,
            label=f"interval {bounds[0]}..{bounds[-1]}",
        )
    ax.plot(dates, first["actual"], label="actual", color="black", linewidth=1.2)
    ax.plot(dates, first["model"], label="model", color="tab:blue", linewidth=1)
    ax.plot(
        dates,
        first["persistence"],
        label="persistence",
        color="tab:orange",
        linewidth=0.8,
        alpha=0.7,
    )
    if "fold" in first:
        for origin in pd.to_datetime(first.groupby("fold")["date"].min()):
            ax.axvline(origin, color="grey", linewidth=0.6, linestyle=":")
    ax.set_title(title)
    fig.autofmt_xdate()
    _finish(fig, ax, path, ylabel="price")


def plot_loss(history: dict[str, list[float]], path: Path) -> None:
    """Training and validation loss per epoch (scaled units)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = range(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], label="training loss")
    if "val_loss" in history:
        ax.plot(epochs, history["val_loss"], label="validation loss")
    ax.set_yscale("log")
    _finish(fig, ax, path, xlabel="epoch", ylabel="loss (scaled)")


def plot_error_per_step(mae_per_step: dict[str, list[float]], path: Path) -> None:
    """MAE (price units) by forecast step, one line per forecaster."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in mae_per_step.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    _finish(fig, ax, path, xlabel="step ahead", ylabel="MAE (price units)")


def plot_folds(rel_mae: dict[str, list[float]], path: Path) -> None:
    """MAE relative to persistence, per fold and forecaster (below 1 beats persistence)."""
    names = list(rel_mae)
    folds = len(next(iter(rel_mae.values())))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(7, folds * 1.2), 4))
    values = np.array([rel_mae[n] for n in names], dtype=float)  # -> (forecasters, folds)
    # Zoom on the interesting range near 1: a far-off baseline's bar is cut and labelled.
    top = min(float(np.nanmax(values)) + 0.01, 1.25)
    bottom = max(0.0, float(np.nanmin(values)) - 0.02)
    for i, name in enumerate(names):
        x = np.arange(folds) + i * width
        ax.bar(x, values[i], width, label=name)
        for xi, v in zip(x, values[i], strict=True):
            if v > top:
                ax.text(xi, top, f"{v:.1f}", ha="center", va="top", fontsize=7, rotation=90)
    ax.set_ylim(bottom, top)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(folds) + 0.4 - width / 2, [f"fold {k + 1}" for k in range(folds)])
    ax.set_ylabel("MAE / persistence MAE")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)


def _finish(fig, ax, path: Path, *, ylabel: str, xlabel: str | None = None) -> None:
    """Label the axes, add the legend and grid, and save the figure."""
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
