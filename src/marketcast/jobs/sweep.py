"""What a multirun adds to the training job: failed jobs recorded, and a summary of all jobs.

Everything is read back from the job directories (``metrics.json``, ``failed.json``,
``.hydra/overrides.yaml``), never from the jobs' return values, so the summary works
with any launcher: jobs may have run in this process, in joblib workers, on Ray or
on SLURM nodes.

Exit status of a multirun: 0 when every job finished; otherwise the status the worst
failed job would have had on its own (2: bad input or config value, 1: anything
else), after the summary has been written. ``sweep.fail_fast=true`` instead raises the
error (``errors.SweepStopped``): the sweeper stops after the batch that holds the failed
job (Hydra's basic sweeper runs every job as one batch unless
``hydra.sweeper.max_batch_size`` is set), the CLI says it in one line with the status the
job would have had on its own, no summary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from marketcast.atomic import atomic_write
from marketcast.config import check_loggers, check_values
from marketcast.errors import EXIT_ERROR, EXIT_USER_ERROR, MarketcastError, first_line, log_bug
from marketcast.progress import counted, listed
from marketcast.runfiles import (
    FAILED_FILE,
    METRICS_FILE,
    MULTIRUN_FILE,
    SUMMARY_FILE,
    TRIAL_FILE,
    is_finished_run,
    job_dirs,
    run_score,
)

log = logging.getLogger(__name__)

# val_lstm_mase: the network's validation MASE (runfiles.run_score), which ranks the jobs;
# the others are the published forecast's
SCORE_COLUMNS = ("val_lstm_mase", "val_mase", "val_rel_mae", "test_mase", "test_rel_mae")
FIXED_COLUMNS = ("rank", "job", "status", *SCORE_COLUMNS)
ERROR_WIDTH = 70  # characters of an error message shown in the printed summary


def record_failure(run_dir: Path, exc: Exception) -> float:
    """Log a failed job, write ``run_dir/failed.json``; return +inf, the worst score.

    +inf and not NaN: every minimising sweeper ranks +inf last, while a NaN makes
    Optuna 2's ``study.tell`` raise inside the Optuna sweeper's own error handling,
    which ends the search.
    """
    user_error = isinstance(exc, MarketcastError)
    if user_error:
        log.error("job failed: %s", exc)
    else:
        said = f"job failed with an unexpected error: {type(exc).__name__}: {first_line(exc)}"
        log_bug(log, said, exc)  # the traceback in the job's log
    record = {
        "error": type(exc).__name__,
        "message": str(exc),
        "exit_status": EXIT_USER_ERROR if user_error else EXIT_ERROR,
        "traceback": None if user_error else "".join(traceback.format_exception(exc)),
    }
    text = json.dumps(record, indent=2) + "\n"
    atomic_write(run_dir / FAILED_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return math.inf


def collect(sweep_dir: Path) -> pd.DataFrame:
    """One row per job, best validation MASE first; failed and unfinished jobs last.

    Columns: ``rank``, ``job`` (its directory under ``sweep_dir``), ``status``
    (finished: a whole run, run.json and all; failed; pruned; or incomplete: neither a
    finished run nor a failure recorded, e.g. a job killed half-way), the
    network's validation MASE (``val_lstm_mase``, the ranking), the validation and test MASE
    and rel_mae of the published forecast, one column per override
    key, and ``error`` (a failed job's message, or the symbols a finished job's universe
    trained without, and why: its scores are means over the others).
    """
    rows = [_job_row(sweep_dir, d) for d in job_dirs(sweep_dir)]
    columns = list(FIXED_COLUMNS)
    if not rows:
        return pd.DataFrame(columns=[*columns, "error"])
    frame = pd.DataFrame(rows)
    frame = frame.sort_values("val_lstm_mase", na_position="last", kind="stable")
    finished = (frame["status"] == "finished").to_numpy()
    if "optuna_trial" in frame:  # whole numbers, though a job without a trial has none
        frame["optuna_trial"] = frame["optuna_trial"].astype("Int64")
    frame.insert(0, "rank", pd.array([None] * len(frame), dtype="Int64"))
    frame.loc[finished, "rank"] = range(1, int(finished.sum()) + 1)
    return frame[[*columns, *override_columns(frame), "error"]].reset_index(drop=True)


def override_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in {*FIXED_COLUMNS, "error"}]


def format_summary(frame: pd.DataFrame) -> str:
    """The summary as text: the overrides every job shares on one line, then the table."""
    if frame.empty:  # search.n_trials=0, or every job lost before it wrote anything
        return "sweep summary: no jobs"
    shared = [c for c in override_columns(frame) if frame[c].nunique(dropna=False) == 1]
    shown = frame.drop(columns=shared)
    for column in override_columns(shown):  # an Optuna trial's 0.29469282091554294
        short = shown[column].map(_short)
        if short.nunique(dropna=False) == shown[column].nunique(dropna=False):
            shown[column] = short  # unless it would print two values alike
    for column in ("rank", "optuna_trial"):  # failed and unfinished jobs have no rank
        if column in shown:
            shown[column] = ["" if pd.isna(v) else int(v) for v in shown[column]]
    if shown["error"].notna().any():  # the full message is in summary.csv and failed.json
        shown["error"] = shown["error"].fillna("").map(first_line).str.slice(0, ERROR_WIDTH)
    else:
        shown = shown.drop(columns="error")
    lines = [
        f"sweep summary: {len(frame)} jobs, ranked by the network's validation MASE "
        "(val_lstm_mase, lower is better; val_mase, test_mase: the published forecast's)"
    ]
    if shared and len(frame):
        lines.append("shared: " + " ".join(f"{c}={frame[c].iloc[0]}" for c in shared))
    lines.append(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep=""))
    return "\n".join(lines)


def exit_status(frame: pd.DataFrame, sweep_dir: Path) -> int:
    """0 if every job finished; else 2 if all failures were user errors, 1 otherwise."""
    statuses = []
    for job, status in zip(frame["job"], frame["status"], strict=True):
        if status == "failed":
            statuses.append(_read_json(sweep_dir / job / FAILED_FILE).get("exit_status", 1))
        elif status not in ("finished", "pruned"):
            statuses.append(EXIT_ERROR)
    if not statuses:
        return 0
    return EXIT_ERROR if EXIT_ERROR in statuses else EXIT_USER_ERROR


class SweepSummary(Callback):
    """Hydra callback (``hydra.callbacks`` in ``conf/train.yaml``): the summary of a multirun.

    At the end of a multirun it prints the summary, writes it to
    ``<sweep dir>/summary.csv`` and, if jobs failed, exits with the status above.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Before the sweeper starts: an Optuna study stored in SQLite lives in the sweep dir.
        # A folder that cannot be made is left to the sweeper, whose error the CLI reports.
        try:  # a logger's missing package: once, not in every job
            check_loggers(OmegaConf.select(config, "logger", default=None))
            check_swept_values(config)
            if OmegaConf.select(config, "hydra.launcher.n_jobs", default=None) == 0:
                # joblib's ValueError, as a traceback with exit 1, and a folder left
                raise MarketcastError(
                    "hydra.launcher.n_jobs=0 runs no job: give how many jobs run at once "
                    "(e.g. 2), or -1 for one per core."
                )
        except MarketcastError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        sweep_dir = Path(config.hydra.sweep.dir)
        earlier = [d.relative_to(sweep_dir).as_posix() for d in job_dirs(sweep_dir)]
        if earlier:  # their files would be summarised, and their failures counted, as ours
            shown = listed(earlier, most=5)
            print(
                f"error: hydra.sweep.dir={sweep_dir} holds the jobs of an earlier sweep "
                f"({shown}): choose a new hydra.sweep.dir (by default each sweep gets its "
                "own), or remove that folder first.",
                file=sys.stderr,
            )
            sys.exit(EXIT_USER_ERROR)
        with contextlib.suppress(OSError):
            sweep_dir.mkdir(parents=True, exist_ok=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        frame, path = write_summary(sweep_dir)
        status = exit_status(frame, sweep_dir)
        if status:
            failed = frame.loc[~frame["status"].isin(("finished", "pruned")), "job"].tolist()
            said = f"{len(failed)} of {len(frame)} jobs failed: {', '.join(failed)} (see {path})"
            log.error("%s", said)
            print(f"error: {said}", file=sys.stderr)  # cron's mail, a CI step: stderr says it
            sys.exit(status)


def write_summary(sweep_dir: Path) -> tuple[pd.DataFrame, Path]:
    """Collect the jobs under ``sweep_dir``, write ``summary.csv`` there and print it."""
    frame = collect(sweep_dir)
    path = sweep_dir / SUMMARY_FILE
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    print(format_summary(frame))
    print(f"sweep summary: {path}")
    return frame, path


def summarise_stopped(sweep_dir: Path | None) -> Path | None:
    """The summary of a sweep stopped before its end (interrupted, terminated, a worker
    process killed): the jobs it left, finished or not, as at a sweep's end, and how many
    never began where the basic sweeper's count is known. None where it left no job (nor a
    folder), or the summary could not be written, or a second signal cut it off (the
    stop's own line and status matter more; the log says which)."""
    if sweep_dir is None or not sweep_dir.is_dir() or not job_dirs(sweep_dir):
        return None
    try:
        frame, path = write_summary(sweep_dir)
    except (Exception, KeyboardInterrupt) as exc:
        said = "stopped again" if isinstance(exc, KeyboardInterrupt) else first_line(exc)
        log.warning("no sweep summary in %s: %s", sweep_dir, said)
        return path if (path := sweep_dir / SUMMARY_FILE).is_file() else None
    total = _planned_jobs(sweep_dir)
    if total is not None and total > len(frame):
        print(
            f"sweep summary: {counted(len(frame), 'job')} of {total} began; the other "
            f"{total - len(frame)} never did (the swept values: {sweep_dir / MULTIRUN_FILE})"
        )
    return path


def _planned_jobs(sweep_dir: Path) -> int | None:
    """How many jobs the sweep in ``sweep_dir`` was to run (its ``multirun.yaml``), where
    Hydra's basic sweeper made them; None where that cannot be told."""
    from marketcast.jobs.multirun_progress import count_jobs

    try:
        config = OmegaConf.load(sweep_dir / MULTIRUN_FILE)
    except Exception:  # missing, unreadable: the summary stands without the count
        return None
    if OmegaConf.select(config, "hydra.sweeper._target_", default="").endswith("BasicSweeper"):
        return count_jobs(config)
    return None


def check_swept_values(config: DictConfig) -> None:
    """Each value of each swept key passes the range checks (``check_values``), with the
    other swept keys at their first values: a job the sweep would run (Hydra's basic
    sweeper runs every combination). ``-m model.units=8,0`` trained job 0 for 45 s before
    job 1 failed on ``model.units=0``. Group choices, ranges of a real-valued key and keys
    the config lacks are left to their jobs."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    swept = {}
    for override in OverridesParser.create().parse_overrides(list(config.hydra.overrides.task)):
        key = override.key_or_group
        if not override.is_sweep_override() or key.startswith("hydra."):
            continue
        current = OmegaConf.select(config, key, default=None)
        # a key the config lacks (refused in its job) or that is null; a group's choices
        # (model=lstm,lstm_sequence): composed in each job
        if current is None or OmegaConf.is_config(current):
            continue
        try:
            swept[key] = (override.input_line, list(override.sweep_iterator()))
        except Exception:  # an interval: no values to list
            continue
    for key, (typed, values) in swept.items():
        job = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        with read_write(job), open_dict(job):
            for other, (_, others) in swept.items():
                if other != key and others:
                    OmegaConf.update(job, other, others[0], merge=False)
        for value in values:
            try:
                with read_write(job):
                    OmegaConf.update(job, key, value, merge=False)
                check_values(job)
            except MarketcastError as exc:
                said = str(exc).rstrip(".")
                raise MarketcastError(f"{typed}: {said}; no job of the sweep was run.") from None
            except Exception:  # a value the key's type refuses: its job says so
                continue


def _job_row(sweep_dir: Path, job_dir: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"job": job_dir.relative_to(sweep_dir).as_posix()}
    row.update({c: math.nan for c in SCORE_COLUMNS})
    row["error"] = None
    for override in OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"):
        key, _, value = str(override).partition("=")
        row[key] = value
    trial = _read_json(job_dir / TRIAL_FILE) if (job_dir / TRIAL_FILE).is_file() else {}
    row.update(trial.get("params", {}))  # an Optuna trial's sampled values, as overrides
    if trial:  # its number in the study (search.trial is the job's index in this sweep)
        row["optuna_trial"] = trial.get("number")
    if trial.get("state") == "PRUNED":  # stopped early by the Optuna pruner: not a failure
        row["status"] = "pruned"
    elif (job_dir / FAILED_FILE).is_file():
        failure = _read_json(job_dir / FAILED_FILE)
        row["status"] = "failed"
        row["error"] = f"{failure.get('error')}: {failure.get('message')}"
    elif is_finished_run(job_dir):  # metrics.json alone: a job killed before run.json
        metrics = _read_json(job_dir / METRICS_FILE)
        row["status"] = "finished"
        try:
            row["val_lstm_mase"] = run_score(metrics)
        except (KeyError, TypeError, ValueError):  # unreadable metrics, or a null MASE
            row["val_lstm_mase"] = math.nan
        for segment in ("val", "test"):
            model = metrics.get(segment, {}).get("model", {})
            row[f"{segment}_mase"] = model.get("mase", math.nan)
            row[f"{segment}_rel_mae"] = model.get("rel_mae", math.nan)
        if skipped := metrics.get("failed"):  # a universe's symbols it trained without
            row["error"] = "trained without " + "; ".join(
                f"{symbol}: {why}" for symbol, why in skipped.items()
            )
    else:
        row["status"] = "incomplete"
    return row


def _short(value: Any) -> Any:
    """A sampled real number below 1,000 in four significant digits for the printed table
    (summary.csv keeps every digit); anything else as it is (a date's 2024.05, 123456.789)."""
    if isinstance(value, int):  # bool too
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    if not math.isfinite(number) or number.is_integer() or abs(number) >= 1000:
        return value
    short = f"{number:.4g}"
    return short if len(short) < len(str(value)) else value


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return {}
