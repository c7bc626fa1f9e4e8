"""From a price frame to scaled model windows per segment (pure: no I/O).

The scalers are fitted on the training segment only; changing any value after
the training segment changes neither them nor the training windows.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from marketcast.config import FeaturesConfig, SplitConfig, WindowConfig
from marketcast.errors import MarketcastError
from marketcast.features import representation as rep
from marketcast.features.scaling import Scaler
from marketcast.features.split import SEGMENTS, Segments, split_rows
from marketcast.features.windows import Windows, make_windows, sequence_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transform:
    """Everything between raw prices and model inputs and outputs; saved with a run.

    The forecaster rebuilds exactly the training inputs from this alone.
    """

    features: list[str]
    target: str
    window: int
    horizon: int
    representation: str
    input_scaler: Scaler  # over ``features``, in the representation's units
    target_scaler: Scaler  # over ``[target]``, in the representation's units

    def inputs(self, raw: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Scaled model inputs (B, W, F) from raw windows (B, W + 1, F) and last (B,)."""
        encoded = rep.encode_inputs(raw, last, self.features, self.representation)
        return self.input_scaler.transform(encoded).astype("float32")

    def targets(self, actual: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Scaled model targets from prices: actual (B, ..., H), last (B, ...)."""
        encoded = rep.encode_target(actual, last, self.representation)
        return self.target_scaler.transform(encoded[..., None])[..., 0].astype("float32")

    def prices(self, output: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Prices from scaled model outputs (B, H, ...) and last (B,)."""
        encoded = self.target_scaler.inverse(np.asarray(output, dtype="float64"), self.target)
        return rep.decode_target(encoded, last, self.representation)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> Transform:
        return cls(
            **{
                **state,
                "input_scaler": Scaler.from_dict(state["input_scaler"]),
                "target_scaler": Scaler.from_dict(state["target_scaler"]),
            }
        )


@dataclass(frozen=True)
class SegmentData:
    """One segment's samples, scaled for the model and raw for evaluation.

    windows: scaled inputs (B, W, F), scaled targets (B, H), first target rows (B,);
    history: (B, W) the raw target column over each input window;
    actual: (B, H) the raw target values to forecast, in price units.
    """

    windows: Windows
    history: np.ndarray
    actual: np.ndarray

    @property
    def last(self) -> np.ndarray:
        """(B,) the last observed target value: the forecast origin's price."""
        return self.history[:, -1]

    def take(self, rows: slice) -> SegmentData:
        """The samples ``rows`` of this segment (in time order)."""
        w = self.windows
        windows = Windows(w.inputs[rows], w.targets[rows], w.first_target[rows])
        return SegmentData(windows, self.history[rows], self.actual[rows])

    def target_dates(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """(B, H) dates of the targets."""
        horizon = self.actual.shape[1]
        return dates.to_numpy()[self.windows.first_target[:, None] + np.arange(horizon)]

    def origin_dates(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """(B,) the last observed date of each sample."""
        return dates.to_numpy()[self.windows.first_target - 1]

    def origin_days(self, dates: pd.DatetimeIndex) -> list[str]:
        """(B,) ``origin_dates`` as ISO days, as the interval state records them."""
        return pd.DatetimeIndex(self.origin_dates(dates)).strftime("%Y-%m-%d").tolist()


@dataclass(frozen=True)
class Prepared:
    dates: pd.DatetimeIndex  # (N,)
    transform: Transform
    segments: Segments
    parts: dict[str, SegmentData]
    raw_target: np.ndarray  # (N,) the target column, price units
    naive_mae: float  # training segment's one-step persistence MAE, price units (MASE scale)

    def sequence_targets(self, segment: str) -> np.ndarray:
        """Scaled targets of every input step of ``segment``'s samples: (B, W, H).

        Step ``j`` is asked for the ``horizon`` values after its own last value.
        """
        t = self.parts[segment].windows.first_target
        w, h = self.transform.window, self.transform.horizon
        actual = sequence_targets(self.raw_target, t, w, h)  # -> (B, W, H)
        last = self.raw_target[t[:, None] - w + np.arange(w)]  # -> (B, W)
        return self.transform.targets(actual, last)


def used_columns(features: list[str], target: str) -> list[str]:
    """The price columns a run reads: its ``features``, then its ``target`` (once)."""
    return list(dict.fromkeys([*map(str, features), str(target)]))


def select_columns(frame: pd.DataFrame, columns: list[str], target: str) -> pd.DataFrame:
    """The feature ``columns`` and the ``target``, rows with missing values dropped (and logged)."""
    features = [str(c) for c in columns]
    columns = used_columns(features, target)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        usable = [c for c in features if c in frame.columns]
        example = (
            f", e.g. features.columns=[{','.join(usable)}]"
            if usable and str(target) in frame.columns
            else ""
        )
        raise MarketcastError(
            f"the data has no {', '.join(missing)} column (it has {', '.join(frame.columns)}): "
            f"choose features.columns and features.target among those{example}."
        )
    selected = frame[columns]
    incomplete = selected.isna().to_numpy().any(axis=1)  # pandas' any(axis=1): 20x the time
    if incomplete.any():
        log.warning("dropped %d rows with missing values in %s", int(incomplete.sum()), columns)
        selected = selected[~incomplete]
    return selected


def prepare(
    frame: pd.DataFrame,
    features: FeaturesConfig,
    window: WindowConfig,
    split: SplitConfig | Segments,
    transform: Transform | None = None,
) -> Prepared:
    """Split ``frame`` chronologically, fit the scalers on training samples, window each segment.

    ``split``: fractions or dates (``SplitConfig``), or row ranges (``Segments``, a
    backtest fold). A given ``transform`` (from an earlier fit) is used as it is.
    """
    raw = _raw_segments(frame, features, window, split)
    if transform is None:
        transform = _fit_transform([raw], features, window)
    return _assemble(raw, transform)


def prepare_many(
    frames: dict[str, pd.DataFrame],
    features: FeaturesConfig,
    window: WindowConfig,
    split: SplitConfig | Segments,
    transform: Transform | None = None,
) -> dict[str, Prepared]:
    """``prepare`` for each symbol, with one transform fitted on all their training samples.

    Each symbol is split and windowed on its own dates; a model trained on the
    pooled windows sees every symbol in the same units, which needs a
    scale-free representation (a 20,000-KRW stock and a 400-USD stock differ
    only in level).
    """
    if len(frames) > 1 and features.representation == "level":
        raise MarketcastError(
            "a model shared by several symbols needs a scale-free representation: set "
            "features.representation=relative or log_return (level mixes price levels)."
        )
    raws = {}
    for symbol, frame in frames.items():
        try:
            raws[symbol] = _raw_segments(frame, features, window, split)
        except MarketcastError as exc:
            if len(frames) == 1:
                raise
            raise MarketcastError(f"{symbol}: {exc}") from None
    if transform is None:
        transform = _fit_transform(list(raws.values()), features, window)
    return {symbol: _assemble(raw, transform) for symbol, raw in raws.items()}


@dataclass(frozen=True)
class _RawSegments:
    """A frame's segments as raw windows (one row before each window included)."""

    dates: pd.DatetimeIndex
    segments: Segments
    windows: dict[str, Windows]  # inputs (B, W + 1, F) prices, targets (B, H) prices
    history: dict[str, np.ndarray]  # (B, W) the target column over each window
    raw_target: np.ndarray  # (N,)


def _raw_segments(
    frame: pd.DataFrame,
    features: FeaturesConfig,
    window: WindowConfig,
    split: SplitConfig | Segments,
) -> _RawSegments:
    selected = select_columns(frame, features.columns, features.target)
    _check_positive(selected, features)
    dates = pd.DatetimeIndex(selected.index)
    segments = split if isinstance(split, Segments) else split_rows(dates, split)
    raw = selected[list(features.columns)].to_numpy(dtype="float64")  # (N, F)
    raw_target = selected[features.target].to_numpy(dtype="float64")  # (N,)
    windows, history = {}, {}
    for segment in SEGMENTS:
        start, stop = segments.bounds(segment)
        windows[segment] = make_windows(
            raw, raw_target, start, stop, window.size + 1, window.horizon
        )
        if len(windows[segment]) == 0:
            raise MarketcastError(_too_short(segment, dates, start, stop, window))
        t = windows[segment].first_target
        history[segment] = raw_target[t[:, None] - window.size + np.arange(window.size)]
    return _RawSegments(dates, segments, windows, history, raw_target)


def _assemble(raw: _RawSegments, transform: Transform) -> Prepared:
    parts = {}
    for segment in SEGMENTS:
        w, last = raw.windows[segment], raw.history[segment][:, -1]
        scaled = Windows(
            inputs=transform.inputs(w.inputs, last),
            targets=transform.targets(w.targets, last),
            first_target=w.first_target,
        )
        parts[segment] = SegmentData(scaled, raw.history[segment], np.array(w.targets))
    naive_mae = float(np.mean(np.abs(np.diff(raw.raw_target[: raw.segments.val_start]))))
    if not naive_mae > 0:  # MASE divides by it: a flat history cannot be scored
        first, last = raw.dates[0].date(), raw.dates[raw.segments.val_start - 1].date()
        raise MarketcastError(
            f"the target never changes in the training segment ({first}..{last}): "
            "persistence is exact there, so MASE is undefined and nothing can be learnt. "
            "Check the data (a halted or delisted symbol?), or train on a longer range."
        )
    return Prepared(raw.dates, transform, raw.segments, parts, raw.raw_target, naive_mae)


def _fit_transform(
    raws: list[_RawSegments], features: FeaturesConfig, window: WindowConfig
) -> Transform:
    """Scalers fitted on the training samples (of every frame), in the representation's units."""
    name = features.representation
    train_inputs = np.concatenate(
        [
            rep.encode_inputs(
                r.windows["train"].inputs, r.history["train"][:, -1], features.columns, name
            )
            for r in raws
        ]
    )
    train_targets = np.concatenate(
        [
            rep.encode_target(r.windows["train"].targets, r.history["train"][:, -1], name)
            for r in raws
        ]
    )
    return Transform(
        features=list(features.columns),
        target=features.target,
        window=window.size,
        horizon=window.horizon,
        representation=name,
        input_scaler=Scaler.fit(
            train_inputs.reshape(-1, len(features.columns)), features.columns, features.scaler
        ),
        target_scaler=Scaler.fit(
            train_targets.reshape(-1, 1),
            [features.target],
            features.scaler,
            center=rep.centres_target(name),
        ),
    )


def _check_positive(selected: pd.DataFrame, features: FeaturesConfig) -> None:
    if features.representation == "level":
        return
    prices = selected.drop(columns="Volume", errors="ignore")
    bad = (prices <= 0).any(axis=1)
    if bad.any():
        raise MarketcastError(
            f"{int(bad.sum())} rows have zero or negative prices (first on "
            f"{selected.index[bad.to_numpy()][0].date()}); features.representation="
            f"{features.representation} divides by prices. Clean the data or use level."
        )


def _too_short(
    name: str, dates: pd.DatetimeIndex, start: int, stop: int, window: WindowConfig
) -> str:
    span = f"{dates[start].date()}..{dates[stop - 1].date()}, {stop - start} rows"
    need = (
        f"window.size + 1 + window.horizon = {window.size + 1 + window.horizon} rows"
        if name == "train"
        else f"window.horizon = {window.horizon} rows"
    )
    return (
        f"the {name} segment ({span}) is too short to hold one sample: it needs at least {need}. "
        "Use more data (data.start earlier), a smaller window.size or horizon, "
        "or a different split."
    )
