"""Progress of a multirun: one log line as each job ends, e.g.

    job 3/8 finished in 12.3 s (val MASE 0.9812)
    job 4/8 failed in 1.2 s (MarketcastError: data.path='x.csv' does not exist ...)

A Hydra callback (``hydra.callbacks`` in ``conf/train.yaml``). The number of jobs is
worked out at the start of the multirun from the sweep overrides, as Hydra's basic
sweeper expands them (the Optuna search is one too: ``search.trial=range(n)``); where
it cannot be (a launcher that runs callbacks in fresh worker processes), the line
says "job 3 finished". A single run logs nothing here.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from marketcast.config import sweep_overrides
from marketcast.errors import SweepStopped
from marketcast.runfiles import DONE_FILE, FAILED_FILE, was_pruned

log = logging.getLogger(__name__)

MESSAGE_WIDTH = 100  # characters of a failed job's error shown in its line


class JobProgress(Callback):
    """Hydra callback: logs each job's end with its number, seconds and validation MASE."""

    def __init__(self) -> None:
        self.total: int | None = None
        self._started: dict[int, float] = {}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.total = count_jobs(config)
        if self.total is not None:
            log.info("multirun of %d jobs", self.total)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if _is_multirun(config):
            self._started[_job_num(config)] = time.monotonic()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if not _is_multirun(config):
            return
        num = _job_num(config)
        began = self._started.pop(num, None)
        seconds = time.monotonic() - began if began is not None else None
        job_dir = OmegaConf.select(config, "hydra.runtime.output_dir", default=None)
        log.info("%s", job_line(num, self.total, job_return, seconds, job_dir))


def job_line(
    num: int,
    total: int | None,
    job_return: JobReturn,
    seconds: float | None,
    job_dir: str | None = None,
) -> str:
    """ "job 3/8 finished in 12.3 s (network val MASE 0.9812)" for job ``num`` (from 0)."""
    name = f"job {num + 1}/{total}" if total else f"job {num + 1}"
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    if job_return.status == JobStatus.FAILED:
        error = job_return._return_value
        error = error.error if isinstance(error, SweepStopped) else error  # sweep.fail_fast
        return f"{name} failed{took} ({_brief(error)})"
    value = job_return.return_value
    if isinstance(value, float) and math.isinf(value):  # a pruned trial, or record_failure
        if job_dir and was_pruned(Path(job_dir)):
            return f"{name} pruned{took} (the Optuna pruner stopped it)"
        if job_dir and not _left_a_record(Path(job_dir)):  # cli's sweep.fail_fast skipped it
            return f"{name} not run (sweep.fail_fast stopped the sweep at an earlier job)"
        return f"{name} failed{took} (see failed.json in its directory)"
    if isinstance(value, float):  # train's return value; predict and fetch return a status
        return f"{name} finished{took} (network val MASE {value:.4f})"
    return f"{name} finished{took}"


def _left_a_record(job_dir: Path) -> bool:
    """Whether the job wrote its failure or its run (a job sweep.fail_fast skipped did not)."""
    return (job_dir / FAILED_FILE).exists() or (job_dir / DONE_FILE).exists()


def count_jobs(config: DictConfig) -> int | None:
    """The number of jobs Hydra's basic sweeper makes of the multirun's overrides, or None."""
    try:
        overrides = sweep_overrides(config.hydra)
        sizes: dict[str, int] = {}  # later overrides of a key win, as in the sweeper
        for override in overrides:
            if override.is_sweep_override() and not override.is_discrete_sweep():
                return None  # a sweep over an interval: not the basic sweeper's
            sweep = override.is_sweep_override()
            count = len(list(override.sweep_string_iterator())) if sweep else 1
            sizes[override.get_key_element()] = count
    except Exception:  # a glob over a config group needs the config loader: unknown
        return None
    return math.prod(sizes.values())


def _is_multirun(config: DictConfig) -> bool:
    return OmegaConf.select(config, "hydra.mode", default=None) == RunMode.MULTIRUN


def _job_num(config: DictConfig) -> int:
    return int(OmegaConf.select(config, "hydra.job.num", default=0) or 0)


def _brief(error: object) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MESSAGE_WIDTH else text[: MESSAGE_WIDTH - 3] + "..."
