"""Stop an unpromising Optuna trial after any epoch: a Keras callback for the trial's fits."""

from __future__ import annotations

import math

import optuna

from marketcast.model.backend import keras


class OptunaPruning(keras.callbacks.Callback):
    """Report ``monitor`` (default ``val_loss``) to ``trial`` each epoch; prune if told to.

    The step is the epoch counted over every fit this callback sees (the folds of a
    backtest follow each other), so a trial's report is one curve. An epoch without
    the value (no validation data) reports nothing. ``optuna.TrialPruned`` leaves the
    fit, and the job that holds the trial tells the study the trial was pruned.
    """

    def __init__(self, trial: optuna.Trial, monitor: str = "val_loss"):
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.step = 0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        self.trial.report(value, self.step)  # NaN too: a diverged trial is pruned
        self.step += 1
        if self.trial.should_prune():
            shown = "nan" if math.isnan(value) else f"{value:.4g}"
            raise optuna.TrialPruned(
                f"trial {self.trial.number} pruned after epoch {epoch + 1}: {self.monitor} {shown}"
            )
