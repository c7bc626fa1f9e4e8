"""Typed schemas of the ``logger`` config group and of the Optuna search (``search``).

For ``marketcast.config.TrainJobConfig``: ``logger: LoggerConfig`` and ``search: SearchConfig``.
Every backend of ``LoggerConfig`` is off (``None``) unless a ``conf/logger/*.yaml`` file (or an
override such as ``+logger.csv={}``) fills it in; several may be on at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CsvLoggerConfig:
    filename: str = "history.csv"  # in the run directory: one row per epoch of every fit


@dataclass
class TensorboardLoggerConfig:
    subdir: str = "tensorboard"  # event files under <run_dir>/<subdir>
    histogram_freq: int = 0  # epochs between weight histograms; 0: none
    update_freq: str = "epoch"  # epoch | batch


@dataclass
class MlflowLoggerConfig:
    # A store (sqlite:///FILE, file:DIR) or a tracking server (http://HOST:PORT); null:
    # MLflow's own choice (MLFLOW_TRACKING_URI, else ./mlflow.db in the working directory).
    tracking_uri: str | None = None
    experiment_name: str = "marketcast"
    # Where a new experiment keeps its artifacts with a local store (sqlite, file); a
    # tracking server decides for itself (its --artifacts-destination) and this is ignored.
    artifact_location: str | None = None
    run_name: str | None = None  # null: the run directory's name
    tags: dict[str, str] = field(default_factory=dict)
    # Files of the run directory logged as artifacts at the end of the run (glob patterns).
    artifacts: list[str] = field(
        default_factory=lambda: ["*.png", "report.md", "metrics.json", "config.yaml", "model.keras"]
    )


@dataclass
class LoggerConfig:
    csv: CsvLoggerConfig | None = None
    tensorboard: TensorboardLoggerConfig | None = None
    mlflow: MlflowLoggerConfig | None = None


@dataclass
class SamplerConfig:
    name: str = "tpe"  # tpe | random
    seed: int | None = None  # null: a different search each time
    n_startup_trials: int = 10  # tpe: random trials before it models the space


@dataclass
class PrunerConfig:
    # median | percentile | threshold | none. Steps are epochs; the value is `monitor`.
    name: str = "median"
    n_startup_trials: int = 4  # median/percentile: trials finished before any is pruned
    n_warmup_steps: int = 2  # median/percentile: epochs of each trial before it may be pruned
    percentile: float = 50.0  # percentile: prune below this percentile of the other trials
    upper: float | None = None  # threshold: prune once the value exceeds this (or is NaN)


@dataclass
class SearchConfig:
    study_name: str = "marketcast"
    # An RDB URL (sqlite:///FILE, postgresql://...), or the path of an Optuna journal file
    # (JournalStorage, safe for parallel jobs on one machine or on NFS).
    storage: str = "optuna.journal"
    direction: str = "minimize"  # the job returns the validation MASE: lower is better
    n_trials: int = 20  # trials added to the study by one multirun (its jobs)
    trial: int | None = None  # this job's index in the multirun; null: not a search job
    # Search space: config key -> Hydra sweep grammar, e.g. choice(16, 32), interval(0, 0.3),
    # tag(log, interval(1e-4, 1e-2)), range(1, 4), tag(int, interval(8, 128)).
    space: dict[str, str] = field(default_factory=dict)
    monitor: str = "val_loss"  # the Keras log value the pruner watches, once per epoch
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
