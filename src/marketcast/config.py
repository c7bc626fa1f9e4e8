"""Typed config schemas, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` fill these dataclasses in. Because every node is
typed, a misspelt key or a value of the wrong type stops the run at start-up
with the key named, before any data is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class PathsConfig:
    root_dir: str = MISSING  # the repository root; set from MARKETCAST_ROOT by the entry points
    data_dir: str = MISSING  # bundled data and the default cache
    output_root: str = MISSING  # where run directories are created
    run_dir: str = MISSING  # this run's directory (Hydra's run directory by default)


@dataclass
class DataConfig:
    source: str = "csv"  # csv | fdr
    path: str | None = None  # csv only: the file to read
    symbol: str | None = None  # fdr: ticker or KRX code; csv: a label for reports
    start: str | None = None  # first date kept (YYYY-MM-DD), inclusive
    end: str | None = None  # last date kept (YYYY-MM-DD), inclusive
    # exchange-calendars code (XNYS, XKRX, ...) for forecast dates, staleness and gap checks;
    # "auto": XKRX for six-digit symbols, else XNYS; null: plain weekdays.
    exchange: str | None = "auto"
    # A universe (the data layer and `python -m marketcast.fetch`; training uses data.symbol):
    # symbols inline, and/or a file with one symbol per line ('#' starts a comment).
    symbols: list[str] = field(default_factory=list)
    universe_file: str | None = None
    on_error: str = "skip"  # a universe symbol that fails: skip (reported) | raise (stop all)
    # fdr: one Parquet file per symbol; null: no cache (every run fetches the whole history)
    cache_dir: str | None = None
    refresh: str = "if_stale"  # if_stale | always (whole history again) | never (offline)
    timeout_s: float = 30.0  # deadline of each fetch attempt, seconds
    retries: int = 2  # further attempts after a network failure
    backoff_s: float = 1.0  # wait before retry k: backoff_s * 2**(k-1) seconds
    # Validation, every source (marketcast.validation):
    missing: str = "drop"  # rows with missing values: drop | ffill (previous row's values)
    halts: str = "keep"  # trading-halt rows (Volume 0, flat prices): keep | drop
    max_gap_sessions: int | None = 5  # warn about holes of more missing sessions; null: no check


@dataclass
class FeaturesConfig:
    columns: list[str] = field(default_factory=lambda: ["Close", "Open", "High"])
    target: str = "Close"
    # How prices are shown to the model: relative (to the window's last value), log_return, level
    representation: str = "relative"
    scaler: str = "standard"  # standard | minmax (scikit-learn), fitted on the training segment


@dataclass
class WindowConfig:
    size: int = 60  # input time steps per sample
    horizon: int = 1  # steps forecast ahead


@dataclass
class SplitConfig:
    # Chronological fractions of the rows; ignored where the dates below are set.
    train: float = 0.7
    val: float = 0.15
    test: float = 0.15
    val_start: str | None = None  # first date of the validation segment
    test_start: str | None = None  # first date of the test segment


@dataclass
class LSTMConfig:
    """Arguments passed to every ``keras.layers.LSTM`` of the model.

    Initializers, regularizers and constraints take anything Keras' ``get``
    functions accept: a name (``l2``, ``glorot_uniform``, ``non_neg``) or a
    ``{class_name: ..., config: {...}}`` mapping.
    """

    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"  # Keras 3 default (old docs say hard_sigmoid)
    use_bias: bool = True
    kernel_initializer: Any = "glorot_uniform"
    recurrent_initializer: Any = "orthogonal"
    bias_initializer: Any = "zeros"
    unit_forget_bias: bool = True
    kernel_regularizer: Any = None
    recurrent_regularizer: Any = None
    bias_regularizer: Any = None
    activity_regularizer: Any = None
    kernel_constraint: Any = None
    recurrent_constraint: Any = None
    bias_constraint: Any = None
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    go_backwards: bool = False
    unroll: bool = False
    stateful: bool = False  # not supported: windows are independent samples (clear error)


@dataclass
class ModelConfig:
    units: int = 64  # units of each LSTM layer
    layers: int = 1  # stacked LSTM layers; all but the last return sequences
    head: str = "dense"  # dense: LSTM -> Dense(horizon); sequence: TimeDistributed(Dense(horizon))
    lstm: LSTMConfig = field(default_factory=LSTMConfig)


@dataclass
class TrainConfig:
    epochs: int = 50
    batch_size: int = 512
    optimizer: str = "adam"
    learning_rate: float = 4e-3  # with the square root of the batch: 1e-3 at 32
    loss: str = "huber"  # huber | mse | mae; huber is robust to the fat tails of daily moves
    patience: int = 8  # EarlyStopping on val_loss; best weights are restored
    seed: int = 42
    shuffle: bool = True
    verbose: int = 2  # Keras progress: 0 silent, 1 progress bar, 2 one line per epoch
    # Compile the train step. null: XLA on a CPU-only TensorFlow when the fit is long enough
    # to repay the compile (runtime.keras_jit_compile) and no other jobs share the process
    # (TensorFlow never frees XLA programs), else Keras' auto (cuDNN on a GPU, jax.jit on
    # JAX); true: XLA / jax.jit; false: a plain tf.function graph (JAX: eager).
    jit_compile: bool | None = None
    # Threads of this job's CPU pools (TensorFlow intra/inter-op, BLAS/OpenMP); null: the
    # launcher's share of the cores (joblib: cores / n_jobs), all of them in a single run.
    threads: int | None = None
    # null: one device; mirrored: tf.distribute.MirroredStrategy over every GPU (or every
    # logical CPU device where there is no GPU). TensorFlow backend only.
    distribute: str | None = None


@dataclass
class BacktestConfig:
    folds: int = 5  # forecast origins, evenly spaced over the end of the history
    test_size: int | None = None  # rows forecast per fold; null: 15% of the rows / folds
    scheme: str = "expanding"  # expanding: all rows before the origin; rolling: train_size rows
    train_size: int | None = None  # rolling only: rows (train + validation) before each origin
    val_fraction: float = 0.15  # share of a fold's pre-origin rows for early stopping/calibration
    refit_every: int = 1  # refit scaler and model every k folds (1: every fold)


@dataclass
class EvaluationConfig:
    mode: str = "single"  # single: one train/val/test split; backtest: walk-forward folds
    interval_levels: list[float] = field(default_factory=lambda: [0.1, 0.9])
    backtest: BacktestConfig = field(default_factory=BacktestConfig)


@dataclass
class SweepConfig:
    # In a multirun a failed job is logged, recorded in its directory (failed.json), scored
    # +inf and listed in the summary while the other jobs go on; true: it stops the sweep.
    fail_fast: bool = False


@dataclass
class TrainJobConfig:
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    plots: bool = True


@dataclass
class StoreConfig:
    dir: str | None = None  # the forecast store; null: no store, only the CSV output
    format: str = "parquet"  # parquet | csv (one file per as_of partition)


@dataclass
class PredictJobConfig:
    paths: PathsConfig = field(default_factory=PathsConfig)
    # The universe to forecast; empty: the symbols of the run(s).
    symbols: list[str] = field(default_factory=list)
    universe_file: str | None = None
    refresh: str | None = None  # override the run's data.refresh (never: offline, cache only)
    max_stale_sessions: int | None = 3  # skip FDR symbols whose data is older; null: no check
    dry_run: bool = False  # load data and models, forecast, write nothing
    store: StoreConfig = field(default_factory=StoreConfig)
    # A finished training run; null: the newest under paths.output_root.
    run_dir: str | None = None
    as_of: str | None = None  # forecast from the data up to this date; default: the latest row
    output: str = MISSING  # CSV file the forecast is written to


@dataclass
class FetchJobConfig:
    """`python -m marketcast.fetch`: warm or refresh the price cache for a universe."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    symbols: list[str] = field(default_factory=list)  # shorthand for data.symbols
    universe_file: str | None = None  # shorthand for data.universe_file


def register_configs() -> None:
    """Register the schemas that ``conf/train.yaml`` and ``conf/predict.yaml`` extend."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainJobConfig)
    cs.store(name="predict_schema", node=PredictJobConfig)


register_configs()
