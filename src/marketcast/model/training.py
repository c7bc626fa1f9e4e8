"""Compile and fit a model on windows, with early stopping and logged progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from marketcast.config import TrainConfig
from marketcast.errors import MarketcastError
from marketcast.model import runtime
from marketcast.model.backend import keras

log = logging.getLogger(__name__)

LOSSES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber": "huber"}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend, so a CPU run repeats its metrics."""
    keras.utils.set_random_seed(seed)


def compile_model(model: keras.Model, cfg: TrainConfig, train_windows: int) -> None:
    """Compile for training on ``train_windows`` windows (which decides XLA: runtime)."""
    try:
        optimizer = keras.optimizers.get(
            {"class_name": cfg.optimizer, "config": {"learning_rate": cfg.learning_rate}}
        )
    except (ValueError, TypeError):
        raise MarketcastError(
            f"train.optimizer={cfg.optimizer!r} is not a Keras optimizer: "
            "use e.g. adam, adamw, rmsprop or sgd."
        ) from None
    model.compile(
        optimizer=optimizer,
        loss=LOSSES[cfg.loss],
        jit_compile=runtime.keras_jit_compile(cfg, train_windows),
    )


def fit(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    cfg: TrainConfig,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> dict[str, list[float]]:
    """Train on (B, W, F) inputs and their targets; return the Keras history.

    EarlyStopping watches the validation loss and restores the best weights.
    ``extra_callbacks`` run after the pipeline's own (timers, sweep pruners).
    """
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=cfg.patience, restore_best_weights=True
    )
    callbacks = [
        stopping,
        _StopOnNaN(),
        _EpochLog(cfg.epochs),
        *extra_callbacks,
    ]
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        shuffle=cfg.shuffle,
        verbose=cfg.verbose,
        callbacks=callbacks,
    )
    losses = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    diverged = _check_finite(model, losses, cfg)
    _log_stop(stopping, losses, cfg.epochs, diverged)
    return losses


def _check_finite(model: keras.Model, losses: dict[str, list[float]], cfg: TrainConfig) -> int:
    """The epoch (from 1) whose loss went to NaN or infinity (_StopOnNaN stopped the fit
    there), or 0. Where no earlier epoch's weights could be restored, one message (it was a
    crash further on, in the combination's fit or a JSON file, exit 1); else a warning:
    EarlyStopping restored the best epoch's weights."""
    bad = [i for i, v in enumerate(losses.get("loss", [])) if not np.isfinite(v)]
    bad += [i for i, v in enumerate(losses.get("val_loss", [])) if not np.isfinite(v)]
    weights_finite = all(np.all(np.isfinite(w)) for w in model.get_weights())
    if not bad and weights_finite:
        return 0
    epoch = min(bad) + 1 if bad else len(losses.get("loss", []))
    kept = restored_epoch(losses)
    if not weights_finite or not kept:
        other = "" if cfg.optimizer == "adam" else ", or use train.optimizer=adam"
        raise MarketcastError(
            f"training diverged: the loss became NaN or infinite in epoch {epoch} "
            f"(train.optimizer={cfg.optimizer}, train.learning_rate={cfg.learning_rate:g}). "
            f"Lower train.learning_rate{other}."
        )
    log.warning(
        "training diverged in epoch %d (the loss became NaN or infinite) and stopped; the "
        "weights of epoch %d, the best before it, are kept. Lower train.learning_rate (%g) "
        "for a fit that runs its course.",
        epoch,
        kept,
        cfg.learning_rate,
    )
    return epoch


def restored_epoch(history: dict[str, list[float]]) -> int:
    """The epoch (from 1) whose weights EarlyStopping kept: the lowest validation loss (a
    NaN one, of a loss that diverged, never)."""
    val = np.asarray(history.get("val_loss", []), dtype=float)
    return int(np.nanargmin(val)) + 1 if np.isfinite(val).any() else 0


def _log_stop(
    stopping: keras.callbacks.EarlyStopping, history: dict, epochs: int, diverged: int = 0
) -> None:
    ran = len(history.get("loss", []))
    best = restored_epoch(history) or stopping.best_epoch + 1
    val = history.get("val_loss", [float("nan")] * best)[best - 1]
    if diverged:
        how = f"stopped at epoch {ran} of {epochs}: the loss diverged"
    elif stopping.stopped_epoch > 0:
        how = f"EarlyStopping stopped at epoch {ran} of {epochs}"
    else:
        how = "trained its one epoch" if ran == 1 else f"trained all {ran} epochs"
    log.info("%s; restored the weights of epoch %d, val_loss %.6f", how, best, val)


class _StopOnNaN(keras.callbacks.Callback):
    """Keras' TerminateOnNaN without its print to stdout ("Batch 3: Invalid loss,
    terminating training"): the fit stops at a batch whose loss is NaN or infinite, and
    ``_check_finite`` says so once, in the log or as the job's error."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.model.stop_training = True


class _EpochLog(keras.callbacks.Callback):
    """One log line per epoch, so the run's log file records the training curve."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        log.info(
            "epoch %d/%d  loss %.6f  val_loss %.6f  (%.1fs)",
            epoch + 1,
            self.epochs,
            logs.get("loss", float("nan")),
            logs.get("val_loss", float("nan")),
            time.perf_counter() - self.started,
        )
