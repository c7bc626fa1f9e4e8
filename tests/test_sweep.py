"""Multiruns end to end (train.py -m in a subprocess) and the sweep summary on its own."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, synthetic_prices
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from marketcast.errors import MarketcastError
from marketcast.jobs import sweep
from marketcast.model.runtime import available_cpus, launcher_share

TESTS = Path(__file__).resolve().parent
TINY = {
    "data": "csv",
    "window.size": "10",
    "model.units": "4",
    "train.epochs": "1",
    "train.verbose": "0",
    "plots": "false",
}
PROBE = "+hydra.callbacks.probe._target_=sweep_probe.JobProbe"  # tests/sweep_probe.py


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "prices.csv"
    synthetic_prices(300).to_csv(path)
    return path


def multirun(sweep_dir: Path, csv: Path, *args: str, **overrides: str):
    """Run ``train.py -m`` on the tiny data; return (exit status, stdout, stderr, its pid).

    ``overrides`` (dots as double underscores: window__size="10,20") replace the
    tiny defaults; ``args`` are passed as they are (groups, ``+`` keys, Hydra keys).
    """
    values = {**TINY, "data.path": str(csv)}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        *args,
        *(f"{k}={v}" for k, v in values.items()),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr, process.pid


def probes(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/probe.json")}


def test_multirun_ranks_its_jobs_in_a_summary(tmp_path, tiny_csv):
    status, stdout, stderr, _ = multirun(tmp_path, tiny_csv, model__units="4,8")
    assert status == 0, stderr
    jobs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    summary = pd.read_csv(tmp_path / sweep.SUMMARY_FILE)
    assert list(summary["rank"]) == [1, 2]
    assert summary["val_mase"].is_monotonic_increasing
    assert sorted(summary["model.units"]) == [4, 8]
    for _, row in summary.iterrows():
        metrics = json.loads((tmp_path / str(row["job"]) / "metrics.json").read_text())
        assert row["val_mase"] == pytest.approx(metrics["val"]["model"]["mase"])
        assert row["test_rel_mae"] == pytest.approx(metrics["test"]["model"]["rel_mae"])
    assert "sweep summary: 2 jobs" in stdout
    assert set(summary["status"]) == {"finished"}


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory, tiny_csv):
    """Two jobs on the joblib launcher, one of which fails (window longer than the data)."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep_dir = tmp_path_factory.mktemp("joblib")
    result = multirun(
        sweep_dir,
        tiny_csv,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        PROBE,
        window__size="10,1000",
    )
    return sweep_dir, result


def test_failed_job_is_recorded_and_the_others_finish(joblib_sweep):
    sweep_dir, (status, stdout, stderr, _) = joblib_sweep
    assert status == 2, stderr  # a user error in one job: the status a single run would have
    failed = json.loads((sweep_dir / "1" / sweep.FAILED_FILE).read_text())
    assert failed["error"] == "MarketcastError" and "too short" in failed["message"]
    assert (sweep_dir / "0" / "metrics.json").is_file()
    summary = pd.read_csv(sweep_dir / sweep.SUMMARY_FILE)
    assert list(summary["status"]) == ["finished", "failed"]
    assert summary["rank"].iloc[0] == 1 and pd.isna(summary["rank"].iloc[1])
    assert "too short" in summary["error"].iloc[1]
    assert "1 of 2 jobs failed" in stderr + stdout


def test_thread_limits_apply_inside_joblib_workers(joblib_sweep):
    sweep_dir, (_, _, stderr, driver_pid) = joblib_sweep
    share = max(1, available_cpus() // 2)
    found = probes(sweep_dir)
    assert set(found) == {"0", "1"}, stderr
    for probe in found.values():
        assert probe["pid"] != driver_pid  # ran in a worker process
        assert probe["intra_op"] == probe["inter_op"] == share
        assert probe["blas"] == [share]


def test_fail_fast_stops_the_sweep(tmp_path, tiny_csv):
    status, _, stderr, _ = multirun(
        tmp_path,
        tiny_csv,
        "sweep.fail_fast=true",
        "hydra.sweeper.max_batch_size=1",  # the basic sweeper checks after each batch
        window__size="1000,10",
    )
    assert status == 1
    assert "too short" in stderr
    assert not (tmp_path / "1").exists()  # the sweep stopped at the first job
    assert not (tmp_path / sweep.SUMMARY_FILE).exists()


def test_ten_jobs_in_one_process_keep_memory_flat(tmp_path, tiny_csv):
    status, _, stderr, driver_pid = multirun(tmp_path, tiny_csv, PROBE, train__seed="range(10)")
    assert status == 0, stderr
    found = probes(tmp_path)
    rss = [found[str(i)]["rss_mb"] for i in range(10)]
    assert {p["pid"] for p in found.values()} == {driver_pid}  # the basic launcher: one process
    # Before runtime.clear_session dropped TensorFlow's custom-gradient registrations,
    # every job added about 11 MB (about 80 MB from the third job to the tenth).
    assert rss[-1] - rss[2] < 20, rss


def test_optuna_search_reports_the_best_parameters(tmp_path, tiny_csv):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    status, stdout, stderr, _ = multirun(
        tmp_path, tiny_csv, "hparams_search=optuna", "hydra.sweeper.n_trials=3"
    )
    assert status == 0, stderr
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    # window.size and model.units are fixed on the command line; the rest is searched
    assert set(results.best_params) == {
        "model.layers",
        "model.lstm.dropout",
        "train.learning_rate",
        "train.batch_size",
        "features.columns",
    }
    summary = pd.read_csv(tmp_path / sweep.SUMMARY_FILE)
    assert len(summary) == 3
    assert results.best_value == pytest.approx(summary["val_mase"].min())
    assert (tmp_path / "optuna.db").is_file()  # SQLite study storage
    assert "Best parameters" in stdout + stderr


def compose_hydra(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_optuna_search_config_composes():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = compose_hydra("hparams_search=optuna")
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    assert cfg.hydra.sweeper.direction == "minimize"
    assert set(cfg.hydra.sweeper.params) == {
        "model.units",
        "model.layers",
        "window.size",
        "model.lstm.dropout",
        "train.learning_rate",
        "train.batch_size",
        "features.columns",
    }


@pytest.mark.parametrize(
    ("launcher", "plugin", "target"),
    [
        ("slurm", "hydra_plugins.hydra_submitit_launcher", "SlurmLauncher"),
        ("ray_cluster", "hydra_plugins.hydra_ray_launcher", "RayLauncher"),
    ],
)
def test_cluster_launcher_configs_compose(launcher, plugin, target):
    pytest.importorskip(plugin)
    cfg = compose_hydra(f"hydra/launcher={launcher}")
    assert cfg.hydra.launcher._target_.endswith(target)
    assert launcher_share(cfg.hydra.launcher, 64) in (2, 4)  # the job's reserved cores


# The summary on its own, on hand-made job directories


def fake_job(sweep_dir: Path, name: str, overrides: list[str], **files: dict) -> Path:
    job = sweep_dir / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
    for stem, content in files.items():
        (job / f"{stem}.json").write_text(json.dumps(content))
    return job


def scores(val: float) -> dict:
    return {
        s: {"model": {"mase": val + i, "rel_mae": val / 2}} for i, s in enumerate(("val", "test"))
    }


def test_collect_ranks_finished_jobs_and_lists_the_rest_last(tmp_path):
    fake_job(tmp_path, "0", ["model.units=4", "train.epochs=1"], metrics=scores(2.0))
    fake_job(
        tmp_path, "1", ["model.units=8", "train.epochs=1"], failed={"error": "E", "message": "m"}
    )
    fake_job(tmp_path, "2", ["model.units=16", "train.epochs=1"])  # no metrics: incomplete
    fake_job(tmp_path, "10", ["model.units=32", "train.epochs=1"], metrics=scores(1.5))
    frame = sweep.collect(tmp_path)
    assert list(frame["job"]) == ["10", "0", "1", "2"]
    assert list(frame["status"]) == ["finished", "finished", "failed", "incomplete"]
    assert list(frame["rank"][:2]) == [1, 2] and frame["rank"][2:].isna().all()
    assert list(frame["test_mase"][:2]) == [2.5, 3.0]
    assert frame["error"][2] == "E: m"
    text = sweep.format_summary(frame)
    assert "shared: train.epochs=1" in text and "model.units" in text


def test_exit_status_of_a_sweep(tmp_path):
    fake_job(tmp_path, "0", ["a=1"], metrics=scores(1.0))
    assert sweep.exit_status(sweep.collect(tmp_path), tmp_path) == 0
    record = tmp_path / "1"
    fake_job(tmp_path, "1", ["a=2"])
    (record / sweep.FAILED_FILE).write_text(json.dumps({"exit_status": 2}))
    assert sweep.exit_status(sweep.collect(tmp_path), tmp_path) == 2
    fake_job(tmp_path, "2", ["a=3"])  # incomplete: something outside marketcast's errors
    assert sweep.exit_status(sweep.collect(tmp_path), tmp_path) == 1


def test_record_failure_scores_inf_and_keeps_the_message(tmp_path):
    assert sweep.record_failure(tmp_path, MarketcastError("window too long")) == math.inf
    record = json.loads((tmp_path / sweep.FAILED_FILE).read_text())
    assert record == {
        "error": "MarketcastError",
        "message": "window too long",
        "exit_status": 2,
        "traceback": None,
    }
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        error = exc
    sweep.record_failure(tmp_path, error)  # outside the except block: the traceback still comes
    record = json.loads((tmp_path / sweep.FAILED_FILE).read_text())
    assert record["exit_status"] == 1 and "ZeroDivisionError: boom" in record["traceback"]


def test_empty_sweep_dir_gives_an_empty_summary(tmp_path):
    frame = sweep.collect(tmp_path)
    assert frame.empty and "0 jobs" in sweep.format_summary(frame)
