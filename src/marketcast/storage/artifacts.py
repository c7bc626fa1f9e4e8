"""Reading and writing a run's files. The only module that touches model files.

A finished run directory holds:
  model.keras           the trained Keras model (loaded with safe_mode, no code runs)
  preprocessing.json    what the forecaster needs to rebuild the inputs
  metrics.json          validation and test metrics of the model and the baselines
  config.yaml           the resolved config of the run
  test_predictions.csv  every test-set forecast next to the actual value and the baselines
  run.json              the completion marker, written last: the run id, and the size and
                        SHA-256 of each file above
Every file is written to a temporary name and renamed, so a reader never sees half a file.
A run counts as finished only while run.json names the run id that preprocessing.json and
metrics.json carry and every file still has the recorded size and digest: re-training into
a directory removes the old marker first, so a run killed half-way is never picked up with
a mix of old and new files. Loading checks every file and names the file and the problem.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from marketcast.atomic import atomic_write
from marketcast.config import Head, PriceColumn, Representation, ScalerKind
from marketcast.errors import MarketcastError
from marketcast.evaluation.forecasts import COMPONENTS
from marketcast.evaluation.intervals import GARCH_KEYS, STEP_RATES, VOLATILITIES, Intervals
from marketcast.evaluation.peers import GARCH_MODELS, garch_params
from marketcast.features.dataset import Transform
from marketcast.model.backend import keras
from marketcast.runfiles import (
    CONFIG_FILE,
    DONE_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PREDICTIONS_FILE,
    PREPROCESSING_FILE,
    VAL_PREDICTIONS_FILE,
    fingerprint,
    finished_marker,
    no_finished_run_in,
    no_run_dir,
)

FORMAT_VERSION = 3
_CHECKED = (MODEL_FILE, PREPROCESSING_FILE, METRICS_FILE, CONFIG_FILE, PREDICTIONS_FILE)


@dataclass(frozen=True)
class Preprocessing:
    """Everything between raw prices and forecasts, as saved with a run."""

    transform: Transform  # features, target, window, horizon, representation, scalers
    intervals: Intervals  # calibrated prediction-interval quantiles
    head: str
    data: dict  # the run's data config: where the forecaster reads fresh prices
    last_date: str  # the last date of the data the run trained and evaluated on
    run_id: str = ""  # the run these files belong to (run.json names it too)
    combination: dict | None = None  # the published combination's weights; None: raw LSTM

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "run_id": self.run_id,
            "transform": self.transform.to_dict(),
            "intervals": self.intervals.to_dict(),
            "head": self.head,
            "data": self.data,
            "last_date": self.last_date,
            "combination": self.combination,
        }

    @classmethod
    def from_dict(cls, state: dict) -> Preprocessing:
        if state.get("format_version") != FORMAT_VERSION:
            raise MarketcastError(
                f"{PREPROCESSING_FILE} has format_version={state.get('format_version')!r}; "
                f"this marketcast reads version {FORMAT_VERSION}. Retrain the run."
            )
        check_preprocessing(state)
        return cls(
            transform=Transform.from_dict(state["transform"]),
            intervals=Intervals.from_dict(state["intervals"]),
            head=state["head"],
            data=state["data"],
            last_date=state["last_date"],
            run_id=state["run_id"],
            combination=state.get("combination"),
        )


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """``frame`` as CSV, numbers to 12 significant digits: a fixed count of decimals would
    round a price of 0.0001234 to 0.000123, and the store keeps the full value. Twelve, not
    ten: a forecast's move from the origin's price, read back from two rounded values, must
    keep its sign down to ``scores.SAME_FORECAST_RTOL`` (a billionth of the price), where
    the metrics stop counting a move, so that the figures can be recomputed from the file
    (but for a move within a thousandth of that threshold; ten digits made a peer's moves
    of a ten-millionth of the price read as none, or the wrong way)."""
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.12g"))


def save_run(
    run_dir: Path,
    model: keras.Model,
    preprocessing: Preprocessing,
    metrics: dict,
    predictions: pd.DataFrame,
    config_yaml: str,
    val_predictions: pd.DataFrame | None = None,
) -> None:
    """Write a finished run; ``run.json`` goes last and marks it complete.

    An earlier run's marker in ``run_dir`` is removed first: until the new marker is
    written, the directory holds no finished run.
    """
    (run_dir / DONE_FILE).unlink(missing_ok=True)
    atomic_write(run_dir / MODEL_FILE, lambda tmp: model.save(tmp))
    write_json(run_dir / METRICS_FILE, {"run_id": preprocessing.run_id, **metrics})
    write_text(run_dir / CONFIG_FILE, config_yaml)
    write_csv(run_dir / PREDICTIONS_FILE, predictions)
    checked = _CHECKED
    if val_predictions is not None:
        write_csv(run_dir / VAL_PREDICTIONS_FILE, val_predictions)
        checked += (VAL_PREDICTIONS_FILE,)
    write_json(run_dir / PREPROCESSING_FILE, preprocessing.to_dict())
    files = {name: fingerprint(run_dir / name) for name in checked}
    write_json(run_dir / DONE_FILE, {"run_id": preprocessing.run_id, "files": files})


def load_run(run_dir: Path) -> tuple[keras.Model, Preprocessing]:
    """The model and preprocessing of a finished run, loaded without running stored code."""
    if not run_dir.is_dir():
        raise no_run_dir(run_dir)
    marker, why = finished_marker(run_dir)
    if marker is None:
        raise no_finished_run_in(run_dir, why)
    run_id = str(marker["run_id"])
    for name in (PREPROCESSING_FILE, MODEL_FILE):
        if fingerprint(run_dir / name)["sha256"] != marker["files"][name]["sha256"]:
            raise MarketcastError(
                f"{run_dir / name} was changed after the run finished (its digest differs "
                f"from {DONE_FILE}'s): train again rather than edit run files."
            )
    path = run_dir / PREPROCESSING_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError("not a JSON object")
        preprocessing = Preprocessing.from_dict(state)
    except MarketcastError as exc:
        raise MarketcastError(f"{path}: {exc}; train again.") from None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise MarketcastError(
            f"{path} is damaged ({type(exc).__name__}: {exc}); train again."
        ) from None
    if preprocessing.run_id != run_id:
        raise MarketcastError(
            f"{path} belongs to run {preprocessing.run_id!r}, not to {run_id!r} ({DONE_FILE}): "
            "the directory mixes two runs; train again."
        )
    model = _load_model(run_dir / MODEL_FILE)
    _check_shapes(model, preprocessing, run_dir / MODEL_FILE)
    return model, preprocessing


def _load_model(path: Path) -> keras.Model:
    """``model.keras`` loaded with safe_mode; each way it can fail is one clear message."""
    if path.stat().st_size == 0:
        raise MarketcastError(f"{path} is empty: the run did not save its model; train again.")
    if not zipfile.is_zipfile(path):
        raise MarketcastError(
            f"{path} is not a Keras model file (a .keras file is a zip archive); train again."
        )
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise MarketcastError(
                f"{path} holds code (a Lambda layer or a custom object) that marketcast does "
                "not run (Keras safe_mode): use a model written by marketcast train."
            ) from None
        raise MarketcastError(f"{path} cannot be loaded ({exc}); train again.") from None
    except Exception as exc:  # truncated archives and bad weights raise many types
        raise MarketcastError(
            f"{path} cannot be loaded ({type(exc).__name__}: {exc}); train again."
        ) from None


def _check_shapes(model: keras.Model, prep: Preprocessing, path: Path) -> None:
    t = prep.transform
    expected_in = (t.window, len(t.features))
    got_in = tuple(model.input_shape[1:])
    if got_in != expected_in:
        raise MarketcastError(
            f"{path} takes windows of shape {got_in} but {PREPROCESSING_FILE} describes "
            f"{expected_in} (window.size, features): the files do not belong together; "
            "train again."
        )
    out = tuple(model.output_shape[1:])
    if out[-1] != t.horizon or len(out) != (2 if prep.head == Head.sequence else 1):
        raise MarketcastError(
            f"{path} forecasts shape {out} but {PREPROCESSING_FILE} describes horizon "
            f"{t.horizon} with the {prep.head} head: the files do not belong together; "
            "train again."
        )


def check_preprocessing(state: dict) -> None:
    """Refuse a preprocessing.json whose values could not have come from marketcast train."""
    for key in ("run_id", "transform", "intervals", "head", "data", "last_date"):
        if key not in state:
            raise MarketcastError(f"it has no {key!r} entry")
    t = state["transform"]
    _expect(isinstance(t, dict), "transform is not an object")
    features = t.get("features")
    _expect(
        isinstance(features, list)
        and features
        and all(f in PriceColumn.__members__ for f in features),
        f"transform.features={features!r} is not a list of price columns",
    )
    _expect(t.get("target") in PriceColumn.__members__, f"transform.target={t.get('target')!r}")
    for key in ("window", "horizon"):
        value = t.get(key)
        _expect(
            isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            f"transform.{key}={value!r} is not a positive whole number",
        )
    _expect(
        t.get("representation") in Representation.__members__,
        f"transform.representation={t.get('representation')!r} is not one of "
        f"{', '.join(Representation.__members__)}",
    )
    for name, columns in (("input_scaler", features), ("target_scaler", [t.get("target")])):
        scaler = t.get(name)
        _expect(isinstance(scaler, dict), f"transform.{name} is not an object")
        _expect(
            scaler.get("method") in ScalerKind.__members__,
            f"transform.{name}.method={scaler.get('method')!r}",
        )
        _expect(
            scaler.get("columns") == columns,
            f"transform.{name}.columns={scaler.get('columns')!r} do not match {columns!r}",
        )
        for key in ("offset", "scale"):
            values = scaler.get(key)
            _expect(
                isinstance(values, list)
                and len(values) == len(columns)
                and all(_finite(v) for v in values),
                f"transform.{name}.{key}={values!r} is not {len(columns)} finite numbers",
            )
        _expect(all(v != 0 for v in scaler["scale"]), f"transform.{name}.scale has a zero")
    intervals = state["intervals"]
    levels = intervals.get("levels") if isinstance(intervals, dict) else None
    _expect(
        isinstance(levels, list)
        and len(levels) >= 2
        and all(_finite(q) and 0 < q < 1 for q in levels),
        f"intervals.levels={levels!r} are not quantile levels in (0, 1)",
    )
    _expect(
        intervals.get("volatility") in VOLATILITIES
        and _finite(intervals.get("gamma"))
        and 0 <= intervals["gamma"] < 1
        and intervals.get("horizon") == t["horizon"],
        f"intervals.volatility/gamma/horizon={intervals.get('volatility')!r}/"
        f"{intervals.get('gamma')!r}/{intervals.get('horizon')!r} are not an interval method",
    )
    shrink = intervals.get("shrink", 0.0)  # absent in a state saved before it was kept
    _expect(
        _finite(shrink) and 0 <= shrink <= 1,
        f"intervals.shrink={shrink!r} is not a share in [0, 1]",
    )
    step_rates = intervals.get("step_rates", "flat")  # absent before it was kept: flat
    _expect(
        step_rates in STEP_RATES,
        f"intervals.step_rates={step_rates!r} is not one of {STEP_RATES}",
    )
    persistence = intervals.get("step_persistence")  # absent before it was kept: None
    _expect(
        persistence is None or (_finite(persistence) and 0 <= persistence < 1),
        f"intervals.step_persistence={persistence!r} is not a share in [0, 1)",
    )
    _expect(
        persistence is None or intervals["volatility"] != "ewma",
        f"intervals.step_persistence={persistence!r} is set for volatility 'ewma', which "
        "has no multi-step variance (it must be null)",
    )
    ratio = intervals.get("variance_ratio", 0.0)  # absent in a state saved before it was kept
    _expect(
        _finite(ratio) and 0 <= ratio <= 1,
        f"intervals.variance_ratio={ratio!r} is not a weight in [0, 1]",
    )
    _expect(
        not ratio or intervals["volatility"] != "ewma",
        f"intervals.variance_ratio={ratio!r} is set for volatility 'ewma', which has no "
        "multi-step variance (it must be 0)",
    )
    if intervals["volatility"] == "ewma":
        scores = intervals.get("scores")
        _expect(
            isinstance(scores, list)
            and scores
            and all(
                isinstance(r, list) and len(r) == t["horizon"] and all(map(_finite, r))
                for r in scores
            ),
            f"intervals.scores is not rows of {t['horizon']} finite numbers",
        )
    bands = intervals.get("symbols")
    _expect(isinstance(bands, dict) and bands, "intervals.symbols is not a non-empty object")
    for name, band in bands.items():
        checkpoints = band.get("checkpoints") if isinstance(band, dict) else None
        _expect(  # absent or null in states saved before checkpoints were kept
            checkpoints is None
            or (
                isinstance(checkpoints, list)
                and all(
                    isinstance(c, list) and len(c) in (2, 3) and _iso_day(c[0]) for c in checkpoints
                )
            ),
            f"intervals.symbols.{name}.checkpoints is not a list of [ISO date, tails, "
            "pending] entries",
        )
        shape = (t["horizon"], t["horizon"], len(levels))
        for key, pending in [
            ("pending", band.get("pending") if isinstance(band, dict) else None)
        ] + [(f"checkpoints[{i}] pending", c[2]) for i, c in enumerate(checkpoints or []) if c[2:]]:
            _expect(  # absent or null in states saved before pending updates were kept
                pending is None or _finite_array(pending, shape),
                f"intervals.symbols.{name}.{key} is not {shape} finite tail updates",
            )
        for key, tails in [("tails", band.get("tails") if isinstance(band, dict) else None)] + [
            (f"checkpoints[{i}]", c[1]) for i, c in enumerate(checkpoints or [])
        ]:
            _expect(
                isinstance(tails, list)
                and len(tails) == t["horizon"]
                and all(
                    isinstance(r, list)
                    and len(r) == len(levels)
                    and all(_finite(a) and 0 < a <= 0.5 for a in r)
                    for r in tails
                ),
                f"intervals.symbols.{name}.{key} is not {t['horizon']} rows of {len(levels)} "
                "tail probabilities in (0, 0.5]",
            )
        garch = band.get("garch")
        if intervals["volatility"] in GARCH_MODELS:
            _expect(
                isinstance(garch, dict)
                and all(_finite(garch_params(garch).get(k)) for k in GARCH_KEYS)
                and garch["omega"] > 0
                and garch["start"] > 0,
                f"intervals.symbols.{name}.garch={garch!r} is not GARCH parameters",
            )
    _expect(state["head"] in Head.__members__, f"head={state['head']!r}")
    combination = state.get("combination")
    if combination is not None:
        names, weights = combination.get("names"), combination.get("weights")
        _expect(
            isinstance(names, list)
            and set(names) <= set(COMPONENTS)
            and isinstance(weights, list)
            and len(weights) == t["horizon"]
            and all(
                isinstance(r, list)
                and len(r) == len(names)
                and all(_finite(w) and w >= 0 for w in r)
                for r in weights
            ),
            f"combination={combination!r} is not {t['horizon']} rows of non-negative weights",
        )
        shrink = combination.get("shrink", 0.0)  # absent in a run saved before it was kept
        _expect(
            _finite(shrink) and 0 <= shrink <= 1,
            f"combination.shrink={shrink!r} is not a share in [0, 1]",
        )
        peers = combination.get("peers", {})  # absent in a run saved before they were kept
        _expect(isinstance(peers, dict), "combination.peers is not an object")
        for name, saved in peers.items():
            ets = saved.get("ets") if isinstance(saved, dict) else None
            _expect(_is_ets(ets), f"combination.peers.{name}.ets is not a fitted ETS state")
    _expect(isinstance(state["data"], dict), "data is not an object")


def _is_ets(ets) -> bool:
    """A saved AutoETS (``peers.ets_state``): components such as ``AAND`` (error, trend,
    season, damping), four parameters, and dated checkpoints of states of the length the
    components give (a level, a trend, ``m`` seasons)."""
    if not (isinstance(ets, dict) and isinstance(ets.get("components"), str)):
        return False
    letters = ets["components"]
    if not (len(letters) == 4 and letters[0] in "AM" and letters[1] in "NAM"):
        return False
    if not (letters[2] in "NAM" and letters[3] in "ND" and isinstance(ets.get("m"), int)):
        return False
    size = 1 + (letters[1] != "N") + ets["m"] * (letters[2] != "N")
    params, checkpoints = ets.get("params"), ets.get("checkpoints")
    return (
        isinstance(params, list)
        and len(params) == 4
        and all(p is None or _finite(p) for p in params)
        and isinstance(checkpoints, list)
        and len(checkpoints) >= 1
        and all(
            isinstance(c, list)
            and len(c) == 2
            and _is_date(c[0])
            and isinstance(c[1], list)
            and len(c[1]) == size
            and all(_finite(v) for v in c[1])
            for c in checkpoints
        )
    )


def _is_date(value) -> bool:
    try:
        return isinstance(value, str) and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise MarketcastError(f"it is not a valid run file: {problem}")


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _finite_array(value, shape: tuple[int, ...]) -> bool:
    """``value`` is nested lists of finite numbers of exactly ``shape``."""
    if not shape:
        return _finite(value)
    return (
        isinstance(value, list)
        and len(value) == shape[0]
        and all(_finite_array(v, shape[1:]) for v in value)
    )


def _iso_day(value) -> bool:
    """``value`` is a date as the interval state records it: YYYY-MM-DD."""
    try:
        return isinstance(value, str) and str(pd.Timestamp(value).date()) == value
    except ValueError:
        return False
