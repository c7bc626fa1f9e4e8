"""The forecasting network: Input(window, features) -> LSTM x layers -> Dense(horizon).

Only the public Keras 3 API is used, so the backend can be switched with
``KERAS_BACKEND`` (TensorFlow is the default and the tested one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf

from marketcast.config import LSTMConfig, ModelConfig
from marketcast.errors import MarketcastError

HEADS = ("dense", "sequence")


def lstm_layer(
    cfg: LSTMConfig,
    units: int,
    return_sequences: bool = False,
    return_state: bool = False,
    name: str | None = None,
) -> keras.layers.LSTM:
    """A ``keras.layers.LSTM`` with every option of ``cfg``."""
    options = _plain(cfg)
    if options.pop("stateful"):
        raise MarketcastError(
            "model.lstm.stateful=true is not supported: training shuffles independent windows "
            "and forecasts with any batch size, so state carried between batches would mix "
            "unrelated samples. Set model.lstm.stateful=false (a longer window.size gives "
            "the model more memory instead)."
        )
    if units < 1:
        raise MarketcastError(f"model.units={units} must be at least 1.")
    try:
        return keras.layers.LSTM(
            units,
            return_sequences=return_sequences,
            return_state=return_state,
            name=name,
            **options,
        )
    except (ValueError, TypeError) as exc:
        raise MarketcastError(f"a model.lstm option is not valid for Keras' LSTM: {exc}") from None


def build_model(cfg: ModelConfig, window: int, n_features: int, horizon: int) -> keras.Model:
    """The model for inputs (B, window, n_features).

    Output: (B, horizon) for the dense head; (B, window, horizon) for the
    sequence head, whose last step is the forecast (see ``point_forecast``).
    """
    if cfg.head not in HEADS:
        raise MarketcastError(f"model.head={cfg.head!r} is not known: use one of {HEADS}.")
    if cfg.layers < 1:
        raise MarketcastError(f"model.layers={cfg.layers} must be at least 1.")
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
    return keras.Model(inputs, outputs, name="marketcast_lstm")


def point_forecast(output: np.ndarray) -> np.ndarray:
    """(B, H) forecasts from a model output of either head."""
    return output[:, -1, :] if output.ndim == 3 else output


def _plain(cfg: Any) -> dict:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg)
