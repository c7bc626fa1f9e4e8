"""The training job, one flow for every kind of run: data -> fits -> scores -> run directory.

A run is a list of fits ("folds") over one or more symbols:

- a single split: one fit of one symbol, split by ``split.*``;
- a walk-forward backtest: one fit per fold of one symbol (``evaluation=backtest``);
- a global model: one fit pooling the windows of a universe (``data.symbols``).

Each fit goes through the same steps: prepare the windows, fit the forecaster (model,
ridge, interval calibration), forecast validation and test with the model and every
baseline. Then, once for the run: score each symbol over all its folds, average over
symbols, tabulate the predictions, write the run directory, print the report, and
return the network's validation MASE for a sweeper (runfiles.run_score).

This is the only module of the training job that reads the whole config; every step
below it takes its own slice. Keras is imported only after the data has loaded, so a
bad input is reported before TensorFlow starts.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from marketcast.config import (
    Combine,
    DataConfig,
    Mode,
    in_multirun,
    plain,
    search_keys,
    usable_components,
)
from marketcast.data.sources import load
from marketcast.data.symbols import without_symbol
from marketcast.data.universe import load_universe
from marketcast.errors import EXIT_OK, EXIT_PARTIAL, MarketcastError
from marketcast.evaluation.intervals import Intervals
from marketcast.evaluation.peers import GARCH_MODELS, MIN_GARCH_RETURNS
from marketcast.features.dataset import (
    Prepared,
    prepare_many,
    select_columns,
    used_columns,
)
from marketcast.features.folds import Fold, min_fold_rows, plan_folds
from marketcast.progress import counted, progress
from marketcast.runfiles import FAILED_FILE, finished_here, run_score, saved_whole

log = logging.getLogger(__name__)

SEGMENTS = ("val", "test")  # the segments a run is scored on


@dataclass
class RunData:
    """What a run trains on: each symbol's prices, and the symbols that failed to load."""

    label: str  # the run's name in logs, plots and reports
    frames: dict[str, pd.DataFrame]
    failed: dict[str, str] = field(default_factory=dict)
    universe: bool = False  # a global model over several symbols
    left_out: tuple[str, ...] = ()  # columns the run does not use that missed values
    findings: dict[str, list[str]] = field(default_factory=dict)  # symbol -> validation's


def run_label(data: DataConfig) -> str:
    """The run's label: the symbol, else the CSV file's name, else "universe"."""
    if data.symbol:
        return str(data.symbol)
    if data.path:
        return Path(str(data.path)).stem
    return "universe"


def is_universe(data: DataConfig) -> bool:
    return bool(data.symbols) or bool(data.universe_file)


def load_run_data(data: DataConfig, columns: list[str] | None = None) -> RunData:
    """The run's prices; ``columns``: those it uses (``sources.load``)."""
    label = run_label(data)
    if not is_universe(data):
        loaded = load(data, columns=columns)
        return RunData(
            label,
            {str(loaded.symbol): loaded.frame},
            left_out=loaded.report.left_out,
            findings=_findings({str(loaded.symbol): loaded}),
        )
    universe = load_universe(data, columns=columns)
    if not universe.loaded:
        raise MarketcastError(
            "no symbol of the universe could be loaded: "
            + "; ".join(f"{s}: {m.rstrip('.')}" for s, m in universe.failed.items())
        )
    left_out = tuple(dict.fromkeys(c for u in universe.loaded.values() for c in u.report.left_out))
    return RunData(
        label,
        universe.frames,
        universe.failed,
        universe=True,
        left_out=left_out,
        findings=_findings(universe.loaded),
    )


def _findings(loaded: dict) -> dict[str, list[str]]:
    """symbol -> what validation found in its prices, for the symbols where it found any."""
    return {
        symbol: [str(f) for f in one.report.findings]
        for symbol, one in loaded.items()
        if one.report.findings
    }


def train(cfg: DictConfig) -> float:
    """Run one training job; return its score for sweepers (``runfiles.run_score``: the
    network's validation MASE, lower is better).

    A job of an Optuna search (``search.trial`` set) is one trial of its study.
    """
    return _job(cfg)[0]


def command(cfg: DictConfig) -> float | int:
    """``marketcast train``: a sweep's or search's job returns its score (Hydra's sweepers
    rank jobs by it); a single run returns its exit status, ``EXIT_PARTIAL`` where symbols
    of its universe were skipped (the summary and ``metrics.json``'s ``failed`` list them),
    as fetch and predict do: a scheduled training is not told all is well with a symbol
    gone."""
    score, metrics = _job(cfg)
    if cfg.search.trial is not None or in_multirun():
        return score
    return EXIT_PARTIAL if metrics.get("failed") else EXIT_OK


def _job(cfg: DictConfig) -> tuple[float, dict]:
    """The job's score and metrics (a search's trial: its score, and no metrics)."""
    # a sweep job that failed here before: its record would stand for this job's outcome
    (Path(cfg.paths.run_dir) / FAILED_FILE).unlink(missing_ok=True)
    if cfg.search.trial is not None:
        from marketcast.tracking.optuna_search import run_trial

        return run_trial(cfg, lambda c, cb: train_with(c, cb)[0], Path(cfg.paths.run_dir)), {}
    return train_with(cfg, [])


def train_with(cfg: DictConfig, callbacks: list) -> tuple[float, dict]:
    """``train``'s score and metrics, with extra Keras ``callbacks`` (a pruner) in every
    fit; loggers around it."""
    from marketcast.tracking.loggers import make_loggers

    run_dir = Path(cfg.paths.run_dir)
    loggers = make_loggers(cfg.logger, run_dir)
    loggers.start(plain(cfg))
    began = len(finished_here)
    try:
        score, metrics = _train(cfg, run_dir, [*loggers.callbacks(), *callbacks])
    except BaseException as exc:
        if (saved := saved_whole(run_dir, began)) is not None:  # cut off after it was saved
            loggers.finish(saved, run_dir)
            raise
        # a trial the Optuna pruner stopped did not fail (its MLflow run was marked FAILED)
        optuna = sys.modules.get("optuna")  # loaded where a search runs: not imported here
        loggers.finish({}, run_dir, failed=not (optuna and isinstance(exc, optuna.TrialPruned)))
        raise
    loggers.finish(metrics, run_dir)
    return score, metrics


def _train(cfg: DictConfig, run_dir: Path, callbacks: list) -> tuple[float, dict]:
    early = _sets_lstm_options(cfg.model)
    if early:  # an option Keras may refuse: said before any data is read or fetched
        _start_keras(cfg)
    data = load_run_data(cfg.data, used_columns(cfg.features.columns, cfg.features.target))
    if data.left_out and _sweeps_features(cfg):
        log.warning(
            "%s left out (this job does not use it, and it misses values in some rows): a "
            "job of this sweep that uses it keeps fewer rows, so its validation and test "
            "segments fall on other dates. To compare jobs on the same dates, set "
            "split.val_start and split.test_start.",
            ", ".join(data.left_out),
        )
    folds = _plan(data, cfg)
    _skip_unfit_symbols(data, cfg)

    if not early:  # Keras starts after the data, whose errors are said without waiting for it
        _start_keras(cfg)
    from marketcast.jobs import outputs
    from marketcast.jobs.forecaster import fit_forecaster, fit_rows

    forecast_cfg = _forecast_config(cfg)
    fits = []
    fitted = intervals = None
    past = []  # the earlier folds' test rows, for the next fits' combination
    # closed before an error is reported, so that the log's end line comes before it
    shown = progress(folds, desc="backtest", unit="fold", logger=log) if len(folds) > 1 else None
    with shown or contextlib.nullcontext(folds) as each_fold:
        for k, fold in enumerate(each_fold):
            refit = fitted is None or k % cfg.evaluation.backtest.refit_every == 0
            preps = _prepare(data, fold, cfg, None if refit else fitted.transform)
            if refit and str(cfg.evaluation.intervals.volatility) in GARCH_MODELS:  # not ewma
                _check_interval_rows(preps)  # before the network trains, not after
            if len(folds) > 1:
                log.info(
                    "fold %d/%d: origin %s%s",
                    k + 1,
                    len(folds),
                    _origin(preps),
                    "" if refit else " (model of an earlier fold)",
                )
            if refit:
                _log_data(preps, data.label, data.universe)
            named = [n for n in ("ets", "arima", "garch") if cfg.evaluation.peers[n]]
            if k == 0 and named:
                log.info("fitting the classical peers (%s): seconds per symbol", ", ".join(named))
            with progress(
                list(preps.items()), desc="peers fitted for", unit="symbol", logger=log
            ) as fitting:
                peers = {symbol: _peers(prep, cfg.evaluation) for symbol, prep in fitting}
            if refit:
                fitted = fit_forecaster(
                    list(preps.values()),
                    cfg.model,
                    cfg.train,
                    list(cfg.evaluation.interval_levels),
                    callbacks,
                    forecast_cfg=forecast_cfg,
                    val_peers=[peers[symbol]["val"] for symbol in preps],
                    stop_share=cfg.evaluation.stop_share,
                    intervals_cfg=cfg.evaluation.intervals,
                    names=list(preps),
                    past=past,
                )
            forecasts, intervals = {}, carried(fitted.intervals, intervals)
            for symbol, prep in preps.items():
                args = (symbol, prep)
                own = peers[symbol]
                val, _ = fitted.forecast(
                    *args, "val", own["val"], own["val_bands"], peer_bands=own["val_peer_bands"]
                )
                test, intervals = fitted.forecast(
                    *args,
                    "test",
                    own["test"],
                    own["test_bands"],
                    intervals,
                    peer_bands=own["test_peer_bands"],
                )
                forecasts[symbol] = {"val": val, "test": test}
                if cfg.forecast.past_folds and k + 1 < len(folds):  # a later fold fits on them
                    past.append(fit_rows(test))
            fits.append(outputs.FitResult(k + 1, refit, preps, forecasts, _combination(fitted)))
            if len(folds) > 1:
                outputs.print_fold(fits[-1], len(folds))

    result = outputs.tabulate(
        fits,
        backtest=cfg.evaluation.mode == Mode.backtest,
        stop_share=cfg.evaluation.stop_share,
        universe=data.universe,
    )
    if fitted.weights is not None:  # the last fit's: what predict publishes
        result.metrics["combination"] = _combination(fitted)
    # what predict continues from: the intervals, and each symbol's ETS (the last fold's)
    saved = {symbol: {"ets": p["ets"]} for symbol, p in peers.items() if p["ets"] is not None}
    fitted = replace(fitted, intervals=intervals, peers=saved)
    if data.findings:  # report.md lists them; the log said them as they were found
        result.metrics["validation"] = data.findings
    result.metrics["failed"] = data.failed if data.universe else None
    if result.metrics["failed"] is None:
        del result.metrics["failed"]
    outputs.write_run(
        run_dir,
        result,
        fitted,
        data=_saved_data(cfg.data, data),
        config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
        label=data.label,
        plots_on=cfg.plots,
        description=outputs.describe(cfg),
    )
    outputs.print_report(result, data.failed)
    print(f"run directory: {run_dir}")
    val_mase, test_mase = (result.metrics[s]["model"]["mase"] for s in ("val", "test"))
    score = run_score(result.metrics)
    log.info(
        "validation MASE %.4f (the network's %.4f: what sweeps rank), test MASE %.4f",
        val_mase, score, test_mase,
    )  # fmt: skip
    return score, result.metrics


def _sets_lstm_options(model: DictConfig) -> bool:
    """Whether ``model.lstm`` differs from the schema's defaults, all of which Keras takes."""
    from marketcast.config import LSTMConfig

    default = OmegaConf.structured(LSTMConfig)
    return OmegaConf.to_container(model.lstm, resolve=True) != OmegaConf.to_container(default)


def _start_keras(cfg: DictConfig) -> None:
    """Start Keras and TensorFlow (quietly: marketcast.model.backend) for this job: its
    threads first, before TensorFlow runs an operation, then ``model.lstm``'s options built
    into a layer, which names any that Keras refuses."""
    from marketcast.model import runtime

    runtime.configure(cfg.train)
    from marketcast.model.network import check_lstm_options

    check_lstm_options(cfg.model)


def carried(fitted: Intervals, previous: Intervals | None) -> Intervals:
    """The fitted interval state, with each symbol's adapted tails (and the updates still
    pending from its last origins, and that origin's date) carried on from the previous
    fold's test segment, which ends ``horizon`` origins before this fold's test segment
    starts (a backtest's intervals keep adapting across folds)."""
    if previous is None:
        return fitted
    symbols = {
        name: replace(
            band,
            tails=previous.symbols[name].tails,
            pending=previous.symbols[name].pending,
            as_of=previous.symbols[name].as_of,  # the origin they belong to
        )
        if name in previous.symbols
        else band
        for name, band in fitted.symbols.items()
    }
    return replace(fitted, symbols=symbols)


def _combination(fitted) -> dict | None:
    """The published combination of a fit, for metrics.json: its weights, the shares the
    published forecast takes of them (``published``: weights x (1 - shrink)), in words."""
    weights = fitted.weights
    if weights is None:
        return None
    said = {"words": weights.describe(), "fitted_on": fitted.fitted_on}
    return {**weights.to_dict(), "published": weights.published.tolist(), **said}


def _forecast_config(cfg: DictConfig) -> DictConfig:
    """``cfg.forecast`` with the components that ``evaluation.peers`` leaves
    (``config.usable_components``): a peer turned off is no component either."""
    usable = usable_components(cfg)
    named = [str(c) for c in cfg.forecast.components]
    if cfg.forecast.combine != Combine.validated or usable == named:
        return cfg.forecast
    log.info(
        "the combination may move towards %s: evaluation.peers turns %s off",
        ", ".join(usable),
        ", ".join(c for c in named if c not in usable),
    )
    return OmegaConf.merge(cfg.forecast, {"components": usable})


def _peers(prep: Prepared, cfg) -> dict[str, dict]:
    """The classical peers' forecasts, their own bands (``{segment}_peer_bands``) and the
    GARCH band for each scored segment of ``prep``, and the fitted ETS as predict continues
    it (``ets``)."""
    from marketcast.evaluation.forecasts import (
        ets_saved,
        fit_peers,
        garch_reference,
        peer_forecasts_and_bands,
    )

    peers = cfg.peers
    fitted = fit_peers(prep, [name for name in ("ets", "arima") if peers[name]])
    out = {"ets": ets_saved(prep, fitted, peers.refit_every)}
    for segment in SEGMENTS:
        out[segment], out[f"{segment}_peer_bands"] = peer_forecasts_and_bands(
            prep, segment, fitted, peers.refit_every, list(cfg.interval_levels)
        )
        out[f"{segment}_bands"] = (
            {"garch": garch_reference(prep, segment, list(cfg.interval_levels))}
            if peers.garch
            else {}
        )
    return out


# The keys that decide which columns a run uses, and so which rows validation keeps.
_COLUMN_KEYS = {"features.columns", "features.target", "data.halts"}


def _sweeps_features(cfg: DictConfig) -> bool:
    """Whether this job is one of a sweep or search whose jobs may use other columns: an
    Optuna search whose space has a key of ``_COLUMN_KEYS``, or a sweep that varies one."""
    if cfg.search.trial is not None:
        return bool(_COLUMN_KEYS & set(search_keys(cfg.search.space)))
    if not in_multirun():
        return False
    from marketcast.config import swept_keys

    return bool(_COLUMN_KEYS & swept_keys())


def _plan(data: RunData, cfg: DictConfig) -> list[Fold | None]:
    """The fits of the run: ``None`` for one fit split by ``split.*``, else backtest folds."""
    if cfg.evaluation.mode != Mode.backtest:
        return [None]
    bt = cfg.evaluation.backtest
    (frame,) = data.frames.values()  # config.check_train_job refuses a universe backtest
    rows = select_columns(frame, cfg.features.columns, cfg.features.target)
    min_rows = min_fold_rows(cfg.window.size, cfg.window.horizon, bt.val_fraction)
    folds = plan_folds(len(rows), bt, min_rows, cfg.window.horizon)
    dates = pd.DatetimeIndex(rows.index)
    log.info(
        "backtest: %d folds of %d rows, %s, refit every %d; first origin %s",
        len(folds),
        folds[0].stop - folds[0].origin,
        bt.scheme,
        bt.refit_every,
        dates[folds[0].origin - 1].date(),
    )
    data.frames = {symbol: rows for symbol in data.frames}
    return folds


def _prepare(data: RunData, fold: Fold | None, cfg: DictConfig, transform) -> dict[str, Prepared]:
    if fold is None:
        return prepare_many(data.frames, cfg.features, cfg.window, cfg.split, transform)
    frames = {s: f.iloc[fold.start : fold.stop] for s, f in data.frames.items()}
    return prepare_many(frames, cfg.features, cfg.window, fold.segments(), transform)


def _check_interval_rows(preps: dict[str, Prepared]) -> None:
    """Every training segment holds the returns the published interval's GARCH fit needs."""
    for symbol, prep in preps.items():
        rows = prep.segments.val_start
        if rows - 1 < MIN_GARCH_RETURNS:
            dates = f"{prep.dates[0].date()}..{prep.dates[rows - 1].date()}"
            raise MarketcastError(
                f"{symbol}: the train segment ({dates}, {rows} rows) is too short for the "
                f"prediction interval's GARCH fit, which needs {MIN_GARCH_RETURNS + 1} rows "
                f"({MIN_GARCH_RETURNS} daily returns). Use more data (data.start earlier), "
                "a larger training share (split.*; in a rolling backtest, "
                "evaluation.backtest.train_size), or evaluation.intervals.volatility=ewma."
            )


def _skip_unfit_symbols(data: RunData, cfg: DictConfig) -> None:
    """With ``data.on_error=skip``, a universe's symbol whose prices cannot be split and
    windowed as the run asks, or whose train segment is too short for the interval's
    GARCH fit, is skipped and listed as a symbol that failed to load is: the others train
    (one short symbol stopped the whole global model). A backtest has one symbol."""
    if not data.universe or cfg.data.on_error != "skip" or cfg.evaluation.mode == Mode.backtest:
        return
    garch = str(cfg.evaluation.intervals.volatility) in GARCH_MODELS
    for symbol, frame in list(data.frames.items()):
        try:
            preps = prepare_many({symbol: frame}, cfg.features, cfg.window, cfg.split)
            if garch:
                _check_interval_rows(preps)
        except MarketcastError as exc:
            said = without_symbol(exc, symbol)
            log.warning("%s: skipped: %s", symbol, said)
            data.failed[symbol] = said
            del data.frames[symbol]
    skipped = [s for s in data.failed if s not in data.frames]
    if skipped and data.frames and (cfg.search.trial is not None or in_multirun()):
        log.warning(
            "this job of a sweep trains without %s (too short for it): its scores are means "
            "over other symbols than a job that keeps them. To compare jobs on one universe, "
            "drop the short symbols from it (or pass data.on_error=raise).",
            ", ".join(skipped),
        )
    if not data.frames:
        raise MarketcastError(
            "no symbol of the universe can be trained on: "
            + "; ".join(f"{s}: {m.rstrip('.')}" for s, m in data.failed.items())
        )


def _origin(preps: dict[str, Prepared]) -> str:
    prep = next(iter(preps.values()))
    return str(prep.dates[prep.segments.test_start - 1].date())


def _saved_data(cfg: DataConfig, data: RunData) -> dict:
    """The data config saved with the run: where the forecaster reads fresh prices (a CSV
    file by its absolute path: predict may run from another directory)."""
    saved = plain(cfg)
    if saved.get("path"):
        saved["path"] = str(Path(saved["path"]).expanduser().absolute())
    if data.universe:
        saved["symbols"] = list(data.frames)
    return saved


def _log_data(preps: dict[str, Prepared], label: str, universe: bool) -> None:
    if universe:
        log.info(
            "global model on %s (%s); %d training windows in all",
            counted(len(preps), "symbol"),
            ", ".join(preps),
            sum(len(p.parts["train"].windows) for p in preps.values()),
        )
        for symbol, prepared in preps.items():  # each symbol's segments fall on its own dates
            dates = prepared.dates
            test_start = dates[prepared.segments.bounds("test")[0]].date()
            log.info(
                "  %-10s rows %s..%s, test from %s: %s samples (train / val / test)",
                symbol,
                dates[0].date(),
                dates[-1].date(),
                test_start,
                " / ".join(str(len(prepared.parts[n].windows)) for n in ("train", "val", "test")),
            )
        return
    prepared = next(iter(preps.values()))
    dates, t = prepared.dates, prepared.transform
    log.info(
        "data %s: %d rows, %s..%s; features %s, target %s, representation %s",
        label,
        len(dates),
        dates[0].date(),
        dates[-1].date(),
        [str(c) for c in t.features],
        t.target,
        t.representation,
    )
    for name, part in prepared.parts.items():
        start, stop = prepared.segments.bounds(name)
        log.info(
            "  %-5s rows %s..%s: %d samples",
            name,
            dates[start].date(),
            dates[stop - 1].date(),
            len(part.windows),
        )
