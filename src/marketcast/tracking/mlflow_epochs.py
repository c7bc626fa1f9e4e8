"""The Keras callback that sends each epoch's losses to an MLflow run.

Apart from ``mlflow_logger`` so that its Hydra callback (which runs in the launching
process of every multirun) does not import Keras.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from marketcast.errors import brief
from marketcast.model.backend import keras

log = logging.getLogger(__name__)


class EpochMetrics(keras.callbacks.Callback):
    """Every number of the epoch's Keras logs (loss, val_loss, ...) as step metrics of the
    MLflow run of ``owner`` (a ``MlflowLogger``); a server that stops answering is said
    once and sent nothing more (``owner.gone``), and the training goes on."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.step = 0  # across fits: a backtest's folds follow each other

    def on_epoch_end(self, epoch, logs=None):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = {k: float(v) for k, v in (logs or {}).items() if is_number(v)}
        if not self.owner.gone:
            try:
                self.owner.client.log_batch(
                    self.owner.run_id,
                    metrics=[Metric(k, v, now, self.step) for k, v in values.items()],
                )
            except Exception as exc:  # the server went away: the training goes on
                log.warning(
                    "MLflow run %s: epoch metrics not sent (%s); training goes on, and the "
                    "run's files hold every epoch (history.csv with logger=csv)",
                    self.owner.run_id, brief(exc),
                )  # fmt: skip
                self.owner.gone = True
        self.step += 1


def is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
