"""What the command-line entry points share: the project root and user-error handling."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from marketcast.errors import MarketcastError

log = logging.getLogger("marketcast")

USER_ERROR_EXIT = 2


def prepare_environment(root: Path) -> None:
    """Set what must be set before Hydra composes and before Keras is imported."""
    os.environ.setdefault("MARKETCAST_ROOT", str(root))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ warnings
    # Backtests and sweeps build one model after another; TensorFlow warns of "retracing".
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def user_errors(task: Callable) -> Callable:
    """Turn a ``MarketcastError`` into one message on stderr and exit status 2.

    A run directory that holds nothing but Hydra's own files is removed, so a
    failed start leaves nothing behind. In a multirun any failed job is logged,
    recorded in its directory and scored +inf, and the sweep goes on
    (``marketcast.jobs.sweep``); with ``sweep.fail_fast=true`` the error is raised
    and stops the sweep.
    """

    @functools.wraps(task)
    def wrapper(cfg):
        try:
            return task(cfg)
        except Exception as exc:
            if _is_multirun() and not _fail_fast(cfg):
                from marketcast.jobs.sweep import record_failure

                return record_failure(Path(cfg.paths.run_dir), exc)
            if _is_multirun() or not isinstance(exc, MarketcastError):
                raise
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            _remove_if_empty(Path(cfg.paths.run_dir))
            sys.exit(USER_ERROR_EXIT)

    return wrapper


def _fail_fast(cfg) -> bool:
    """``sweep.fail_fast``; configs without a ``sweep`` section (predict.py) always raise."""
    return "sweep" not in cfg or cfg.sweep.fail_fast


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _remove_if_empty(run_dir: Path) -> None:
    """Remove ``run_dir`` if it holds only Hydra's ``.hydra/`` folder and log files."""
    if not run_dir.is_dir():
        return
    if all(p.name == ".hydra" or p.suffix == ".log" for p in run_dir.iterdir()):
        logging.shutdown()  # release the log file before removing it
        shutil.rmtree(run_dir, ignore_errors=True)
