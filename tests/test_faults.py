"""The fault battery: damaged, hostile or mismatched run files, half-finished and colliding
runs, flat prices and full disks. Every case is one clear MarketcastError naming the file
and the problem (the CLI turns it into one line on stderr and exit 2), nothing is
half-written, and no run that is not whole is ever used to forecast."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import (
    compose_predict,
    compose_train,
    refingerprint,
    run_in_process,
    synthetic_prices,
)

from marketcast import atomic, config, runfiles
from marketcast.errors import MarketcastError
from marketcast.evaluation.combination import Weights
from marketcast.jobs.train import train
from marketcast.model.backend import keras
from marketcast.runfiles import (
    DONE_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PREPROCESSING_FILE,
    VAL_PREDICTIONS_FILE,
)
from marketcast.storage import artifacts


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    csv = root / "prices.csv"
    synthetic_prices(300).to_csv(csv)
    run_dir = root / "run"
    train(compose_train(run_dir, "data=csv", f"data.path={csv}", "model.units=4"))
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def edit_preprocessing(run_dir: Path, edit) -> None:
    state = json.loads((run_dir / PREPROCESSING_FILE).read_text())
    edit(state)
    (run_dir / PREPROCESSING_FILE).write_text(json.dumps(state))


def test_the_run_loads(finished_run):
    model, prep = artifacts.load_run(finished_run)
    assert prep.run_id == runfiles.finished_run_id(finished_run)
    assert model.input_shape[1:] == (prep.transform.window, len(prep.transform.features))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(b"not a model at all"), "is not a Keras model file"),
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "not a Keras model"),
        (lambda p: p.write_bytes(b""), "is empty"),
    ],
    ids=["garbage", "truncated", "empty"],
)
def test_a_damaged_model_file_is_named(run_copy, damage, message):
    damage(run_copy / MODEL_FILE)
    refingerprint(run_copy)
    with pytest.raises(MarketcastError, match=message) as caught:
        artifacts.load_run(run_copy)
    assert str(run_copy / MODEL_FILE) in str(caught.value)


def test_a_missing_model_file_means_no_finished_run(run_copy):
    (run_copy / MODEL_FILE).unlink()
    with pytest.raises(MarketcastError, match=r"has no finished run \(model.keras is missing\)"):
        artifacts.load_run(run_copy)


def test_a_changed_run_file_is_named_with_its_size(run_copy):
    with (run_copy / VAL_PREDICTIONS_FILE).open("a") as file:
        file.write("extra\n")
    with pytest.raises(
        MarketcastError,
        match=r"val_predictions.csv changed since the run finished: \d+ bytes where run.json",
    ):
        artifacts.load_run(run_copy)


def test_a_model_that_holds_code_is_refused(run_copy):
    inputs = keras.Input(shape=(10, 3))
    outputs = keras.layers.Lambda(lambda x: x[:, -1, :1] * 2)(inputs)
    keras.Model(inputs, outputs).save(run_copy / MODEL_FILE)
    refingerprint(run_copy)
    with pytest.raises(MarketcastError, match="holds code"):
        artifacts.load_run(run_copy)


def test_a_model_of_another_shape_is_refused(run_copy):
    inputs = keras.Input(shape=(12, 3))
    outputs = keras.layers.Dense(1)(keras.layers.LSTM(2)(inputs))
    keras.Model(inputs, outputs).save(run_copy / MODEL_FILE)
    refingerprint(run_copy)
    with pytest.raises(MarketcastError, match=r"takes windows of shape \(12, 3\)"):
        artifacts.load_run(run_copy)


def test_an_edited_file_is_refused_by_its_digest(run_copy):
    edit_preprocessing(run_copy, lambda s: s["transform"].update(features=["Close"]))
    with pytest.raises(MarketcastError, match="changed"):  # its size, else its digest
        artifacts.load_run(run_copy)


def _set(path: str, value):
    def edit(state):
        node = state
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _band(state: dict) -> dict:
    """The (only) symbol's interval state in preprocessing.json."""
    return next(iter(state["intervals"]["symbols"].values()))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("transform.features", ["Close"]), "input_scaler.columns"),
        (_set("transform.window", "ten"), "transform.window='ten'"),
        (_set("transform.horizon", 0), "transform.horizon=0"),
        (_set("transform.representation", "diff"), "representation='diff'"),
        (_set("transform.input_scaler.method", "robust"), "method='robust'"),
        (_set("transform.input_scaler.scale", [1.0, math.nan, 1.0]), "finite numbers"),
        (_set("transform.input_scaler.scale", [1.0, 0.0, 1.0]), "scale has a zero"),
        (_set("transform.target_scaler.offset", ["x"]), "finite numbers"),
        (_set("intervals.levels", [0.1, 1.5]), "intervals.levels"),
        (_set("intervals.volatility", "normal"), "intervals.volatility"),
        (_set("intervals.shrink", 1.2), r"intervals.shrink=1.2 is not a share"),
        (_set("combination.shrink", 2.0), r"combination.shrink=2.0 is not a share"),
        (_set("intervals.step_persistence", 1.5), r"step_persistence=1.5 is not a share"),
        (_set("intervals.step_rates", "sqrt"), r"step_rates='sqrt' is not one of"),
        (_set("intervals.variance_ratio", -0.5), r"variance_ratio=-0.5 is not a weight"),
        (
            lambda s: s["intervals"].update(
                volatility="ewma", scores=[[0.1]] * 20, step_persistence=None
            ),
            r"variance_ratio=1.0 is set for volatility 'ewma', which has no multi-step variance",
        ),
        (
            lambda s: s["intervals"].update(volatility="ewma", scores=[[0.1]] * 20),
            r"step_persistence=0.9 is set for volatility 'ewma'",
        ),
        (lambda s: _band(s).update(tails=[[0.7, 0.1]]), r"\.tails is not 1 rows of 2 tail"),
        (lambda s: _band(s).update(checkpoints=[["2016-01-04", [[0.1]]]]), r"checkpoints\[0\] is"),
        (lambda s: _band(s).update(checkpoints=[["first", [[0.1, 0.1]]]]), "ISO date, tails"),
        (lambda s: _band(s).update(pending=[[0.1, 0.1]]), r"\.pending is not \(1, 1, 2\)"),
        (
            lambda s: _band(s).update(
                checkpoints=[["2016-01-04", [[0.1, 0.1]], [[[math.nan, 0]]]]]
            ),
            r"checkpoints\[0\] pending is not",
        ),
        (lambda s: _band(s)["garch"].update(omega=-1.0), "is not GARCH"),
        (_set("intervals.symbols", {}), "intervals.symbols is not a non-empty object"),
        (_set("head", "attention"), "head='attention'"),
        (lambda s: s.pop("transform"), "no 'transform' entry"),
        (_set("format_version", 1), "format_version=1"),
    ],
)
def test_a_bad_preprocessing_file_is_named(run_copy, edit, message):
    edit_preprocessing(run_copy, edit)
    refingerprint(run_copy)
    with pytest.raises(MarketcastError, match=message) as caught:
        artifacts.load_run(run_copy)
    assert PREPROCESSING_FILE in str(caught.value)


def test_a_run_saved_before_the_leverage_term_still_loads(run_copy):
    """Runs of the release before volatility=gjr saved GARCH(1,1) states without gamma."""

    def old(state):
        state["intervals"]["volatility"] = "garch"
        _band(state)["garch"].pop("gamma")
        _band(state).pop("checkpoints")  # nor the test segment's checkpoints
        _band(state).pop("pending")  # nor the updates still pending after its last origin
        state["intervals"].pop("shrink")  # nor the trailing year's share
        state["intervals"].pop("step_persistence")  # nor the multi-step reversion
        state["intervals"].pop("step_rates")  # nor each step's adaptation rate
        state["intervals"].pop("variance_ratio")  # nor the trailing year's variance ratio
        state["combination"].pop("shrink")  # nor the published share of the weights

    edit_preprocessing(run_copy, old)
    refingerprint(run_copy)
    _, prep = artifacts.load_run(run_copy)
    name, band = next(iter(prep.intervals.symbols.items()))
    assert prep.intervals.volatility == "garch" and "gamma" not in band.garch
    assert prep.intervals.shrink == 0.0 and prep.intervals.step_persistence is None
    assert prep.intervals.step_rates == "flat"  # it adapted every step at the one rate
    assert prep.intervals.variance_ratio == 0.0  # it summed the daily variances
    assert Weights.from_dict(prep.combination).shrink == 0.0  # it published the fitted shares
    recent = 100 * np.exp(np.cumsum(np.tile([0.01, -0.01], prep.intervals.rows)))
    scale = prep.intervals.scale(recent[None, : prep.intervals.rows], name)
    assert np.all(np.isfinite(scale)) and np.all(scale > 0)
    assert band.state_at("1990-01-01") is None  # no earlier state to replay
    assert band.earliest == band.tails and band.pending is None  # saved before either


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_a_preprocessing_file_that_is_not_an_object_is_named(run_copy, text):
    (run_copy / PREPROCESSING_FILE).write_text(text)
    refingerprint(run_copy)
    with pytest.raises(MarketcastError, match="is damaged"):
        artifacts.load_run(run_copy)


def test_a_run_killed_between_two_artifacts_is_not_finished(run_copy, monkeypatch):
    """A re-train that dies after model.keras leaves no marker: the directory is not used."""
    model, prep = artifacts.load_run(run_copy)

    def die(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill would, after model.keras and metrics.json

    monkeypatch.setattr(artifacts, "write_csv", die)
    with pytest.raises(KeyboardInterrupt):
        artifacts.save_run(run_copy, model, prep, {"val": {}}, None, "")
    assert not runfiles.is_finished_run(run_copy)
    with pytest.raises(MarketcastError, match="has no finished run"):
        artifacts.load_run(run_copy)


def test_retraining_into_a_finished_run_is_refused_without_overwrite(finished_run):
    cfg = compose_train(finished_run)
    with pytest.raises(MarketcastError, match="already holds a finished run.*overwrite=true"):
        config.check_train_job(cfg)
    config.check_train_job(compose_train(finished_run, "overwrite=true"))


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_overwrite_replaces_the_run_with_a_new_run_id(run_copy, tmp_path):
    csv = tmp_path / "prices.csv"
    synthetic_prices(300, seed=3).to_csv(csv)
    before = runfiles.finished_run_id(run_copy)
    # files of the earlier run that the new one does not write: a backtest's plot, a csv
    # logger's history, a failed sweep job's record (MLflow uploaded the stale plots as the
    # new run's, and a sweep's summary read the new job as failed); a file not ours stays
    for name in ("folds.png", "failed.json", "notes.txt"):
        (run_copy / name).write_text("earlier")
    cfg = compose_train(run_copy, "data=csv", f"data.path={csv}", "overwrite=true")
    config.check_train_job(cfg)
    train(cfg)
    after = runfiles.finished_run_id(run_copy)
    assert after and after != before
    assert artifacts.load_run(run_copy)[1].run_id == after
    left = {p.name for p in run_copy.iterdir()}
    assert "notes.txt" in left and not left & {"folds.png", "failed.json"}


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
@pytest.mark.parametrize(
    "cut", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")],
    ids=["interrupted", "disk-full"],
)  # fmt: skip
def test_an_overwrite_cut_off_while_writing_leaves_the_earlier_run_whole(
    run_copy, tmp_path, monkeypatch, cut
):
    """Ctrl-C or a full disk while an overwrite=true run wrote its files: the earlier run's
    had been removed first, so the folder held neither run. Now the new files are written
    aside and moved in only once all are written."""
    csv = tmp_path / "prices.csv"
    synthetic_prices(300, seed=3).to_csv(csv)
    before = {p.name: p.read_bytes() for p in run_copy.iterdir() if p.is_file()}
    written = artifacts.write_json

    def cut_at_metrics(path, *args, **kwargs):
        if path.name == runfiles.METRICS_FILE:  # the plots, report and model are written
            raise cut
        return written(path, *args, **kwargs)

    monkeypatch.setattr(artifacts, "write_json", cut_at_metrics)
    with pytest.raises(type(cut)):
        train(compose_train(run_copy, "data=csv", f"data.path={csv}", "overwrite=true"))
    assert {p.name: p.read_bytes() for p in run_copy.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in run_copy.iterdir() if p.is_dir()) == []  # nothing aside
    assert artifacts.load_run(run_copy)[1].run_id == runfiles.finished_run_id(run_copy)


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_an_overwrite_that_fails_leaves_the_earlier_run_whole(run_copy, tmp_path, capsys):
    """A nightly retrain into the folder predict reads must not lose the model it has when
    the night's data are bad; nor may a folder of the user's own lose its files."""
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,abc,10\n")
    before = {p.name: p.read_bytes() for p in run_copy.iterdir() if p.is_file()}
    status = run_in_process(
        "train", "data=csv", f"data.path={bad}", f"hydra.run.dir={run_copy}", "overwrite=true"
    )
    assert status == 2 and runfiles.is_finished_run(run_copy)
    after = {p.name: p.read_bytes() for p in run_copy.iterdir() if p.is_file()}
    assert {name: after.get(name) for name in before} == before
    csv = tmp_path / "good.csv"
    synthetic_prices(300, exchange="XNYS").to_csv(csv)
    capsys.readouterr()
    own = tmp_path / "notes"
    own.mkdir()
    for name in ("report.md", "config.yaml"):
        (own / name).write_text("mine")
    for data in (bad, csv):  # a run that fails, and one that would succeed: refused at once
        status = run_in_process("train", "data=csv", f"data.path={data}", f"hydra.run.dir={own}")
        assert status == 2
        assert capsys.readouterr().err.startswith(
            f"error: {own} holds config.yaml, report.md, which this run would write over, and "
            "no finished run: choose another hydra.run.dir, or pass overwrite=true"
        )
    assert (own / "report.md").read_text() == (own / "config.yaml").read_text() == "mine"
    # a folder of the user's own that a failing run leaves holding only logs stays, with its
    # log (it was removed with the folder above it, where that was left empty)
    logs = tmp_path / "parent" / "logs"
    logs.mkdir(parents=True)
    (logs / "server.log").write_text("mine")
    assert run_in_process("train", "data=csv", f"data.path={bad}", f"hydra.run.dir={logs}") == 2
    assert (logs / "server.log").read_text() == "mine"
    made = tmp_path / "new" / "run"  # one the command made goes, with the folder above it
    assert run_in_process("train", "data=csv", f"data.path={bad}", f"hydra.run.dir={made}") == 2
    assert not (tmp_path / "new").exists()


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_refused_run_leaves_a_folder_that_was_there_as_it_was(tmp_path):
    """Hydra writes .hydra/ and the job's log before the checks: a run refused in a finished
    run's folder rewrote that run's .hydra/overrides.yaml with its own (a sweep's summary
    reads them), and one refused in a folder of the user's own left Hydra's files there."""
    earlier = tmp_path / "earlier"
    (earlier / ".hydra").mkdir(parents=True)
    files = {"overrides.yaml": b"- window.size=7\n", "config.yaml": b"window:\n  size: 7\n"}
    for name, text in files.items():
        (earlier / ".hydra" / name).write_bytes(text)
    (earlier / "train.log").write_text("earlier\n")
    own = tmp_path / "own"
    own.mkdir()
    (own / "notes.txt").write_text("mine")
    for folder in (earlier, own):  # a warning logged (a backtest key), then refused
        refused = ("window.size=0", "evaluation.backtest.folds=3")
        assert run_in_process("train", f"hydra.run.dir={folder}", *refused) == 2
    assert {p.name: p.read_bytes() for p in (earlier / ".hydra").iterdir()} == files
    assert (earlier / "train.log").read_text() == "earlier\n"  # the warning not appended
    assert [p.name for p in own.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(("raised", "status"), [(KeyboardInterrupt, 130), (RuntimeError, 1)])
def test_an_interrupted_or_failed_overwrite_leaves_the_earlier_runs_hydra_files(
    tmp_path, monkeypatch, raised, status
):
    """Ctrl-C (or a bug) in an overwrite=true run into a finished run's folder left that
    run's .hydra/ rewritten with the interrupted command's config; its log keeps what the
    job logged, ending in why it stopped (the traceback, for a bug)."""
    import marketcast.jobs.train as train_module

    earlier = tmp_path / "earlier"
    (earlier / ".hydra").mkdir(parents=True)
    (earlier / ".hydra" / "overrides.yaml").write_bytes(b"- window.size=7\n")
    (earlier / "train.log").write_text("earlier\n")

    def stop(*args, **kwargs):
        raise raised("stopped")

    monkeypatch.setattr(train_module, "load_run_data", stop)
    assert run_in_process("train", f"hydra.run.dir={earlier}", "overwrite=true") == status
    assert (earlier / ".hydra" / "overrides.yaml").read_bytes() == b"- window.size=7\n"
    assert [p.name for p in (earlier / ".hydra").iterdir()] == ["overrides.yaml"]
    log = (earlier / "train.log").read_text()
    assert log.startswith("earlier\n") and ("interrupted" if status == 130 else "stopped") in log


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_an_interrupt_after_the_run_is_saved_says_the_run_is_there(
    tmp_path, monkeypatch, capsys, tiny_run
):
    """Ctrl-C while the report was printed, after run.json: "interrupted", exit 130, as if no
    run were there, where predict would take the finished run it left."""
    import marketcast.jobs.outputs as outputs_module

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs_module, "print_report", stop)
    run_dir = tmp_path / "run"
    assert run_in_process("train", *tiny_run, "plots=false", f"hydra.run.dir={run_dir}") == 130
    assert runfiles.is_finished_run(run_dir)
    said = f"interrupted after the run was saved whole in {run_dir}"
    assert capsys.readouterr().err == f"marketcast train: {said}\n"
    assert (run_dir / "train.log").read_text().rstrip().endswith(said)


def test_flat_training_prices_stop_before_anything_is_written(tmp_path):
    frame = synthetic_prices(300)
    frame.loc[:, ["Open", "High", "Low", "Close"]] = 100.0
    csv = tmp_path / "flat.csv"
    frame.to_csv(csv)
    run_dir = tmp_path / "run"
    with pytest.raises(MarketcastError, match="never changes in the training segment"):
        train(compose_train(run_dir, "data=csv", f"data.path={csv}"))
    assert not (run_dir / DONE_FILE).exists() and not (run_dir / MODEL_FILE).exists()


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_train_segment_too_short_for_the_interval_stops_before_training(tmp_path, monkeypatch):
    """It trained the network, then stopped on 'a GARCH interval needs at least 30
    training returns, got 27', naming neither the data nor what to change."""
    from marketcast.jobs import forecaster

    def trained(*args, **kwargs):
        raise AssertionError("the network trained before the data were refused")

    monkeypatch.setattr(forecaster, "fit_forecaster", trained)
    csv = tmp_path / "short.csv"
    synthetic_prices(300, exchange="XNYS").to_csv(csv)
    split = ("split.train=0.09", "split.val=0.5", "split.test=0.41")  # 27 training rows
    with pytest.raises(MarketcastError) as refused:
        train(compose_train(tmp_path / "run", "data=csv", f"data.path={csv}", *split))
    assert str(refused.value).startswith(
        "short: the train segment (2015-01-02..2015-02-10, 27 rows) is too short for the "
        "prediction interval's GARCH fit, which needs 31 rows (30 daily returns). Use more "
        "data (data.start earlier)"
    )
    monkeypatch.undo()  # an EWMA interval fits no GARCH: it trains on these rows
    ewma = ("evaluation.intervals.volatility=ewma", "evaluation.peers.garch=false")
    train(compose_train(tmp_path / "ewma", "data=csv", f"data.path={csv}", *split, *ewma))
    assert runfiles.is_finished_run(tmp_path / "ewma")


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_what_validation_found_is_in_metrics_and_the_report(tmp_path):
    """A price 100x its neighbours gave a test MASE of 89 in report.md, which said nothing
    of the bad day the run's log had warned of."""
    frame = synthetic_prices(400, exchange="XNYS")
    frame.iloc[350, frame.columns.get_loc("Close")] *= 100
    frame.iloc[350, frame.columns.get_loc("High")] *= 100
    csv = tmp_path / "spiky.csv"
    frame.to_csv(csv)
    run_dir = tmp_path / "run"
    train(compose_train(run_dir, "data=csv", f"data.path={csv}"))
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    (found,) = metrics["validation"]["spiky"]
    assert found.startswith(
        f"2 daily Close moves beyond 65% up or 39% down warned (first {frame.index[350].date()}; x9"
    )  # x98.5: 100 times the day's own close, against the day before's
    report = (run_dir / runfiles.REPORT_FILE).read_text()
    assert "## Data\n\nValidation of the prices found" in report and f"- spiky: {found}" in report


def test_a_full_disk_is_one_message_and_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "forecast.csv"

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "replace", full)
    with pytest.raises(MarketcastError, match=r"cannot write .*forecast.csv.*ENOSPC"):
        atomic.atomic_write(target, lambda tmp: tmp.write_text("x"))
    assert list(target.parent.iterdir()) == []


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_disk_that_fills_while_a_run_is_written_leaves_no_run_folder(
    tmp_path, tiny_run, monkeypatch, capsys
):
    """The model's file met a full disk after the plots and report.md were written: one
    message and exit 2, but the run folder stayed with report.md in it (the README says
    no run directory is left)."""
    real_replace = atomic.os.replace

    def full_at_the_model(src, dst):
        if Path(dst).name == runfiles.MODEL_FILE:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", full_at_the_model)
    root = tmp_path / "outputs"
    status = run_in_process("train", *tiny_run, "plots=true", f"paths.output_root={root}")
    err = capsys.readouterr().err
    assert status == 2, err
    assert "No space left on device (ENOSPC)" in err and "model.keras" in err
    assert not root.exists()  # the run folder and the two above it, which the run made


def test_a_disk_full_before_the_run_starts_names_the_run_folder_and_removes_it(
    tmp_path, monkeypatch, capsys
):
    """Hydra writing its .hydra/ files on a full disk: the message named '.' and the run
    folder stayed with an empty config.yaml and train.log."""
    import hydra.core.utils

    def full(cfg, filename, output_dir):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / filename).touch()  # as a full disk leaves it: empty
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(hydra.core.utils, "_save_config", full)
    root = tmp_path / "outputs"
    assert run_in_process("train", "debug=default", f"paths.output_root={root}") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot write {root / 'train'}/") and "(ENOSPC)" in err
    assert not root.exists()


def test_a_read_only_directory_is_one_message(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    with pytest.raises(MarketcastError, match="cannot write .*EACCES"):
        atomic.atomic_write(tmp_path / "f.json", lambda tmp: tmp.write_text("{}"))


@pytest.mark.parametrize("where", ["under_a_file", "a_folder"])
def test_a_path_that_cannot_be_a_file_is_one_message(tmp_path, where):
    """output=FILE/x.csv under a regular file, or a path that is a folder: the user's to fix."""
    (tmp_path / "afile").write_text("")
    (tmp_path / "afolder").mkdir()
    path = tmp_path / ("afile/x.csv" if where == "under_a_file" else "afolder")
    with pytest.raises(MarketcastError, match=f"cannot write {path}: .*nothing was left"):
        atomic.atomic_write(path, lambda tmp: tmp.write_text("x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "afolder"]


def test_predict_never_uses_an_unfinished_run(run_copy, tmp_path):
    from marketcast.jobs.predict import forecast

    (run_copy / DONE_FILE).unlink()
    cfg = compose_predict(f"run_dir={run_copy}", f"output={tmp_path / 'f.csv'}")
    with pytest.raises(MarketcastError, match="has no finished run \\(no run.json"):
        forecast(cfg)
    assert not (tmp_path / "f.csv").exists()


def test_prices_out_of_float_range_are_dropped_by_validation(tmp_path):
    from marketcast.config import DataConfig
    from marketcast.data.sources import load_prices

    frame = synthetic_prices(50)
    frame.iloc[10, frame.columns.get_loc("Close")] = 1e308 * 10  # inf once parsed
    frame.iloc[11, frame.columns.get_loc("High")] = np.inf
    # finite, but beyond any price: its squares overflowed (training exited 1 as 'a bug',
    # and predict published a forecast of 1e308 with q90 = inf)
    frame.iloc[20, frame.columns.get_loc("Close")] = 1e308
    frame.iloc[20, frame.columns.get_loc("High")] = 1e308
    csv = tmp_path / "p.csv"
    frame.to_csv(csv)
    loaded = load_prices(DataConfig(path=str(csv)))
    assert np.isfinite(loaded.to_numpy()).all() and len(loaded) == 47
    assert loaded.to_numpy().max() < 1e15 and frame.index[20] not in loaded.index


def test_csv_files_keep_the_significant_digits_of_small_prices(tmp_path):
    frame = pd.DataFrame({"symbol": ["PENNY", "BIG"], "forecast": [0.000123456789, 1234567.891]})
    artifacts.write_csv(tmp_path / "f.csv", frame)
    back = pd.read_csv(tmp_path / "f.csv")
    np.testing.assert_allclose(back["forecast"], frame["forecast"], rtol=1e-9)


def test_a_run_saved_before_pending_updates_replays_its_own_last_origin(run_copy, tmp_path):
    """A state without pending updates (saved before they were kept) has not learned from
    its own origin's outcome: predict replays that origin too, and at h = 1 gets the band
    the new state gives by applying its pending update."""
    from marketcast.jobs.predict import forecast

    old = tmp_path / "old"
    shutil.copytree(run_copy, old)

    def strip(state):
        for band in state["intervals"]["symbols"].values():
            band.pop("pending")
            band["checkpoints"] = [c[:2] for c in band["checkpoints"]]

    edit_preprocessing(old, strip)
    refingerprint(old)
    bands = []
    for run in (run_copy, old):
        out = tmp_path / f"{run.name}.csv"
        cfg = compose_predict(f"run_dir={run}", f"output={out}")
        assert forecast(cfg) == 0
        bands.append(pd.read_csv(out)[["q10", "q90"]].to_numpy())
    np.testing.assert_allclose(bands[1], bands[0], rtol=1e-9)


def sweep_of(finished_run: Path, root: Path, second_csv: Path) -> Path:
    """A sweep folder of two CSV runs: the finished run, and a copy trained (as its files
    say) on ``second_csv``."""
    shutil.copytree(finished_run, root / "0")
    shutil.copytree(finished_run, root / "1")
    edit_preprocessing(root / "1", lambda s: s["data"].update(path=str(second_csv)))
    refingerprint(root / "1")
    return root


def test_a_damaged_run_of_a_sweep_is_named_and_its_symbol_not_forecast(
    finished_run, tmp_path, caplog, capsys
):
    """A model file that changed size after the run finished: the run was dropped without
    a word, and its symbol with it (exit 0 for a night that forecast half its symbols)."""
    from marketcast.errors import EXIT_PARTIAL
    from marketcast.jobs.predict import forecast

    sweep = sweep_of(finished_run, tmp_path / "sweep", tmp_path / "other.csv")
    with open(sweep / "1" / MODEL_FILE, "ab") as model:
        model.write(b"appended")
    cfg = compose_predict(f"run_dir={sweep}", f"output={tmp_path / 'f.csv'}")
    assert forecast(cfg) == EXIT_PARTIAL
    assert f"{sweep / '1'}: skipped: " in caplog.text
    said = capsys.readouterr().out
    assert "1 of 2 symbols forecast" in said
    assert f"OTHER: its run {sweep / '1'} is damaged: " in said
    assert set(pd.read_csv(tmp_path / "f.csv")["symbol"]) == {"PRICES"}


def test_two_csv_runs_sharing_a_label_forecast_neither(finished_run, tmp_path, capsys):
    """Runs trained on a/daily.csv and b/daily.csv were one symbol: predict published one
    file's forecast under the other's key, whichever run validated better."""
    from marketcast.errors import EXIT_NONE
    from marketcast.jobs.predict import forecast

    trained_on = artifacts.load_run(finished_run)[1].data["path"]
    other = tmp_path / "b" / Path(trained_on).name
    other.parent.mkdir()
    shutil.copy(trained_on, other)
    sweep = sweep_of(finished_run, tmp_path / "sweep", other)
    cfg = compose_predict(f"run_dir={sweep}", f"output={tmp_path / 'f.csv'}")
    assert forecast(cfg) == EXIT_NONE
    said = capsys.readouterr().out
    assert f"PRICES: runs trained on different files share this label: {trained_on}" in said
    assert f"{other} ({sweep / '1'})" in said and "data.symbol=NAME" in said
    assert not (tmp_path / "f.csv").exists()


def test_prices_without_a_column_the_run_uses_say_so_in_predicts_words(
    finished_run, run_copy, tmp_path, capsys
):
    """A header typo in tonight's file: the message told predict's user to choose
    features.columns, which predict does not take."""
    from marketcast.errors import EXIT_NONE
    from marketcast.jobs.predict import forecast

    trained_on = Path(artifacts.load_run(finished_run)[1].data["path"])
    renamed = tmp_path / trained_on.name
    renamed.write_text(trained_on.read_text().replace("Close", "Clsoe", 1))
    edit_preprocessing(run_copy, lambda s: s["data"].update(path=str(renamed)))
    refingerprint(run_copy)
    cfg = compose_predict(f"run_dir={run_copy}", f"output={tmp_path / 'f.csv'}")
    assert forecast(cfg) == EXIT_NONE
    said = capsys.readouterr().out
    assert (
        "PRICES: the prices have no Close column (they have Open, High, Low, Volume), which "
        "the run was trained on: fix the source, or train a run on the columns it has."
    ) in said
    assert "features.columns" not in said


def test_a_history_shorter_than_the_band_reads_is_warned(finished_run, run_copy, tmp_path, caplog):
    """The band of the same day moved with how many rows tonight's file kept, silently."""
    from marketcast.errors import EXIT_OK
    from marketcast.jobs.predict import forecast

    trained_on = Path(artifacts.load_run(finished_run)[1].data["path"])
    short = tmp_path / trained_on.name
    lines = trained_on.read_text().splitlines()
    short.write_text("\n".join([lines[0], *lines[-100:]]) + "\n")
    edit_preprocessing(run_copy, lambda s: s["data"].update(path=str(short)))
    refingerprint(run_copy)
    cfg = compose_predict(f"run_dir={run_copy}", f"output={tmp_path / 'f.csv'}")
    with caplog.at_level("WARNING", logger="marketcast"):
        assert forecast(cfg) == EXIT_OK
    assert "PRICES: 100 rows up to " in caplog.text
    assert "where the interval reads the last 251" in caplog.text
    assert "Give the file more history." in caplog.text  # a CSV file (FDR: a recent listing)


def test_a_damaged_run_without_its_preprocessing_names_its_symbol_from_its_config(
    finished_run, tmp_path, capsys
):
    """Its symbols were read from preprocessing.json alone: without it the run vanished and
    the night exited 0."""
    from marketcast.errors import EXIT_PARTIAL
    from marketcast.jobs.predict import forecast

    sweep = sweep_of(finished_run, tmp_path / "sweep", tmp_path / "other.csv")
    config_file = sweep / "1" / runfiles.CONFIG_FILE
    config_file.write_text(config_file.read_text().replace("prices.csv", "other.csv"))
    refingerprint(sweep / "1")
    (sweep / "1" / PREPROCESSING_FILE).unlink()
    cfg = compose_predict(f"run_dir={sweep}", f"output={tmp_path / 'f.csv'}")
    assert forecast(cfg) == EXIT_PARTIAL
    assert f"OTHER: its run {sweep / '1'} is damaged: " in capsys.readouterr().out
    config_file.unlink()  # nothing says its symbols: the run itself is counted as lost
    assert forecast(cfg) == EXIT_PARTIAL
    said = capsys.readouterr().out
    assert f"{sweep / '1'}: a damaged run whose symbols cannot be read: " in said
    assert "1 of 2 symbols forecast" in said


def test_labels_are_compared_as_the_store_keys_them_and_files_by_where_they_lead(
    finished_run, tmp_path, capsys
):
    """daily.csv and Daily.csv are one store key; a link to the training file is that file."""
    from marketcast.errors import EXIT_NONE, EXIT_OK
    from marketcast.jobs.predict import forecast

    trained_on = Path(artifacts.load_run(finished_run)[1].data["path"])
    other = tmp_path / "b" / trained_on.name.capitalize()  # Prices.csv
    other.parent.mkdir()
    shutil.copy(trained_on, other)
    sweep = sweep_of(finished_run, tmp_path / "case", other)
    cfg = compose_predict(f"run_dir={sweep}", f"output={tmp_path / 'f.csv'}")
    assert forecast(cfg) == EXIT_NONE
    assert "runs trained on different files share this label" in capsys.readouterr().out
    link = tmp_path / "c" / trained_on.name
    link.parent.mkdir()
    link.symlink_to(trained_on)
    sweep = sweep_of(finished_run, tmp_path / "link", link)
    cfg = compose_predict(f"run_dir={sweep}", f"output={tmp_path / 'g.csv'}")
    assert forecast(cfg) == EXIT_OK


def test_a_sweep_of_damaged_runs_says_why_at_start_up(finished_run, tmp_path):
    """It said 'no run.json: the run did not finish' of runs that had finished."""
    for job in ("0", "1"):
        shutil.copytree(finished_run, tmp_path / "sweep" / job)
        with open(tmp_path / "sweep" / job / MODEL_FILE, "ab") as model:
            model.write(b"x")
    cfg = compose_predict(f"run_dir={tmp_path / 'sweep'}", f"output={tmp_path / 'f.csv'}")
    with pytest.raises(MarketcastError) as refused:
        config.check_predict_job(cfg)
    assert str(refused.value).startswith(
        f"run_dir='{tmp_path / 'sweep'}' has no finished run ({tmp_path / 'sweep' / '0'}: "
        "model.keras changed since the run finished"
    )
