"""The names of the files in a run directory, for the modules that write and read them.

Kept apart from ``marketcast.storage.artifacts`` (which loads Keras) so that the multirun
summary, which runs in Hydra's launching process, can read job directories cheaply.
"""

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
FAILED_FILE = "failed.json"  # written instead of the above when a sweep job fails
REPORT_FILE = "report.md"  # a backtest's Markdown report


def no_run_dir(run_dir: object) -> MarketcastError:
    """The error of a ``run_dir`` that is not a directory (checked at start-up and on load)."""
    return MarketcastError(
        f"run_dir={str(run_dir)!r} does not exist: pass a training run directory (it holds "
        f"{MODEL_FILE} and {PREPROCESSING_FILE})."
    )
