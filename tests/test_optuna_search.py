"""Optuna search: space from Hydra's grammar, per-epoch pruning, a shared journal storage,
resumed studies, and the best parameters with their importances.

Trials train a tiny Keras model; the storage, the pruning callback and the study are real.
One learning rate in the space makes SGD diverge, and a threshold pruner stops such trials.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import keras
import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import compose_train, run_in_process
from omegaconf import OmegaConf, open_dict
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from marketcast import config
from marketcast.config import PrunerConfig, SamplerConfig, SearchConfig
from marketcast.errors import EXIT_USER_ERROR, MarketcastError
from marketcast.tracking import optuna_search as search
from marketcast.tracking.pruning import OptunaPruning

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# SGD on a linear model of standardised data: lr 0.01..0.1 converges, 10 or more diverges
SPACE = {"train.learning_rate": "choice(0.01, 0.1, 10.0, 100.0)", "model.units": "choice(2, 4)"}


def fit_tiny(cfg, callbacks) -> float:
    """The objective: 4 epochs of SGD at cfg.train.learning_rate; the last val_loss."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, cfg.model.units))
    y = x.sum(axis=1, keepdims=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((cfg.model.units,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(cfg.train.learning_rate), loss="mse")
    history = model.fit(x[:48], y[:48], validation_data=(x[48:], y[48:]), epochs=4,
                        batch_size=16, verbose=0, callbacks=callbacks)  # fmt: skip
    return float(history.history["val_loss"][-1])


def job_config(storage: Path | str, trial: int, **search_options):
    """A training job's config as Hydra hands it over: typed, struct, one search job."""
    options = {
        "storage": str(storage),
        "space": SPACE,
        "trial": trial,
        "sampler": SamplerConfig(name="random", seed=3),
        "pruner": PrunerConfig(name="threshold", upper=1e3),
        **search_options,
    }
    cfg = OmegaConf.create(
        {
            "search": OmegaConf.structured(SearchConfig(**options)),
            "train": {"learning_rate": 0.004},
            "model": {"units": 8},
        }
    )
    OmegaConf.set_struct(cfg, True)
    return cfg


def csv_job(storage: Path | str, trial: int, path: str):
    """A trial's config scored on the CSV file at ``path``."""
    cfg = job_config(storage, trial)
    with open_dict(cfg):
        cfg.data = {"source": "csv", "path": path}
    return cfg


def run_search(storage: Path | str, out: Path, jobs: range) -> list[float]:
    values = []
    for job in jobs:
        run_dir = out / str(job)
        run_dir.mkdir(parents=True)
        values.append(search.run_trial(job_config(storage, job), fit_tiny, run_dir))
    return values


def test_space_from_hydra_sweep_grammar():
    dims = search.search_space(
        {
            "model.units": "choice(16, 32)",
            "features.columns": "choice([Close], [Close,Open])",
            "model.lstm.dropout": "interval(0.0, 0.3)",
            "train.learning_rate": "tag(log, interval(1e-4, 1e-2))",
            "model.layers": "range(1, 4)",
            "window.size": "tag(int, interval(10, 90))",
        }
    )
    assert dims["model.units"].distribution == CategoricalDistribution([16, 32])
    columns = dims["features.columns"]
    assert columns.distribution == CategoricalDistribution(["[Close]", "[Close,Open]"])
    assert columns.value("[Close,Open]") == ["Close", "Open"]
    assert dims["model.lstm.dropout"].distribution == FloatDistribution(0.0, 0.3)
    assert dims["train.learning_rate"].distribution == FloatDistribution(1e-4, 1e-2, log=True)
    assert dims["model.layers"].distribution == IntDistribution(1, 3)
    assert dims["window.size"].distribution == IntDistribution(10, 90)


def test_space_errors_name_the_key():
    with pytest.raises(MarketcastError, match=r"search\.space\.model\.units='16' is one value"):
        search.search_space({"model.units": "16"})
    with pytest.raises(MarketcastError, match=r"search\.space\.model\.units='choice\(16' is not"):
        search.search_space({"model.units": "choice(16"})
    with pytest.raises(MarketcastError, match="search.space is empty"):
        search.search_space({})


def test_the_threshold_pruner_waits_its_warm_up_epochs():
    """conf/hparams_search/optuna.yaml's n_warmup_steps: 5 held for median and percentile
    only: a threshold pruner stopped trials after their first epoch."""
    pruner = search.make_pruner(PrunerConfig(name="threshold", upper=1.0, n_warmup_steps=3))
    study = optuna.create_study(pruner=pruner)
    trial = study.ask()
    for epoch in range(3):
        trial.report(100.0, epoch)
        assert not trial.should_prune()
    trial.report(100.0, 3)
    assert trial.should_prune()


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_pruning_callback_reports_each_epoch_and_prunes(tmp_path):
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1e3))
    trial = study.ask()
    cfg = OmegaConf.create({"train": {"learning_rate": 100.0}, "model": {"units": 2}})
    with pytest.raises(optuna.TrialPruned, match=r"pruned after epoch 1: val_loss"):
        fit_tiny(cfg, [OptunaPruning(trial)])
    good = study.ask()
    cfg.train.learning_rate = 0.05
    fit_tiny(cfg, [OptunaPruning(good)])
    reported = study._storage.get_trial(good._trial_id).intermediate_values
    assert sorted(reported) == [0, 1, 2, 3]


@pytest.mark.slow  # a whole training run or more; moved out of the 3-minute default suite
def test_search_prunes_diverging_trials_and_resumes(tmp_path):
    storage = tmp_path / "optuna.journal"
    values = run_search(storage, tmp_path / "first", range(4))
    study = optuna.load_study(study_name="marketcast", storage=search.open_storage(str(storage)))
    trials = study.get_trials()
    assert len(trials) == 4
    states = {t.number: t.state for t in trials}
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, f"no trial pruned: {[(t.params, t.state) for t in trials]}"
    assert all(t.params["train.learning_rate"] >= 10 for t in pruned)
    assert set(states.values()) <= {TrialState.PRUNED, TrialState.COMPLETE}
    assert sum(math.isinf(v) for v in values) == len(pruned)
    # every job drew its own values, recorded with its run directory
    records = [json.loads((tmp_path / "first" / str(j) / search.TRIAL_FILE).read_text())
               for j in range(4)]  # fmt: skip
    assert sorted(r["number"] for r in records) == [0, 1, 2, 3]
    assert {r["state"] for r in records} == {s.name for s in states.values()}

    run_search(storage, tmp_path / "again", range(2))  # same study name and storage
    assert len(study.get_trials()) == 6

    summary = search.study_summary(study, search.search_space(SPACE))
    assert summary["trials"]["COMPLETE"] + summary["trials"]["PRUNED"] == 6
    best = min((t for t in study.get_trials() if t.state == TrialState.COMPLETE),
               key=lambda t: t.value)  # fmt: skip
    assert summary["best"]["number"] == best.number
    assert summary["best"]["params"] == best.params
    lr = best.params["train.learning_rate"]
    assert f"train.learning_rate={lr}" in summary["best"]["overrides"]


def test_failed_trial_is_failed_not_pruned(tmp_path):
    def broken(cfg, callbacks):
        raise MarketcastError("window.size=5000 exceeds the history")

    cfg = job_config(tmp_path / "optuna.journal", 0)
    with pytest.raises(MarketcastError):
        search.run_trial(cfg, broken, tmp_path)
    study = search.load_study(cfg.search)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]


def test_a_trial_cut_off_after_its_run_was_saved_whole_is_complete(tmp_path, saved_runs):
    """A SIGTERM held while the run's files moved in acts as the move ends: the run was
    whole, and the study recorded a failed trial, without its value."""
    metrics = {"val": {"lstm": {"mase": 0.93}, "model": {"mase": 1.0}}}

    def saved_then_interrupted(cfg, callbacks):
        (tmp_path / "metrics.json").write_text(json.dumps(metrics))
        saved_runs.append(tmp_path)  # as jobs.outputs.write_run does, once moved in
        raise KeyboardInterrupt

    cfg = job_config(tmp_path / "optuna.journal", 0)
    with pytest.raises(KeyboardInterrupt):
        search.run_trial(cfg, saved_then_interrupted, tmp_path)
    (trial,) = search.load_study(cfg.search).get_trials()
    assert (trial.state, trial.value) == (TrialState.COMPLETE, 0.93)
    assert json.loads((tmp_path / search.TRIAL_FILE).read_text())["state"] == "COMPLETE"


def test_a_trial_that_failed_where_an_earlier_job_saved_a_run_is_failed(tmp_path, saved_runs):
    """The saved-run record is the process's: a run an earlier job saved in the same
    folder does not make this job's failure a complete trial (the review's case)."""
    (tmp_path / "metrics.json").write_text(json.dumps({"val": {"lstm": {"mase": 0.5}}}))
    saved_runs.append(tmp_path)  # an earlier train() of this process, this folder

    def broken(cfg, callbacks):
        raise MarketcastError("data.path=/nonexistent.csv does not exist")

    cfg = job_config(tmp_path / "optuna.journal", 0)
    with pytest.raises(MarketcastError):
        search.run_trial(cfg, broken, tmp_path)
    assert [t.state for t in search.load_study(cfg.search).get_trials()] == [TrialState.FAIL]


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_study_report_writes_best_params_and_importances(tmp_path, capsys):
    storage = tmp_path / "optuna.journal"
    run_search(storage, tmp_path / "jobs", range(4))
    config = OmegaConf.create(
        {"search": job_config(storage, 0).search, "hydra": {"sweep": {"dir": str(tmp_path)}}}
    )
    search.StudyReport().on_multirun_end(config)
    saved = OmegaConf.load(tmp_path / search.BEST_FILE)
    assert saved.best.number is not None
    printed = capsys.readouterr().out
    assert "\x1b[" not in printed  # not a terminal: no colour codes
    assert f"the network's validation MASE {saved.best.value:.4g}" in printed
    assert f"train.learning_rate={saved.best.params['train.learning_rate']:.4g}" in printed
    if saved.importances:
        assert set(saved.importances) <= set(SPACE)
        assert math.isclose(sum(saved.importances.values()), 1.0, rel_tol=1e-6)
    else:
        assert saved.importance_note


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_rdb_storage_works_with_sqlalchemy_2(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    run_search(url, tmp_path / "jobs", range(2))
    assert len(optuna.load_study(study_name="marketcast", storage=url).get_trials()) == 2


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_optuna_dashboard_reads_the_journal(tmp_path):
    storage = tmp_path / "optuna.journal"
    run_search(storage, tmp_path / "jobs", range(2))
    port = free_port()
    dashboard = subprocess.Popen(
        [str(Path(sys.executable).parent / "optuna-dashboard"), str(storage),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        studies = None
        for _ in range(60):
            try:
                url = f"http://127.0.0.1:{port}/api/studies"
                with urllib.request.urlopen(url, timeout=2) as response:
                    studies = json.loads(response.read())["study_summaries"]
                break
            except OSError:
                time.sleep(0.5)
        assert studies is not None, "optuna-dashboard did not answer"
        assert [s["study_name"] for s in studies] == ["marketcast"]
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=30)


APP = """
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig

from marketcast.config import SearchConfig
from marketcast.tracking.optuna_search import run_trial
from test_optuna_search import fit_tiny


@dataclass
class AppConfig:
    paths: Any = None
    train: Any = None
    model: Any = None
    window: Any = None
    features: Any = None
    search: SearchConfig = field(default_factory=SearchConfig)


ConfigStore.instance().store(name="app_schema", node=AppConfig)


@hydra.main(version_base="1.3", config_path="conf", config_name="app")
def main(cfg):
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    return run_trial(cfg, fit_tiny, run_dir)


main()
"""

APP_CONF = """
defaults:
  - app_schema
  - _self_
  - hparams_search: null
paths:
  output_root: OUTPUT_ROOT
train: {learning_rate: 0.01, batch_size: 16, seed: 7}
model: {units: 2, layers: 1, lstm: {dropout: 0.0}}
window: {size: 20}
features: {columns: [Close]}
"""


@pytest.mark.slow
def test_hydra_multirun_with_parallel_jobs_fills_and_resumes_one_study(tmp_path):
    """conf/hparams_search/optuna.yaml, run by joblib two trials at a time."""
    (tmp_path / "conf" / "hparams_search").mkdir(parents=True)
    proposed = ROOT / "conf" / "hparams_search" / "optuna.yaml"
    (tmp_path / "conf" / "hparams_search" / "optuna.yaml").write_text(proposed.read_text())
    conf = APP_CONF.replace("OUTPUT_ROOT", str(tmp_path / "outputs"))
    (tmp_path / "conf" / "app.yaml").write_text(conf)
    (tmp_path / "app.py").write_text(APP)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT / "tests")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip

    def search_run(sweep: str, n_trials: int) -> str:
        command = [sys.executable, "app.py", "hparams_search=optuna",
                   f"search.n_trials={n_trials}", f"hydra.sweep.dir={tmp_path / sweep}",
                   "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]  # fmt: skip
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    printed = search_run("first", 3)
    storage = tmp_path / "outputs" / "optuna" / "marketcast.journal"
    study = optuna.load_study(study_name="marketcast", storage=search.open_storage(str(storage)))
    trials = study.get_trials()
    assert len(trials) == 3
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 3  # each job its own draw
    numbers = {json.loads((tmp_path / "first" / str(j) / search.TRIAL_FILE).read_text())["number"]
               for j in range(3)}  # fmt: skip
    assert numbers == {0, 1, 2}
    assert "best trial" in printed and "\x1b[" not in printed
    best = OmegaConf.load(tmp_path / "first" / search.BEST_FILE)
    assert best.best.value == pytest.approx(study.best_value)

    search_run("again", 2)
    assert len(study.get_trials()) == 5
    counts = OmegaConf.load(tmp_path / "again" / search.BEST_FILE).trials
    assert sum(counts.values()) == 5


def test_importances_are_fanova_and_only_where_the_values_differ():
    """A flat objective printed seven equal importances labelled fANOVA (Optuna 5's default
    evaluator is PED-ANOVA, which only warned that they were meaningless)."""
    space = {"model.units": CategoricalDistribution([8, 16]), "window.size": IntDistribution(5, 50)}

    def study_of(values):
        study = optuna.create_study()
        for k, value in enumerate(values):
            study.add_trial(
                optuna.trial.create_trial(
                    params={"model.units": [8, 16][k % 2], "window.size": 5 + 7 * k},
                    distributions=space,
                    value=value,
                )
            )
        return study

    flat = search.study_summary(study_of([1.0] * 6))
    assert flat["importances"] == {}
    assert flat["importance_note"] == "every finished trial has the same value"
    assert "none (every finished trial has the same value)" in search.format_summary(flat)
    varied = search.study_summary(study_of([1.0, 0.9, 1.1, 0.8, 1.2, 0.7]))
    assert set(varied["importances"]) == set(space)
    assert "parameter importances (fANOVA):" in search.format_summary(varied)


def test_the_shipped_space_is_narrowed_and_cut_from_the_command_line(tmp_path):
    """The hint search_space() printed, search.space.model.units='choice(16, 32, 64)', was
    refused ('search.space.model is not a config key'), and search.space={...} merged into
    the shipped space: a search could not be narrowed without a file of its own."""
    cfg = compose_train(
        tmp_path / "run", "hparams_search=optuna", "search.space.model.units='choice(8, 16)'",
        "search.space.model.layers=null", "search.space.features=null",
    )  # fmt: skip
    config.check_train_job(cfg)  # each key is a config key
    dims = search.search_space(cfg.search.space)
    assert set(dims) == {"model.units", "model.lstm.dropout", "window.size",
                         "train.learning_rate", "train.batch_size"}  # fmt: skip
    assert dims["model.units"].distribution == CategoricalDistribution([8, 16])
    # a dotted key (a file of one's own, written for the flat space of before, merged into
    # the shipped one) overrides the shipped nested key, and null drops it either way
    assert set(search.search_space({"model.units": "choice(1, 2)"})) == {"model.units"}
    both = {"model.units": "choice(1, 2)", "model": {"units": "choice(3, 4)", "layers": "x"}}
    both["model.layers"] = None
    dims = search.search_space(both)
    assert set(dims) == {"model.units"}
    assert dims["model.units"].distribution == CategoricalDistribution([1, 2])


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_bad_search_space_stops_the_search_before_any_job(tmp_path, monkeypatch, capsys):
    """Hydra only warned of the callback's error, and each of the 20 jobs failed alike."""
    monkeypatch.chdir(tmp_path)
    status = run_in_process("train", "hparams_search=optuna", "search.space.model.units=8")
    assert status == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith("error: search.space.model.units='8' is one value")
    assert not list(tmp_path.iterdir())
    # values the config cannot take, a key it lacks, a range Optuna refuses: each failed
    # every job of the search, one after another (the last two with exit 1)
    for override, said in (
        ("search.space.model.units='choice(abc, 16)'", "search.space.model.units gives abc, "
         "which model.units cannot take: Value 'abc' of type 'str' could not be converted"),
        ("+search.space.model.unitz='choice(1, 5)'", "search.space.model.unitz is not a "
         "config key (a typo?): did you mean model.units?"),
        ("search.space.model.units='interval(1, 0)'", "search.space.model.units='interval(1, "
         "0)': `low <= high` must hold"),
    ):  # fmt: skip
        assert run_in_process("train", "hparams_search=optuna", override) == EXIT_USER_ERROR
        assert capsys.readouterr().err.startswith(f"error: {said}")
        assert not list(tmp_path.iterdir())
    # a key the space lacks: it said "search.space.window is not a config key"
    status = run_in_process("train", "hparams_search=optuna", "search.space.window.horizon=x")
    assert status == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith(
        "error: search.space.window.horizon is not in the search space yet: add it with a "
        "leading +, '+search.space.window.horizon=...'"
    )


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        # the trials trained 64 and 128 units, the value typed was dropped without a word
        (["model.units=8"], "model.units=8: model.units is searched (search.space.model.units: "
         "choice(16, 32, 64, 128)), so each trial would set its own value instead"),
        # a search per value, and each value dropped: 4 jobs of 64 or 128 units
        (["model.units=8,16"], "model.units=8,16: model.units is searched"),
        # Hydra swept the unquoted choice: 40 jobs, each failing on "16 is one value"
        (["search.space.model.units=choice(16,32)"], "search.space.model.units=choice(16,32): "
         "Hydra reads the unquoted choice(16,32) as a sweep, and would run the search once for "
         "each value: quote it, \"search.space.model.units='choice(16,32)'\"."),
        # added with +: the advice keeps the + (without it, "not in the search space yet")
        (["+search.space.train.epochs=choice(1,2)"], "+search.space.train.epochs=choice(1,2): "
         "Hydra reads the unquoted choice(1,2) as a sweep, and would run the search once for "
         "each value: quote it, \"+search.space.train.epochs='choice(1,2)'\"."),
        # range(0): a search of no job, exit 0, and an optuna_best.yaml of best: null
        (["search.n_trials=0"], "search.n_trials=0 must be at least 1"),
    ],
)  # fmt: skip
@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_search_refuses_what_it_would_drop_or_multiply(
    tmp_path, monkeypatch, capsys, overrides, said
):
    monkeypatch.chdir(tmp_path)
    assert run_in_process("train", "hparams_search=optuna", *overrides) == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith(f"error: {said}")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_a_study_refuses_a_search_that_changes_a_keys_choices(tmp_path):
    """Narrowing model.units and running the same command again failed every trial with
    Optuna's 'CategoricalDistribution does not support dynamic value space', exit 1."""
    storage = tmp_path / "optuna.journal"
    search.run_trial(job_config(storage, 0), fit_tiny, tmp_path / "0")  # SPACE's choices
    narrowed = job_config(storage, 1, space={**SPACE, "model.units": "choice(2, 8)"})
    with pytest.raises(MarketcastError) as refused:
        search.run_trial(narrowed, fit_tiny, tmp_path / "1")
    assert str(refused.value).startswith(
        f"the Optuna study 'marketcast' in {storage} searched model.units over [2, 4]; this "
        "search gives it [2, 8], and a study cannot change a choice's values: name another "
        "study (search.study_name=...)"
    )
    assert len(search.load_study(narrowed.search).get_trials()) == 1  # none asked for
    search.run_trial(job_config(storage, 2), fit_tiny, tmp_path / "2")  # the same space: on


def test_a_search_file_of_ones_own_needs_the_global_header_and_says_so(tmp_path, capsys):
    """Without '# @package _global_' Hydra put the file's keys under hparams_search and said
    only "Key 'hparams_search' not in 'TrainJobConfig'"."""
    (tmp_path / "hparams_search").mkdir()
    narrow = tmp_path / "hparams_search" / "narrow.yaml"
    body = "defaults:\n  - optuna\nsearch:\n  space:\n    model.units: choice(8, 16)\n"
    narrow.write_text(body)
    own = ("train", "--config-dir", str(tmp_path), "hparams_search=narrow")
    assert run_in_process(*own) == EXIT_USER_ERROR
    assert "; a hparams_search/ file that sets keys of the whole config (search.*, model.*) " \
        "starts with the line '# @package _global_'" in capsys.readouterr().err  # fmt: skip
    narrow.write_text("# @package _global_\n" + body)
    assert run_in_process(*own, "--cfg", "job") == 0
    assert "model.units: choice(8, 16)" in capsys.readouterr().out


def test_what_a_study_is_scored_on_reads_the_shipped_config(tmp_path):
    """Every key of SCORED_ON, on the real config (data.symbols is a list): the fast
    check of the crash below."""
    cfg = compose_train(tmp_path / "run", "hparams_search=optuna")
    found = search.scored_on(cfg, search.search_space(cfg.search.space))
    assert found["data.symbols"] == [] and found["window.horizon"] == "1"
    assert found["split"]["val"] == cfg.split.val
    assert found["evaluation.backtest"]["scheme"] == "expanding"


@pytest.mark.slow  # three trainings, 25 s
def test_the_search_as_shipped_trains_its_trials(tmp_path, monkeypatch):
    """`marketcast train hparams_search=optuna` on the real config: every trial failed in
    2 s (scored_on read data.symbols, a list, as a dict) and the tests, on hand-made
    configs, did not see it."""
    monkeypatch.chdir(tmp_path)
    status = run_in_process(
        "train", "hparams_search=optuna", "search.n_trials=2", "debug=default",
        f"paths.output_root={tmp_path}", "search.sampler.name=random",
    )  # fmt: skip
    assert status == 0
    study = optuna.load_study(
        study_name="marketcast",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna/marketcast.journal"))
        ),
    )
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:  # the value a trial reports is the network's validation MASE
        run = next(tmp_path.glob(f"multirun/*/{trial.number}"))
        metrics = json.loads((run / "metrics.json").read_text())
        assert trial.value == pytest.approx(metrics["val"]["lstm"]["mase"])
    assert study.user_attrs["marketcast.scored_on"]["data.symbols"] == []

    # a trial the pruner stops (any val_loss is above 1e-9) is pruned everywhere: in the
    # study, the summary, the exit status and its MLflow run (it was FAILED, and counted
    # as a failed job)
    status = run_in_process(
        "train", "hparams_search=optuna", "search.n_trials=1", "debug=default",
        f"paths.output_root={tmp_path}", "search.pruner.name=threshold",
        "search.pruner.upper=1e-9", "search.pruner.n_warmup_steps=0", "logger=mlflow",
    )  # fmt: skip
    assert status == 0
    assert study.get_trials(deepcopy=False)[-1].state == TrialState.PRUNED
    summary = pd.read_csv(max(tmp_path.glob("multirun/*/summary.csv")))
    assert list(summary["status"]) == ["pruned"]
    client = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("marketcast").experiment_id],
                                filter_string="tags.mlflow.parentRunId != ''")  # fmt: skip
    assert run.info.status == "FINISHED"


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_a_study_refuses_trials_scored_on_other_data(tmp_path, monkeypatch):
    """Every search under one output root joined one study whatever its data: a search on
    Apple reported the S&P 500 sample's best trial, and TPE modelled both as one."""
    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "optuna.journal"

    search.run_trial(csv_job(storage, 0, "sp500.csv"), fit_tiny, tmp_path / "0")
    with pytest.raises(MarketcastError) as refused:
        search.run_trial(csv_job(storage, 1, "us_AAPL.csv"), fit_tiny, tmp_path / "1")
    assert str(refused.value).startswith(
        f"the Optuna study 'marketcast' in {storage} holds trials scored with "
        f"data.path='{tmp_path / 'sp500.csv'}'; this search has "
        f"data.path='{tmp_path / 'us_AAPL.csv'}'"
    )
    assert (
        len(search.load_study(csv_job(storage, 1, "x").search).get_trials()) == 1
    )  # none asked for
    search.run_trial(
        csv_job(storage, 2, str(tmp_path / "sp500.csv")), fit_tiny, tmp_path / "2"
    )  # the same
    assert len(search.load_study(csv_job(storage, 2, "x").search).get_trials()) == 2


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_search_whose_every_trial_failed_does_not_bind_the_study(tmp_path, monkeypatch):
    """A search on a mistyped data.path failed all its trials, yet the study recorded that
    path, and the corrected search was refused: "holds trials scored with
    data.path='/nonexistent.csv'", when no trial had been scored."""
    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "optuna.journal"

    def missing(cfg, callbacks):
        raise MarketcastError(f"data.path={cfg.data.path} does not exist")

    for number in (0, 1):
        with pytest.raises(MarketcastError, match="does not exist"):
            search.run_trial(
                csv_job(storage, number, "/nonexistent.csv"), missing, tmp_path / str(number)
            )
    search.run_trial(
        csv_job(storage, 2, "sp500.csv"), fit_tiny, tmp_path / "2"
    )  # the corrected search
    study = search.load_study(csv_job(storage, 3, "x").search)
    states = [t.state for t in study.get_trials()]
    assert states[:2] == [TrialState.FAIL, TrialState.FAIL]
    assert states[2] in (TrialState.COMPLETE, TrialState.PRUNED)  # scored
    with pytest.raises(MarketcastError, match="holds trials scored with data.path="):
        search.run_trial(
            csv_job(storage, 3, "/nonexistent.csv"), missing, tmp_path / "3"
        )  # now it binds


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_trial_still_running_binds_the_study_to_its_search(tmp_path, monkeypatch):
    """Two searches on other data started together: the second must not re-record the
    study while the first one's trial trains (it would complete under the other's data)."""
    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "optuna.journal"

    def asks_then_other_search_starts(cfg, callbacks):
        with pytest.raises(MarketcastError, match="holds trials scored with data.path="):
            search.run_trial(csv_job(storage, 1, "us_AAPL.csv"), fit_tiny, tmp_path / "1")
        return fit_tiny(cfg, callbacks)

    search.run_trial(
        csv_job(storage, 0, "sp500.csv"), asks_then_other_search_starts, tmp_path / "0"
    )
    states = [t.state for t in search.load_study(csv_job(storage, 2, "x").search).get_trials()]
    assert len(states) == 1 and states[0] != TrialState.FAIL


def test_a_study_of_trials_from_before_the_record_is_refused(tmp_path):
    """Their values were the published forecast's validation MASE (about 1.0 in most runs):
    they would stay the best trials of a search that now scores the network."""
    storage = tmp_path / "optuna.journal"
    old = search.open_study(job_config(storage, 0).search)
    old.add_trial(
        optuna.trial.create_trial(
            params={"model.units": 8},
            distributions={"model.units": CategoricalDistribution([8, 16])},
            value=1.0,
        )
    )
    with pytest.raises(MarketcastError, match="holds trials from before marketcast recorded"):
        search.run_trial(job_config(storage, 1), fit_tiny, tmp_path / "1")
