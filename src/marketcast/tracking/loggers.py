"""Experiment loggers of one training run: which are on, and the three points they hook into.

The ``logger`` config group says which backends are on (name -> options; several at once, as
in lightning-hydra-template). The training job calls, in order::

    check_available(cfg.logger)              # logger_options: before any data is read
    loggers = make_loggers(cfg.logger, run_dir)
    loggers.start(OmegaConf.to_container(cfg, resolve=True))
    fit(..., extra_callbacks=loggers.callbacks())
    loggers.finish(metrics, run_dir, failed=False)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from marketcast.config import CsvLoggerConfig, MlflowLoggerConfig, TensorboardLoggerConfig
from marketcast.tracking.logger_options import check_available, enabled, logger_options

log = logging.getLogger(__name__)


class Backend(Protocol):
    def start(self, params: dict[str, Any]) -> None: ...
    def callbacks(self) -> list: ...  # Keras callbacks
    def finish(self, metrics: dict[str, Any], run_dir: Path, failed: bool) -> None: ...


@dataclass
class Loggers:
    """The backends that are on, called together; an empty ``Loggers`` does nothing."""

    backends: dict[str, Backend] = field(default_factory=dict)

    def start(self, params: Mapping[str, Any]) -> None:
        """Open each backend's run; ``params``: the resolved config as a nested dict."""
        for backend in self.backends.values():
            backend.start(dict(params))

    def callbacks(self) -> list:
        """Keras callbacks that log every epoch of every fit of the run."""
        return [cb for backend in self.backends.values() for cb in backend.callbacks()]

    def finish(self, metrics: Mapping[str, Any], run_dir: Path, failed: bool = False) -> None:
        """Log the final ``metrics`` (metrics.json's content) and the run's files; close.

        A backend that fails here is logged and skipped: the model is trained and saved,
        and the others still record the run.
        """
        for name, backend in self.backends.items():
            try:
                backend.finish(dict(metrics), Path(run_dir), failed)
            except Exception:
                log.warning("logger %s could not record the end of the run", name, exc_info=True)


def make_loggers(spec: Mapping[str, Any] | None, run_dir: Path) -> Loggers:
    """The loggers ``spec`` (the ``logger`` config group: name -> options) asks for."""
    check_available(spec)
    makers: dict[str, Callable[[Any, Path], Backend]] = {
        "csv": _csv,
        "tensorboard": _tensorboard,
        "mlflow": _mlflow,
    }
    return Loggers(
        {
            name: makers[name](logger_options(name, options), Path(run_dir))
            for name, options in enabled(spec).items()
        }
    )


def _csv(options: CsvLoggerConfig, run_dir: Path) -> Backend:
    from marketcast.tracking.csv_logger import CsvLogger

    return CsvLogger(options, run_dir)


def _tensorboard(options: TensorboardLoggerConfig, run_dir: Path) -> Backend:
    from marketcast.tracking.tensorboard_logger import TensorboardLogger

    return TensorboardLogger(options, run_dir)


def _mlflow(options: MlflowLoggerConfig, run_dir: Path) -> Backend:
    from marketcast.tracking.mlflow_logger import MlflowLogger  # imports mlflow: lazily

    return MlflowLogger(options, run_dir)
