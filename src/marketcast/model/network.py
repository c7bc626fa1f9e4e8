"""The forecasting network: Input(window, features) -> LSTM x layers -> Dense(horizon).

Only the public Keras 3 API is used, so the backend can be switched with
``KERAS_BACKEND`` (TensorFlow is the default and the tested one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from marketcast.config import LSTMConfig, ModelConfig
from marketcast.errors import MarketcastError
from marketcast.model.backend import keras


def lstm_layer(
    cfg: LSTMConfig,
    units: int,
    return_sequences: bool = False,
    return_state: bool = False,
    name: str | None = None,
) -> keras.layers.LSTM:
    """A ``keras.layers.LSTM`` with every option of ``cfg``."""
    options = _plain(cfg)
    options.pop("stateful")  # refused by config.check_model: windows are independent samples
    try:
        return keras.layers.LSTM(
            units,
            return_sequences=return_sequences,
            return_state=return_state,
            name=name,
            **options,
        )
    except (ValueError, TypeError) as exc:
        raise MarketcastError(_bad_option(options, exc)) from None


def check_lstm_options(cfg: ModelConfig) -> None:
    """Build one LSTM layer of ``cfg`` (no weights): an option Keras does not take is said
    before the data's peers are fitted and the model trains (it was said seconds later)."""
    lstm_layer(cfg.lstm, cfg.units)


def _bad_option(options: dict, exc: Exception) -> str:
    """The message for options Keras' LSTM refused: the key whose value it refuses alone
    (Keras names only the value), with Keras' reason in one line."""
    reason = " ".join(str(exc).split()).split(". ")[0].rstrip(".")  # Keras' first sentence
    reason = reason if len(reason) <= 200 else reason[:197] + "..."
    for key, value in options.items():
        try:
            keras.layers.LSTM(1, **{key: value})
        except (ValueError, TypeError):
            return (
                f"model.lstm.{key}={value!r} is not valid for Keras' LSTM ({reason}). "
                + _HINTS.get(key, "See the Keras LSTM layer's documentation for its values.")
            )
    return f"a model.lstm option is not valid for Keras' LSTM ({reason})."


_ACTIVATIONS = "Use a Keras activation's name, e.g. tanh, sigmoid, hard_sigmoid, relu or linear."
_INITIALIZERS = "Use a Keras initializer's name, e.g. glorot_uniform, orthogonal, zeros or ones."
_REGULARIZERS = "Use null, l1, l2, l1l2, or {class_name: L2, config: {l2: 1e-4}}."
_CONSTRAINTS = "Use null, non_neg, unit_norm, max_norm or min_max_norm."
_HINTS = {
    "activation": _ACTIVATIONS,
    "recurrent_activation": _ACTIVATIONS,
    "kernel_initializer": _INITIALIZERS,
    "recurrent_initializer": _INITIALIZERS,
    "bias_initializer": _INITIALIZERS,
    "kernel_regularizer": _REGULARIZERS,
    "recurrent_regularizer": _REGULARIZERS,
    "bias_regularizer": _REGULARIZERS,
    "activity_regularizer": _REGULARIZERS,
    "kernel_constraint": _CONSTRAINTS,
    "recurrent_constraint": _CONSTRAINTS,
    "bias_constraint": _CONSTRAINTS,
}


def build_model(
    cfg: ModelConfig, window: int, n_features: int, horizon: int, name: str = "marketcast_lstm"
) -> keras.Model:
    """The model for inputs (B, window, n_features).

    Output: (B, horizon) for the dense head; (B, window, horizon) for the
    sequence head, whose last step is the forecast (see ``point_forecast``).
    """
    inputs = keras.Input(shape=(window, n_features), name="window")
    x = inputs
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        x = lstm_layer(
            cfg.lstm,
            cfg.units,
            return_sequences=not last or cfg.head == "sequence",
            name=f"lstm_{i}",
        )(x)  # -> (B, W, U) or, last with dense head, (B, U)
    if cfg.head == "dense":
        outputs = keras.layers.Dense(horizon, name="forecast")(x)  # -> (B, H)
    else:
        outputs = keras.layers.TimeDistributed(keras.layers.Dense(horizon), name="forecast")(
            x
        )  # -> (B, W, H)
    return keras.Model(inputs, outputs, name=name)


def average(members: list[keras.Model]) -> keras.Model:
    """One model whose output is the mean of ``members``' outputs (a seed ensemble).

    Saved and loaded as one ``.keras`` file, the members nested inside it.
    """
    if len(members) == 1:
        return members[0]
    inputs = keras.Input(shape=tuple(members[0].inputs[0].shape[1:]), name="window")
    outputs = keras.layers.Average(name="ensemble_mean")([m(inputs) for m in members])
    return keras.Model(inputs, outputs, name=f"marketcast_ensemble_{len(members)}")


def point_forecast(output: np.ndarray) -> np.ndarray:
    """(B, H) forecasts from a model output of either head."""
    return output[:, -1, :] if output.ndim == 3 else output


def _plain(cfg: Any) -> dict:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg)
