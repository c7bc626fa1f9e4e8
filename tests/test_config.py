"""The typed config: every choice fails at composition, every range before any data is read."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import (
    CONF,
    compose_hydra,
    compose_predict,
    compose_train,
    hydra_job,
    run_in_process,
    run_marketcast,
    without_write_access,
)
from hydra.errors import ConfigCompositionException

from marketcast import cli, config
from marketcast.errors import EXIT_USER_ERROR, MarketcastError
from marketcast.runfiles import DONE_FILE
from marketcast.storage.stores import check_location, check_predict_start


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("features.representation=diff", "Invalid value 'diff', expected one of [relative"),
        ("features.columns=[Close,Opn]", "Invalid value 'Opn', expected one of [Open"),
        ("features.target=close", "Invalid value 'close'"),
        ("features.scaler=robust", "Invalid value 'robust', expected one of [standard, minmax]"),
        ("model.head=attention", "Invalid value 'attention', expected one of [dense, sequence]"),
        ("train.loss=hinge", "Invalid value 'hinge', expected one of [huber, mse, mae]"),
        ("train.optimizer=adamm", "Invalid value 'adamm'"),
        ("train.distribute=tpu", "Invalid value 'tpu', expected one of [mirrored]"),
        ("evaluation.mode=kfold", "Invalid value 'kfold', expected one of [single, backtest]"),
        ("evaluation.backtest.scheme=sliding", "Invalid value 'sliding'"),
        ("data.source=yahoo", "Invalid value 'yahoo', expected one of [csv, fdr]"),
        ("data.refresh=sometimes", "Invalid value 'sometimes', expected one of [if_stale"),
        ("data.on_error=ignore", "Invalid value 'ignore', expected one of [skip, raise]"),
        ("data.missing=zero", "Invalid value 'zero', expected one of [drop, ffill]"),
        ("data.halts=fill", "Invalid value 'fill', expected one of [keep, drop]"),
        # a monitor the fit does not log: the pruner watched nothing, silently
        ("search.monitor=val_mae", "Invalid value 'val_mae', expected one of [val_loss, loss]"),
        ("train.epochs=many", "Value 'many' of type 'str' could not be converted to Integer"),
        ("train.epoch=3", "Key 'epoch' not in 'TrainConfig'"),
        ("forecast.components=[lstm,garch]", "Invalid value 'garch', expected one of [lstm"),
        (
            "evaluation.intervals.volatility=normal",
            "Invalid value 'normal', expected one of [gjr, garch",
        ),
    ],
)
def test_a_bad_choice_or_type_fails_at_composition_naming_the_key(tmp_path, override, message):
    with pytest.raises(ConfigCompositionException) as caught:
        compose_train(tmp_path / "run", override)
    assert message in str(caught.value.__cause__ or caught.value)


def test_a_list_key_given_one_value_is_told_the_brackets(capsys):
    """'str is not a ListConfig, list or tuple' did not say what to type."""
    for command, override in (("predict", "symbols=005380"), ("train", "features.columns=Close")):
        assert run_in_process(command, override) == EXIT_USER_ERROR
        err = capsys.readouterr().err
        name, value = override.split("=")
        assert err.startswith(f"error: Error merging override {override}: "), err
        assert f"; a list is written in brackets, {name}=[{value}] (marketcast " in err, err
        assert err.count("\n") == 1
    for override in ("symbols='005930 000660'", "symbols="):  # no hint to get wrong
        assert run_in_process("predict", override) == EXIT_USER_ERROR
        assert "brackets" not in capsys.readouterr().err


def test_a_bad_store_format_fails_at_composition():
    with pytest.raises(ConfigCompositionException) as caught:
        compose_predict("store.format=xml")
    assert "format" in str(caught.value.__cause__)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("window.size=0", r"window.size=0 must be at least 3"),
        ("window.horizon=0", r"window.horizon=0 must be at least 1"),
        ("split.train=0.7 split.val=0.2 split.test=0.2", r"add up to 1.1, not 1"),
        ("split.train=1.2 split.val=-0.1 split.test=-0.1", r"each lie between 0 and 1"),
        ("split.val_start=2016-01-01 split.test_start=2015-01-01", "must come before"),
        ("train.learning_rate=nan", r"learning_rate=nan must be a finite number above 0"),
        ("train.learning_rate=inf", r"learning_rate=inf"),
        ("train.learning_rate=0", r"learning_rate=0.0"),
        ("train.patience=-1", r"train.patience=-1 must be at least 0"),
        ("train.epochs=0", r"train.epochs=0 must be at least 1"),
        ("train.threads=0", r"train.threads=0"),
        ("model.units=0", r"model.units=0 must be at least 1"),
        ("model.layers=0", r"model.layers=0"),
        ("model.lstm.dropout=1.5", r"model.lstm.dropout=1.5 must lie in \[0, 1\)"),
        ("model.lstm.recurrent_dropout=-0.1", r"recurrent_dropout=-0.1"),
        ("model.lstm.stateful=true", r"stateful=true is not supported"),
        ("evaluation.interval_levels=[0.1,1.5]", r"interval_levels"),
        ("evaluation.interval_levels=[0.5]", r"two or more"),
        ("evaluation.backtest.folds=0", r"folds=0 must be at least 1"),
        ("evaluation.intervals.adapt_rate=0.7", r"adapt_rate=0.7 must lie in \[0, 0.5\)"),
        ("evaluation.intervals.adapt_rate=nan", r"adapt_rate=nan"),
        ("evaluation.intervals.shrink=1.5", r"shrink=1.5 must lie in \[0, 1\]"),
        (
            "evaluation.intervals.step_persistence=1.0",
            r"step_persistence=1.0 must lie in \[0, 1\)",
        ),
        ("evaluation.intervals.variance_ratio=2", r"variance_ratio=2.0 must lie in \[0, 1\]"),
        ("model.ensemble=0", r"model.ensemble=0 must be at least 1"),
        ("train.seed=-1", r"train.seed=-1 must lie in \[0, 4294967295\]: NumPy"),
        (
            "train.seed=4294967295 model.ensemble=2",
            r"must lie in \[0, 4294967294\] \(model.ensemble=2 seeds its members 4294967295",
        ),
        ("forecast.shrink=1.5", r"forecast.shrink=1.5 must lie in \[0, 1\]"),
        (
            "forecast.components=[arima] evaluation.peers.arima=false",
            r"forecast.components=\['arima'\] names only peers that evaluation.peers turns off",
        ),
        ("evaluation.backtest.refit_every=0", r"refit_every=0"),
        (
            "evaluation=backtest data.symbol=005930 data.symbols=[005930,000660]",
            r"evaluation=backtest runs on one symbol: set data.symbol and leave data.symbols",
        ),
        (
            "data=fdr data.symbol=005380 data.symbols=[000660,AAPL]",
            r"data.symbol=005380 is set beside data.symbols / data.universe_file",
        ),
        ("evaluation.backtest.val_fraction=1.0", r"val_fraction=1.0"),
        ("features.target=Volume", r"target=Volume is not supported"),
        ("features.columns=[]", r"features.columns is empty"),
        ("features.columns=[Close,Close]", r"names a column twice"),
        ("data.timeout_s=0", r"data.timeout_s=0.0 must be positive"),
        ("data.retries=-1", r"data.retries=-1"),
        ("data.max_gap_sessions=-2", r"data.max_gap_sessions=-2"),
        ("data.start=soon", r"data.start='soon' is not a date"),
        # parsed by pandas, then 'unexpected OutOfBoundsDatetime' (a bug, exit 1) in the job
        ("data.end=2300-01-01", r"data.end='2300-01-01' is outside the dates a price table"),
        ("data.start=0001-01-01", r"data.start='0001-01-01' is outside the dates"),
        # pandas refused to slice the price index with it: a bug, exit 1
        ("data.end=2018-06-01T00:00:00+09:00", r"data.end='2018-06-01T00:00:00\+09:00' has a time"),
        ("data.start=2020-01-01 data.end=2019-01-01", r"is after data.end"),
        ("+train.epoch=3", r"train.epoch is not a config key \(a typo\?\): did you mean "),
        ("logger=mlflow +logger.mlflow.tracking_ur=x", r"mean logger\.mlflow\.tracking_uri\?"),
        ("+surprise=1", r"surprise is not a config key"),
    ],
)
def test_a_value_out_of_range_is_named_before_any_data_is_read(tmp_path, override, message):
    cfg = compose_train(tmp_path / "run", *override.split())
    with pytest.raises(MarketcastError, match=message):
        config.check_train_job(cfg)


def test_a_keras_backend_that_is_unknown_or_not_installed_is_said_at_start(tmp_path, monkeypatch):
    """KERAS_BACKEND=jax without jax failed after the data was read, as 'unexpected
    ModuleNotFoundError ... (a bug, not your input)', exit 1."""
    from marketcast.config import checks

    cfg = compose_train(tmp_path / "run")
    predict_cfg = compose_predict(f"run_dir={tmp_path}", "dry_run=true")
    monkeypatch.setenv("KERAS_BACKEND", "bogus")
    for check in (config.check_train_job, config.check_predict_job):
        with pytest.raises(MarketcastError, match=r"KERAS_BACKEND='bogus' is not a Keras backend"):
            check(cfg if check is config.check_train_job else predict_cfg)
    monkeypatch.setenv("KERAS_BACKEND", "numpy")  # it imported jax, then could not train
    with pytest.raises(MarketcastError, match=r"KERAS_BACKEND=numpy is one of Keras' inference"):
        config.check_train_job(cfg)
    # jax's module missing, whatever this machine has installed
    monkeypatch.setitem(checks.KERAS_BACKENDS, "jax", "marketcast_no_such_module")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(MarketcastError, match=r"KERAS_BACKEND=jax needs the .* not installed: pip"):
        config.check_train_job(cfg)
    for name in ("tensorflow", ""):  # empty: Keras' default, as for KERAS_BACKEND=$UNSET
        monkeypatch.setenv("KERAS_BACKEND", name)
        config.check_train_job(cfg)


def test_the_backend_of_keras_json_is_checked_where_keras_backend_is_unset(tmp_path, monkeypatch):
    """Keras reads its backend from $KERAS_HOME/keras.json (~/.keras) where KERAS_BACKEND is
    not set: a file left saying jax, without jax, failed after the data was read. The
    values Keras refuses in the file, it refuses whatever the variable."""
    from marketcast.config import checks

    cfg = compose_train(tmp_path / "run")
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    config.check_train_job(cfg)  # no keras.json: Keras' default
    monkeypatch.setitem(checks.KERAS_BACKENDS, "jax", "marketcast_no_such_module")
    (home / "keras.json").write_text('{"floatx": "float32", "backend": "jax"}')
    with pytest.raises(MarketcastError, match=r"the backend 'jax' of .*keras.json needs the"):
        config.check_train_job(cfg)
    (home / "keras.json").write_text('{"backend": "tensorfow"}')
    with pytest.raises(MarketcastError, match=r"'tensorfow' of .* not a Keras backend: set "):
        config.check_train_job(cfg)
    for text, said in (
        ("[]", "holds list, not a JSON object"),
        ('{"backend": ""}', "'' of"),
        ('{"backend": null}', "'null' of"),
        ('{"floatx": "float8"}', r'floatx="float8", which Keras refuses.*float16, float32'),
        ('{"epsilon": 1}', "epsilon=1, which Keras refuses"),
        ('{"image_data_format": "nhwc"}', "image_data_format=.*channels_first"),
    ):
        (home / "keras.json").write_text(text)  # Keras fails on each as it imports
        with pytest.raises(MarketcastError, match=said):
            config.check_train_job(cfg)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # Keras still reads the file
    with pytest.raises(MarketcastError, match="image_data_format="):
        config.check_train_job(cfg)
    (home / "keras.json").write_text('{"backend": "jax"}')  # the variable wins, as in Keras
    config.check_train_job(cfg)
    monkeypatch.delenv("KERAS_BACKEND")
    for text in ('{"backend": "tensorflow"}', "not json", '{"floatx": "float32"}'):  # default
        (home / "keras.json").write_text(text)
        config.check_train_job(cfg)


def test_an_lstm_option_keras_refuses_is_named_before_any_data_is_fetched(tmp_path, monkeypatch):
    """model.lstm.activation=tanhh is a bad choice (issue 11: it fails before any data is
    read): it was said once FinanceDataReader had been asked for the prices and the cache
    written, or a CSV file read and validated, some 12 s later."""
    import FinanceDataReader
    from fake_fdr import FakeReader

    from marketcast.jobs.train import train

    reader = FakeReader({})
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    cache = tmp_path / "cache"
    cfg = compose_train(
        tmp_path / "run",
        "data=fdr",
        "data.symbol=005930",
        f"paths.cache_dir={cache}",
        "model.lstm.activation=tanhh",
    )
    config.check_train_job(cfg)
    with pytest.raises(MarketcastError, match=r"model.lstm.activation='tanhh' is not valid"):
        train(cfg)
    assert reader.calls == [] and not cache.exists()


@pytest.mark.parametrize("peer", ["ets", "arima"])
def test_a_peer_turned_off_is_no_component_of_the_combination_either(tmp_path, peer):
    """evaluation.peers.ets=false alone was refused ("forecast.components includes ets"):
    the key that turns a peer off did not, unless the combination's list was edited too."""
    from marketcast.jobs.train import _forecast_config

    cfg = compose_train(
        tmp_path / "run", "forecast.components=[lstm,ets,arima]", f"evaluation.peers.{peer}=false"
    )
    config.check_train_job(cfg)
    left = [c for c in ("lstm", "ets", "arima") if c != peer]
    assert config.usable_components(cfg) == left
    assert [str(c) for c in _forecast_config(cfg).components] == left
    assert [str(c) for c in cfg.forecast.components] == ["lstm", "ets", "arima"]  # as typed


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("max_stale_sessions=-1", r"max_stale_sessions=-1 must be at least 0"),
        ("as_of=notadate", r"as_of='notadate' is not a date"),
        ("as_of=2300-01-01", r"as_of='2300-01-01' is outside the dates a price table can hold"),
        ("as_of=2018-12-31T12:00:00Z", r"as_of='2018-12-31T12:00:00Z' has a time zone"),
        ("+store.path=x", r"store.path is not a config key"),
        # a format without its location wrote no store, silently
        ("store.format=sql", r"store.format=sql takes store.url \(a SQLAlchemy URL\): e.g."),
        ("store.format=csv", r"store.format=csv takes store.dir"),
    ],
)
def test_bad_predict_values_are_named(override, message):
    with pytest.raises(MarketcastError, match=message):
        config.check_predict_job(compose_predict(override))


def test_an_output_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(MarketcastError, match="is a directory"):
        config.check_predict_job(compose_predict(f"output={tmp_path}"))


def test_the_defaults_pass_their_own_checks(tmp_path):
    config.check_train_job(compose_train(tmp_path / "run"))
    finished = tmp_path / "outputs" / "train" / "a_run"  # predict's checks look for a run
    finished.mkdir(parents=True)
    (finished / DONE_FILE).write_text('{"run_id": "a_run", "files": {}}')
    root = tmp_path / "outputs"
    config.check_predict_job(
        compose_predict(f"paths.run_dir={tmp_path}", f"paths.output_root={root}")
    )


def test_no_yaml_restates_a_schema_default():
    """One home for each default: a group file holds only what differs from its schema."""
    schemas = {"data": config.DataConfig, "model": config.ModelConfig}
    for group, schema in schemas.items():
        defaults = dataclasses.asdict(schema())
        for path in (CONF / group).glob("*.yaml"):
            values = yaml.safe_load(path.read_text()) or {}
            restated = [
                k
                for k, v in values.items()
                if k != "defaults" and k in defaults and defaults[k] == v
            ]
            assert not restated, f"{path.name} restates {restated}"


def test_run_directories_are_unique_within_a_millisecond():
    names = {config.run_id() for _ in range(2000)}
    assert len(names) == 2000
    assert all(config.is_run_id(name) for name in names)


def test_a_job_in_a_fixed_directory_gets_its_own_id_each_time():
    made = config.run_id()
    assert config.job_id(f"/srv/outputs/predict/{made}") == made  # the default run directory
    fixed = {config.job_id("/srv/logs/predict") for _ in range(3)}  # hydra.run.dir fixed
    assert len(fixed) == 3 and all(config.is_run_id(name) for name in fixed)
    assert "predict" not in fixed and config.is_run_id(config.job_id(None))


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["train", "train.learning_rate=-1"],
            "error: train.learning_rate=-1.0 must be a finite number above 0 (e.g. 4e-3).",
        ),
        (  # took 4 s: the job loaded Keras before it looked for the run
            ["predict", "run_dir=no_such_run"],
            "error: run_dir='no_such_run' does not exist: pass a training run directory (it "
            "holds model.keras and preprocessing.json).",
        ),
        (
            ["predict", "run_dir={root}"],
            "error: run_dir='{root}' has no finished run (no run.json: the run did not finish): "
            "point run_dir at a directory written by marketcast train, or train again.",
        ),
        (  # a missing group option is an OSError to Hydra too: it was a traceback, exit 1
            ["train", "evaluation=backtst"],
            "error: In 'train': Could not find 'evaluation/backtst' Available options in "
            "'evaluation': backtest single (marketcast train --help lists every key and group)",
        ),
        (  # a folder that holds no files: ENOENT, which was a traceback, exit 1
            ["train", "hydra.run.dir=/proc/marketcast-run"],
            "error: cannot write /proc/marketcast-run: No such file or directory (ENOENT); "
            "nothing was left half-written. Check the path, or choose another location. Runs "
            "go under paths.output_root.",
        ),
        (  # the sample's label and calendar on another file: a KRX stock published as SP500
            ["train", "data.path={root}/krx_005380.csv"],
            "error: data.path={root}/krx_005380.csv under data=sample (the default: the "
            "bundled S&P 500 file, labelled SP500 on the NYSE calendar): pass data=csv "
            "data.path=FILE for a file of yours, or data=fdr data.symbol=SYMBOL for "
            "FinanceDataReader.",
        ),
        (  # a KRX stock on the NYSE calendar
            ["train", "data.source=fdr", "data.symbol=005930"],
            "error: data.source=fdr, data.symbol=005930 under data=sample (the default: the "
            "bundled S&P 500 file, labelled SP500 on the NYSE calendar): pass data=csv "
            "data.path=FILE for a file of yours, or data=fdr data.symbol=SYMBOL for "
            "FinanceDataReader.",
        ),
        (  # and a bare predict before any training
            ["predict"],
            "error: no finished training run under {root}: run `marketcast train` first, or "
            "pass run_dir=DIR.",
        ),
    ],
)
@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_bad_value_exits_2_with_one_message_and_without_tensorflow(tmp_path, argv, error):
    """The CLI checks the config before the job's module (and TensorFlow) is imported."""
    root = tmp_path.resolve()
    argv = [arg.format(root=root) for arg in argv]
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['marketcast', *{argv!r}, 'paths.output_root={root}']\n"
        "try:\n"
        "    runpy.run_module('marketcast', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    print('tensorflow' in sys.modules, exit.code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.stdout.split()[-2:] == ["False", "2"], done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [error.format(root=root)]
    assert not list(Path(tmp_path).rglob("*.log")), "a failed start leaves nothing behind"


@pytest.mark.parametrize(
    ("variable", "command"),
    [("MARKETCAST_OUTPUT_ROOT", "fetch"), ("MARKETCAST_CACHE_DIR", "predict")],
)
def test_an_empty_path_variable_is_refused_before_any_folder_is_made(
    tmp_path, monkeypatch, capsys, variable, command
):
    """MARKETCAST_OUTPUT_ROOT=$ROOT with $ROOT unset put fetch's run folder at /fetch/...;
    an empty MARKETCAST_CACHE_DIR meant no cache to fetch and the runs' own to predict."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, " ")
    assert run_in_process(command) == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith(
        f"error: the environment variable {variable} is set but empty: set it to a folder, "
        "or unset it ("
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["evaluation.backtest.folds=3"], "evaluation.backtest.folds=3 applies to a walk-"),
        (["evaluation.backtest={folds:3}"], "evaluation.backtest={folds:3} applies to a walk-"),
        (["evaluation=backtest", "split.val_start=2016-01-04"], "val_start=2016-01-04: a backt"),
        (["evaluation=backtest", "split={val_start:2016-01-04}"], "2016-01-04}: a backtest does"),
    ],
)
def test_a_key_of_the_other_evaluation_mode_is_warned_about(overrides, said, caplog, tmp_path):
    """It did nothing and said nothing: evaluation.backtest.folds=3 ran a single split.
    Warned, not refused: a sweep over evaluation=single,backtest carries both modes' keys."""
    with hydra_job(compose_hydra(*overrides)), caplog.at_level("WARNING", "marketcast.config"):
        config.check_train_job(compose_train(tmp_path / "run", *overrides))
    assert said in caplog.text and "does without it" in caplog.text
    caplog.clear()
    read = ("evaluation=backtest", "evaluation.backtest.folds=3")  # a key its mode reads
    with hydra_job(compose_hydra(*read)), caplog.at_level("WARNING", "marketcast.config"):
        config.check_train_job(compose_train(tmp_path / "run", *read))
    assert caplog.text == ""


def cli_in_process(tmp_path, *argv: str, before: str = "") -> subprocess.CompletedProcess:
    """``marketcast ARGV`` in a fresh Python, runs under ``tmp_path``; ``before``: code run
    first (what the environment lacks)."""
    argv = [*argv, f"paths.output_root={tmp_path}"]
    probe = (
        f"import sys, runpy\n{before}sys.argv = ['marketcast', *{argv!r}]\n"
        "runpy.run_module('marketcast', run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_an_experiment_that_names_another_file_under_the_sample_is_refused(tmp_path):
    """Only typed keys were checked: an experiment file's data.path under data=sample
    published a KRX stock's won prices as SP500, on the NYSE calendar."""
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "krx.yaml").write_text(
        "# @package _global_\ndata:\n  path: /srv/krx_005380.csv\n"
    )
    done = cli_in_process(
        tmp_path, "train", "--config-dir", str(tmp_path / "conf"), "experiment=krx"
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: data.path=/srv/krx_005380.csv under data=sample")


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_optuna_missing_is_said_as_such(tmp_path):
    """Hydra reported "Error locating target ...StudyReport" and hid why: the module's own
    message (Optuna is not installed, and how to install it) lay two causes down."""
    without = "sys.modules['optuna'] = None  # what an environment without it sees\n"
    done = cli_in_process(tmp_path, "train", "-m", "hparams_search=optuna", before=without)
    assert done.returncode == 2
    (said,) = done.stderr.strip().splitlines()
    assert said.startswith(
        "error: hparams_search=optuna needs Optuna, which is not installed: pip install 'optuna>="
    )


@pytest.mark.parametrize(
    ("choices", "names"),
    [
        ("Volatility", "marketcast.evaluation.intervals:VOLATILITIES"),
        ("StepRates", "marketcast.evaluation.intervals:STEP_RATES"),
        ("Component", "marketcast.evaluation.forecasts:COMPONENTS"),
        ("CombineLoss", "marketcast.evaluation.combination:LOSSES"),
        ("ScalerKind", "marketcast.features.scaling:SCALERS"),
        ("StoreFormat", "marketcast.storage.forecast_store:FORMATS"),
        ("Missing", "marketcast.data.validation:MISSING_POLICIES"),
        ("Halts", "marketcast.data.validation:HALT_POLICIES"),
        ("PriceColumn", "marketcast.data.validation:PRICE_COLUMNS"),
    ],
)
def test_each_config_choice_is_what_the_code_it_reaches_accepts(choices, names):
    """The pure layers keep their own tuple of the names they accept (they do not import
    the config); each must list exactly the choices the config offers, or a choice the
    config lets through would fail deep in a run, or one the code accepts could not be set."""
    import importlib

    module, attribute = names.split(":")
    accepted = getattr(importlib.import_module(module), attribute)
    assert sorted(accepted) == sorted(getattr(config.schemas, choices))


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
@pytest.mark.parametrize("multirun", [False, True])
def test_a_run_folder_that_cannot_be_made_is_one_line(tmp_path, multirun):
    """Hydra makes the run (or sweep) folder before the job starts: a file in its way was
    a NotADirectoryError traceback."""
    (tmp_path / "afile").write_text("")
    sweep = ["-m", "model.units=4,8"] if multirun else []
    done = run_marketcast("train", *sweep, f"paths.output_root={tmp_path / 'afile' / 'out'}")
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert errors[0].startswith(f"error: cannot write {tmp_path / 'afile' / 'out'}/")
    assert "a file stands where a folder must be" in errors[0]
    assert errors[0].endswith("Runs go under paths.output_root.")
    assert "UserWarning" not in done.stderr


@pytest.mark.parametrize("swept", ["model=lstm,lsmt", "model.unit=3,4"])
@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_sweep_whose_config_does_not_compose_leaves_no_folder(tmp_path, swept):
    """The message was one line, but the sweep's folder stayed, holding multirun.yaml."""
    done = run_marketcast("train", "-m", swept, f"paths.output_root={tmp_path / 'out'}")
    assert done.returncode == 2 and done.stderr.startswith("error: "), done.stderr
    assert not (tmp_path / "out").exists()


def test_a_price_cache_folder_this_user_cannot_write_is_refused_with_the_offline_way_out():
    """An existing cache that fetch, train or predict cannot refresh can still be read as it
    is: the message offers data.refresh=never there (and not for a folder that is not)."""
    from marketcast.config import DataConfig, check_cache_dir

    folder = Path(tempfile.mkdtemp(prefix="marketcast-read-only-"))  # nobody must reach it
    folder.chmod(0o755)
    try:
        (folder / "cache").mkdir()
        cache = DataConfig(source="fdr", symbol="005930", cache_dir=str(folder / "cache"))
        with without_write_access(folder / "cache"), pytest.raises(MarketcastError) as refused:
            check_cache_dir(cache)
        said = str(refused.value)
        assert said.startswith(f"data.cache_dir='{folder / 'cache'}' cannot be written: ")
        assert "EACCES" in said and said.endswith(
            " Or read the cache as it is: data.refresh=never."
        )
        with without_write_access(folder / "cache"):  # refresh=never writes nothing: passes
            check_cache_dir(DataConfig(**{**vars(cache), "refresh": "never"}))
        assert sorted(p.name for p in (folder / "cache").iterdir()) == []  # no probe left
    finally:
        shutil.rmtree(folder)


def test_an_output_below_a_file_is_refused_at_start_up(tmp_path):
    """The store is written before forecast.csv: a CSV that cannot be written was found
    only after the store had taken the night's rows."""
    (tmp_path / "afile").write_text("")
    cfg = compose_predict(f"output={tmp_path / 'afile' / 'f.csv'}")
    with pytest.raises(MarketcastError) as refused:
        config.check_predict_job(cfg)
    assert str(refused.value) == (
        f"output='{tmp_path / 'afile' / 'f.csv'}' cannot be written: {tmp_path / 'afile'}: "
        "Not a directory (ENOTDIR): a file stands where a folder must be. Move that file "
        "away, or choose another location."
    )
    # root may write anywhere os.access looks, yet /proc holds no files: it passed, and the
    # CSV failed after the store had committed
    with pytest.raises(MarketcastError, match=r"output='/proc/f.csv' cannot be written: /proc: "):
        config.check_predict_job(compose_predict("output=/proc/f.csv"))
    with pytest.raises(MarketcastError, match=r"^run_dir='.*norun' does not exist"):  # writes
        config.check_predict_job(  # nothing: the output is no reason to refuse a dry run
            compose_predict("output=/proc/f.csv", "dry_run=true", f"run_dir={tmp_path}/norun")
        )
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")  # passed, then failed after the store
    with pytest.raises(MarketcastError, match="dangling: Not a directory"):
        config.check_predict_job(compose_predict(f"output={tmp_path / 'dangling' / 'f.csv'}"))


def store_of(*overrides: str):
    return compose_predict(*overrides).store


def test_a_store_that_cannot_be_written_is_refused_at_start_up(tmp_path):
    """Said only once the night's forecasts were ready to write, Keras loaded (3.4 s)."""
    (tmp_path / "afile").write_text("not a database\n")
    with pytest.raises(MarketcastError) as refused:
        check_location(store_of(f"store.dir={tmp_path / 'afile'}"))
    assert str(refused.value).startswith(
        f"store.dir='{tmp_path / 'afile'}' cannot be written: {tmp_path / 'afile'}: Not a "
        "directory (ENOTDIR): a file stands where a folder must be."
    )
    with pytest.raises(MarketcastError, match=r"store.dir='/proc/s' cannot be written: /proc: "):
        check_location(store_of("store.dir=/proc/s"))
    url = f"sqlite:///{tmp_path / 'afile'}"
    with pytest.raises(MarketcastError) as refused:
        check_location(store_of("store.format=sql", f"store.url={url}"))
    assert str(refused.value) == (
        f"store.url={url} is not a forecast store: {tmp_path / 'afile'} is not an SQLite "
        "database. Point store.url at the store's database, or at a new file to start one."
    )
    check_location(store_of(f"store.dir={tmp_path / 'new' / 'store'}"))  # a new store
    check_location(store_of("store.format=sql", f"store.url=sqlite:///{tmp_path / 'new.db'}"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no probe left
    dry = compose_predict(  # writes nothing: the store is not looked at, the runs are
        f"store.dir={tmp_path / 'afile'}", "dry_run=true", f"run_dir={tmp_path}/norun",
        f"output={tmp_path / 'f.csv'}",
    )  # fmt: skip
    with pytest.raises(MarketcastError, match=r"^run_dir='.*norun' does not exist"):
        check_predict_start(dry)


def one_forecast():
    """A forecast table of one row, to start a store with."""
    import datetime as dt

    import pandas as pd

    day = dt.date(2024, 5, 2)
    return pd.DataFrame(
        {"symbol": ["A"], "as_of": [day], "target_date": [day + dt.timedelta(days=1)],
         "step": [1], "forecast": [1.0], "q10": [0.9], "q90": [1.1], "run_dir": ["/runs/a"]}
    )  # fmt: skip


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_a_folder_of_other_files_or_another_format_is_refused_as_a_store_at_start_up(tmp_path):
    """predict made a Delta table in any folder (the price cache), whose maintain then deleted
    every other file there; a forgotten store.format split one store in two."""

    from marketcast.storage.forecast_store import LOCK_FILE, RunInfo
    from marketcast.storage.stores import open_store

    cache = tmp_path / "cache"
    cache.mkdir()
    for name in ("000660.parquet", "005380.parquet", "notes.txt", "x.csv"):
        (cache / name).write_text("kept\n")
    with pytest.raises(MarketcastError) as refused:
        check_location(store_of(f"store.dir={cache}"))
    assert str(refused.value) == (
        f"store.dir={cache} is a folder of other files (000660.parquet, 005380.parquet, "
        "notes.txt and 1 more), not a forecast store: a store is started only in a new or "
        "empty folder, which it keeps to itself. Point store.dir at the store, or at a new "
        "folder."
    )
    with pytest.raises(MarketcastError, match="is a folder of other files"):
        check_location(store_of("store.format=csv", f"store.dir={cache}"))
    assert sorted(p.name for p in cache.iterdir()) == [
        "000660.parquet", "005380.parquet", "notes.txt", "x.csv"
    ]  # fmt: skip
    table = one_forecast()
    for fmt in ("delta", "csv"):
        store = open_store(fmt, str(tmp_path / fmt))
        with store.locked():
            store.write(table, RunInfo.for_table(table, run_id="r"))
        check_location(store_of(f"store.format={fmt}", f"store.dir={tmp_path / fmt}"))
    with pytest.raises(MarketcastError) as refused:
        check_location(store_of("store.format=csv", f"store.dir={tmp_path / 'delta'}"))
    assert str(refused.value) == (
        f"store.dir={tmp_path / 'delta'} holds a Delta table (its _delta_log), not a csv store: "
        "drop store.format=csv to write to it, or point store.dir at a new folder."
    )
    with pytest.raises(MarketcastError) as refused:
        check_location(store_of(f"store.dir={tmp_path / 'csv'}"))
    assert str(refused.value) == (
        f"store.dir={tmp_path / 'csv'} holds a CSV export (as_of=DATE/forecasts.csv), not a "
        "delta store: add store.format=csv to write to it, or point store.dir at a new folder."
    )
    (tmp_path / "csv" / "notes.txt").write_text("mine\n")  # the export deletes nothing
    check_location(store_of("store.format=csv", f"store.dir={tmp_path / 'csv'}"))
    with pytest.raises(MarketcastError, match="holds a CSV export"):
        check_location(store_of(f"store.dir={tmp_path / 'csv'}"))
    locked_only = tmp_path / "empty"
    locked_only.mkdir()
    (locked_only / LOCK_FILE).touch()  # a night that wrote nothing leaves its lock file
    (locked_only / ".DS_Store").touch()  # hidden names: no store reads or deletes them
    check_location(store_of(f"store.dir={locked_only}"))
    # A first write killed before it committed leaves its own files, not a stranger's: the
    # next night writes there (a Delta data file with no log; the export's temporary file)
    (data_file,) = (tmp_path / "delta").glob("as_of=*/part-*.parquet")
    unborn = tmp_path / "unborn"
    (unborn / data_file.parent.name).mkdir(parents=True)
    shutil.copy(data_file, unborn / data_file.parent.name / data_file.name)
    check_location(store_of(f"store.dir={unborn}"))
    with pytest.raises(MarketcastError, match="holds a Delta table"):
        check_location(store_of("store.format=csv", f"store.dir={unborn}"))
    unborn_csv = tmp_path / "unborn_csv" / "as_of=2024-05-02"
    unborn_csv.mkdir(parents=True)
    (unborn_csv / ".forecasts.x1y2.csv").write_text("symbol\n")
    check_location(store_of("store.format=csv", f"store.dir={unborn_csv.parent}"))
    (unborn_csv / "mine.parquet").write_text("not Delta's\n")
    with pytest.raises(MarketcastError, match=r"is a folder of other files \(as_of=2024-05-02\)"):
        check_location(store_of(f"store.dir={unborn_csv.parent}"))


def test_store_locations_the_start_up_check_leaves_to_the_store(tmp_path, monkeypatch):
    """Object storage is no local path (it was probed in the current folder); a URL the
    store cannot take is named in the store's own words at start-up (a host in a SQLite URL
    was 'unexpected ArgumentError', exit 1, after forecasting); a folder is no database."""
    for url, said in (
        ("sqlite://forecasts.db", r"^store.url='sqlite://forecasts.db': Invalid SQLite URL"),
        ("sqlite://host:port/x", r"^store.url='sqlite://host:port/x' is not a database URL"),
        (f"sqlite:///{tmp_path}", r"names a folder"),
    ):
        with pytest.raises(MarketcastError, match=said):
            check_location(store_of("store.format=sql", f"store.url={url}"))
    monkeypatch.chdir("/proc")  # where nothing can be made: a local probe would fail here
    check_location(store_of("store.dir=s3://bucket/forecasts"))


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_a_file_uri_is_the_local_folder_and_a_scheme_no_store_writes_is_refused(
    tmp_path, monkeypatch
):
    """store.dir=file:///path: delta-rs wrote the table there, while the start-up check, the
    lock file and the folder check took the relative folder 'file:' of the current directory
    (two nights' locks in two places); hdfs:// and a CSV export on s3:// became folders
    named after the URI."""

    from marketcast.storage.forecast_store import LOCK_FILE, RunInfo
    from marketcast.storage.stores import open_store

    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    table = one_forecast()
    for fmt, folder, spelt in (
        ("delta", tmp_path / "delta", lambda f: f.as_uri()),  # file:///...
        ("csv", tmp_path / "c s v", lambda f: f.as_uri()),  # file:///.../c%20s%20v
        ("delta", tmp_path / "short", lambda f: f"file:{f}"),  # file:/..., as Java writes it
        ("csv", tmp_path / "upper", lambda f: f"FILE://localhost{f}"),
    ):
        uri = spelt(folder)
        check_location(store_of(f"store.format={fmt}", f"store.dir={uri}"))
        store = open_store(fmt, uri)
        with store.locked():
            store.write(table, RunInfo.for_table(table, run_id="r"))
        assert (folder / LOCK_FILE).exists(), uri
        assert open_store(fmt, str(folder)).read()["forecast"].tolist() == [1.0]
        check_location(store_of(f"store.format={fmt}", f"store.dir={uri}"))  # its own store
    with pytest.raises(MarketcastError, match="holds a Delta table"):
        check_location(store_of("store.format=csv", f"store.dir={(tmp_path / 'delta').as_uri()}"))
    for fmt, uri, said in (
        ("delta", "hdfs://node/forecasts", "hdfs:// is no storage the forecast store writes to"),
        ("csv", "s3://bucket/forecasts", "is object storage, which the CSV export does not"),
        ("delta", "file://host/forecasts", "is no local folder's file: URI: write one as"),
        ("csv", "file://", "is no local folder's file: URI"),  # no folder: the current one
        ("delta", f"{(tmp_path / 'delta').as_uri()}#x", "is no local folder's file: URI"),
    ):
        with pytest.raises(MarketcastError, match=f"^{re.escape(f'store.dir={uri}')}.*{said}"):
            check_location(store_of(f"store.format={fmt}", f"store.dir='{uri}'"))
        with pytest.raises(MarketcastError, match=said):
            open_store(fmt, uri)  # marketcast store show, history, maintain
    assert list(here.iterdir()) == []  # no folder named after a URI
    none = (tmp_path / "none").as_uri()  # messages name the store as it was written
    with pytest.raises(MarketcastError, match=f"no forecast store at store.dir={none}: "):
        open_store("delta", none).read()
    # a colon in a local folder's name is no scheme; a scheme's case is no matter
    odd = tmp_path / "odd://name"
    check_location(store_of(f"store.dir={odd}"))
    assert open_store("csv", str(odd)).location == str(odd)
    assert open_store("delta", "S3://bucket/forecasts").remote


def test_a_run_dir_that_is_a_file_is_called_one(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(MarketcastError, match=r"afile' is a file, not a directory: pass a"):
        config.check_predict_job(
            compose_predict(f"run_dir={tmp_path / 'afile'}", f"output={tmp_path / 'f.csv'}")
        )


def test_a_csv_file_that_is_not_there_is_refused_at_start_up(tmp_path):
    """It was said once the data loaded, after pandas and scipy: 3.0 s, not 1.2."""
    for path, said in (
        (tmp_path / "nope.csv", f"data.path='{tmp_path / 'nope.csv'}' does not exist or is not"),
        (tmp_path, f"data.path='{tmp_path}' does not exist or is not a file."),
    ):
        cfg = compose_train(tmp_path / "run", "data=csv", f"data.path={path}")
        with pytest.raises(MarketcastError, match=re.escape(said)):
            config.check_train_job(cfg)
    (tmp_path / "prices.csv").write_text("Date,Close\n")
    config.check_train_job(
        compose_train(tmp_path / "run", "data=csv", f"data.path={tmp_path / 'prices.csv'}")
    )


def test_a_search_space_key_that_is_no_config_key_is_refused_before_any_trial(tmp_path):
    """Every trial of the study ran and failed on it (20 failed trials by default)."""
    cfg = compose_train(tmp_path / "run", "hparams_search=optuna")
    config.check_train_job(cfg)
    cfg.search.space = {**cfg.search.space, "model.unitz": "choice(8, 16)"}
    with pytest.raises(MarketcastError) as refused:
        config.check_train_job(cfg)
    assert str(refused.value).startswith(
        "search.space.model.unitz is not a config key (a typo?): did you mean model.units?"
    )


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys, caplog):
    """Ctrl-C during training printed TensorFlow's 90-line traceback."""

    def interrupted(command, overrides):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_command", interrupted)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["train"])
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "marketcast train: interrupted\n"
    assert caplog.records[-1].getMessage() == "interrupted"  # the run's log ends with why


def test_sigterm_is_one_line_and_exit_143_after_the_cleanup(monkeypatch, capsys, caplog):
    """A cron timeout or systemd's stop killed the run without a word in its log."""
    import signal

    cleaned = []

    def killed(command, overrides):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in here
        finally:  # a run's cleanup (its MLflow run marked failed, ...), not to be cut short
            cleaned.append(signal.getsignal(signal.SIGTERM))  # by a second SIGTERM

    monkeypatch.setattr(cli, "run_command", killed)
    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.main(["predict"])
    finally:
        signal.signal(signal.SIGTERM, before)
    assert stopped.value.code == 143 and cleaned == [signal.SIG_IGN]
    assert capsys.readouterr().err == "marketcast predict: terminated (SIGTERM)\n"
    assert caplog.records[-1].getMessage() == "terminated (SIGTERM)"  # in predict.log too


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_signal_during_the_interpreters_teardown_leaves_the_commands_exit_status(tmp_path):
    """predict's night was complete and said so, then the interpreter's teardown (a second,
    TensorFlow's) ran with the signals' default actions, Python's handlers gone: a timeout
    there exited 143 with nothing said. The probe's own hook runs after marketcast's, as
    the teardown does, and leaves a signal's action as the teardown finds it."""
    late = (
        "import atexit, os, signal, time\n"
        "def teardown():\n"
        "    if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # what finalising leaves\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(0.5)\n"
        "    print('tore down', flush=True)\n"
        "atexit.register(teardown)\n"
        "def library_hook():  # one a command's import registers (TensorFlow's): runs first\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(0.5)\n"
        "    print('library hook ran', flush=True)\n"
        "import marketcast.cli as cli\n"
        "command = cli.run_command\n"
        "def run_command(*args):\n"
        "    atexit.register(library_hook)\n"
        "    return command(*args)\n"
        "cli.run_command = run_command\n"
    )
    done = cli_in_process(tmp_path, "store", "history", f"store.dir={tmp_path}/none", before=late)
    assert done.returncode == EXIT_USER_ERROR, (done.returncode, done.stderr)
    assert done.stderr.startswith("error: there is no forecast store at store.dir=")
    assert "Exception ignored" not in done.stderr and "Terminated" not in done.stderr
    assert done.stdout.endswith("library hook ran\ntore down\n")


def test_signals_held_deliver_the_first_after_the_block_and_a_second_at_once(capsys):
    """A commit is not cut off after it took effect; one that hangs (a database lock, the
    network) is still stopped by a second signal: held whole, only SIGKILL ended it."""
    import signal

    from marketcast.errors import signals_held

    got = []

    def handler(number, _frame):
        got.append(number)
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(KeyboardInterrupt), signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            got.append("committed")  # the block ran to its end
        assert got == ["committed", signal.SIGTERM]
        assert "stopping once the forecast store's write ends" in capsys.readouterr().err
        got.clear()
        with pytest.raises(KeyboardInterrupt), signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)  # again: now
            got.append("not reached")
        assert got == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is handler  # restored either way
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_signal_inside_signals_act_acts_at_once_and_its_handlers_choice_stands():
    """A SQL write's statements (signals_act) stop at once, a signal held before them too;
    the job's handler then ignores further SIGTERMs, which the held block's end undid."""
    import signal

    from marketcast.errors import signals_act, signals_held

    got = []

    def handler(number, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as cli._terminate: once is enough
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(KeyboardInterrupt), signals_held(), signals_act():
            os.kill(os.getpid(), signal.SIGTERM)
            got.append("not reached")
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.signal(signal.SIGTERM, handler)
        with pytest.raises(KeyboardInterrupt), signals_held():
            os.kill(os.getpid(), signal.SIGTERM)  # held, then acts as the statements begin
            with signals_act():
                got.append("not reached")
        assert got == [] and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("flag", ["-sc", "--shell-completion", "--shell"])  # argparse: prefixes
def test_shell_completion_is_refused_in_one_line(flag, capsys):
    """Hydra's completion script registered `marketcast` and a program named `train`, and
    each TAB printed "'-sc' is not a marketcast command"; `-sc query=bash` without the
    shell's variables was a 27-line traceback."""
    assert run_in_process("train", flag, "install=bash") == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: shell completion is not available")


def test_hydra_help_does_not_advertise_the_refused_completion(monkeypatch, capsys):
    from hydra._internal.hydra import Hydra

    monkeypatch.setattr(Hydra, "get_help", Hydra.get_help)  # put back after the test
    assert run_in_process("train", "--hydra-help") in (None, 0)
    out = capsys.readouterr().out
    assert "--multirun" in out and "--config-dir" in out  # Hydra's other flags stay
    assert "-sc" not in out and "completion" not in out


def _calls_of(monkeypatch, owner: type, name: str) -> list:
    """The arguments of every call of ``owner.name`` from now on (it still runs)."""
    calls, method = [], getattr(owner, name)

    def counted(self, *args, **kwargs):
        calls.append(args)
        return method(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.mark.parametrize(("command", "listed"), [("train", 1), ("predict", 0)])
def test_help_lists_only_the_config_groups_its_template_shows(command, listed, monkeypatch, capsys):
    """Hydra listed every config group twice (its own and the app's) for any --help, copying
    the config repository some 90 times: 2-4 s of predict's help, which shows neither."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.hydra import Hydra

    monkeypatch.setattr(Hydra, "get_help", Hydra.get_help)  # put back after the test
    calls = _calls_of(monkeypatch, Hydra, "format_config_groups")
    # each group listed had its own copy of the config repository (1 s of train's help)
    copies = _calls_of(monkeypatch, ConfigLoaderImpl, "_parse_overrides_and_create_caching_repo")
    assert run_in_process(command, "--help") == 0
    out = capsys.readouterr().out
    assert len(calls) == listed
    assert len(copies) <= 3  # composing the config, and one for the listing
    assert ("data: csv, fdr, sample" in out) == (command == "train")  # the app's groups
    assert "hydra/launcher" not in out and "Exit status:" in out


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["predict", "store.format=parquet"],
            "; the Parquet store of earlier versions became a Delta table: store.format=delta",
        ),
        (
            ["train", "hparams_search=optuna", "hydra.sweeper.n_trials=100"],
            "; the Optuna search's settings are search.* (search.n_trials=...)",
        ),
    ],
)
def test_a_key_or_value_of_an_earlier_version_says_what_it_is_now(args, said, tmp_path, capsys):
    """issue 5's store.format=parquet and issue 11's hydra.sweeper.n_trials were refused
    without a word of what replaced them."""
    assert run_in_process(*args, f"paths.output_root={tmp_path}") == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0]
