"""A Hydra multirun with ``logger.mlflow`` on is one parent MLflow run (``MlflowSweepRun``,
a Hydra callback: conf/train.yaml); each job's run is nested under it
(``marketcast.tracking.mlflow_logger``). Here, beside the sweep's summary, since the parent
run ends with the summary's counts and exit status (``marketcast.jobs.sweep``)."""

from __future__ import annotations

import atexit
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from marketcast.config import MlflowLoggerConfig
from marketcast.errors import EXIT_USER_ERROR, MarketcastError, brief
from marketcast.tracking.mlflow_logger import (
    MAX_PARAM_VAL_LENGTH,
    client,
    experiment,
    parent_run_file,
)

log = logging.getLogger(__name__)


class MlflowSweepRun(Callback):
    """Hydra callback: a multirun with ``logger.mlflow`` on is one parent MLflow run.

    Runs in the launching process: ``on_multirun_start`` creates the parent run and
    writes its id to ``<sweep dir>/mlflow_parent_run.json``, where every job looks for
    it; ``on_multirun_end`` ends it. A sweep that stops before its end (Ctrl-C, a
    launcher that crashed) never reaches that hook: its parent run is ended FAILED as the
    process exits, as its jobs' runs are, rather than left RUNNING. Does nothing when
    ``logger.mlflow`` is off.
    """

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.client = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        options = _sweep_options(config)
        if options is None:
            return
        from marketcast.tracking.logger_options import check_available

        try:  # in the launching process: Hydra would only warn, and every job fail alike
            check_available({"mlflow": OmegaConf.to_container(config.logger.mlflow, resolve=True)})
        except MarketcastError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        self.client = client(options.tracking_uri)
        experiment_id = experiment(self.client, options)
        tags = {"marketcast.sweep_dir": str(sweep_dir), **options.tags}
        run = self.client.create_run(experiment_id, run_name=sweep_dir.name, tags=tags)
        self.run_id, self.experiment_id = run.info.run_id, experiment_id
        atexit.register(self._end_unfinished)
        overrides = " ".join(config.hydra.overrides.task)
        if overrides:
            self.client.log_param(self.run_id, "overrides", overrides[:MAX_PARAM_VAL_LENGTH])
        record = {"run_id": self.run_id, "experiment_id": experiment_id}
        parent_run_file(sweep_dir).write_text(json.dumps(record) + "\n", encoding="utf-8")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.run_id is None:
            return
        from mlflow.entities import Metric

        from marketcast.jobs.sweep import collect, exit_status  # pandas: at the sweep's end

        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = collect(sweep_dir)  # the sweep summary's table
        counts = jobs["status"].value_counts()
        metrics = {f"jobs_{status}": float(n) for status, n in counts.items()}
        if counts.get("finished", 0):
            metrics["best_val_lstm_mase"] = float(jobs["val_lstm_mase"].min())
        now = int(time.time() * 1000)
        summary = [Metric(k, v, now, 0) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=summary)
        failed = exit_status(jobs, sweep_dir) != 0  # the sweep exits non-zero: so does its run
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")
        self.run_id = None
        atexit.unregister(self._end_unfinished)

    def _end_unfinished(self) -> None:
        """At exit: a parent run the sweep's end never reached ends FAILED, and so do its
        jobs' runs still RUNNING (a worker process of joblib, Ray or SLURM stopped with the
        sweep before its job could end its own run)."""
        if self.run_id is None:
            return
        run_id, self.run_id = self.run_id, None
        try:
            left = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{run_id}' and "
                "attributes.status = 'RUNNING'",
            )
            for child in left:
                self.client.set_terminated(child.info.run_id, status="FAILED")
            self.client.set_terminated(run_id, status="FAILED")
        except Exception as exc:  # the process is ending: say so, do not raise
            log.warning("MLflow run %s: left running (%s)", run_id, brief(exc))


def _sweep_options(config: DictConfig) -> MlflowLoggerConfig | None:
    spec = config.get("logger")
    if spec is None or spec.get("mlflow") is None:
        return None
    from marketcast.tracking.logger_options import logger_options

    return logger_options("mlflow", OmegaConf.to_container(spec.mlflow, resolve=True))
