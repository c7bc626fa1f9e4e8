"""Reading and writing a run's files. The only module that touches model files.

A finished run directory holds:
  model.keras           the trained Keras model (loaded with safe_mode, no code runs)
  preprocessing.json    what the forecaster needs to rebuild the inputs (written last:
                        its presence marks the run finished)
  metrics.json          validation and test metrics of the model and the baselines
  config.yaml           the resolved config of the run
  test_predictions.csv  every test-set forecast next to the actual value and the baselines
Every file is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from marketcast.atomic import atomic_write
from marketcast.errors import MarketcastError
from marketcast.evaluation.intervals import Intervals
from marketcast.features.dataset import Transform
from marketcast.model.backend import keras
from marketcast.storage.runfiles import (
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PREDICTIONS_FILE,
    PREPROCESSING_FILE,
)

FORMAT_VERSION = 2


@dataclass(frozen=True)
class Preprocessing:
    """Everything between raw prices and forecasts, as saved with a run."""

    transform: Transform  # features, target, window, horizon, representation, scalers
    intervals: Intervals  # calibrated prediction-interval quantiles
    head: str
    data: dict  # the run's data config: where the forecaster reads fresh prices
    last_date: str  # the last date of the data the run trained and evaluated on

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "transform": self.transform.to_dict(),
            "intervals": self.intervals.to_dict(),
            "head": self.head,
            "data": self.data,
            "last_date": self.last_date,
        }

    @classmethod
    def from_dict(cls, state: dict) -> Preprocessing:
        if state.get("format_version") != FORMAT_VERSION:
            raise MarketcastError(
                f"{PREPROCESSING_FILE} has format_version={state.get('format_version')!r}; "
                f"this marketcast reads version {FORMAT_VERSION}. Retrain the run."
            )
        return cls(
            transform=Transform.from_dict(state["transform"]),
            intervals=Intervals.from_dict(state["intervals"]),
            head=state["head"],
            data=state["data"],
            last_date=state["last_date"],
        )


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6f"))


def save_run(
    run_dir: Path,
    model: keras.Model,
    preprocessing: Preprocessing,
    metrics: dict,
    predictions: pd.DataFrame,
    config_yaml: str,
) -> None:
    """Write a finished run; ``preprocessing.json`` goes last and marks it complete."""
    atomic_write(run_dir / MODEL_FILE, lambda tmp: model.save(tmp))
    write_json(run_dir / METRICS_FILE, metrics)
    write_text(run_dir / CONFIG_FILE, config_yaml)
    write_csv(run_dir / PREDICTIONS_FILE, predictions)
    write_json(run_dir / PREPROCESSING_FILE, preprocessing.to_dict())


def is_finished_run(path: Path) -> bool:
    return (path / PREPROCESSING_FILE).is_file() and (path / MODEL_FILE).is_file()


def load_run(run_dir: Path) -> tuple[keras.Model, Preprocessing]:
    """The model and preprocessing of a finished run, loaded without running stored code."""
    if not run_dir.is_dir():
        raise MarketcastError(
            f"run_dir={str(run_dir)!r} does not exist: pass a training "
            "run directory (it holds model.keras and preprocessing.json)."
        )
    if not is_finished_run(run_dir):
        raise MarketcastError(
            f"run_dir={str(run_dir)!r} has no finished run ({MODEL_FILE} and "
            f"{PREPROCESSING_FILE} missing): point run_dir at a directory written by train.py."
        )
    try:
        state = json.loads((run_dir / PREPROCESSING_FILE).read_text(encoding="utf-8"))
        preprocessing = Preprocessing.from_dict(state)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise MarketcastError(
            f"{run_dir / PREPROCESSING_FILE} is damaged ({type(exc).__name__}: {exc}); retrain."
        ) from None
    model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False, safe_mode=True)
    return model, preprocessing


def finished_runs(root: Path) -> list[Path]:
    """Every finished run under ``root`` (e.g. the jobs of a sweep), in path order."""
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob(PREPROCESSING_FILE) if is_finished_run(p.parent))


def latest_run(output_root: Path) -> Path:
    """The most recently finished run under ``output_root``."""
    marks = (
        [p for p in output_root.rglob(PREPROCESSING_FILE) if is_finished_run(p.parent)]
        if output_root.is_dir()
        else []
    )
    if not marks:
        raise MarketcastError(
            f"no finished training run under {output_root}: run `python train.py` first, "
            "or pass run_dir=DIR."
        )
    return max(marks, key=lambda p: p.stat().st_mtime).parent
