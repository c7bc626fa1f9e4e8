"""PNG figures of a run: test forecasts against actual prices, and the loss curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: scheduled runs have no display
import matplotlib.pyplot as plt
import pandas as pd

from marketcast.artifacts import atomic_write


def plot_test_forecast(predictions: pd.DataFrame, title: str, path: Path) -> None:
    """Actual vs one-step-ahead model and persistence forecasts over the test segment."""
    first = predictions[predictions["step"] == 1]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(first["date"], first["actual"], label="actual", color="black", linewidth=1.2)
    ax.plot(first["date"], first["model"], label="model", color="tab:blue", linewidth=1)
    ax.plot(
        first["date"],
        first["persistence"],
        label="persistence",
        color="tab:orange",
        linewidth=0.8,
        alpha=0.7,
    )
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    _save(fig, path)


def plot_loss(history: dict[str, list[float]], path: Path) -> None:
    """Training and validation loss per epoch (scaled units)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = range(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], label="training loss")
    if "val_loss" in history:
        ax.plot(epochs, history["val_loss"], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (scaled)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
