"""Fitting one forecaster: the model and everything fitted beside it on the same rows.

``fit_forecaster`` trains the model (``model.ensemble`` members) on the training windows
with early stopping on the first ``stop_share`` of the validation samples, fits the ridge
baseline on the training windows, then on the later validation samples (which early
stopping never looked at) fits the published combination and calibrates the prediction
intervals around it: the GJR-GARCH parameters come from each symbol's training returns,
and the adaptive levels warm up on those later validation samples. In a backtest the
combination is also fitted on the test forecasts of the folds before (``past``), each made
out of sample by the model that served that fold. Their dates mostly fall inside this
fold's validation segment: they add few new dates, but the LSTM's share is then judged on
several models' forecasts of the recent past, not on one model's alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.linear_model import Ridge

from marketcast.config import Combine, ForecastConfig, IntervalsConfig, ModelConfig, TrainConfig
from marketcast.errors import MarketcastError
from marketcast.evaluation.baselines import drift, fit_ridge, persistence
from marketcast.evaluation.combination import Weights, fit_weights, keep_earned
from marketcast.evaluation.forecasts import (
    COMPONENTS,
    PEER_COMPONENTS,
    SegmentForecasts,
    forecast_segment,
    model_prices,
    publish,
)
from marketcast.evaluation.intervals import Intervals, recent_prices, scale_rows
from marketcast.evaluation.peers import GARCH_MODELS, fit_garch
from marketcast.features.dataset import Prepared, Transform
from marketcast.features.split import fit_start, stop_samples
from marketcast.model import runtime
from marketcast.model.backend import keras
from marketcast.model.network import average, build_model
from marketcast.model.training import compile_model, fit, seed_everything

log = logging.getLogger(__name__)

# Fewer fit samples than this and the combination's shares are noise: on a few hundred
# rows an edge of 1% over persistence is already hard to tell from luck (README, "Who sees
# which rows").
FEW_FIT_SAMPLES = 100
# Fewer than this and no share is fitted at all: the combination publishes persistence (one
# or two samples gave the LSTM "1.00 of its move" at h = 150).
MIN_FIT_SAMPLES = 20

# One segment's rows for the combination's fit: "actual", "persistence" and each component
# it may move towards, (B, H) prices on the same samples.
FitRows = dict[str, np.ndarray]


@dataclass(frozen=True)
class Fitted:
    """A model with everything fitted alongside it on the same training data."""

    model: keras.Model
    transform: Transform
    ridge: Ridge
    intervals: Intervals
    history: dict[str, list[float]]
    weights: Weights | None = None  # the published combination; None: the raw LSTM
    fitted_on: str = ""  # the samples the weights were fitted on, in words
    peers: dict[str, dict] = field(default_factory=dict)  # symbol -> its peers, as saved

    def forecast(
        self,
        symbol: str,
        prep: Prepared,
        segment: str,
        peers: dict[str, np.ndarray] | None = None,
        reference_bands: dict[str, np.ndarray] | None = None,
        intervals: Intervals | None = None,
        peer_bands: dict[str, np.ndarray] | None = None,
    ) -> tuple[SegmentForecasts, Intervals]:
        """Every forecaster's forecasts for one segment of ``symbol``, in price units, and
        the interval state after it; ``peers``: the classical peers' (B, H) forecasts on the
        same samples (``peer_bands``: their own (B, H, L) bands); ``intervals``: the state
        to continue from (default: the fitted one)."""
        return forecast_segment(
            self.model,
            self.transform,
            self.ridge,
            intervals or self.intervals,
            self.weights,
            symbol,
            prep,
            segment,
            peers or {},
            reference_bands,
            peer_bands,
        )


def fit_forecaster(
    preps: list[Prepared],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    interval_levels: list[float],
    callbacks: list | tuple = (),
    forecast_cfg: ForecastConfig | None = None,
    val_peers: list[dict[str, np.ndarray]] | None = None,
    stop_share: float = 0.5,
    intervals_cfg: IntervalsConfig | None = None,
    names: list[str] | None = None,
    past: list[FitRows] | tuple = (),
) -> Fitted:
    """Fit the model, the ridge baseline and the interval calibration on ``preps``.

    The model trains on the training segment with early stopping on the
    first ``stop_share`` of each symbol's validation samples. Several prepared symbols
    (sharing one transform) are pooled into one model. ``callbacks`` (loggers, an Optuna
    pruner) join the fit. ``val_peers``: per symbol, the peers' forecasts on its whole
    validation segment (for the combination); ``forecast_cfg.combine=none`` (or None)
    publishes the raw LSTM. ``names``: the symbols of ``preps`` (their interval states).
    ``past``: out-of-sample forecasts made before these validation rows' fit (a backtest's
    earlier folds' test rows, ``fit_rows``), fitted on with them.
    """
    names = names or [str(i) for i in range(len(preps))]
    intervals_cfg = intervals_cfg or IntervalsConfig()
    if forecast_cfg is not None and forecast_cfg.combine == Combine.validated:
        _check_components(forecast_cfg, val_peers or [{}] * len(preps), past)
    transform = preps[0].transform
    train_xy = _pooled_xy(preps, "train", model_cfg.head)
    stop_rows = [_stop_rows(p, stop_share) for p in preps]
    val_xy = _pooled_xy(preps, "val", model_cfg.head, stop_rows)
    runtime.clear_session()  # a fresh graph per fit: sweeps and backtests do not grow
    members, history = [], {}
    for k in range(model_cfg.ensemble):
        if model_cfg.ensemble > 1:
            log.info(
                "ensemble member %d/%d (seed %d)", k + 1, model_cfg.ensemble, train_cfg.seed + k
            )
        seed_everything(train_cfg.seed + k)
        with runtime.strategy_scope(train_cfg.distribute):  # it trains where it is built
            member = build_model(
                model_cfg,
                transform.window,
                len(transform.features),
                transform.horizon,
                name=f"marketcast_lstm_{k}" if model_cfg.ensemble > 1 else "marketcast_lstm",
            )
            compile_model(member, train_cfg, len(train_xy[0]))
        # loggers and a pruner follow the first member: one curve per run
        fitted = fit(
            member, *train_xy, *val_xy, train_cfg, extra_callbacks=callbacks if k == 0 else ()
        )
        history = history or fitted
        members.append(member)
    model = average(members)
    train_inputs = train_xy[0]
    train_targets = np.concatenate([p.parts["train"].windows.targets for p in preps])
    ridge = fit_ridge(train_inputs, train_targets)

    # The later validation samples: the combination and the calibration see only these.
    later = [
        slice(fit_start(len(p.parts["val"].windows), stop_share, transform.horizon), None)
        for p in preps
    ]
    parts = [p.parts["val"].take(rows) for p, rows in zip(preps, later, strict=True)]
    peers = [
        {name: f[rows] for name, f in (val_peers[i] if val_peers else {}).items()}
        for i, rows in enumerate(later)
    ]
    lstm = [model_prices(model, transform, part) for part in parts]
    weights, fitted_on = None, ""
    if forecast_cfg is not None and forecast_cfg.combine == Combine.validated:
        rows = [_validation_rows(*args) for args in zip(parts, lstm, peers, strict=True)]
        # a backtest's earlier folds (past) are its one symbol's, as its validation rows
        groups = [*range(len(rows)), *[0] * len(past)]
        weights = _fit_weights([*rows, *past], forecast_cfg, groups)
        validation, earlier = (sum(len(r["actual"]) for r in rs) for rs in (rows, past))
        fitted_on = f"{validation} later validation samples"
        if past:
            fitted_on += f" and {earlier} test samples that earlier folds' models forecast"
        fit_samples = validation + earlier
        if fit_samples < MIN_FIT_SAMPLES:
            weights = replace(weights, weights=np.zeros_like(weights.weights))
            fitted_on += f", too few to fit any share (fewer than {MIN_FIT_SAMPLES})"
        log.info("combination, fitted on %s: %s", fitted_on, weights.describe())
        if MIN_FIT_SAMPLES <= fit_samples < FEW_FIT_SAMPLES:
            log.warning(
                "the combination is fitted on %d samples (fewer than %d): at this size its "
                "shares are mostly luck, and the interval calibration on no more. "
                "Lengthen the validation segment (split.val; in a backtest "
                "evaluation.backtest.val_fraction) or lower evaluation.stop_share.",
                fit_samples,
                FEW_FIT_SAMPLES,
            )
    published = [
        publish(f, part, pe, weights) for f, part, pe in zip(lstm, parts, peers, strict=True)
    ]
    intervals = _calibrate(preps, names, parts, published, interval_levels, intervals_cfg)
    return Fitted(model, transform, ridge, intervals, history, weights, fitted_on)


def _check_components(cfg: ForecastConfig, val_peers: list[dict], past) -> None:
    """Refuse, before training, a combination whose peer components some fit rows lack:
    fitting without them would publish a combination the config did not ask for."""
    for name in (str(c) for c in cfg.components if str(c) in PEER_COMPONENTS):
        lacking = sum(name not in rows for rows in [*val_peers, *past])
        if lacking:
            raise MarketcastError(
                f"forecast.components includes {name}, but {lacking} of the "
                f"{len(val_peers) + len(past)} row sets the combination is fitted on have no "
                f"{name} forecasts: pass them (val_peers, past) or leave {name} out of "
                "forecast.components."
            )


def _calibrate(preps, names, parts, published, levels, cfg: IntervalsConfig) -> Intervals:
    """The interval calibration on the later validation samples of every symbol."""
    transform = preps[0].transform
    volatility = str(cfg.volatility)
    if volatility not in GARCH_MODELS:
        log.info(
            "intervals: volatility=%s scales by the window's EWMA volatility; "
            "evaluation.intervals.shrink, step_persistence and variance_ratio (GARCH scales "
            "only) are not used",
            volatility,
        )
    rows = scale_rows(volatility, transform.window)
    symbols = {}
    for name, prep, part, centre in zip(names, preps, parts, published, strict=True):
        t = part.windows.first_target
        symbols[name] = {
            "centre": centre,
            "actual": part.actual,
            "recent": recent_prices(prep.raw_target, t, rows),
            "garch": fit_garch(prep.raw_target, prep.segments.val_start, volatility, name)
            if volatility in GARCH_MODELS
            else None,
            "as_of": part.origin_days(prep.dates),
        }
    return Intervals.calibrate(
        list(levels),
        transform.horizon,
        transform.window,
        volatility,
        cfg.adapt_rate,
        symbols,
        shrink=cfg.shrink if volatility in GARCH_MODELS else 0.0,  # ewma: no GARCH variance
        step_persistence=cfg.step_persistence if volatility in GARCH_MODELS else None,
        step_rates=str(cfg.step_rates),
        variance_ratio=cfg.variance_ratio if volatility in GARCH_MODELS else 0.0,
    )


def _stop_rows(prep: Prepared, share: float) -> slice:
    """The validation samples that decide early stopping: the first ``share`` of them."""
    return slice(0, stop_samples(len(prep.parts["val"].windows), share))


def fit_rows(forecasts: SegmentForecasts) -> FitRows:
    """A scored segment's rows for a later fit of the combination (a backtest's next folds)."""
    names = ("persistence", *COMPONENTS)
    return {
        "actual": forecasts.part.actual,
        **{n: forecasts.forecasts[n] for n in names if n in forecasts.forecasts},
    }


def _validation_rows(part, lstm: np.ndarray, peers: dict[str, np.ndarray]) -> FitRows:
    horizon = lstm.shape[1]
    return {
        "actual": part.actual,
        "persistence": persistence(part.history, horizon),
        "lstm": lstm,
        "drift": drift(part.history, horizon),
        **{n: peers[n] for n in COMPONENTS if n in peers},
    }


def _fit_weights(rows: list[FitRows], cfg: ForecastConfig, groups: list[int]) -> Weights:
    """The combination fitted on every row set of ``rows`` at once, on the components of
    ``cfg.components`` (each row set holds them all: ``_check_components``); ``groups``:
    the symbol of each row set (the gate weighs symbols alike)."""
    wanted = [str(c) for c in cfg.components]
    names = [n for n in COMPONENTS if n in wanted]
    pooled = {k: np.concatenate([r[k] for r in rows]) for k in ("actual", "persistence", *names)}
    actual, reference = pooled.pop("actual"), pooled.pop("persistence")
    weights = fit_weights(actual, reference, pooled, loss=str(cfg.loss), min_gain=cfg.min_gain)
    of_row = np.repeat(groups, [len(r["actual"]) for r in rows])
    kept = keep_earned(weights, actual, reference, pooled, cfg.min_improvement, of_row)
    return kept.shrunk(cfg.shrink)  # the gate judges the fitted shares, the forecast moves less


def _pooled_xy(
    preps: list[Prepared], segment: str, head: str, rows: list[slice] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (B, W, F) and targets: (B, H), or (B, W, H) for the sequence head;
    ``rows``: per symbol, the samples to take (default all)."""
    rows = rows or [slice(None)] * len(preps)
    inputs = [p.parts[segment].windows.inputs[r] for p, r in zip(preps, rows, strict=True)]
    if head == "sequence":
        targets = [p.sequence_targets(segment)[r] for p, r in zip(preps, rows, strict=True)]
    else:
        targets = [p.parts[segment].windows.targets[r] for p, r in zip(preps, rows, strict=True)]
    if len(preps) == 1:  # no copy in the common single-symbol case
        return inputs[0], targets[0]
    return np.concatenate(inputs), np.concatenate(targets)
