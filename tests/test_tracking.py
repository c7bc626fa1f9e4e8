"""Experiment loggers: CSV history, TensorBoard, MLflow (local store and a real server).

The MLflow runs are read back through ``mlflow.MlflowClient``; the multirun test runs a
real tiny Hydra multirun app in a subprocess against a real ``mlflow server``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import compose_train, run_in_process
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from marketcast.config import LoggerConfig
from marketcast.errors import MarketcastError
from marketcast.jobs import mlflow_sweep
from marketcast.runfiles import DONE_FILE, fingerprint
from marketcast.tracking import mlflow_logger
from marketcast.tracking.logger_options import check_available
from marketcast.tracking.loggers import make_loggers

SRC = Path(__file__).resolve().parents[1] / "src"
METRICS = {
    "val": {"model": {"mase": 0.9, "direction_ci": [0.4, 0.6]}, "persistence": {"mase": 1.0}},
    "test": {"model": {"mae": 1.25, "mase": 0.95, "direction_n": 40, "dm": None, "ok": True}},
    "folds": [{"test": {"model": {"mase": 0.97}}}],  # a backtest's: they were left out
}
FLAT_METRICS = {
    "val.model.mase": 0.9,
    "val.model.direction_ci.0": 0.4,
    "val.model.direction_ci.1": 0.6,
    "val.persistence.mase": 1.0,
    "test.model.mae": 1.25,
    "test.model.mase": 0.95,
    "test.model.direction_n": 40.0,
    "folds.0.test.model.mase": 0.97,
}
ARTIFACTS = ["config.yaml", "loss.png", "metrics.json", "model.keras"]


def tiny_fit(callbacks, epochs: int = 2) -> keras.Model:
    """Fit a one-layer model on 32 random rows for ``epochs`` epochs with ``callbacks``."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)), rng.normal(size=(32, 1))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x[:24], y[:24], validation_data=(x[24:], y[24:]), epochs=epochs, verbose=0,
              callbacks=callbacks)  # fmt: skip
    return model


def finished_run_dir(run_dir: Path, model: keras.Model) -> Path:
    """A run directory as the training job leaves it: a plot, metrics, config and model."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # signature only: a file to ship
    (run_dir / "metrics.json").write_text(json.dumps(METRICS))
    (run_dir / "config.yaml").write_text("train:\n  epochs: 2\n")
    (run_dir / "preprocessing.json").write_text("{}")  # not an artifact pattern: stays out
    model.save(run_dir / "model.keras")
    return run_dir


def run_job(spec: dict, run_dir: Path) -> None:
    """One training job's logging, on a tiny model and a config with a too-long value."""
    loggers = make_loggers(spec, run_dir)
    config = {
        "train": {"learning_rate": 0.004, "epochs": 2},
        "features": {"columns": ["Close"]},
        "data": {"path": None},
        "note": "x" * 7000,
    }
    loggers.start(config)
    model = tiny_fit(loggers.callbacks())
    loggers.finish(METRICS, finished_run_dir(run_dir, model))


def only_run(tracking_uri: str, experiment: str = "marketcast"):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    return client, runs


def assert_recorded(client, run) -> None:
    params = run.data.params
    assert params["train.learning_rate"] == "0.004"
    assert params["features.columns"] == '["Close"]'
    assert params["data.path"] == "null"
    assert len(params["note"]) == mlflow_logger.MAX_PARAM_VAL_LENGTH
    assert params["note"].endswith("...")
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == [0, 1]
    assert all(np.isfinite(m.value) for m in history)
    assert {k: run.data.metrics[k] for k in FLAT_METRICS} == FLAT_METRICS
    assert "val.model.direction_ci" not in run.data.metrics
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ARTIFACTS
    assert run.info.status == "FINISHED"


def test_flatten_limits_are_mlflows():
    from mlflow.utils import validation

    assert mlflow_logger.MAX_PARAM_VAL_LENGTH == validation.MAX_PARAM_VAL_LENGTH
    assert mlflow_logger.MAX_KEY_LENGTH == validation.MAX_ENTITY_KEY_LENGTH


def test_flatten_metrics_keeps_every_number():
    assert mlflow_logger.flatten_metrics(METRICS) == FLAT_METRICS


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_csv_history_has_one_row_per_epoch_of_every_fit(tmp_path):
    loggers = make_loggers({"csv": {}}, tmp_path)
    loggers.start({})
    callbacks = loggers.callbacks()
    tiny_fit(callbacks, epochs=2)
    tiny_fit(callbacks, epochs=1)  # a backtest's second fold
    loggers.finish({}, tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history.columns) == ["fit", "epoch", "loss", "val_loss", "seconds"]
    assert history[["fit", "epoch"]].values.tolist() == [[0, 1], [0, 2], [1, 1]]
    assert (history["seconds"] > 0).all() and history["val_loss"].notna().all()


def test_no_loggers_do_nothing(tmp_path):
    loggers = make_loggers({"csv": None}, tmp_path)
    assert loggers.callbacks() == []
    loggers.finish({}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_logger_or_option_stops_at_start_up(tmp_path):
    with pytest.raises(MarketcastError, match=r"logger\.wandb is not a known logger"):
        check_available({"wandb": {}})
    with pytest.raises(MarketcastError, match=r"logger\.mlflow\.uri is not an option"):
        make_loggers({"mlflow": {"uri": "sqlite:///x.db"}}, tmp_path)


def test_mlflow_missing_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what an environment without it sees
    # the packages of the extra, as an installed marketcast's metadata lists them: `pip
    # install -e '.[mlflow]'` holds only in a checkout
    with pytest.raises(MarketcastError, match=r"not installed: pip install 'mlflow>=[\d.]+'"):
        check_available({"csv": {}, "mlflow": {}})


def test_install_command_reads_the_extras_this_installation_lists(monkeypatch):
    import importlib.metadata

    from marketcast.errors import install_command

    assert install_command("mlflow").startswith("pip install 'mlflow>=")
    assert install_command("nothing-of-ours") == "pip install -e '.[nothing-of-ours]'"

    def not_installed(name):  # run from a source tree: the checkout's command
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", not_installed)
    assert install_command("mlflow") == "pip install -e '.[mlflow]'"


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_tensorboard_writes_event_files(tmp_path):
    """tensorboard is in the dev install (the lock): the event files are written in CI,
    where this test took its "package missing" branch before and never wrote one."""
    check_available({"tensorboard": {}})
    loggers = make_loggers({"tensorboard": {}}, tmp_path)
    loggers.start({})
    tiny_fit(loggers.callbacks())
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))


def test_a_logger_whose_package_is_missing_names_its_install(monkeypatch):
    from marketcast.config import LOGGER_PACKAGES

    monkeypatch.setitem(
        LOGGER_PACKAGES, "tensorboard", ("marketcast_no_such_module", "tensorboard")
    )
    with pytest.raises(MarketcastError, match=r"pip install 'tensorboard>=[\d.]+'"):
        check_available({"tensorboard": {}})


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_mlflow_local_store_records_a_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    spec = {"mlflow": {"tracking_uri": uri, "artifact_location": str(tmp_path / "artifacts")}}
    run_job(spec, tmp_path / "run")
    client, runs = only_run(uri)
    assert len(runs) == 1
    assert_recorded(client, runs[0])
    assert runs[0].info.run_name == "run"
    assert (tmp_path / "artifacts").is_dir()  # not ./mlruns in the working directory


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_mlflow_file_store_is_refused_unless_allowed(tmp_path, monkeypatch):
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(MarketcastError, match=r"tracking_uri='file:.*sqlite:///"):
        run_job({"mlflow": {"tracking_uri": uri}}, tmp_path / "refused")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's opt-in
    run_job({"mlflow": {"tracking_uri": uri}}, tmp_path / "run")
    client, runs = only_run(uri)
    assert_recorded(client, runs[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, proxied artifacts); its URI."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
        "--artifacts-destination", str(root / "artifacts"),
    ]  # fmt: skip
    log = (root / "server.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()}")
        time.sleep(0.5)
    yield uri
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.mark.slow
def test_mlflow_server_records_a_run(tmp_path, mlflow_server):
    spec = {"mlflow": {"tracking_uri": mlflow_server, "experiment_name": "server_single"}}
    check_available(spec)  # a server that answers passes the start-up check
    run_job(spec, tmp_path / "run")
    client, runs = only_run(mlflow_server, "server_single")
    assert len(runs) == 1
    assert_recorded(client, runs[0])
    assert runs[0].info.artifact_uri.startswith("mlflow-artifacts:")  # through the server


SWEEP_APP = """
import json
from pathlib import Path

import hydra
import keras
import numpy as np
from omegaconf import OmegaConf

from marketcast.runfiles import fingerprint
from marketcast.tracking.loggers import make_loggers


@hydra.main(version_base="1.3", config_path=".", config_name="app")
def main(cfg):
    run_dir = Path(cfg.run_dir)
    loggers = make_loggers(cfg.logger, run_dir)
    loggers.start(OmegaConf.to_container(cfg, resolve=True))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr), loss="mse")
    x = np.linspace(0, 1, 16).reshape(8, 2)
    model.fit(x, x[:, :1], validation_data=(x, x[:, :1]), epochs=2, verbose=0,
              callbacks=loggers.callbacks())
    metrics = {"val": {"model": {"mase": float(cfg.lr)}}}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    files = {"metrics.json": fingerprint(run_dir / "metrics.json")}  # finished, as a run is
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name, "files": files}))
    loggers.finish(metrics, run_dir)


main()
"""

SWEEP_CONF = """
lr: 0.01
run_dir: ${hydra:runtime.output_dir}
logger:
  mlflow:
    tracking_uri: TRACKING_URI
    experiment_name: sweep
hydra:
  sweep:
    dir: SWEEP_DIR
  callbacks:
    mlflow_sweep:
      _target_: marketcast.jobs.mlflow_sweep.MlflowSweepRun
"""


@pytest.mark.slow
def test_multirun_is_one_parent_run_with_a_child_per_job(tmp_path, mlflow_server):
    sweep_dir = tmp_path / "sweep"
    (tmp_path / "app.py").write_text(SWEEP_APP)
    conf = SWEEP_CONF.replace("TRACKING_URI", mlflow_server).replace("SWEEP_DIR", str(sweep_dir))
    (tmp_path / "app.yaml").write_text(conf)
    env = {**os.environ, "PYTHONPATH": str(SRC), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "app.py", "-m", "lr=0.01,0.02"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, runs = only_run(mlflow_server, "sweep")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "sweep"
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert sorted(r.data.params["lr"] for r in children) == ["0.01", "0.02"]
    assert sorted(r.data.metrics["val.model.mase"] for r in children) == [0.01, 0.02]
    recorded = json.loads((sweep_dir / mlflow_logger.PARENT_RUN_FILE).read_text())
    assert recorded["run_id"] == parent.info.run_id


@dataclass
class _Paths:
    output_root: str = MISSING


@dataclass
class _LoggerJob:
    """A job schema with the proposed ``logger`` node, as TrainJobConfig would hold it."""

    paths: _Paths = field(default_factory=_Paths)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


@pytest.fixture
def logger_conf(tmp_path):
    """A config dir with the proposed ``logger`` group over a schema typed by LoggerConfig."""
    ConfigStore.instance().store(name="tracking_test_schema", node=_LoggerJob)
    conf = tmp_path / "conf"
    shutil.copytree(SRC.parent / "conf" / "logger", conf / "logger")
    (conf / "job.yaml").write_text(
        f"defaults:\n  - tracking_test_schema\n  - logger: null\n  - _self_\n"
        f"paths:\n  output_root: {tmp_path}/outputs\n"
    )
    return conf


def compose_logger(conf: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("job", overrides=list(overrides))


def test_proposed_logger_configs_fill_the_schema(logger_conf, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = compose_logger(logger_conf)
    assert OmegaConf.to_container(cfg.logger) == {"csv": None, "tensorboard": None, "mlflow": None}
    cfg = compose_logger(logger_conf, "logger=mlflow")
    assert cfg.logger.mlflow.tracking_uri == f"sqlite:///{tmp_path}/outputs/mlflow.db"
    assert cfg.logger.mlflow.experiment_name == "marketcast"
    assert cfg.logger.csv is None
    cfg = compose_logger(logger_conf, "logger=mlflow", "logger.mlflow.tracking_uri=http://h:1")
    assert cfg.logger.mlflow.tracking_uri == "http://h:1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    cfg = compose_logger(logger_conf, "logger=many_loggers")
    assert cfg.logger.mlflow.tracking_uri == "http://127.0.0.1:5000"
    assert cfg.logger.csv.filename == "history.csv"
    assert cfg.logger.tensorboard.subdir == "tensorboard"
    # a DictConfig spec; no server listens there: said at start-up (MLflow retried for minutes)
    with pytest.raises(MarketcastError, match=r"tracking_uri='http://127.0.0.1:5000' cannot be"):
        check_available({"csv": cfg.logger.csv, "mlflow": cfg.logger.mlflow})


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_sweep_callback_makes_a_parent_run_for_the_jobs(tmp_path):
    """The Hydra callback's hooks called directly; jobs nest under the id it records."""
    from marketcast.config import MlflowLoggerConfig

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow = {"tracking_uri": uri, "artifact_location": str(tmp_path / "artifacts")}
    sweep_dir = tmp_path / "sweep"
    config = OmegaConf.create(
        {
            "logger": {"mlflow": mlflow},
            "hydra": {"sweep": {"dir": str(sweep_dir)}, "overrides": {"task": ["lr=1,2"]}},
        }
    )
    callback = mlflow_sweep.MlflowSweepRun()
    callback.on_multirun_start(config)
    parent_id = json.loads((sweep_dir / mlflow_logger.PARENT_RUN_FILE).read_text())["run_id"]
    for job in ("0", "1"):
        run = mlflow_logger.MlflowLogger(MlflowLoggerConfig(**mlflow), sweep_dir / job, parent_id)
        run.start({"job": job})
        run.finish(METRICS, sweep_dir / job, failed=False)
        (sweep_dir / job / ".hydra").mkdir(parents=True)  # the job folder as Hydra leaves it
        (sweep_dir / job / ".hydra" / "overrides.yaml").write_text(f"- lr={int(job) + 1}\n")
        (sweep_dir / job / "metrics.json").write_text(json.dumps(METRICS))
        files = {"metrics.json": fingerprint(sweep_dir / job / "metrics.json")}
        (sweep_dir / job / DONE_FILE).write_text(json.dumps({"run_id": job, "files": files}))
    callback.on_multirun_end(config)
    _, runs = only_run(uri)
    parent = next(r for r in runs if r.info.run_id == parent_id)
    assert parent.info.status == "FINISHED" and parent.data.params == {"overrides": "lr=1,2"}
    assert parent.data.metrics == {"jobs_finished": 2.0, "best_val_lstm_mase": 0.9}
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
    assert sorted(r.info.run_name for r in children) == ["0", "1"]
    # a sweep with a failed job exits non-zero: its parent run says FAILED (it said FINISHED)
    callback.on_multirun_start(config)
    (sweep_dir / "2" / ".hydra").mkdir(parents=True)
    (sweep_dir / "2" / ".hydra" / "overrides.yaml").write_text("- lr=3\n")
    (sweep_dir / "2" / "failed.json").write_text('{"error": "MarketcastError", "message": "x"}')
    callback.on_multirun_end(config)
    second = json.loads((sweep_dir / mlflow_logger.PARENT_RUN_FILE).read_text())["run_id"]
    client, _ = only_run(uri)
    assert client.get_run(second).info.status == "FAILED"
    assert client.get_run(second).data.metrics["jobs_failed"] == 1.0


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_sweep_stopped_before_its_end_leaves_no_running_parent(tmp_path):
    """Ctrl-C during a sweep never reaches ``on_multirun_end``: the parent run stayed
    RUNNING for good, where its jobs' runs said FAILED."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow = {"tracking_uri": uri, "artifact_location": str(tmp_path / "artifacts")}
    config = {"logger": {"mlflow": mlflow}, "hydra": {"sweep": {"dir": str(tmp_path / "s")}}}
    config["hydra"]["overrides"] = {"task": []}
    script = (
        "import json, sys\n"
        "from omegaconf import OmegaConf\n"
        "from marketcast.jobs.mlflow_sweep import MlflowSweepRun\n"
        "sweep = MlflowSweepRun()\n"
        "sweep.on_multirun_start(OmegaConf.create(json.loads(sys.argv[1])))\n"
        "# a job's run that a worker, stopped with the sweep, never ended (joblib, SIGTERM)\n"
        "sweep.client.create_run(sweep.experiment_id, run_name='1',\n"
        "                        tags={'mlflow.parentRunId': sweep.run_id})\n"
        "raise KeyboardInterrupt  # as Ctrl-C in a job would\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(config)], capture_output=True, text=True
    )
    assert "KeyboardInterrupt" in done.stderr
    _, runs = only_run(uri)
    assert [r.info.status for r in runs] == ["FAILED", "FAILED"]


def test_sweep_callback_does_nothing_without_mlflow(tmp_path):
    config = OmegaConf.create({"logger": {"mlflow": None}, "hydra": {"sweep": {"dir": "x"}}})
    callback = mlflow_sweep.MlflowSweepRun()
    callback.on_multirun_start(config)
    callback.on_multirun_end(config)
    assert callback.run_id is None


def test_a_tracking_server_that_goes_away_does_not_stop_the_run(tmp_path, monkeypatch, caplog):
    """A server killed mid-training aborted the run at the next epoch (exit 1, run lost)."""
    from marketcast.config import MlflowLoggerConfig
    from marketcast.tracking.mlflow_logger import MlflowLogger

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # nobody listens: fail at once
    gone = f"http://127.0.0.1:{free_port()}"
    logger = MlflowLogger(MlflowLoggerConfig(tracking_uri=gone), tmp_path)
    logger.run_id = "a_run"  # started while the server was up
    (epochs,) = logger.callbacks()
    with caplog.at_level("WARNING"):
        for epoch in range(3):
            epochs.on_epoch_end(epoch, {"loss": 1.0 - epoch / 10})
    assert epochs.step == 3 and logger.gone
    assert caplog.text.count("epoch metrics not sent") == 1  # said once, then quiet
    with caplog.at_level("WARNING"):
        logger.finish({"val": {"model": {"mase": 1.0}}}, tmp_path, failed=False)
    assert f"no final metrics sent; the run is in {tmp_path}" in caplog.text
    logger.gone = False  # a server gone only at the end: said too
    with caplog.at_level("WARNING"):
        logger.finish({"val": {"model": {"mase": 1.0}}}, tmp_path, failed=False)
    assert f"the run is complete in {tmp_path}" in caplog.text


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_metric_name_mlflow_refuses_is_mended_not_lost(tmp_path):
    """A universe's symbol ^KS11 made a key MLflow refuses, and the whole batch of final
    metrics was lost with it."""
    from marketcast.config import MlflowLoggerConfig

    flat = mlflow_logger.flatten_metrics({"symbols": {"^KS11": {"val": {"mase": 1.0}}}})
    assert flat == {"symbols._KS11.val.mase": 1.0}
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = MlflowLoggerConfig(tracking_uri=uri, artifact_location=str(tmp_path / "a"))
    run = mlflow_logger.MlflowLogger(options, tmp_path / "run")
    run.start({})
    run.finish({"symbols": {"^KS11": {"val": {"mase": 1.0}}}}, tmp_path, failed=False)
    _, (recorded,) = only_run(uri)
    assert recorded.data.metrics == {"symbols._KS11.val.mase": 1.0}
    assert recorded.info.status == "FINISHED"


@pytest.mark.slow  # a training run: CI's second stage runs it
def test_a_run_cut_off_after_it_was_saved_whole_is_recorded_finished(
    tmp_path, tiny_run, monkeypatch, saved_runs
):
    """A SIGTERM held while the run's files moved in acts as the move ends: the run was
    whole in its folder, and its MLflow run said FAILED, without its metrics."""
    from marketcast.jobs import outputs
    from marketcast.jobs.train import train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "print_report", interrupted)  # the first step after the move
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_dir = tmp_path / "run"
    cfg = compose_train(run_dir, *tiny_run, "logger=mlflow", f"logger.mlflow.tracking_uri={uri}")
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    _, (recorded,) = only_run(uri)
    assert recorded.info.status == "FINISHED"
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert recorded.data.metrics["val.lstm.mase"] == pytest.approx(saved["val"]["lstm"]["mase"])


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_run_whose_upload_is_interrupted_is_not_left_running(tmp_path, monkeypatch):
    """Ctrl-C while a finished run's files uploaded left its MLflow run RUNNING for good."""
    from marketcast.config import MlflowLoggerConfig

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = MlflowLoggerConfig(tracking_uri=uri, artifact_location=str(tmp_path / "a"))
    run = mlflow_logger.MlflowLogger(options, tmp_path / "run")
    run.start({})
    (tmp_path / "metrics.json").write_text("{}")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run.client, "log_artifact", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.finish({"val": {"model": {"mase": 1.0}}}, tmp_path, failed=False)
    _, (recorded,) = only_run(uri)
    assert recorded.info.status == "KILLED"
    assert recorded.data.metrics == {"val.model.mase": 1.0}  # sent before the upload


def test_an_unreachable_server_stops_a_sweep_before_its_jobs(tmp_path, capsys):
    """The parent run's callback raised, Hydra only warned, and every job failed alike."""
    config = OmegaConf.create(
        {
            "logger": {"mlflow": {"tracking_uri": f"http://127.0.0.1:{free_port()}"}},
            "hydra": {"sweep": {"dir": str(tmp_path / "sweep")}, "overrides": {"task": []}},
        }
    )
    with pytest.raises(SystemExit) as stopped:
        mlflow_sweep.MlflowSweepRun().on_multirun_start(config)
    assert stopped.value.code == 2
    assert "cannot be reached (Connection refused)" in capsys.readouterr().err


def test_a_sweep_stopped_by_an_unreachable_server_leaves_no_folder(tmp_path, capsys):
    """The summary's callback had made the sweep folder; the MLflow one's exit left it."""
    uri = f"http://127.0.0.1:{free_port()}"
    status = run_in_process(
        "train", "-m", "debug=default", "logger=mlflow", f"logger.mlflow.tracking_uri={uri}",
        "model.units=8,16", f"paths.output_root={tmp_path / 'outputs'}",
    )  # fmt: skip
    assert status == 2 and "cannot be reached" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # outputs/multirun/<id> made, and removed


def test_a_trials_run_is_named_by_its_sampled_values():
    params = {
        "search": {"trial": 3, "space": {"model.units": "choice(8, 16)"}},
        "model": {"units": 16},
    }
    assert mlflow_logger._run_name(Path("/sweep/3"), params) == "3 model.units=16"
    assert mlflow_logger._run_name(Path("/runs/x"), {"search": {"trial": None}}) == "x"
    # the shipped space is nested as the config: its keys, not its top-level groups
    shipped = OmegaConf.to_container(
        compose_train(Path("/tmp/run"), "hparams_search=optuna", "search.trial=3"), resolve=False
    )
    name = mlflow_logger._run_name(Path("/sweep/3"), shipped)
    assert name.startswith("3 model.units=") and "model.lstm.dropout=" in name
    assert "{" not in name


def test_a_sweep_jobs_run_is_named_by_the_values_its_sweep_varies(tmp_path):
    from conftest import compose_hydra, hydra_job
    from omegaconf import open_dict

    job = compose_hydra("hydra.mode=MULTIRUN", "model.units=8")
    with open_dict(job):
        job.hydra.job.num = 3
        job.hydra.runtime.output_dir = str(tmp_path / "3")
        job.hydra.overrides.task = ["model.units=8", "train.epochs=2"]  # epochs: every job's
    typed = {"hydra": {"overrides": {"task": ["model.units=8,16", "train.epochs=2"]}}}
    OmegaConf.save(OmegaConf.create(typed), tmp_path / "multirun.yaml")
    with hydra_job(job):
        assert mlflow_logger._run_name(tmp_path / "3", {}) == "3 model.units=8"
