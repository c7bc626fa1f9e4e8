"""The ``mlflow`` logger: one MLflow run per training job, nested under its multirun's run.

A job's run holds the resolved config as parameters (dotted keys), ``loss`` and
``val_loss`` per epoch (step: epochs counted over every fit of the run, so the folds
of a backtest follow each other), every scalar of ``metrics.json`` as a final metric
(``test.model.mase``), and the run's plots, report, metrics, config and model as artifacts.

A multirun is one parent run (``marketcast.jobs.mlflow_sweep``, a Hydra callback in the
launching process) with one child run per job. The parent's id is written to
``<sweep dir>/mlflow_parent_run.json``; each job finds it there through Hydra's sweep
directory, whatever the launcher (in process, joblib, Ray, SLURM: the sweep directory is
on a file system the jobs share, as their run directories are).

MLflow is an optional extra, imported only when this logger is on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from marketcast.config import (
    MlflowLoggerConfig,
    in_multirun,
    search_keys,
    sweep_overrides,
    swept_keys,
)
from marketcast.errors import MarketcastError, brief, install_command

log = logging.getLogger(__name__)

BATCH = 1000  # metrics per log_batch call: MLflow's REST API refuses more
HTTP_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
_METRIC_KEY = re.compile(r"[^\w\-. :/]")  # what MLflow refuses in a metric's name

PARENT_RUN_FILE = "mlflow_parent_run.json"
PARENT_TAG = "mlflow.parentRunId"  # what the MLflow UI nests runs by
# = mlflow.utils.validation's limits (MLflow 3; tests compare), kept here so that flattening
# needs no MLflow import
MAX_PARAM_VAL_LENGTH = 6000
MAX_KEY_LENGTH = 250


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"train.learning_rate": "0.004", ...}``, values as text.

    Lists and null are written as JSON (``["Close", "Open"]``, ``null``); a value longer
    than MLflow's limit is cut to it, ending in ``...``.
    """
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            text = text[: MAX_PARAM_VAL_LENGTH - 3] + "..."
        if len(name) > MAX_KEY_LENGTH:
            log.warning("config key %s... is too long for an MLflow parameter: left out", name[:40])
            continue
        flat[name] = text
    return flat


def flatten_metrics(metrics: Mapping[str, Any] | list, prefix: str = "") -> dict[str, float]:
    """``{segment: {forecaster: {metric: value}}}`` -> ``{"test.model.mae": 1.2, ...}``.

    Every number is kept, a list's items under their index (``folds.0.test.model.mase``,
    ``test.model.direction_ci.1``); text, null and booleans are not metrics.
    """
    flat: dict[str, float] = {}
    items = metrics.items() if isinstance(metrics, Mapping) else enumerate(metrics)
    for key, value in items:
        name = _METRIC_KEY.sub("_", f"{prefix}{key}")  # a symbol ^KS11 makes no key
        if isinstance(value, Mapping | list | tuple):
            flat.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def parent_run_file(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / PARENT_RUN_FILE


def sweep_parent_run_id() -> str | None:
    """The multirun's parent run id, when this process runs a job of a multirun with one."""
    from hydra.core.hydra_config import HydraConfig

    if not in_multirun():
        return None
    path = parent_run_file(Path(HydraConfig.get().sweep.dir))
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["run_id"]


class MlflowLogger:
    """One job's MLflow run; ``parent_run_id`` (default: the multirun's) nests it."""

    def __init__(
        self, options: MlflowLoggerConfig, run_dir: Path, parent_run_id: str | None = None
    ):
        self.options = options
        self.run_dir = Path(run_dir)
        self.client = client(options.tracking_uri)
        self.parent_run_id = parent_run_id if parent_run_id is not None else sweep_parent_run_id()
        self.run_id: str | None = None
        self.gone = False  # the server stopped answering: send nothing more

    def start(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        experiment_id = experiment(self.client, self.options)
        tags = {"marketcast.run_dir": str(self.run_dir), **self.options.tags}
        if self.parent_run_id:
            tags[PARENT_TAG] = self.parent_run_id
        run = self.client.create_run(
            experiment_id,
            run_name=self.options.run_name or _run_name(self.run_dir, params),
            tags=tags,
        )
        self.run_id = run.info.run_id
        flat = flatten_params(params)
        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in flat.items()])
        log.info("MLflow run %s in experiment %s", self.run_id, self.options.experiment_name)

    def callbacks(self) -> list:
        from marketcast.tracking.mlflow_epochs import EpochMetrics  # Keras: only in a job

        self._require_run()
        return [EpochMetrics(self)]

    def finish(self, metrics: dict[str, Any], run_dir: Path, failed: bool) -> None:
        from mlflow.entities import Metric

        run_id = self._require_run()
        if self.gone:  # said at the epoch it went; retrying would stall for minutes
            log.warning("MLflow run %s: no final metrics sent; the run is in %s", run_id, run_dir)
            return
        now = int(time.time() * 1000)
        final = [Metric(k, v, now, 0) for k, v in flatten_metrics(metrics).items()]
        try:
            for start in range(0, len(final), BATCH):  # the tracking API's most per request
                self.client.log_batch(run_id, metrics=final[start : start + BATCH])
            for path in artifact_files(Path(run_dir), self.options.artifacts):
                self.client.log_artifact(run_id, str(path))
        except Exception as exc:  # the server went away, or refused a value: the run is saved
            log.warning(
                "MLflow run %s: its final metrics and files were not all sent (%s); the run "
                "is complete in %s",
                run_id, brief(exc), run_dir,
            )  # fmt: skip
        except BaseException:  # Ctrl-C, SIGTERM mid-upload: not left RUNNING for good
            with contextlib.suppress(Exception):
                self.client.set_terminated(run_id, status="KILLED")
            raise
        try:
            self.client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")
        except Exception as exc:
            log.warning("MLflow run %s: not marked ended (%s)", run_id, brief(exc))

    def _require_run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("MlflowLogger.start must be called first")
        return self.run_id


def _run_name(run_dir: Path, params: Mapping[str, Any]) -> str:
    """The run directory's name; a sweep job's with the values its sweep varies, an Optuna
    trial's with its sampled values ("3 model.units=8 window.size=40")."""
    from hydra.core.hydra_config import HydraConfig

    search = params.get("search") or {}
    if search.get("trial") is not None:  # the values it was given are the space's keys
        given = OmegaConf.create(params)
        keys = search_keys(search["space"])
        named = " ".join(f"{k}={OmegaConf.select(given, k)}" for k in keys)
    elif in_multirun():
        varied = swept_keys()
        job = sweep_overrides(OmegaConf.create({"overrides": HydraConfig.get().overrides}))
        named = " ".join(o.input_line for o in job if o.key_or_group in varied)
    else:
        return run_dir.name
    return f"{run_dir.name} {named}"[:250].rstrip() if named else run_dir.name


def artifact_files(run_dir: Path, patterns: list[str]) -> list[Path]:
    """The files of ``run_dir`` (top level) matching ``patterns``, each once, in order."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        for path in sorted(run_dir.glob(pattern)):
            if path.is_file():
                found[path] = None
    return list(found)


def client(tracking_uri: str | None):
    """An ``MlflowClient`` for ``tracking_uri`` (null: MLflow's default)."""
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise MarketcastError(
            f"logger=mlflow needs MLflow, which is not installed: {install_command('mlflow')}."
        ) from None
    from mlflow.exceptions import MlflowException

    # MLflow retries a request 7 times with a doubling back-off, minutes in all: a training
    # job would stall at an epoch. Fewer here, unless the environment says otherwise.
    for name, value in HTTP_RETRIES.items():
        os.environ.setdefault(name, value)
    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except MlflowException as exc:  # e.g. MLflow 3 refuses a file: store unless told
        raise MarketcastError(
            f"logger.mlflow.tracking_uri={tracking_uri!r} cannot be used: {exc.message} "
            "Use e.g. sqlite:///PATH/mlflow.db or a tracking server (http://HOST:PORT)."
        ) from None


def experiment(mlflow_client, options: MlflowLoggerConfig) -> str:
    """The id of ``options.experiment_name``, created if missing (parallel jobs may race)."""
    from mlflow.exceptions import MlflowException

    name = options.experiment_name
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = str(mlflow_client.tracking_uri)
    local = not uri.startswith(("http://", "https://", "databricks"))
    location = options.artifact_location if local and options.artifact_location else None
    if location and "://" not in location:
        location = Path(location).resolve().as_uri()
    try:
        return mlflow_client.create_experiment(name, artifact_location=location)
    except MlflowException:
        found = mlflow_client.get_experiment_by_name(name)  # another job created it first
        if found is None:
            raise
        return found.experiment_id
