"""Range checks of a composed config: every value the types cannot check, refused with one
message naming the key, before any data is read and before TensorFlow is imported
(``marketcast.cli`` calls them)."""

from __future__ import annotations

import difflib
import errno
import functools
import importlib.util
import json
import logging
import math
import os
import tempfile
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, ListConfig, OmegaConf

from marketcast.atomic import refusal_words
from marketcast.config.schemas import (
    CACHE_DIR_VARIABLE,
    LOGGER_PACKAGES,
    OUTPUT_ROOT_VARIABLE,
    Combine,
    Component,
    DataConfig,
    EvaluationConfig,
    FeaturesConfig,
    FetchJobConfig,
    ForecastConfig,
    Mode,
    ModelConfig,
    PredictJobConfig,
    PriceColumn,
    SplitConfig,
    StoreAction,
    StoreConfig,
    StoreFormat,
    StoreJobConfig,
    TrainConfig,
    TrainJobConfig,
    WindowConfig,
)
from marketcast.errors import MarketcastError, install_command
from marketcast.runfiles import (
    DONE_FILE,
    FAILED_FILE,
    RUN_FILES,
    TRIAL_FILE,
    finished_marker,
    has_finished_run,
    marked_runs,
    no_finished_run,
    no_finished_run_in,
    no_run_dir,
    no_run_in_sweep,
)

log = logging.getLogger(__name__)

# what a finished, failed or pruned job leaves: a new run there replaces it on its own terms
JOB_RECORDS = (DONE_FILE, FAILED_FILE, TRIAL_FILE)

_ABSENT = object()

# --- range checks ----------------------------------------------------------------------------


def check_train_job(cfg: DictConfig) -> None:
    """Every value of a training config that the types cannot check; raises MarketcastError."""
    refuse_unknown_keys(cfg, TrainJobConfig)
    check_keras_backend()
    check_search_keys(cfg, search_keys(cfg.search.space))  # before a trial is asked for
    check_loggers(cfg.logger)
    run_dir = OmegaConf.select(cfg, "paths.run_dir", throw_on_resolution_failure=False)
    if run_dir and (Path(run_dir) / DONE_FILE).exists() and not cfg.overwrite:
        raise MarketcastError(
            f"{run_dir} already holds a finished run: choose another hydra.run.dir, or pass "
            "overwrite=true to replace it."
        )
    # a run's file names in a folder without a finished run: the user's own files (a
    # config.yaml, a report.md), or what a run killed half-way left
    over = [
        n for n in RUN_FILES if n not in JOB_RECORDS and run_dir and (Path(run_dir) / n).exists()
    ]
    if over and not cfg.overwrite:
        raise MarketcastError(
            f"{run_dir} holds {', '.join(over)}, which this run would write over, and no "
            "finished run: choose another hydra.run.dir, or pass overwrite=true to replace "
            "them."
        )
    _check_sample_kept(cfg, _choices())
    _warn_of_mode_keys(cfg, _typed_overrides())
    check_data(cfg.data)
    if cfg.data.source == "csv":  # said in a second, not after pandas and scipy load (3 s)
        check_csv_path(cfg.data.path)
    check_cache_dir(cfg.data)
    check_values(cfg)


def check_values(cfg: DictConfig) -> None:
    """The range checks of a training config's values, which read nothing but the config
    (also each value of a sweep, at its start: ``marketcast.jobs.sweep``)."""
    check_features(cfg.features)
    check_window(cfg.window)
    check_split(cfg.split)
    check_model(cfg.model)
    check_train(cfg.train)
    last_seed = cfg.train.seed + cfg.model.ensemble - 1  # an ensemble's members count on
    if cfg.train.seed < 0 or last_seed > MAX_SEED:
        raise MarketcastError(
            f"train.seed={cfg.train.seed} must lie in [0, {MAX_SEED - cfg.model.ensemble + 1}]"
            + (
                f" (model.ensemble={cfg.model.ensemble} seeds its members "
                f"{cfg.train.seed}..{last_seed})"
                if cfg.model.ensemble > 1
                else ""
            )
            + ": NumPy and Keras take seeds of 32 bits."
        )
    check_evaluation(cfg.evaluation)
    check_forecast(cfg.forecast)
    if cfg.forecast.combine == Combine.validated:
        if not cfg.forecast.components:
            raise MarketcastError(
                "forecast.components is empty: name what the combination may use, e.g. "
                "[lstm,ets], or set forecast.combine=none to publish the raw LSTM."
            )
        if not usable_components(cfg):
            raise MarketcastError(
                f"forecast.components={[str(c) for c in cfg.forecast.components]} names only "
                "peers that evaluation.peers turns off: turn one on, add lstm or drift to "
                "forecast.components, or set forecast.combine=none."
            )
    if cfg.evaluation.mode == Mode.backtest and _universe(cfg.data):
        raise MarketcastError(
            "evaluation=backtest runs on one symbol: set data.symbol and leave data.symbols "
            "and data.universe_file empty, or backtest each symbol in a sweep "
            "(-m data.symbol=A,B,C)."
        )
    symbol = None if OmegaConf.is_missing(cfg.data, "symbol") else cfg.data.symbol
    if _universe(cfg.data) and cfg.data.source == "fdr" and symbol is not None:
        raise MarketcastError(
            f"data.symbol={symbol} is set beside data.symbols / data.universe_file: a global "
            f"model trains on the universe alone, and {symbol} would only name it. Pass "
            f"data.symbol=null (and add {symbol} to data.symbols to train on it too)."
        )


def check_loggers(cfg) -> None:
    """Each logger that is on has its package installed (looked up, not imported), and an
    MLflow tracking server answers (MLflow's client retried for minutes, then failed)."""
    for name, (module, extra) in LOGGER_PACKAGES.items():
        if module is None or cfg is None or cfg.get(name) is None:
            continue
        if importlib.util.find_spec(module) is None:
            raise MarketcastError(
                f"logger={name} needs the {module} package, which is not installed: "
                f"{install_command(extra)} (or leave logger.{name} out)."
            )
    mlflow = cfg.get("mlflow") if cfg is not None else None
    uri = mlflow.get("tracking_uri") if mlflow else None
    if uri and str(uri).startswith(("http://", "https://")):
        _check_reachable("logger.mlflow.tracking_uri", str(uri))


def _check_reachable(key: str, url: str, timeout_s: float = 5.0) -> None:
    """That something listens at ``url``'s host and port (a TCP connection: TLS, a login or
    a slow answer are MLflow's to handle). Skipped where a proxy carries the requests."""
    import socket
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or urllib.request.getproxies().get(parts.scheme):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        shown = parts._replace(netloc=f"{parts.hostname}:{port}").geturl()  # no password
        reason = exc.strerror or type(exc).__name__
        raise MarketcastError(
            f"{key}={shown!r} cannot be reached ({reason}): start the tracking server, point "
            "the key at one that runs, or leave the logger out."
        ) from None


def check_predict_job(cfg: DictConfig) -> None:
    refuse_unknown_keys(cfg, PredictJobConfig)
    check_keras_backend()
    check_store(cfg.store)
    _at_least("max_stale_sessions", cfg.max_stale_sessions, 0, optional=True)
    if cfg.as_of is not None:
        _date("as_of", cfg.as_of)
    output = Path(cfg.output)
    if str(cfg.output).endswith("/") or _is_dir(output):
        raise MarketcastError(
            f"output={cfg.output!r} is a directory: name the CSV file to write, "
            "e.g. output=/srv/forecasts/today.csv."
        )
    if not cfg.dry_run:  # a dry run writes nothing (the store: storage.stores.check_location)
        check_writable("output", output)
    _check_runs(cfg)


# Keras 3's backends (KERAS_BACKEND), by the module each needs; marketcast is tested on
# tensorflow (the default) and jax
KERAS_BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
# Keras' inference-only backends: they cannot train (numpy's also imports jax)
_NO_TRAINING = ("numpy", "openvino")
# the keras.json values Keras 3 refuses as it imports (keras/src/backend/config.py)
_KERAS_JSON_CHOICES = {
    "floatx": ("float16", "float32", "float64"),
    "image_data_format": ("channels_last", "channels_first"),
}


def check_keras_backend() -> None:
    """That the Keras backend, where chosen (``KERAS_BACKEND``, else the ``backend`` of
    Keras' own ``keras.json``), is one that trains and is installed: train and predict
    checked it only when Keras was imported, after the data was read, and said "unexpected
    ModuleNotFoundError: No module named 'jax' (a bug ...)"."""
    chosen, where = _keras_json_backend()  # Keras reads the file whatever the variable
    name: str | None = os.environ.get("KERAS_BACKEND", "")
    said, quoted = f"KERAS_BACKEND={name}", f"KERAS_BACKEND={name!r}"
    fix = "set KERAS_BACKEND=tensorflow"
    if not name:  # unset, or empty (KERAS_BACKEND=$B with $B unset): keras.json's, if any
        name = chosen
        said = quoted = f"the backend {name!r} of {where}"
        fix = f'set "backend": "tensorflow" in {where}'
    if name is None:  # Keras' default
        return
    if name in _NO_TRAINING:
        raise MarketcastError(
            f"{said} is one of Keras' inference-only backends, which cannot train: {fix} "
            "(tensorflow is the default and what the tests run; jax trains too)."
        )
    if name not in KERAS_BACKENDS:
        raise MarketcastError(
            f"{quoted} is not a Keras backend: {fix} (tensorflow is the default and what the "
            "tests run; jax and torch are Keras' too, torch untested here)."
        )
    module = KERAS_BACKENDS[name]
    if importlib.util.find_spec(module) is None:
        install = install_command("jax") if name == "jax" else f"pip install {module}"
        raise MarketcastError(
            f"{said} needs the {module} package, which is not installed: {install}, or {fix}."
        )


def _keras_json_backend() -> tuple[str | None, str]:
    """The ``backend`` of the ``keras.json`` Keras reads where ``KERAS_BACKEND`` is not set,
    found as Keras 3 finds it ($KERAS_HOME, else ~/.keras, or /tmp/.keras where the home
    is not writable: keras/src/backend/config.py), and the file. None where the file names
    none: there is no file (Keras writes one on import), it holds no "backend", or it is
    not JSON (Keras then uses its defaults). A file Keras fails on is refused here."""
    if "KERAS_HOME" in os.environ:
        folder = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        folder = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    path = os.path.expanduser(os.path.join(folder, "keras.json"))
    if not os.path.exists(path):
        return None, path
    try:
        with open(path) as file:
            config = json.load(file)
    except ValueError:
        return None, path
    except OSError as exc:
        raise MarketcastError(
            f"cannot read Keras' config file {path} ({exc.strerror or exc}), which Keras "
            "reads on import: fix or remove it."
        ) from exc
    if not isinstance(config, dict):
        raise MarketcastError(
            f"Keras' config file {path} holds {type(config).__name__}, not a JSON object, and "
            "Keras fails on it: fix or remove it (Keras writes a new one)."
        )
    for key, allowed in _KERAS_JSON_CHOICES.items():  # what Keras checks as it imports
        if key in config and config[key] not in allowed:
            raise MarketcastError(
                f"Keras' config file {path} has {key}={json.dumps(config[key])}, which Keras "
                f"refuses as it imports: use one of {', '.join(sorted(allowed))}, or remove "
                "the key."
            )
    if "epsilon" in config and not isinstance(config["epsilon"], float):
        raise MarketcastError(
            f"Keras' config file {path} has epsilon={json.dumps(config['epsilon'])}, which "
            "Keras refuses as it imports: a decimal number such as 1e-07, or remove the key."
        )
    if "backend" not in config:
        return None, path
    backend = config["backend"]  # null: Keras takes it, and fails on it
    return (backend if isinstance(backend, str) else json.dumps(backend)), path


def check_environment() -> None:
    """That each environment variable the path defaults read names something where it is
    set: an empty one (``MARKETCAST_OUTPUT_ROOT=$ROOT`` in a crontab, ``$ROOT`` unset) put
    run folders at the file system's root (``/fetch/...``), and an empty
    ``MARKETCAST_CACHE_DIR`` meant no cache to ``fetch`` but the run's own to ``predict``."""
    defaults = {
        OUTPUT_ROOT_VARIABLE: "runs go under ./outputs",
        CACHE_DIR_VARIABLE: "train and fetch cache under ./data/cache, predict reads each "
        "run's own",
    }
    for name, default in defaults.items():
        if name in os.environ and not os.environ[name].strip():
            raise MarketcastError(
                f"the environment variable {name} is set but empty: set it to a folder, or "
                f"unset it ({default})."
            )


def check_search_keys(cfg: DictConfig, keys: Any) -> None:
    """That each searched key (``keys``) is a key of the training config ``cfg``."""
    for key in keys:
        if OmegaConf.select(cfg, str(key), default=_ABSENT) is _ABSENT:
            raise MarketcastError(f"search.space.{unknown_key_message(str(key), TrainJobConfig)}")


def search_keys(space: Any) -> dict[str, str]:
    """``search.space`` as {config key: sweep text}: nested keys joined by dots (the shipped
    conf/hparams_search/optuna.yaml, and ``search.space.model.units='choice(16, 32)'`` on the
    command line), and dotted ones as written (``'model.units': choice(16, 32)``: a file of
    one's own, which merges into the shipped space and overrides its nested key); a key set
    to null is not searched (``search.space.model.layers=null``)."""
    if OmegaConf.is_config(space):
        space = OmegaConf.to_container(space, resolve=True)
    nested: dict[str, Any] = {}
    dotted: dict[str, Any] = {}

    def walk(node: dict, prefix: str) -> None:
        for name, value in node.items():
            key = f"{prefix}{name}"
            if isinstance(value, dict):
                walk(value, f"{key}.")
            else:
                (dotted if "." in str(name) else nested)[key] = value

    walk(space or {}, "")
    merged = {**nested, **dotted}
    return {key: str(value) for key, value in merged.items() if value is not None}


def check_writable(key: str, path: Path, shown: object = None) -> None:
    """That ``path`` can be made: a file can be made in its nearest existing folder
    (checked at start-up: the forecast store is written before the CSV). A file is made
    and removed, not ``os.access`` asked: that says yes to root anywhere, /proc included."""
    existing = next(p for p in path.absolute().parents if os.path.lexists(p))
    try:
        if existing.is_dir():
            fd, probe = tempfile.mkstemp(dir=existing, prefix=".marketcast-probe.")
            try:
                os.close(fd)
            finally:  # even on Ctrl-C: no probe left behind
                os.unlink(probe)
            return
        number = errno.ENOTDIR  # a file, or a link to nowhere
    except OSError as exc:  # no permission, read-only, a folder that holds no files (/proc)
        number = exc.errno or errno.EACCES
    what, fix = refusal_words(number)
    raise MarketcastError(
        f"{key}={str(shown or path)!r} cannot be written: {existing}: {os.strerror(number)} "
        f"({errno.errorcode[number]}){what}. {fix}"
    )


def _choices() -> dict:
    """This job's config group choices (``data: sample``, ...); {} outside a Hydra job."""
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}


def _typed_overrides() -> list | None:
    """The overrides this job was given (command line, sweep values, a trial's sample), as
    Hydra parsed them; None outside a Hydra job (tests and benches composing a config)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not HydraConfig.initialized():
        return None
    return OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task))


def _typed_under(typed: list, node: str) -> list[str]:
    """The overrides of ``typed`` that set ``node`` or a key under it, as typed."""
    return [
        o.input_line
        for o in typed
        if o.key_or_group == node or o.key_or_group.startswith(f"{node}.")
    ]


def _check_sample_kept(cfg: DictConfig, choices: dict) -> None:
    """``data=sample`` (the default) is the bundled file, as conf/data/sample.yaml names it:
    another path, label, calendar or source under it (typed, or set by an experiment file)
    was published under the sample's key or calendar: ``data.path=FILE`` gave a KRX stock's
    won prices the S&P 500's key, ``data.source=fdr data.symbol=005930`` a KRX stock the
    NYSE calendar."""
    if choices.get("data") != "sample":
        return
    from marketcast.config.registry import config_dir

    sample = OmegaConf.to_container(OmegaConf.load(config_dir() / "data" / "sample.yaml"))
    expected = {"source": "csv", "symbols": [], "universe_file": None}
    expected |= {key: sample[key] for key in ("path", "symbol", "exchange")}
    node = OmegaConf.merge({"paths": cfg.paths}, {"data": expected})  # its ${paths.data_dir}
    expected = OmegaConf.to_container(node.data, resolve=True)
    same_file = Path(str(cfg.data.path)).expanduser().resolve() == Path(expected["path"]).resolve()
    stray = [
        f"data.{key}={OmegaConf.select(cfg, f'data.{key}')}"
        for key, value in expected.items()
        if not (same_file if key == "path" else _same(OmegaConf.select(cfg, f"data.{key}"), value))
    ]
    if stray:
        raise MarketcastError(
            f"{', '.join(stray)} under data=sample (the default: the bundled S&P 500 file, "
            "labelled SP500 on the NYSE calendar): pass data=csv data.path=FILE for a file of "
            "yours, or data=fdr data.symbol=SYMBOL for FinanceDataReader."
        )


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if value is None or expected is None:
        return value == expected
    return str(value) == str(expected)


def _warn_of_mode_keys(cfg: DictConfig, typed: list | None) -> None:
    """A key typed for the other evaluation mode does nothing: evaluation.backtest.folds=3
    without evaluation=backtest ran a single split and said nothing (and split.* is not
    read by a backtest, whose folds set the segments). Warned, not refused: a sweep over
    evaluation=single,backtest carries the backtest's keys to both. Keys an experiment
    file sets are not typed, and not checked."""
    if typed is None:
        return
    backtest = cfg.evaluation.mode == Mode.backtest
    stray = _typed_under(typed, "split" if backtest else "evaluation.backtest")
    if not stray:
        return
    if backtest:
        log.warning(
            "%s: a backtest does not read split.* (its folds set the segments: "
            "evaluation.backtest.folds, test_size, val_fraction); this run does without it",
            ", ".join(stray),
        )
    else:
        log.warning(
            "%s applies to a walk-forward backtest only (evaluation=backtest); this run is a "
            "single split and does without it",
            ", ".join(stray),
        )


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a folder above it this user may not enter: _check_writable says so
        return False


def _check_runs(cfg: DictConfig) -> None:
    """That predict has a run to load, checked before the job loads Keras (seconds)."""
    if cfg.run_dir is not None:
        run_dir = Path(cfg.run_dir)
        if not run_dir.is_dir():
            raise no_run_dir(cfg.run_dir)
        if not has_finished_run(run_dir):
            if (refused := no_run_in_sweep(run_dir)) is not None:  # every job failed or cut off
                raise refused
            marked = marked_runs(run_dir)  # a sweep's runs, each damaged since: say why
            where = marked[0] if marked and marked[0] != run_dir else run_dir
            why = finished_marker(where)[1]
            raise no_finished_run_in(cfg.run_dir, why if where == run_dir else f"{where}: {why}")
        return
    root = OmegaConf.select(cfg, "paths.output_root", throw_on_resolution_failure=False)
    if root and not has_finished_run(Path(root).resolve()):
        raise no_finished_run(Path(root).resolve())


def check_store_job(cfg: DictConfig) -> None:
    refuse_unknown_keys(cfg, StoreJobConfig)
    check_store(cfg.store)
    if not (cfg.store.url if cfg.store.format == StoreFormat.sql else cfg.store.dir):
        raise MarketcastError(
            "name the store: store.dir=DIR (delta, csv) or store.format=sql store.url=URL."
        )
    if cfg.timestamp is not None:
        form = "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC unless +HH:MM)"
        _date("timestamp", cfg.timestamp, form, zoned=True)
    _at_least("version", cfg.version, 0, optional=True)
    # a key the action does not read was ignored: 'history version=0' listed every run
    unread = {
        StoreAction.history: ("version", "timestamp"),
        StoreAction.maintain: ("version", "timestamp", "output"),
    }.get(cfg.action, ())
    given = [k for k in unread if cfg[k] is not None]
    if given:
        raise MarketcastError(
            f"{given[0]}={cfg[given[0]]} is not read by marketcast store {cfg.action.value}: "
            f"it is {_readers(given[0])} (marketcast store show {given[0]}=...); drop it."
        )


def _readers(key: str) -> str:
    return "show's and history's" if key == "output" else "show's"


def check_store(cfg: StoreConfig) -> None:
    # a format chosen without its location would write no store at all, silently
    if cfg.format == StoreFormat.sql and not cfg.url:
        given = f", not store.dir={cfg.dir!r}" if cfg.dir else ""
        raise MarketcastError(
            f"store.format=sql takes store.url (a SQLAlchemy URL){given}: e.g. "
            "store.url=sqlite:///forecasts.db or postgresql+psycopg://user@host/db."
        )
    if cfg.format == StoreFormat.csv and not cfg.dir:
        raise MarketcastError("store.format=csv takes store.dir: the folder to write it in.")
    if cfg.format != StoreFormat.sql and cfg.url and not cfg.dir:
        raise MarketcastError(
            f"store.url is for store.format=sql; store.format={cfg.format} takes store.dir."
        )
    _at_least("store.retention_hours", cfg.retention_hours, 0)
    if cfg.format == StoreFormat.sql and cfg.url and "://" not in cfg.url:
        raise MarketcastError(
            f"store.url={cfg.url!r} is not a SQLAlchemy URL: e.g. sqlite:///forecasts.db."
        )


def check_fetch_job(cfg: DictConfig) -> None:
    refuse_unknown_keys(cfg, FetchJobConfig)
    check_data(cfg.data)
    check_cache_dir(cfg.data)


def check_cache_dir(cfg: DataConfig) -> None:
    """That FinanceDataReader's price cache can be written where it is named, before any
    fetch: a read-only folder, or a file where it must be, failed each symbol of a universe
    in turn (exit 3, which a crontab's ``fetch; predict`` carries on past)."""
    if cfg.source != "fdr" or not cfg.cache_dir or cfg.refresh == "never":
        return
    try:
        check_writable("data.cache_dir", Path(cfg.cache_dir) / ".marketcast-probe", cfg.cache_dir)
    except MarketcastError as exc:
        if not Path(cfg.cache_dir).is_dir():
            raise
        raise MarketcastError(f"{exc} Or read the cache as it is: data.refresh=never.") from None


def check_csv_path(path: str | None) -> None:
    """That ``data.path`` names a file (``data=csv``)."""
    if not path:
        raise MarketcastError("data.path is not set: pass data.path=FILE with data=csv.")
    if not Path(path).expanduser().is_file():
        raise MarketcastError(f"data.path={path!r} does not exist or is not a file.")


def check_data(cfg: DataConfig) -> None:
    if not (isinstance(cfg.timeout_s, int | float) and cfg.timeout_s > 0):
        raise MarketcastError(f"data.timeout_s={cfg.timeout_s} must be positive (e.g. 30).")
    if cfg.retries < 0 or cfg.backoff_s < 0:
        raise MarketcastError(
            f"data.retries={cfg.retries} and data.backoff_s={cfg.backoff_s} must not be "
            "negative (0 turns retries off)."
        )
    _at_least("data.max_gap_sessions", cfg.max_gap_sessions, 0, optional=True)
    _at_least("data.max_concurrency", cfg.max_concurrency, 1)
    start = _date("data.start", cfg.start) if cfg.start is not None else None
    end = _date("data.end", cfg.end) if cfg.end is not None else None
    if start is not None and end is not None and start > end:
        raise MarketcastError(
            f"data.start={cfg.start} is after data.end={cfg.end}: swap them or drop one."
        )


def check_features(cfg: FeaturesConfig) -> None:
    if not cfg.columns:
        raise MarketcastError("features.columns is empty: name at least one, e.g. [Close].")
    if len(set(cfg.columns)) != len(cfg.columns):
        raise MarketcastError(
            f"features.columns={[str(c) for c in cfg.columns]} names a column twice."
        )
    if cfg.target == PriceColumn.Volume:
        raise MarketcastError(
            "features.target=Volume is not supported: forecast a price column "
            "(Open, High, Low or Close)."
        )


def check_window(cfg: WindowConfig) -> None:
    _at_least("window.size", cfg.size, 3, "prediction intervals need 3 days of returns")
    _at_least("window.horizon", cfg.horizon, 1, "1 forecasts the next day")


def check_split(cfg: SplitConfig) -> None:
    for key in ("val_start", "test_start"):
        if getattr(cfg, key) is not None:
            _date(f"split.{key}", getattr(cfg, key))
    if cfg.val_start is not None and cfg.test_start is not None:
        if pd.Timestamp(cfg.val_start) >= pd.Timestamp(cfg.test_start):
            raise MarketcastError(
                f"split.val_start={cfg.val_start} must come before "
                f"split.test_start={cfg.test_start}."
            )
        return
    fractions = {"train": cfg.train, "val": cfg.val, "test": cfg.test}
    outside = {k: v for k, v in fractions.items() if not 0 < v < 1}
    if outside:
        raise MarketcastError(
            "split fractions must each lie between 0 and 1: "
            + ", ".join(f"split.{k}={v:g}" for k, v in outside.items())
            + " (e.g. split.train=0.7 split.val=0.15 split.test=0.15)."
        )
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise MarketcastError(
            f"split fractions train={cfg.train:g}, val={cfg.val:g}, test={cfg.test:g} add up "
            f"to {total:.6g}, not 1: change them so that they do "
            "(e.g. split.train=0.7 split.val=0.15 split.test=0.15)."
        )


def check_model(cfg: ModelConfig) -> None:
    _at_least("model.units", cfg.units, 1)
    _at_least("model.layers", cfg.layers, 1)
    _at_least("model.ensemble", cfg.ensemble, 1, "models averaged; 1: a single model")
    for key in ("dropout", "recurrent_dropout"):
        value = getattr(cfg.lstm, key)
        if not (math.isfinite(value) and 0 <= value < 1):
            raise MarketcastError(
                f"model.lstm.{key}={value} must lie in [0, 1): it is the fraction of units "
                "dropped (e.g. 0.1)."
            )
    if cfg.lstm.stateful:
        raise MarketcastError(
            "model.lstm.stateful=true is not supported: training shuffles independent windows "
            "and forecasts with any batch size, so state carried between batches would mix "
            "unrelated samples. Set model.lstm.stateful=false (a longer window.size gives "
            "the model more memory instead)."
        )


MAX_SEED = 2**32 - 1  # the largest seed NumPy and Keras take


def check_train(cfg: TrainConfig) -> None:
    _at_least("train.epochs", cfg.epochs, 1)
    _at_least("train.batch_size", cfg.batch_size, 1)
    _at_least("train.patience", cfg.patience, 0, "epochs without improvement before stopping")
    _at_least("train.threads", cfg.threads, 1, "or null: the job's share of the cores", True)
    if not (math.isfinite(cfg.learning_rate) and cfg.learning_rate > 0):
        raise MarketcastError(
            f"train.learning_rate={cfg.learning_rate} must be a finite number above 0 (e.g. 4e-3)."
        )


def check_evaluation(cfg: EvaluationConfig) -> None:
    levels = list(cfg.interval_levels)
    if len(levels) < 2 or any(not 0 < q < 1 for q in levels) or len(set(levels)) < len(levels):
        raise MarketcastError(
            f"evaluation.interval_levels={levels} must be two or more distinct quantile levels "
            "in (0, 1), e.g. [0.1, 0.9]."
        )
    bt = cfg.backtest
    _at_least("evaluation.backtest.folds", bt.folds, 1)
    _at_least("evaluation.backtest.refit_every", bt.refit_every, 1)
    _at_least("evaluation.backtest.test_size", bt.test_size, 1, optional=True)
    _at_least("evaluation.backtest.train_size", bt.train_size, 1, optional=True)
    if not 0 < bt.val_fraction < 1:
        raise MarketcastError(
            f"evaluation.backtest.val_fraction={bt.val_fraction} must lie between 0 and 1."
        )
    if not 0 < cfg.stop_share < 1:
        raise MarketcastError(
            f"evaluation.stop_share={cfg.stop_share} must lie between 0 and 1 (the share of "
            "validation rows for early stopping; the rest fit the combination and intervals)."
        )
    _at_least("evaluation.peers.refit_every", cfg.peers.refit_every, 0)
    rate = cfg.intervals.adapt_rate
    if not (math.isfinite(rate) and 0 <= rate < 0.5):
        raise MarketcastError(
            f"evaluation.intervals.adapt_rate={rate} must lie in [0, 0.5) (e.g. 0.005; "
            "0 freezes the interval calibration)."
        )
    shrink = cfg.intervals.shrink
    if not (math.isfinite(shrink) and 0 <= shrink <= 1):
        raise MarketcastError(
            f"evaluation.intervals.shrink={shrink} must lie in [0, 1] (e.g. 0.2; 0: the "
            "GARCH variance alone)."
        )
    ratio = cfg.intervals.variance_ratio
    if not (math.isfinite(ratio) and 0 <= ratio <= 1):
        raise MarketcastError(
            f"evaluation.intervals.variance_ratio={ratio} must lie in [0, 1] (e.g. 1; 0: the "
            "GARCH forecast's sum of daily variances alone)."
        )
    persistence = cfg.intervals.step_persistence
    if persistence is not None and not (math.isfinite(persistence) and 0 <= persistence < 1):
        raise MarketcastError(
            f"evaluation.intervals.step_persistence={persistence} must lie in [0, 1) (e.g. "
            "0.9; null: the fitted GARCH's own persistence)."
        )


def usable_components(cfg: DictConfig) -> list[str]:
    """What the combination may move towards: ``forecast.components`` but the peers that
    ``evaluation.peers`` turns off (``evaluation.peers.ets=false`` turns ETS off in the
    combination too, where it is a component)."""
    peers = cfg.evaluation.peers
    return [
        str(c)
        for c in cfg.forecast.components
        if c not in (Component.ets, Component.arima) or getattr(peers, str(c))
    ]


def check_forecast(cfg: ForecastConfig) -> None:
    if not (math.isfinite(cfg.min_improvement) and 0 <= cfg.min_improvement < 1):
        raise MarketcastError(
            f"forecast.min_improvement={cfg.min_improvement} must lie in [0, 1) (e.g. 0.01)."
        )
    if not (math.isfinite(cfg.min_gain) and cfg.min_gain >= 0):
        raise MarketcastError(f"forecast.min_gain={cfg.min_gain} must be 0 or more.")
    if not (math.isfinite(cfg.shrink) and 0 <= cfg.shrink <= 1):
        raise MarketcastError(
            f"forecast.shrink={cfg.shrink} must lie in [0, 1] (0: publish the fitted shares, "
            "0.5: half of each, 1: persistence)."
        )


def refuse_unknown_keys(cfg: DictConfig, schema: type) -> None:
    """Refuse keys the schema does not have, also those added with ``+key=value``.

    Hydra lets ``+`` add a key to a typed node, so ``+train.epoch=3`` (a typo Hydra's
    own error message suggests) would otherwise be ignored without a word.
    """
    for path in _unknown_keys(cfg, schema, ""):
        raise MarketcastError(unknown_key_message(path, schema))


def unknown_key_message(path: str, schema: type) -> str:
    """'windw is not a config key (a typo?): did you mean window? the top level has ...' for
    the first part of the dotted ``path`` that ``schema`` lacks (``path`` itself if none)."""
    parts = path.split(".")
    section: list[str] = []
    node: Any = schema  # the type at ``section``
    for part in parts:
        if not is_dataclass(node) or part not in _field_names(node):
            break
        section.append(part)
        node = _field_types(node)[part]
    else:
        return f"{path} is not a config key (a typo?)."
    known = _field_names(node) if is_dataclass(node) else []
    where = ".".join(section)
    close = difflib.get_close_matches(parts[len(section)], known, n=1)
    hint = f"did you mean {where + '.' if where else ''}{close[0]}? " if close else ""
    listed = f"{where or 'the top level'} has {', '.join(sorted(known))}." if known else ""
    key = ".".join(parts[: len(section) + 1])
    return f"{key} is not a config key (a typo?)" + (f": {hint}{listed}" if known else ".")


def _unknown_keys(node: Any, schema: Any, prefix: str) -> list[str]:
    if not (isinstance(node, DictConfig) and is_dataclass(schema)):
        return []
    names = _field_names(schema)
    found = []
    for key in node:
        path = f"{prefix}{key}"
        if key not in names:
            found.append(path)
            continue
        # By the field's type, not its default: an optional section's default is None.
        child = _field_types(schema)[key]
        if is_dataclass(child):
            found += _unknown_keys(node[key], child, f"{path}.")
    return found


@functools.cache
def _field_types(schema: type) -> dict[str, Any]:
    """Each field's type; an optional section's is its dataclass (X, not X | None)."""
    types = {}
    for name, hint in typing.get_type_hints(schema).items():
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        types[name] = options[0] if len(options) == 1 else hint
    return types


def _field_names(schema: type) -> list[str]:
    return [f.name for f in fields(schema)]


def _universe(cfg: DataConfig) -> bool:
    return bool(cfg.symbols) or bool(cfg.universe_file)


def _at_least(
    key: str, value: int | None, minimum: int, why: str = "", optional: bool = False
) -> None:
    if value is None and optional:
        return
    if value is None or value < minimum:
        raise MarketcastError(
            f"{key}={value} must be at least {minimum}" + (f" ({why})." if why else ".")
        )


def _date(key: str, value: Any, form: str = "YYYY-MM-DD", zoned: bool = False) -> pd.Timestamp:
    """``value`` as a timestamp; a MarketcastError naming ``key`` where it is none, lies
    outside the dates a price table holds, or has a time zone where ``zoned`` is False (a
    day of prices has none: pandas refused to slice the price index with it, a bug)."""
    try:
        when = pd.Timestamp(str(value))
    except (ValueError, TypeError, OverflowError):
        when = pd.NaT
    if when is pd.NaT or pd.isna(when):
        raise MarketcastError(f"{key}={value!r} is not a date: use {form}.")
    if when.tzinfo is not None and not zoned:
        raise MarketcastError(
            f"{key}={value!r} has a time zone, and a day of prices has none: use {form}."
        )
    naive = when.tz_convert(None) if when.tzinfo is not None else when  # UTC where zoned
    if not _FIRST_DAY <= naive <= _LAST_DAY:  # parsed, but no date a price table can hold
        raise MarketcastError(
            f"{key}={value!r} is outside the dates a price table can hold, "
            f"{_FIRST_DAY.date()} to {_LAST_DAY.date()}: give a date in that range."
        )
    return when


# pandas' nanosecond timestamps, less a margin for the days the jobs add (the session after
# data.end): a date beyond them parsed, then failed deep in the job
_FIRST_DAY = pd.Timestamp.min.ceil("D") + pd.Timedelta(days=31)
_LAST_DAY = pd.Timestamp.max.floor("D") - pd.Timedelta(days=31)
