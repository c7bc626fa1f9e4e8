"""What a run directory holds: its files' names, and whether it holds a finished run.

Kept apart from ``marketcast.storage.artifacts`` (which loads Keras) so that the multirun
summary, which runs in Hydra's launching process, and the start-up checks can read run
directories cheaply.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from marketcast.errors import MarketcastError

MODEL_FILE = "model.keras"
PREPROCESSING_FILE = "preprocessing.json"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.yaml"
PREDICTIONS_FILE = "test_predictions.csv"
# every validation forecast, with the rows that fitted the combination and intervals marked
VAL_PREDICTIONS_FILE = "val_predictions.csv"
TRIAL_FILE = "optuna_trial.json"  # a job of an Optuna search: its trial number, state, params
DONE_FILE = "run.json"  # the completion marker, written last (storage.artifacts)
# where a run's files are written before they are moved into its folder (jobs.outputs);
# never a run of its own, even where a killed writer left a whole one there
STAGING_DIR = ".writing"
FAILED_FILE = "failed.json"  # written instead of the above when a sweep job fails
SUMMARY_FILE = "summary.csv"  # a sweep's summary of its jobs, in the sweep folder
MULTIRUN_FILE = "multirun.yaml"  # Hydra's record of a sweep, in the sweep folder
# the run the current job finished (its files moved in whole, jobs.outputs): an interrupt
# that comes later (the report printed, a logger's upload) says the run is there
finished_here: list[Path] = []
REPORT_FILE = "report.md"  # the run's Markdown report
# the figures a run may draw (evaluation.plots draws no other: tests/test_plots.py)
PLOT_FILES = (
    "test_forecast.png",
    "backtest_forecast.png",
    "fan.png",
    "coverage.png",
    "cumulative_loss.png",
    "error_per_step.png",
    "folds.png",
    "loss.png",
)
# What a finished training run leaves in its directory besides Hydra's .hydra/, the job's
# log and a logger's files: a new run there (overwrite=true) removes the earlier run's
# before it writes its own, so that none of them (a plot MLflow would upload as the new
# run's) passes for the new run's.
RUN_FILES = (
    DONE_FILE,  # first: the directory holds no finished run from here on
    MODEL_FILE,
    PREPROCESSING_FILE,
    METRICS_FILE,
    CONFIG_FILE,
    PREDICTIONS_FILE,
    VAL_PREDICTIONS_FILE,
    TRIAL_FILE,
    FAILED_FILE,
    REPORT_FILE,
    *PLOT_FILES,
)


def saved_whole(run_dir: Path, since: int) -> dict | None:
    """The metrics of the run saved whole in ``run_dir`` since ``finished_here`` held
    ``since`` entries (taken as the job began: an earlier job's run in the same folder and
    process does not count), where an error or an interrupt came after it (the report
    printed): the run is complete, and a tracker records it so. None where it was not
    saved, or its metrics cannot be read (the error in hand is then the one to report)."""
    here = Path(run_dir).resolve()
    if all(Path(saved).resolve() != here for saved in finished_here[since:]):
        return None
    try:
        return json.loads((here / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_score(metrics: dict) -> float:
    """What ranks runs (a sweep's jobs, an Optuna search's trials, predict's choice among a
    sweep's runs of one symbol): the network's validation MASE (``metrics.json``'s
    ``val.lstm``; ``val.model`` in runs saved before it had that row). Not the published
    forecast's: where validation gives the network no share, that is persistence in every
    job, and a search could not tell its trials apart."""
    val = metrics["val"]
    return float((val.get("lstm") or val["model"])["mase"])


def no_run_dir(run_dir: object) -> MarketcastError:
    """The error of a ``run_dir`` that is not a directory (checked at start-up and on load)."""
    what = "is a file, not a directory" if Path(str(run_dir)).exists() else "does not exist"
    return MarketcastError(
        f"run_dir={str(run_dir)!r} {what}: pass a training run directory (it holds "
        f"{MODEL_FILE} and {PREPROCESSING_FILE})."
    )


def no_finished_run_in(run_dir: object, why: str) -> MarketcastError:
    """The error of a ``run_dir`` that holds no finished run (``why``: ``finished_marker``'s)."""
    return MarketcastError(
        f"run_dir={str(run_dir)!r} has no finished run ({why}): point run_dir at a "
        "directory written by marketcast train, or train again."
    )


def fingerprint(path: Path) -> dict:
    return {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def finished_run_id(path: Path) -> str | None:
    """The run id of the finished run in ``path``, or None: no marker, or a file changed."""
    marker, _ = finished_marker(path)
    return None if marker is None else str(marker["run_id"])


def finished_marker(path: Path) -> tuple[dict | None, str]:
    """(the ``DONE_FILE`` marker, "") of the finished run in ``path``, or (None, why it is
    not one)."""
    try:
        marker = json.loads((path / DONE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no {DONE_FILE}: the run did not finish"
    except (OSError, ValueError) as exc:
        return None, f"{DONE_FILE} cannot be read ({exc})"
    try:
        for name, expected in marker["files"].items():
            if not (path / name).is_file():
                return None, f"{name} is missing"
            size = (path / name).stat().st_size
            if size != expected["size"]:
                return None, (
                    f"{name} changed since the run finished: {size} bytes where {DONE_FILE} "
                    f"says {expected['size']}"
                )
        if "run_id" not in marker:
            raise KeyError("run_id")
        return marker, ""
    except (OSError, KeyError, TypeError, AttributeError) as exc:
        return None, f"{DONE_FILE} is damaged ({type(exc).__name__}: {exc})"


def was_pruned(run_dir: Path) -> bool:
    """Whether ``run_dir`` is a trial the Optuna pruner stopped (its ``TRIAL_FILE``)."""
    try:
        return json.loads((Path(run_dir) / TRIAL_FILE).read_text()).get("state") == "PRUNED"
    except (OSError, ValueError, AttributeError):
        return False


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job directories under ``sweep_dir`` (each has ``.hydra/overrides.yaml``), job 10
    after job 9."""
    dirs = [p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")]
    return sorted(dirs, key=lambda d: _natural_key(d.relative_to(sweep_dir).as_posix()))


def sweep_jobs(root: Path) -> list[Path]:
    """The job directories under ``root`` that belong to a sweep (beside its
    ``MULTIRUN_FILE``): not ``root`` itself, nor a single run's folder."""
    return [job for job in job_dirs(root) if job != root and (job.parent / MULTIRUN_FILE).is_file()]


def _natural_key(name: str) -> list:
    """Digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def no_run_in_sweep(root: Path) -> MarketcastError | None:
    """The error of a ``root`` that holds the jobs of a sweep none of which left a run (each
    failed, was pruned or was cut off), saying what became of them; None where ``root``
    holds no job or some job left a run. It said "run_dir has no finished run (no
    run.json)", as of a folder that never held one."""
    from marketcast.progress import counted, listed

    if marked_runs(root):
        return None
    outcomes: dict[str, list[str]] = {}
    for job in sweep_jobs(root):
        done = "failed" if (job / FAILED_FILE).exists() else None
        done = done or ("pruned" if was_pruned(job) else "incomplete")
        outcomes.setdefault(done, []).append(job.relative_to(root).as_posix())
    if not outcomes:
        return None
    said = ", ".join(f"{counted(len(n), 'job')} {s} ({listed(n)})" for s, n in outcomes.items())
    summary = root / SUMMARY_FILE
    advice = {
        "failed": "the failed jobs' messages are in "
        + (f"{summary} and " if summary.is_file() else "")
        + "each one's failed.json and log: fix the cause",
        "pruned": "the Optuna pruner stopped the pruned ones early: search with more trials "
        "or a later pruning (search.pruner)",
        "incomplete": "the incomplete ones were cut off (interrupted, killed) or are still running",
    }
    todo = "; ".join(advice[outcome] for outcome in outcomes)
    return MarketcastError(
        f"run_dir={root} is a sweep with no finished run: {said}. {todo[0].upper()}{todo[1:]}; "
        "then train again."
    )


def clear_earlier_run(run_dir: Path) -> list[str]:
    """Remove an earlier run's ``RUN_FILES`` from ``run_dir``, where it holds one (its
    ``DONE_FILE``, whole or damaged: the folder is a marketcast run's, not a folder of the
    user's own that happens to hold a config.yaml); the names removed."""
    if not (Path(run_dir) / DONE_FILE).is_file():
        return []
    return remove_run_files(run_dir)


def remove_run_files(run_dir: Path) -> list[str]:
    """Remove every ``RUN_FILES`` name in ``run_dir``; the names removed."""
    removed = []
    for name in RUN_FILES:
        path = Path(run_dir) / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    return removed


def is_finished_run(path: Path) -> bool:
    return finished_run_id(path) is not None


def _markers(root: Path) -> Iterator[Path]:
    """The completion markers under ``root``, but those of a run still being written."""
    return (p for p in root.rglob(DONE_FILE) if STAGING_DIR not in p.relative_to(root).parts)


def marked_runs(root: Path) -> list[Path]:
    """Every run under ``root`` (e.g. the jobs of a sweep) that wrote its completion marker,
    finished or damaged since, in path order."""
    if not root.is_dir():
        return []
    return sorted(p.parent for p in _markers(root))


def latest_run(output_root: Path) -> Path:
    """The most recently finished run under ``output_root``."""
    marks = (
        [p for p in _markers(output_root) if is_finished_run(p.parent)]
        if output_root.is_dir()
        else []
    )
    if not marks:
        raise no_finished_run(output_root)
    return max(marks, key=lambda p: p.stat().st_mtime).parent


def has_finished_run(root: Path) -> bool:
    """Whether any finished run lies under ``root`` (stops at the first)."""
    return root.is_dir() and any(is_finished_run(p.parent) for p in _markers(root))


def no_finished_run(output_root: Path) -> MarketcastError:
    return MarketcastError(
        f"no finished training run under {output_root}: run `marketcast train` first, "
        "or pass run_dir=DIR."
    )
