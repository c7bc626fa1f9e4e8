"""The schemas and the resolvers their defaults use (``run_id``, ``sample_dir``, ``cwd``),
registered with Hydra; and ``plain``, a composed config as plain Python."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf

from marketcast.config.schemas import (
    DataConfig,
    EvaluationConfig,
    FetchJobConfig,
    ModelConfig,
    PathsConfig,
    PredictJobConfig,
    StoreJobConfig,
    TrainJobConfig,
)

if TYPE_CHECKING:
    from hydra.core.override_parser.types import Override

# The schema each config group's files extend (`defaults: [/<name>@_here_]`), by group.
GROUP_SCHEMAS = {
    "paths": ("paths_schema", PathsConfig),
    "data": ("data_schema", DataConfig),
    "model": ("model_schema", ModelConfig),
    "evaluation": ("evaluation_schema", EvaluationConfig),
}
JOB_SCHEMAS = {
    "train_schema": TrainJobConfig,
    "predict_schema": PredictJobConfig,
    "fetch_schema": FetchJobConfig,
    "store_schema": StoreJobConfig,
}


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (a sweep or a search)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweep_overrides(hydra: DictConfig) -> list[Override]:
    """A multirun's overrides as Hydra's basic sweeper reads them from its ``hydra`` node:
    ``sweeper.params`` (an experiment's sweep), then the command line's."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.select(hydra, "sweeper.params", default=None) or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(OmegaConf.select(hydra, "overrides.task", default=None) or [])
    return OverridesParser.create().parse_overrides(arguments)


def swept_keys() -> set[str]:
    """The keys this job's Hydra sweep varies, read from the sweep as typed (its
    ``multirun.yaml``: ``hydra.sweeper.params`` and the command line; a key set to one value
    in every job is not varied); where that file cannot be found (a launcher on a node
    without the sweep folder), every key the job's sweep sets."""
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    job_dir = OmegaConf.select(hydra, "runtime.output_dir", default=None)
    if job_dir:
        sweep_dir = Path(job_dir).parents[len(Path(str(hydra.sweep.subdir)).parts) - 1]
        typed = sweep_dir / "multirun.yaml"
        if typed.is_file():
            hydra = OmegaConf.load(typed).hydra
            return {o.key_or_group for o in sweep_overrides(hydra) if o.is_sweep_override()}
    return {o.key_or_group for o in sweep_overrides(hydra)}  # this job's values: every key


_RUN_COUNT = itertools.count()


def run_id() -> str:
    """A run directory's name: the start time to the millisecond, the process id, a count of
    the names this process made (after the first), and 4 random hex digits.

    Two runs started in the same millisecond on one host differ by process id, two in one
    process by the count, two hosts on a shared file system (SLURM) by the random digits.
    The resolver is cached, so every use in one run gives the same name.
    """
    now = time.time()
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now))
    count = next(_RUN_COUNT)
    serial = f"-{count}" if count else ""
    return f"{stamp}.{int(now * 1000) % 1000:03d}-{os.getpid()}{serial}-{secrets.token_hex(2)}"


# What run_id() makes, and nothing a user would type as a fixed run directory.
_RUN_ID = re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.\d{3}-\d+(-\d+)?-[0-9a-f]{4}")


def is_run_id(name: str) -> bool:
    """Whether ``name`` was made by ``run_id`` (so no other run shares it)."""
    return _RUN_ID.fullmatch(name) is not None


def job_id(run_dir: str | Path | None) -> str:
    """The id of a job that runs in ``run_dir``: the directory's name where ``run_id`` made
    it (the default ``hydra.run.dir``), else a new ``run_id``: a fixed run directory (a
    nightly cron job's ``hydra.run.dir=/srv/logs/predict``) would give every night one id."""
    name = Path(run_dir).name if run_dir else ""
    return name if is_run_id(name) else run_id()


def config_dir() -> Path:
    """The configs: packaged with marketcast (a wheel), else the checkout's ``conf/``."""
    package = Path(__file__).resolve().parents[1]  # marketcast/
    packaged = package / "_conf"
    return packaged if (packaged / "train.yaml").is_file() else package.parents[1] / "conf"


def sample_dir() -> str:
    """The bundled sample's directory: packaged with marketcast (a wheel), else ``data/``."""
    package = Path(__file__).resolve().parents[1]  # marketcast/
    packaged = package / "_sample"
    return str(packaged if packaged.is_dir() else package.parents[1] / "data")


def register_configs() -> None:
    """Register the job and group schemas, and the resolvers the defaults use, with Hydra."""
    cs = ConfigStore.instance()
    for name, node in JOB_SCHEMAS.items():
        cs.store(name=name, node=node)
    # Outside the groups, so that --help's group choices and `model=...` offer only the
    # yaml presets; each preset extends its schema with `- /model_schema@_here_`.
    for name, node in GROUP_SCHEMAS.values():
        cs.store(name=name, node=node)
    resolvers = {"run_id": run_id, "sample_dir": sample_dir, "cwd": lambda: str(Path.cwd())}
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver, use_cache=name == "run_id")


def plain(node: Any) -> Any:
    """A config node as plain Python (enums as their string values), for JSON and YAML."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    if isinstance(node, Enum):
        return node.value
    return node
