"""Threads per job, the distribution strategy, and clearing TensorFlow's state between fits."""

from __future__ import annotations

import json
import logging

import keras
import numpy as np
import pytest
from conftest import compose_hydra, compose_train, hydra_job, run_marketcast
from omegaconf import OmegaConf

from marketcast.config import TrainConfig
from marketcast.errors import MarketcastError
from marketcast.model import runtime
from marketcast.model.training import compile_model

JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


@pytest.mark.parametrize(
    ("launcher", "cpus", "share"),
    [
        (None, 8, None),  # not in a Hydra job: the backend's default
        ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 8, None),
        ({"_target_": JOBLIB, "n_jobs": 2}, 8, 4),
        ({"_target_": JOBLIB, "n_jobs": 3}, 8, 2),
        ({"_target_": JOBLIB, "n_jobs": -1}, 8, 1),  # joblib: one job per core
        ({"_target_": JOBLIB, "n_jobs": -2}, 8, 1),  # 7 jobs on 8 cores
        ({"_target_": JOBLIB, "n_jobs": 16}, 2, 1),
        ({"_target_": "x.RayLauncher", "ray": {"remote": {"num_cpus": 4}}}, 8, 4),
        ({"_target_": "x.RayLauncher", "ray": {"remote": {}}}, 8, 1),  # Ray reserves 1
        ({"_target_": "x.submitit_launcher.SlurmLauncher", "cpus_per_task": 6}, 8, 6),
        ({"_target_": "x.submitit_launcher.LocalLauncher", "cpus_per_task": None}, 8, None),
    ],
)
def test_launcher_share(launcher, cpus, share):
    assert runtime.launcher_share(launcher, cpus) == share


def test_mirrored_needs_tensorflow(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(MarketcastError, match="needs the TensorFlow backend.*KERAS_BACKEND"):
        runtime.check(TrainConfig(distribute="mirrored"))


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_clear_session_drops_the_graphs_keras_leaves_registered():
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(2), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((8, 5, 2), dtype="float32")
    model.fit(x, np.zeros((8, 1), dtype="float32"), epochs=1, verbose=0)
    assert any(k.startswith("CustomGradient-") for k in registry)  # the leak is still there
    runtime.clear_session()
    assert not any(k.startswith("CustomGradient-") for k in registry)
    assert model.predict(x, verbose=0).shape == (8, 1)  # a fitted model still predicts


@pytest.mark.slow  # a whole training run or more; moved out of the 3-minute default suite
def test_mirrored_strategy_builds_the_model_in_its_scope(tmp_path, tiny_run, caplog):
    """In this process TensorFlow has started with one CPU device: one replica, still mirrored."""
    from marketcast.data.sources import load_prices
    from marketcast.features.dataset import prepare
    from marketcast.jobs.forecaster import fit_forecaster

    cfg = compose_train(tmp_path / "run", *tiny_run, "model.units=4", "train.distribute=mirrored")
    prepared = prepare(load_prices(cfg.data), cfg.features, cfg.window, cfg.split)
    with caplog.at_level(logging.WARNING, logger="marketcast"):
        fitted = fit_forecaster([prepared], cfg.model, cfg.train, [0.8])
    assert fitted.model.distribute_strategy.num_replicas_in_sync == 1
    assert type(fitted.model.weights[0].value).__name__ == "MirroredVariable"
    assert "train.distribute=mirrored with one device" in caplog.text
    assert np.isfinite(fitted.history["val_loss"][-1])


@pytest.mark.slow
def test_mirrored_strategy_trains_on_two_logical_cpus(tmp_path, tiny_run):
    run_dir = tmp_path / "run"
    result = run_marketcast(
        "train",
        f"hydra.run.dir={run_dir}",
        *tiny_run,
        "train.distribute=mirrored",
        "train.batch_size=16",
        "+hydra.callbacks.cpus._target_=sweep_probe.TwoLogicalCpus",  # before TensorFlow starts
    )
    assert result.returncode == 0, result.stderr
    log = (run_dir / "train.log").read_text()
    assert "MirroredStrategy over 2 devices" in log, log
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["val"]["model"]["mase"])


BIG = 20_000  # training windows: x (patience 8 + 1) epochs > runtime.XLA_MIN_SAMPLES
SMALL = 3_500  # one daily history of 20 years: 31,500 samples at the least
CPU_ONLY = pytest.mark.skipif(
    runtime.tensorflow_sees_a_gpu(), reason="on a GPU Keras prefers cuDNN to XLA"
)


@CPU_ONLY
@pytest.mark.parametrize(
    ("override", "windows", "compiled"),
    [
        ([], BIG, True),  # the default (null) outside a multirun, on CPU: XLA for a long fit
        ([], SMALL, False),  # ... and none where the compile would cost more than it saves
        (["train.patience=1"], 40_000, False),  # EarlyStopping may end it after 2 epochs
        (["train.jit_compile=false"], BIG, False),
        (["train.jit_compile=true"], SMALL, True),
    ],
)
def test_jit_compile_setting_reaches_the_model(override, windows, compiled):
    cfg = compose_hydra(*override)
    train_cfg = TrainConfig(**OmegaConf.to_container(cfg.train))
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(3), keras.layers.Dense(1)])
    compile_model(model, train_cfg, windows)
    assert model.jit_compile is compiled


@CPU_ONLY
@pytest.mark.parametrize(
    ("overrides", "windows", "compiled"),
    [
        ({"patience": 9}, 10_000, True),  # 10 epochs at the least: exactly the threshold
        ({"patience": 9}, 9_999, False),
        ({"epochs": 2}, BIG, False),  # the fit cannot run long enough
        ({"patience": 0}, 50_000, True),  # EarlyStopping never stops after the first epoch
    ],
)
def test_default_weighs_xla_compile_against_the_fewest_epochs(overrides, windows, compiled):
    assert runtime.keras_jit_compile(TrainConfig(**overrides), windows) is compiled


def test_default_is_keras_auto_on_a_gpu_whatever_the_size(monkeypatch):
    monkeypatch.setattr(runtime, "tensorflow_sees_a_gpu", lambda: True)
    assert runtime.keras_jit_compile(TrainConfig(), SMALL) == "auto"  # cuDNN's LSTM
    assert runtime.keras_jit_compile(TrainConfig(), BIG) == "auto"


@pytest.mark.parametrize(
    ("mode", "target", "shared"),
    [
        (None, None, False),  # not a Hydra job (a script, a test)
        ("RUN", "hydra._internal.core_plugins.basic_launcher.BasicLauncher", False),
        ("MULTIRUN", "hydra._internal.core_plugins.basic_launcher.BasicLauncher", True),
        ("MULTIRUN", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", True),
        ("MULTIRUN", "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher", True),
        (
            "MULTIRUN",
            "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
            False,
        ),
    ],
)
def test_which_launchers_run_several_jobs_in_one_process(mode, target, shared):
    launcher = None if target is None else {"_target_": target}
    assert runtime.shares_process_with_other_jobs(mode, launcher) is shared


@pytest.mark.parametrize("setting", [True, None])
def test_xla_stays_off_under_tf_distribute(setting):
    cfg = TrainConfig(jit_compile=setting, distribute="mirrored")
    assert runtime.keras_jit_compile(cfg, BIG) == "auto"  # Keras leaves XLA off under a strategy


@CPU_ONLY
@pytest.mark.parametrize(
    ("launcher", "expected"),
    [("basic", False), ("joblib", False), ("submitit_local", True)],
)
def test_default_leaves_xla_off_where_a_multirun_shares_the_process(launcher, expected):
    """In a Hydra multirun job, null gives no XLA unless each job has its own process."""
    if launcher == "submitit_local":
        pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = compose_hydra("hydra.mode=MULTIRUN", f"hydra/launcher={launcher}")
    with hydra_job(cfg):
        assert runtime.keras_jit_compile(TrainConfig(), BIG) is expected
        assert runtime.keras_jit_compile(TrainConfig(jit_compile=True), BIG) is True  # warns
    assert runtime.keras_jit_compile(TrainConfig(), BIG) is True  # a single run again


@pytest.mark.slow
def test_pipeline_trains_on_the_jax_backend(tmp_path, tiny_run):
    """The model and training code are public Keras: KERAS_BACKEND=jax runs the command."""
    pytest.importorskip("jax")
    run_dir = tmp_path / "run"
    overrides = [f"hydra.run.dir={run_dir}", *tiny_run, "model.units=4"]
    result = run_marketcast("train", *overrides, env={"KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr
    assert (run_dir / "metrics.json").is_file() and (run_dir / "model.keras").is_file()
