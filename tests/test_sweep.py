"""Multiruns end to end (in this process, and slow ones in a subprocess), and the summary."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import PROBE, compose_hydra, multirun, probes, run_in_process
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from marketcast.errors import EXIT_USER_ERROR, MarketcastError, install_command
from marketcast.jobs import sweep
from marketcast.jobs.multirun_progress import job_line
from marketcast.model.runtime import available_cpus, launcher_share
from marketcast.runfiles import DONE_FILE, METRICS_FILE, TRIAL_FILE, fingerprint


@pytest.mark.slow  # 6 s: a whole training run (a multirun of three jobs)
def test_a_multirun_records_the_failed_job_and_ranks_the_others(tmp_path, tiny_run, capsys):
    """In this process (the basic launcher): job 1's window is longer than the data."""
    status = run_in_process(
        "train",
        "-m",
        f"hydra.sweep.dir={tmp_path}",
        *tiny_run,
        "model.units=4",
        "window.size=10,1000",
    )
    assert status == 2  # a user error in one job: the status a single run would have
    failed = json.loads((tmp_path / "1" / sweep.FAILED_FILE).read_text())
    assert failed["error"] == "MarketcastError" and "too short" in failed["message"]
    metrics = json.loads((tmp_path / "0" / "metrics.json").read_text())
    summary = pd.read_csv(tmp_path / sweep.SUMMARY_FILE)
    assert list(summary["status"]) == ["finished", "failed"]
    assert list(summary["window.size"]) == [10, 1000]
    assert summary["rank"].iloc[0] == 1 and pd.isna(summary["rank"].iloc[1])
    assert summary["val_mase"].iloc[0] == pytest.approx(metrics["val"]["model"]["mase"])
    assert summary["val_lstm_mase"].iloc[0] == pytest.approx(metrics["val"]["lstm"]["mase"])
    assert summary["test_rel_mae"].iloc[0] == pytest.approx(metrics["test"]["model"]["rel_mae"])
    assert "too short" in summary["error"].iloc[1]
    assert "sweep summary: 2 jobs" in capsys.readouterr().out


def signal_at_job(job: int, name: str) -> list[str]:
    """Overrides that send job ``job``'s process signal ``name`` as it starts."""
    callback = "+hydra.callbacks.signal"
    return [f"{callback}._target_=sweep_probe.SignalAtJob", f"{callback}.job={job}",
            f"{callback}.signal={name}"]  # fmt: skip


@pytest.mark.slow  # 4 s: a whole training run
def test_a_sweep_terminated_half_way_summarises_the_jobs_it_left(
    tmp_path, tiny_run, capsys, monkeypatch
):
    """SIGTERM as job 1 of 3 starts (cron's timeout): one line, status 143, and a summary of
    what the sweep left, job 0 finished and ranked, job 1 incomplete; there was none, and
    the jobs' scores could be read only folder by folder."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # sweep_probe, in this process
    status = run_in_process(
        "train",
        "-m",
        f"hydra.sweep.dir={tmp_path}",
        *tiny_run,
        *signal_at_job(1, "SIGTERM"),
        "model.units=4,5,6",
    )
    assert status == 143
    summary = pd.read_csv(tmp_path / sweep.SUMMARY_FILE)
    assert list(summary["job"].astype(str)) == ["0", "1"]  # job 2 never began
    assert list(summary["status"]) == ["finished", "incomplete"]
    assert summary["rank"].iloc[0] == 1 and summary["val_lstm_mase"].iloc[0] > 0
    out, err = capsys.readouterr()
    assert "sweep summary: 2 jobs" in out
    assert (
        f"sweep summary: 2 jobs of 3 began; the other 1 never did (the swept values: "
        f"{tmp_path / 'multirun.yaml'})"
    ) in out
    assert err.splitlines()[-1] == (
        "marketcast train: terminated (SIGTERM); the jobs the sweep left are summarised in "
        f"{tmp_path / sweep.SUMMARY_FILE}"
    )


@pytest.mark.slow  # 20 s: two joblib workers start TensorFlow
def test_a_killed_joblib_worker_is_one_message_and_a_summary(tmp_path, tiny_run):
    """A worker the system killed (out of memory) as it began job 1: loky's
    TerminatedWorkerError was a 52-line traceback with no summary, and joblib stops the
    other worker's job too. Now one line naming the signal and what to do, exit 1, and
    the summary of the jobs it left."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    result = multirun(
        tmp_path,
        tiny_run,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *signal_at_job(1, "SIGKILL"),
        "model.units=4,5",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(said) == 1 and "a worker process of the joblib launcher died" in said[0]
    assert "SIGKILL" in said[0] and "hydra.launcher.n_jobs" in said[0]
    assert f"summarised in {tmp_path / sweep.SUMMARY_FILE}" in said[0]
    summary = pd.read_csv(tmp_path / sweep.SUMMARY_FILE)
    assert "1" in set(summary["job"].astype(str))
    assert summary.set_index(summary["job"].astype(str)).loc["1", "status"] == "incomplete"


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_fail_fast_stops_the_sweep_at_the_first_failed_job(tmp_path, tiny_run, capsys):
    """Hydra's basic sweeper runs every job as one batch and hears of the stop after it:
    job 1 trained to the end under a message that said the sweep had stopped at job 0."""
    status = run_in_process(
        "train",
        "-m",
        f"hydra.sweep.dir={tmp_path}",
        *tiny_run,
        "sweep.fail_fast=true",
        "window.size=1000,10",
    )
    assert status == EXIT_USER_ERROR  # it was Hydra's traceback, exit 1
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(said) == 1 and "too short" in said[0]
    assert said[0].endswith(f"(sweep.fail_fast stopped the sweep at {tmp_path / '0'})")
    assert json.loads((tmp_path / "0" / sweep.FAILED_FILE).read_text())["exit_status"] == 2
    # the sweep stopped at the first job: the second did not train
    assert sorted(p.name for p in (tmp_path / "1").iterdir()) == [".hydra", "train.log"]
    said = f"not run: sweep.fail_fast stopped the sweep at {tmp_path / '0'}"
    assert said in (tmp_path / "1" / "train.log").read_text()
    assert not (tmp_path / sweep.SUMMARY_FILE).exists()


@pytest.mark.slow
def test_multirun_ranks_its_jobs_in_a_summary(tmp_path, tiny_run):
    result = multirun(tmp_path, tiny_run, "model.units=4,8")
    assert result.returncode == 0, result.stderr
    jobs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    summary = pd.read_csv(tmp_path / sweep.SUMMARY_FILE)
    assert list(summary["rank"]) == [1, 2]
    # ranked by the network's score: the published forecast's is often persistence in both
    assert summary["val_lstm_mase"].is_monotonic_increasing
    assert sorted(summary["model.units"]) == [4, 8]
    for _, row in summary.iterrows():
        metrics = json.loads((tmp_path / str(row["job"]) / "metrics.json").read_text())
        assert row["val_mase"] == pytest.approx(metrics["val"]["model"]["mase"])
        assert row["test_rel_mae"] == pytest.approx(metrics["test"]["model"]["rel_mae"])
    assert "sweep summary: 2 jobs" in result.stdout
    assert set(summary["status"]) == {"finished"}


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory, tiny_run):
    """Two jobs on the joblib launcher, one of which fails (window longer than the data)."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep_dir = tmp_path_factory.mktemp("joblib")
    result = multirun(
        sweep_dir,
        tiny_run,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        PROBE,
        "window.size=10,1000",
    )
    return sweep_dir, result


@pytest.mark.slow
def test_failed_job_is_recorded_and_the_others_finish(joblib_sweep):
    sweep_dir, result = joblib_sweep
    assert result.returncode == 2, result.stderr
    failed = json.loads((sweep_dir / "1" / sweep.FAILED_FILE).read_text())
    assert failed["error"] == "MarketcastError" and "too short" in failed["message"]
    assert (sweep_dir / "0" / "metrics.json").is_file()
    summary = pd.read_csv(sweep_dir / sweep.SUMMARY_FILE)
    assert list(summary["status"]) == ["finished", "failed"]
    assert summary["rank"].iloc[0] == 1 and pd.isna(summary["rank"].iloc[1])
    assert "too short" in summary["error"].iloc[1]
    assert "1 of 2 jobs failed" in result.stderr + result.stdout


@pytest.mark.slow
def test_thread_limits_apply_inside_joblib_workers(joblib_sweep):
    sweep_dir, result = joblib_sweep
    share = max(1, available_cpus() // 2)
    found = probes(sweep_dir)
    assert set(found) == {"0", "1"}, result.stderr
    for probe in found.values():
        assert probe["pid"] != result.pid  # ran in a worker process
        assert probe["intra_op"] == probe["inter_op"] == share
        assert probe["blas"] == [share]


@pytest.mark.slow
def test_fail_fast_stops_the_sweep(tmp_path, tiny_run):
    result = multirun(
        tmp_path,
        tiny_run,
        "sweep.fail_fast=true",
        "hydra.sweeper.max_batch_size=1",  # the basic sweeper checks after each batch
        "window.size=1000,10",
    )
    assert result.returncode == EXIT_USER_ERROR
    assert "too short" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "1").exists()  # the sweep stopped at the first job
    assert not (tmp_path / sweep.SUMMARY_FILE).exists()


@pytest.mark.slow
def test_ten_jobs_in_one_process_keep_memory_flat(tmp_path, tiny_run):
    result = multirun(tmp_path, tiny_run, PROBE, "train.seed=range(10)")
    assert result.returncode == 0, result.stderr
    found = probes(tmp_path)
    rss = [found[str(i)]["rss_mb"] for i in range(10)]
    assert {p["pid"] for p in found.values()} == {result.pid}  # the basic launcher: one process
    # Before runtime.clear_session dropped TensorFlow's custom-gradient registrations,
    # every job added about 11 MB (about 80 MB from the third job to the tenth).
    assert rss[-1] - rss[2] < 20, rss


@pytest.mark.parametrize(
    ("launcher", "plugin", "target"),
    [
        ("slurm", "hydra_plugins.hydra_submitit_launcher", "SlurmLauncher"),
        ("ray_cluster", "hydra_plugins.hydra_ray_launcher", "RayLauncher"),
    ],
)
def test_cluster_launcher_configs_compose(launcher, plugin, target):
    pytest.importorskip(plugin)
    cfg = compose_hydra(f"hydra/launcher={launcher}")
    assert cfg.hydra.launcher._target_.endswith(target)
    assert launcher_share(cfg.hydra.launcher, 64) in (2, 4)  # the job's reserved cores


# The summary on its own, on hand-made job directories


def fake_job(sweep_dir: Path, name: str, overrides: list[str], **files: dict) -> Path:
    job = sweep_dir / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
    for stem, content in files.items():
        (job / f"{stem}.json").write_text(json.dumps(content))
    if "metrics" in files:  # a whole run: its marker, written last
        mark_finished(job)
    return job


def mark_finished(job: Path) -> None:
    files = {METRICS_FILE: fingerprint(job / METRICS_FILE)}
    (job / DONE_FILE).write_text(json.dumps({"run_id": job.name, "files": files}))


def scores(val: float) -> dict:
    return {
        s: {"model": {"mase": val + i, "rel_mae": val / 2}} for i, s in enumerate(("val", "test"))
    }


def test_collect_ranks_finished_jobs_and_lists_the_rest_last(tmp_path):
    fake_job(tmp_path, "0", ["model.units=4", "train.epochs=1"], metrics=scores(2.0))
    fake_job(
        tmp_path, "1", ["model.units=8", "train.epochs=1"], failed={"error": "E", "message": "m"}
    )
    fake_job(tmp_path, "2", ["model.units=16", "train.epochs=1"])  # no metrics: incomplete
    fake_job(tmp_path, "10", ["model.units=32", "train.epochs=1"], metrics=scores(1.5))
    frame = sweep.collect(tmp_path)
    assert list(frame["job"]) == ["10", "0", "1", "2"]
    assert list(frame["status"]) == ["finished", "finished", "failed", "incomplete"]
    assert list(frame["rank"][:2]) == [1, 2] and frame["rank"][2:].isna().all()
    assert list(frame["test_mase"][:2]) == [2.5, 3.0]
    assert frame["error"][2] == "E: m"
    text = sweep.format_summary(frame)
    assert "shared: train.epochs=1" in text and "model.units" in text


def test_a_job_whose_universe_trained_without_a_symbol_says_so_in_the_summary(tmp_path):
    """It read 'finished' like the others: its scores are means over fewer symbols, and
    only its log said so."""
    skipped = {**scores(1.0), "failed": {"MSFT": "the train segment is too short"}}
    fake_job(tmp_path, "0", ["a=1"], metrics=skipped)
    fake_job(tmp_path, "1", ["a=2"], metrics=scores(2.0))
    frame = sweep.collect(tmp_path)
    assert list(frame["status"]) == ["finished", "finished"]
    assert frame["error"][0] == "trained without MSFT: the train segment is too short"
    assert pd.isna(frame["error"][1]) and sweep.exit_status(frame, tmp_path) == 0
    assert "trained without MSFT" in sweep.format_summary(frame)


def test_a_job_killed_before_its_run_json_is_incomplete_not_finished(tmp_path):
    """metrics.json is written before run.json: a job killed between them (a SLURM time
    limit) was ranked as finished, where predict would skip it."""
    job = fake_job(tmp_path, "0", ["a=1"], metrics=scores(1.0))
    (job / DONE_FILE).unlink()
    frame = sweep.collect(tmp_path)
    assert list(frame["status"]) == ["incomplete"] and frame["rank"].isna().all()
    assert sweep.exit_status(frame, tmp_path) == 1


def test_pruned_trials_are_neither_failures_nor_ranked(tmp_path, caplog):
    """'3 of 3 jobs failed' for 2 pruned and 1 failed; the progress line said failed."""
    fake_job(tmp_path, "0", ["a=1"], metrics=scores(1.0))
    for name in ("1", "2"):
        job = fake_job(tmp_path, name, [f"a={name}"])
        (job / TRIAL_FILE).write_text(json.dumps({"number": int(name), "state": "PRUNED"}))
    frame = sweep.collect(tmp_path)
    assert list(frame["status"]) == ["finished", "pruned", "pruned"]
    assert sweep.exit_status(frame, tmp_path) == 0
    pruned = JobReturn(_return_value=math.inf, status=JobStatus.COMPLETED)
    line = job_line(1, 3, pruned, 2.0, str(tmp_path / "1"))
    assert line == "job 2/3 pruned in 2.0 s (the Optuna pruner stopped it)"
    assert job_line(0, 3, pruned, 2.0, str(tmp_path / "0")).startswith("job 1/3 failed in 2.0 s")


def test_a_sweep_into_a_folder_of_an_earlier_sweep_is_refused(tmp_path, tiny_run, capsys):
    """Its jobs were summarised as this sweep's (a 1-job sweep listed 2 jobs and ranked the
    stale one first), and their failed.json counted as this sweep's failures."""
    fake_job(tmp_path, "0", ["window.size=0"], failed={"error": "E", "message": "m"})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    status = run_in_process("train", "-m", f"hydra.sweep.dir={tmp_path}", *tiny_run)
    assert status == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith(
        f"error: hydra.sweep.dir={tmp_path} holds the jobs of an earlier sweep (0): choose a "
        "new hydra.sweep.dir"
    )
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_exit_status_of_a_sweep(tmp_path):
    fake_job(tmp_path, "0", ["a=1"], metrics=scores(1.0))
    assert sweep.exit_status(sweep.collect(tmp_path), tmp_path) == 0
    record = tmp_path / "1"
    fake_job(tmp_path, "1", ["a=2"])
    (record / sweep.FAILED_FILE).write_text(json.dumps({"exit_status": 2}))
    assert sweep.exit_status(sweep.collect(tmp_path), tmp_path) == 2
    fake_job(tmp_path, "2", ["a=3"])  # incomplete: something outside marketcast's errors
    assert sweep.exit_status(sweep.collect(tmp_path), tmp_path) == 1


def test_record_failure_scores_inf_and_keeps_the_message(tmp_path):
    assert sweep.record_failure(tmp_path, MarketcastError("window too long")) == math.inf
    record = json.loads((tmp_path / sweep.FAILED_FILE).read_text())
    assert record == {
        "error": "MarketcastError",
        "message": "window too long",
        "exit_status": 2,
        "traceback": None,
    }
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        error = exc
    sweep.record_failure(tmp_path, error)  # outside the except block: the traceback still comes
    record = json.loads((tmp_path / sweep.FAILED_FILE).read_text())
    assert record["exit_status"] == 1 and "ZeroDivisionError: boom" in record["traceback"]


def test_a_failed_jobs_traceback_goes_to_its_log_file_and_one_line_to_the_console(tmp_path):
    """A sweep job's bug: the console (a launcher's output, cron's mail) says it in one line
    of its message's first line; the job's log file keeps the traceback. Without a log
    file the console keeps the traceback, so that it is not lost."""
    import io
    import logging

    console, log_file = io.StringIO(), tmp_path / "job.log"
    to_console, to_file = logging.StreamHandler(console), logging.FileHandler(log_file)
    try:
        raise ValueError("bad state\n[SQL: SELECT 1]")
    except ValueError as exc:
        error = exc
    root = logging.getLogger()
    for handler in (to_console, to_file):
        root.addHandler(handler)
    try:
        sweep.record_failure(tmp_path, error)
    finally:
        root.removeHandler(to_file)
        to_file.close()
    assert console.getvalue().splitlines() == [
        "job failed with an unexpected error: ValueError: bad state"
    ]
    assert "Traceback (most recent call last)" in log_file.read_text()
    assert "[SQL: SELECT 1]" in log_file.read_text()
    try:
        sweep.record_failure(tmp_path, error)  # no file is logged to: the console has it all
    finally:
        root.removeHandler(to_console)
    assert "Traceback (most recent call last)" in console.getvalue()


def test_the_printed_summary_shows_an_errors_first_line_and_stderr_says_jobs_failed(
    tmp_path, capsys
):
    """A bug's message of several lines was printed with literal '\\n's in the summary's
    error column, and a sweep whose jobs failed (no fail_fast) said nothing on stderr."""
    fake_job(tmp_path, "0", ["model.units=4"], metrics=scores(2.0))
    message = "first line of the bug\nsecond line\n[SQL: SELECT 1]"
    failed = {"error": "RuntimeError", "message": message, "exit_status": 1}
    fake_job(tmp_path, "1", ["model.units=8"], failed=failed)
    text = sweep.format_summary(sweep.collect(tmp_path))
    assert "first line of the bug" in text and "second line" not in text and "\\n" not in text
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    with pytest.raises(SystemExit) as stopped:
        sweep.SweepSummary().on_multirun_end(config)
    assert stopped.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: 1 of 2 jobs failed: 1 (see {tmp_path / sweep.SUMMARY_FILE})"]


def test_the_printed_summary_shortens_sampled_numbers_and_the_csv_keeps_them(tmp_path):
    """An Optuna trial's learning rate was printed as 0.005280200863414775."""
    fake_job(
        tmp_path,
        "0",
        ["train.learning_rate=0.005280200863414775", "model.units=64"],
        metrics=scores(2.0),
        optuna_trial={"number": 0, "params": {"dropout": 0.1180435}},
    )
    fake_job(tmp_path, "1", ["train.learning_rate=0.00015611544028544576", "model.units=32"],
             metrics=scores(3.0))  # fmt: skip
    frame = sweep.collect(tmp_path)
    text = sweep.format_summary(frame)
    assert "0.00528 " in text and "0.0001561 " in text and "0.118 " in text
    assert "0.005280200863414775" not in text and " 64 " in text  # whole numbers as they are
    assert "0.005280200863414775" in set(frame["train.learning_rate"].astype(str))
    # values that four digits would print alike keep theirs; large numbers keep theirs
    fake_job(tmp_path, "2", ["train.learning_rate=0.0052801", "model.units=16"],
             metrics=scores(4.0))  # fmt: skip
    text = sweep.format_summary(sweep.collect(tmp_path))
    assert "0.0052801 " in text and "0.005280200863414775" in text
    assert sweep._short("2024.05") == "2024.05" and sweep._short("123456.789") == "123456.789"


def test_empty_sweep_dir_gives_an_empty_summary(tmp_path):
    frame = sweep.collect(tmp_path)
    assert frame.empty and sweep.format_summary(frame) == "sweep summary: no jobs"


def test_a_job_whose_metrics_cannot_be_scored_does_not_stop_the_summary(tmp_path):
    """A null MASE (a flat series) or a cut-off metrics.json raised inside the summary
    callback, which Hydra only warns about: no summary.csv, and the sweep exited 0."""
    for job, metrics in (("0", '{"val": {"model": {"mase": null}}}'), ("1", "{")):
        (tmp_path / job / ".hydra").mkdir(parents=True)
        (tmp_path / job / ".hydra" / "overrides.yaml").write_text(f"- model.units={job}\n")
        (tmp_path / job / "metrics.json").write_text(metrics)
        mark_finished(tmp_path / job)
    frame = sweep.collect(tmp_path)
    assert len(frame) == 2 and frame["val_lstm_mase"].isna().all()


@pytest.mark.parametrize("launcher", ["ray", "ray_cluster"])
def test_a_launcher_whose_plugin_is_missing_says_how_to_install_it(
    tmp_path, launcher, monkeypatch, capsys
):
    """It said only "Could not find 'hydra/launcher/ray'" (ray is not installed in the
    default test environment; where it is, the launcher composes and this is skipped)."""
    try:
        import hydra_plugins.hydra_ray_launcher  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the ray launcher is installed")
    monkeypatch.chdir(tmp_path)
    status = run_in_process("train", "-m", f"hydra/launcher={launcher}", "debug=default")
    assert status == EXIT_USER_ERROR
    error = capsys.readouterr().err
    assert "; the ray launcher is a plugin: pip install " in error
    assert "hydra-ray-launcher" in error and not list(tmp_path.iterdir())


@pytest.mark.parametrize("launcher", ["slurm", "submitit_slurm"])
@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_slurm_off_a_cluster_is_one_message_and_leaves_no_folder(
    tmp_path, monkeypatch, capsys, launcher
):
    """submitit's 'Could not detect "srun"' was a 41-line traceback, exit 1, and the sweep's
    folder was left with its multirun.yaml; the message names the launcher typed."""
    if shutil.which("srun"):
        pytest.skip("this machine has SLURM")
    monkeypatch.chdir(tmp_path)
    status = run_in_process("train", "-m", f"hydra/launcher={launcher}", "debug=default")
    assert status == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith(
        f"error: hydra/launcher={launcher} submits each job with SLURM, and this machine has "
        "no srun"
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_joblib_sweep_of_no_parallel_job_is_one_message_and_leaves_no_folder(
    tmp_path, monkeypatch, capsys
):
    """joblib's "n_jobs == 0 in Parallel has no meaning" was a traceback, exit 1, and the
    sweep's folder was left with its multirun.yaml."""
    monkeypatch.chdir(tmp_path)
    status = run_in_process(
        "train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0", "model.units=8,16"
    )
    assert status == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith("error: hydra.launcher.n_jobs=0 runs no job")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("swept", "said"),
    [
        (["model.units=8,0"], "model.units=8,0: model.units=0 must be at least 1; no job of "
         "the sweep was run."),
        # with a group swept beside it, and the value's job not the first
        (["model=lstm,lstm_sequence", "model.lstm.dropout=0.1,1.5"],
         "model.lstm.dropout=0.1,1.5: model.lstm.dropout=1.5 must lie in [0, 1)"),
    ],
)  # fmt: skip
@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_value_of_a_sweep_that_no_job_can_take_stops_it_before_any_job(
    tmp_path, monkeypatch, capsys, swept, said
):
    """-m model.units=8,0 trained job 0 for 45 s before job 1 failed on model.units=0."""
    monkeypatch.chdir(tmp_path)
    assert run_in_process("train", "-m", "debug=default", *swept) == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith(f"error: {said}")
    assert not list(tmp_path.iterdir())


def test_a_missing_logger_package_stops_a_sweep_once_before_its_jobs(tmp_path, monkeypatch, capsys):
    """Every job failed alike with the install message (a single run says it at once)."""
    from marketcast.config import checks

    found = importlib.util.find_spec  # tensorboard is missing here, installed or not
    monkeypatch.setattr(
        checks.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else found(name, *a),
    )
    monkeypatch.chdir(tmp_path)
    overrides = ("debug=default", "logger=tensorboard", "model.units=8,16")
    status = run_in_process("train", "-m", *overrides)
    assert status == EXIT_USER_ERROR
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert said == [
        "error: logger=tensorboard needs the tensorboard package, which is not installed: "
        f"{install_command('tensorboard')} (or leave logger.tensorboard out)."
    ]
    assert not list(tmp_path.iterdir())
