"""The multirun progress callback: the number of jobs, and one line as each job ends."""

import math
import re
import subprocess
import sys

import pytest
from conftest import ROOT, synthetic_prices
from hydra import compose, initialize_config_dir
from hydra.core.utils import JobReturn, JobStatus

from marketcast.errors import MarketcastError
from marketcast.jobs.multirun_progress import count_jobs, job_line


def multirun_config(*overrides: str, composed: tuple[str, ...] = ()):
    """The config a multirun's callbacks get: ``composed`` applied, then every override as
    the command line's (sweeps do not compose outside a multirun)."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=list(composed), return_hydra_config=True)
    cfg.hydra.overrides.task = [*composed, *overrides]
    return cfg


def test_the_jobs_of_a_sweep_are_counted_as_the_basic_sweeper_expands_them():
    cfg = multirun_config("model.units=16,32", "window.size=20,40,60", "train.epochs=1")
    assert count_jobs(cfg) == 6
    optuna = multirun_config(composed=("hparams_search=optuna", "search.n_trials=7"))
    assert count_jobs(optuna) == 7
    assert count_jobs(multirun_config("train.epochs=1")) == 1
    assert count_jobs(multirun_config("model.units=16,32", "model.units=8")) == 1  # last wins


def test_job_lines():
    done = JobReturn(status=JobStatus.COMPLETED, _return_value=0.98123)
    assert job_line(2, 8, done, 12.34) == "job 3/8 finished in 12.3 s (network val MASE 0.9812)"
    assert job_line(2, None, done, None) == "job 3 finished (network val MASE 0.9812)"
    recorded = JobReturn(status=JobStatus.COMPLETED, _return_value=math.inf)
    assert job_line(0, 2, recorded, 1.0) == (
        "job 1/2 failed in 1.0 s (see failed.json in its directory)"
    )
    raised = JobReturn(status=JobStatus.FAILED, _return_value=MarketcastError("bad value"))
    assert job_line(1, 2, raised, 0.5) == "job 2/2 failed in 0.5 s (MarketcastError: bad value)"


def test_a_job_that_sweep_fail_fast_kept_from_running_is_not_called_failed(tmp_path):
    """It pointed to a failed.json that is not there."""
    skipped = JobReturn(status=JobStatus.COMPLETED, _return_value=math.inf)
    assert job_line(1, 2, skipped, 0.0, str(tmp_path)) == (
        "job 2/2 not run (sweep.fail_fast stopped the sweep at an earlier job)"
    )
    (tmp_path / "failed.json").write_text("{}")
    assert job_line(1, 2, skipped, 0.0, str(tmp_path)).startswith("job 2/2 failed")


@pytest.mark.slow
def test_a_multirun_logs_each_job_as_it_ends(tmp_path):
    prices = tmp_path / "prices.csv"
    synthetic_prices(300).to_csv(prices)
    run = subprocess.run(  # conf/train.yaml's hydra.callbacks.job_progress logs each job
        [sys.executable, "-m", "marketcast", "train", "-m", "data=csv",
         f"data.path={prices}", "window.size=10", "model.units=4", "train.epochs=1",
         "train.verbose=0", "plots=false", "train.seed=1,2", f"paths.output_root={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    log = run.stdout + run.stderr
    assert "multirun of 2 jobs" in log
    first = r"job 1/2 finished in \d+\.\d s \(network val MASE \d\.\d{4}\)"
    assert re.search(first, log), log[-3000:]
    assert re.search(r"job 2/2 finished in \d+\.\d s \(network val MASE", log)
