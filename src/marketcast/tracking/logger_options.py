"""Which experiment loggers a ``logger`` config asks for, and their options checked: what
the loggers' factory (``tracking.loggers``) and the MLflow sweep callback both need, without
importing any backend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from marketcast.config import (
    CsvLoggerConfig,
    MlflowLoggerConfig,
    TensorboardLoggerConfig,
    check_loggers,
)
from marketcast.errors import MarketcastError

# name -> its options' schema (the packages each needs: marketcast.config.LOGGER_PACKAGES)
SCHEMAS: dict[str, type] = {
    "csv": CsvLoggerConfig,
    "tensorboard": TensorboardLoggerConfig,
    "mlflow": MlflowLoggerConfig,
}


def enabled(spec: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The backends that are on in ``spec`` (entries set to null are off), as plain dicts."""
    if spec is None:
        return {}
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=True)
    return {name: dict(options or {}) for name, options in spec.items() if options is not None}


def check_available(spec: Mapping[str, Any] | None) -> None:
    """Raise ``MarketcastError`` for an unknown backend or option, or one not installed."""
    for name, options in enabled(spec).items():
        logger_options(name, options)
    check_loggers(spec)


def logger_options(name: str, options: dict[str, Any]) -> Any:
    """``options`` of logger ``name`` as its schema's dataclass; an unknown one is named."""
    if name not in SCHEMAS:
        raise MarketcastError(f"logger.{name} is not a known logger: use any of {sorted(SCHEMAS)}.")
    schema = SCHEMAS[name]
    known = {f.name for f in dataclasses.fields(schema)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise MarketcastError(
            f"logger.{name}.{unknown[0]} is not an option of logger {name}: "
            f"use any of {sorted(known)}."
        )
    return schema(**options)
