"""The ``csv`` logger: the training curve of a run as ``<run_dir>/history.csv``."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from marketcast.config import CsvLoggerConfig
from marketcast.model.backend import keras

COLUMNS = ("fit", "epoch", "loss", "val_loss", "seconds")


class CsvLogger:
    def __init__(self, options: CsvLoggerConfig, run_dir: Path):
        self.path = run_dir / options.filename

    def start(self, params: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # one run, one history

    def callbacks(self) -> list[keras.callbacks.Callback]:
        return [EpochHistoryCSV(self.path)]

    def finish(self, metrics: dict[str, Any], run_dir: Path, failed: bool) -> None:
        pass  # every row is on disk as soon as its epoch ends


class EpochHistoryCSV(keras.callbacks.Callback):
    """One row per epoch: fit (0, 1, ... for the folds of a backtest), epoch (1-based),
    loss, val_loss (the training loss, e.g. Huber on scaled targets), seconds (wall clock).

    Written and flushed at each epoch's end, so an interrupted run keeps its curve.
    Keras' CSVLogger has no timing column, hence this small writer.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.fit_index = -1
        self.started = 0.0

    def on_train_begin(self, logs=None):
        self.fit_index += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {
            "fit": self.fit_index,
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", float("nan"))),
            "val_loss": float(logs.get("val_loss", float("nan"))),
            "seconds": round(time.perf_counter() - self.started, 4),
        }
        new = not self.path.exists()
        with self.path.open("a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)
