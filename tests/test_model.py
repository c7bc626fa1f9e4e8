"""The seed tutorial's shapes, through the project's own builder."""

import re

import keras
import numpy as np
import pytest

from marketcast.config import LSTMConfig, ModelConfig
from marketcast.errors import MarketcastError
from marketcast.model.network import build_model, lstm_layer, point_forecast

X = np.random.default_rng(0).normal(size=(32, 25, 1)).astype("float32")


def test_lstm_returns_last_output():
    assert lstm_layer(LSTMConfig(), 20)(X).shape == (32, 20)


def test_lstm_return_sequences():
    assert lstm_layer(LSTMConfig(), 20, return_sequences=True)(X).shape == (32, 25, 20)


def test_lstm_return_state():
    output, hidden, cell = lstm_layer(LSTMConfig(), 20, return_sequences=True, return_state=True)(X)
    assert output.shape == (32, 25, 20)
    assert hidden.shape == (32, 20)
    assert cell.shape == (32, 20)


def test_dense_head_shape():
    model = build_model(ModelConfig(units=20), window=25, n_features=1, horizon=10)
    assert model(X).shape == (32, 10)


def test_dense_on_sequences_and_time_distributed_shapes():
    seq = lstm_layer(LSTMConfig(), 20, return_sequences=True)(X)
    assert keras.layers.Dense(10)(seq).shape == (32, 25, 10)
    model = build_model(ModelConfig(units=20, head="sequence"), window=25, n_features=1, horizon=10)
    assert model(X).shape == (32, 25, 10)
    assert isinstance(model.get_layer("forecast"), keras.layers.TimeDistributed)
    assert point_forecast(np.asarray(model(X))).shape == (32, 10)


def test_stacked_layers_return_sequences_automatically():
    model = build_model(ModelConfig(units=8, layers=3), window=25, n_features=1, horizon=2)
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert [layer.return_sequences for layer in lstms] == [True, True, False]
    assert model(X).shape == (32, 2)


def test_every_lstm_option_reaches_the_layer():
    cfg = LSTMConfig(
        activation="relu",
        recurrent_activation="hard_sigmoid",
        use_bias=False,
        kernel_initializer="he_normal",
        recurrent_initializer="identity",
        bias_initializer="ones",
        unit_forget_bias=False,
        kernel_regularizer={"class_name": "L2", "config": {"l2": 0.01}},
        recurrent_regularizer="l1",
        bias_regularizer="l2",
        activity_regularizer="l1",
        kernel_constraint="non_neg",
        recurrent_constraint={"class_name": "MaxNorm", "config": {"max_value": 2.0}},
        bias_constraint="unit_norm",
        dropout=0.1,
        recurrent_dropout=0.2,
        go_backwards=True,
        unroll=True,
    )
    layer = lstm_layer(cfg, 4)
    conf = layer.get_config()
    assert conf["activation"] == "relu" and conf["recurrent_activation"] == "hard_sigmoid"
    assert conf["use_bias"] is False and conf["unit_forget_bias"] is False
    assert conf["kernel_initializer"]["class_name"] == "HeNormal"
    assert conf["recurrent_initializer"]["class_name"] == "Identity"
    assert conf["bias_initializer"]["class_name"] == "Ones"
    assert conf["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.01)
    assert conf["recurrent_regularizer"]["class_name"] == "L1"
    assert conf["bias_regularizer"]["class_name"] == "L2"
    assert conf["activity_regularizer"]["class_name"] == "L1"
    assert conf["kernel_constraint"]["class_name"] == "NonNeg"
    assert conf["recurrent_constraint"]["config"]["max_value"] == 2.0
    assert conf["bias_constraint"]["class_name"] == "UnitNorm"
    assert conf["dropout"] == 0.1 and conf["recurrent_dropout"] == 0.2
    assert conf["go_backwards"] is True and conf["unroll"] is True
    assert layer(X).shape == (32, 4)


def test_default_recurrent_activation_is_keras3_sigmoid():
    assert lstm_layer(LSTMConfig(), 4).get_config()["recurrent_activation"] == "sigmoid"


def test_bad_lstm_option_is_a_clear_error():
    with pytest.raises(MarketcastError, match="model.lstm"):
        lstm_layer(LSTMConfig(kernel_regularizer="no_such_regularizer"), 4)


@pytest.mark.slow  # 9-12 s: trains several models
def test_a_seed_ensemble_is_one_model_averaging_its_members(tmp_path, tiny_run):
    """model.ensemble=3: three members from consecutive seeds, saved as one model whose
    forecast is their mean, and loaded back in safe mode."""
    from conftest import compose_train

    from marketcast.data.sources import load_prices
    from marketcast.features.dataset import prepare
    from marketcast.jobs.forecaster import fit_forecaster
    from marketcast.storage.artifacts import _load_model as load_model

    cfg = compose_train(tmp_path / "run", *tiny_run, "model.units=4", "model.ensemble=3")
    prepared = prepare(load_prices(cfg.data), cfg.features, cfg.window, cfg.split)
    fitted = fit_forecaster([prepared], cfg.model, cfg.train, [0.1, 0.9])
    members = [layer for layer in fitted.model.layers if isinstance(layer, keras.Model)]
    assert [m.name for m in members] == [
        "marketcast_lstm_0",
        "marketcast_lstm_1",
        "marketcast_lstm_2",
    ]
    x = prepared.parts["test"].windows.inputs
    outputs = [m.predict(x, verbose=0) for m in members]
    assert not np.allclose(outputs[0], outputs[1])  # different seeds, different models
    np.testing.assert_allclose(
        fitted.model.predict(x, verbose=0), np.mean(outputs, axis=0), rtol=1e-5
    )
    path = tmp_path / "model.keras"
    fitted.model.save(path)
    restored = load_model(path)
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), fitted.model.predict(x, verbose=0), rtol=1e-5
    )


def test_an_ensemble_of_none_is_refused():
    from marketcast.config import check_model

    with pytest.raises(MarketcastError, match="model.ensemble=0 must be at least 1"):
        check_model(ModelConfig(ensemble=0))


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_fit_whose_loss_diverges_is_one_message_naming_the_learning_rate():
    """A loss gone to NaN in the first epoch (sgd at learning rate 1e8) left NaN weights:
    the run crashed later in the combination's linear program, exit 1, as 'a bug'."""
    from marketcast.config import TrainConfig
    from marketcast.model.training import compile_model, fit

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5, 2)), rng.normal(size=(64, 1))
    cfg = TrainConfig(optimizer="sgd", learning_rate=1e8, loss="mse", epochs=2, batch_size=8)
    model = build_model(ModelConfig(units=4), 5, 2, 1)
    compile_model(model, cfg, len(x))
    diverged = r"training diverged: .* epoch 1 .*learning_rate=1e\+08"
    with pytest.raises(MarketcastError, match=diverged):
        fit(model, x, y, x, y, cfg)


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ({"recurrent_activation": "sigmoidd"}, r"model.lstm.recurrent_activation='sigmoidd' "),
        ({"kernel_initializer": "glorot"}, r"model.lstm.kernel_initializer='glorot' .* e.g. "),
        (
            {"kernel_regularizer": {"class_name": "L2", "config": {"l3": 1e-4}}},
            r"model.lstm.kernel_regularizer=.* could not be deserialized properly\)\. Use null",
        ),
    ],
)
def test_an_lstm_option_keras_refuses_is_named_by_its_key(option, said):
    """Keras names the value only ('Could not interpret activation function identifier:
    sigmoidd': activation or recurrent_activation?), and a mapping's typo came as a
    paragraph of Keras' internals."""
    with pytest.raises(MarketcastError, match=said) as caught:
        lstm_layer(LSTMConfig(**option), 4)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("key", "hint"),
    [("kernel_regularizer", "_REGULARIZERS"), ("kernel_constraint", "_CONSTRAINTS")],
)
def test_every_name_an_lstm_option_hint_suggests_is_one_keras_takes(key, hint):
    """The regularizer hint suggested l1_l2, which Keras refuses (it takes l1l2): a user
    following it went round in a loop."""
    from marketcast.model import network

    names = re.findall(r"\b[a-z][a-z0-9_]*\b", getattr(network, hint).split(", or")[0])
    names = [n for n in names if n not in ("use", "null", "or")]
    assert names
    for name in names:
        lstm_layer(LSTMConfig(**{key: name}), 4)  # builds: Keras takes the name


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_fit_that_diverges_after_good_epochs_keeps_the_best_ones_and_says_so(caplog):
    """TerminateOnNaN stopped a fit at epoch 3 of 6: EarlyStopping restores the best
    earlier weights, but the log said 'trained all 3 epochs' and the loss plot marked the
    NaN epoch as the one restored (argmin of a list holding NaN)."""
    from marketcast.config import TrainConfig
    from marketcast.model.training import compile_model, fit, restored_epoch

    class Blowup(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                self.model.optimizer.learning_rate.assign(1e12)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5, 2)), rng.normal(size=(64, 1))
    cfg = TrainConfig(optimizer="sgd", learning_rate=0.01, loss="mse", epochs=6, batch_size=8)
    model = build_model(ModelConfig(units=4), 5, 2, 1)
    compile_model(model, cfg, len(x))
    with caplog.at_level("INFO", logger="marketcast"):
        history = fit(model, x, y, x, y, cfg, extra_callbacks=[Blowup()])
    best = restored_epoch(history)
    assert best in (1, 2) and not np.isfinite(history["loss"][2])
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    said = "training diverged in epoch 3 (the loss became NaN or infinite) and stopped; the"
    assert f"{said} weights of epoch {best}" in caplog.text
    assert (
        f"stopped at epoch 3 of 6: the loss diverged; restored the weights of epoch {best}"
        in caplog.text
    )
