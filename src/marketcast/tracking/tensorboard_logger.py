"""The ``tensorboard`` logger: Keras' TensorBoard callback, event files in the run directory.

Needs the ``tensorboard`` package (TensorFlow's ``tf.summary`` is implemented there).
View with ``tensorboard --logdir outputs`` (every run below it) or ``--logdir RUN_DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marketcast.config import TensorboardLoggerConfig
from marketcast.model.backend import keras


class TensorboardLogger:
    def __init__(self, options: TensorboardLoggerConfig, run_dir: Path):
        self.options = options
        self.log_dir = run_dir / options.subdir

    def start(self, params: dict[str, Any]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def callbacks(self) -> list[keras.callbacks.Callback]:
        return [
            keras.callbacks.TensorBoard(
                log_dir=str(self.log_dir),
                histogram_freq=self.options.histogram_freq,
                update_freq=self.options.update_freq,
                write_graph=False,  # the graph of a 1-layer LSTM says nothing; it costs seconds
            )
        ]

    def finish(self, metrics: dict[str, Any], run_dir: Path, failed: bool) -> None:
        pass  # the callback closes its writers at the end of each fit
