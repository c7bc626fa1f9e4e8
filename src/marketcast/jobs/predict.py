"""The forecasting job: finished runs + the latest prices -> the next trading days' forecasts.

One symbol or a whole universe: every symbol's latest window is loaded (from
the price cache for FinanceDataReader sources, refreshed unless told not to),
the windows of all symbols that share a model are stacked and forecast in one
call, and one table is written: to a CSV file, and to the forecast store when
one is configured. A symbol that cannot be forecast (no data, too little
history, stale prices, no model) is reported and the others go on; the exit
status says how it went (see ``EXIT_*``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from marketcast.config import DataConfig, StaleCsv, check_cache_dir, job_id
from marketcast.data.sources import NoRowsInRange, asking_once_offline, load
from marketcast.data.symbols import canonical_symbol, without_symbol
from marketcast.data.trading_days import (
    last_completed_session,
    next_trading_days,
    resolve_exchange,
    sessions,
)
from marketcast.data.universe import NoSymbols, universe_symbols
from marketcast.errors import (
    EXIT_LOCKED,
    EXIT_NONE,
    EXIT_OK,
    EXIT_PARTIAL,
    MarketcastError,
    log_to_files,
    signals_held,
)
from marketcast.evaluation.baselines import drift, persistence
from marketcast.evaluation.forecasts import PEER_COMPONENTS
from marketcast.evaluation.intervals import Checkpoint, Intervals, SymbolBand, recent_prices
from marketcast.evaluation.peers import (
    GARCH_MODELS,
    continued_ets,
    garch_params,
    latest_peer_forecasts,
)
from marketcast.evaluation.predictions import quantile_column
from marketcast.features.dataset import select_columns, used_columns
from marketcast.jobs.runs import Run, Runs, distinct, resolve_runs, run_for
from marketcast.model.network import point_forecast
from marketcast.progress import counted, listed, progress, rows_shown
from marketcast.storage import artifacts
from marketcast.storage.forecast_store import ForecastStore, RunInfo, StoreLocked
from marketcast.storage.stores import from_config

log = logging.getLogger(__name__)

# A peer the combination weights that predict fits (ARIMA; ETS where the run saved none):
HISTORY_DAYS = 730  # calendar days of prices loaded per symbol for it
HISTORY_ROWS = 500  # the rows of them it is fitted on
INTERVAL_DAYS = 400  # calendar days for the GARCH band's year of returns (GARCH_LOOKBACK)
# origins an interval replays from its saved state, at most (intervals.CHECKPOINT_EVERY, the
# spacing of the test segment's saved states, is less: a backfill inside it replays fully)
MAX_REPLAY = 250
MAX_LOAD_DAYS = 3 * 365  # the most calendar days loaded per symbol for that replay


@dataclass(frozen=True)
class Window:
    """One symbol's recent rows up to its last date: features (n, F), target (n,), dates."""

    symbol: str
    run: Run
    features: np.ndarray
    target: np.ndarray
    dates: pd.DatetimeIndex
    exchange: str | None
    targets: pd.DatetimeIndex  # the sessions forecast: the run's horizon after as_of
    # within max_stale_sessions: the session the prices should have reached, and how many
    # sessions before it they end (0: up to date)
    due: pd.Timestamp | None = None
    behind: int = 0

    @property
    def as_of(self) -> pd.Timestamp:
        return self.dates[-1]

    @property
    def raw(self) -> np.ndarray:
        """(W + 1, F) the latest model input rows, one before the window for log returns."""
        return self.features[-(self.run.prep.transform.window + 1) :]

    @property
    def history(self) -> np.ndarray:
        """(W,) the target over the latest input window."""
        return self.target[-self.run.prep.transform.window :]


def forecast(cfg: DictConfig) -> int:
    """Forecast every requested symbol; write the table; return the exit status."""
    runs = resolve_runs(cfg)
    symbols = requested_symbols(cfg, runs)
    used = distinct(runs)
    log.info(
        "forecasting %s with %s",
        counted(len(symbols), "symbol"),
        f"the run {used[0].run_dir}" if len(used) == 1 else counted(len(used), "run"),
    )
    if not cfg.dry_run:  # each price cache the night may refresh: one message, not one a symbol
        nights = [night_data(run, cfg, None) for run in used]
        for data in {data.cache_dir: data for data in nights}.values():
            check_cache_dir(data)
    target = None if cfg.dry_run else from_config(cfg.store)
    if target is None:
        return _forecast(cfg, runs, symbols, None)
    try:
        with target.locked():
            return _forecast(cfg, runs, symbols, target)
    except StoreLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        log_to_files(log, f"error: {exc}")  # predict.log ended with "forecasting ..."
        return EXIT_LOCKED


def _forecast(cfg: DictConfig, runs: Runs, symbols: list[str], target: ForecastStore | None) -> int:
    now = pd.Timestamp.now(tz="UTC")
    windows: list[Window] = []
    failed = dict(runs.unreadable)  # a run of the night lost, if not by symbol: counted
    loading = progress(symbols, desc="loaded", unit="symbol", logger=log)
    with loading as items, asking_once_offline():  # offline: not a lookup for each symbol
        for symbol in items:
            try:
                windows.append(latest_window(symbol, run_for(symbol, runs), cfg, now))
            except MarketcastError as exc:
                items.fail()
                said = without_symbol(exc, symbol)
                failed[symbol] = said
                log.warning("%s: not forecast: %s", symbol, said)
    if cfg.max_stale_sessions is not None:
        _warn_behind(windows, cfg.max_stale_sessions)
    table = forecast_windows(windows)
    if cfg.dry_run:  # the forecasts shown, nothing written
        if len(table):
            print(_shown(table))
    elif len(table):
        # The store first: where its write fails, no forecast.csv says the night went well.
        stored = None
        if target is not None:
            run_dir = OmegaConf.select(cfg, "paths.run_dir", throw_on_resolution_failure=False)
            info = RunInfo.for_table(table, run_id=job_id(run_dir))
            # a commit is not cut off after it took effect, and the log says it was made
            held = signals_held() if target.holds_signals else contextlib.nullcontext()
            with held:
                version = target.write(table, info)
                written = "" if version is None else f"version {version}, "  # CSV: none
                log.info("forecast store %s: %srun id %s", target.location, written, info.run_id)
            stored = (
                f"forecast store {target.location}: {written}"
                f"{counted(info.symbols, 'symbol')} for {', '.join(info.as_of)}"
            )
        output = Path(cfg.output)
        artifacts.write_csv(output, table)
        print(_shown(table))
        print(f"forecast written to {output}")
        if stored:
            print(stored)
    return _summary(len(windows), failed, cfg.dry_run)


def requested_symbols(cfg: DictConfig, runs: Runs) -> list[str]:
    """``symbols`` / ``universe_file`` of the predict config, else every run's symbols and
    those without a run; each in its canonical spelling, the store's key (a CSV run
    labelled ``aapl`` and one labelled ``AAPL`` wrote two keys for what predict, choosing
    between them, held to be one symbol)."""
    own = [canonical_symbol(s) for s in [*runs.damaged, *runs.clashes]]
    own += [canonical_symbol(s) for run in distinct(runs) for s in run.symbols]
    if not (cfg.symbols or cfg.universe_file):
        return list(dict.fromkeys(own))
    try:
        wanted = universe_symbols(
            DataConfig(symbols=list(cfg.symbols), universe_file=cfg.universe_file)
        )
    except NoSymbols:
        named = f"universe_file={cfg.universe_file!r}" if cfg.universe_file else "symbols"
        raise MarketcastError(
            f"no symbols to forecast: {named} holds none (only blank lines or # "
            "comments). Name them: symbols=[005930,000660] or universe_file=FILE with "
            "one symbol per line."
        ) from None
    except MarketcastError as exc:
        raise in_predict_keys(exc) from None
    return wanted


# The data layer's messages name train's keys; predict's are the same without ``data.``.
_DATA_KEYS = re.compile(r"\bdata\.(refresh|symbols|universe_file)\b")


def in_predict_keys(exc: MarketcastError) -> MarketcastError:
    """``exc`` with the data keys it names spelt as predict takes them."""
    return MarketcastError(_DATA_KEYS.sub(r"\1", str(exc)))


def night_data(run: Run, cfg: DictConfig, symbol: str | None) -> DataConfig:
    """The data config ``symbol``'s prices are read with tonight: the run's, up to
    ``as_of``, with the night's ``refresh`` and price cache."""
    data = DataConfig(**{**run.prep.data, "symbols": [], "universe_file": None})
    data = replace(data, symbol=symbol if data.source == "fdr" else data.symbol, end=cfg.as_of)
    if cfg.refresh:
        data = replace(data, refresh=cfg.refresh)
    # the night's cache, not training's (read once: resolving $MARKETCAST_CACHE_DIR costs)
    if data.source == "fdr" and (night_cache := cfg.paths.cache_dir):
        data = replace(data, cache_dir=str(Path(night_cache).expanduser().resolve()))
    return data


def latest_window(symbol: str, run: Run, cfg: DictConfig, now: pd.Timestamp) -> Window:
    """``symbol``'s recent rows up to ``as_of``, checked for freshness."""
    t = run.prep.transform
    data = night_data(run, cfg, symbol)
    if data.source == "csv" and data.path and not Path(data.path).expanduser().is_absolute():
        log.warning(  # runs saved before training made the path absolute
            "%s: the run names its CSV file relatively, data.path=%r: reading it from %s",
            symbol, data.path, Path.cwd(),
        )  # fmt: skip
    exchange = resolve_exchange(data.exchange, symbol)
    reference = pd.Timestamp(cfg.as_of) if cfg.as_of else None
    end = reference or now.tz_localize(None)
    if data.source == "fdr":
        # Only the recent rows are needed: validating 20 years per symbol every night is
        # waste. The combination's ETS needs the rows since its saved state before the
        # first origin (two years where it is refitted), the GARCH band a year of returns,
        # and the interval's replay the rows since the saved state it starts from.
        days = max(3 * t.window + 60, HISTORY_DAYS if _peers_used(run) else 0, INTERVAL_DAYS)
        since = end - pd.Timedelta(days=days)
        band = run.prep.intervals.symbols.get(run.prep.intervals.state_name(symbol))
        state = band.state_at(str(end.date())) if band is not None else None
        replay = state.as_of if state is not None else None
        if replay:
            replay_from = pd.Timestamp(replay) - pd.Timedelta(days=days)
            since = max(min(since, replay_from), end - pd.Timedelta(days=MAX_LOAD_DAYS))
        ets = run.peer_states.get(run.prep.intervals.state_name(symbol), {}).get("ets")
        if ets and "ets" in _peers_used(run):  # ETS goes on from its state on a day before
            first = min(end, pd.Timestamp(replay)) if replay else end  # the first origin
            saved_on = [pd.Timestamp(day) for day, _ in ets["checkpoints"]]
            if before := [day for day in saved_on if day <= first]:
                since = min(since, max(before[-1], end - pd.Timedelta(days=MAX_LOAD_DAYS)))
        data = replace(data, start=str(since.date()))
    try:
        columns = used_columns(t.features, t.target)
        frame = load(data, symbol=symbol, now=now, columns=columns, keep=not cfg.dry_run).frame
    except NoRowsInRange as exc:  # the range is predict's own choice: say what it means
        first, last = (day.date() for day in exc.covers)
        if last < end.date():
            raise MarketcastError(
                f"{symbol}: the newest price is from {last}, too old to forecast from at "
                f"{end.date()}: the prices are stale. Refresh them (marketcast fetch "
                f"symbols=[{symbol}], or drop refresh=never), or pass an as_of near {last}."
            ) from None
        if data.start and end < pd.Timestamp(data.start):  # a CSV run's own first day
            raise MarketcastError(
                f"{symbol}: as_of={cfg.as_of} is before the run's data.start={data.start}, "
                "the first day it reads prices from: pass a later as_of."
            ) from None
        if first > end.date():
            raise MarketcastError(
                f"{symbol}: as_of={cfg.as_of} is before its first price ({first}): pass a "
                "later as_of."
            ) from None
        raise MarketcastError(
            f"{symbol}: no prices from {data.start} to {end.date()}, though they run from "
            f"{first} to {last}: a gap in the data. Check the source, or pass another as_of."
        ) from None
    except MarketcastError as exc:
        raise in_predict_keys(exc) from None
    lacking = [c for c in used_columns(t.features, t.target) if c not in frame.columns]
    if lacking:  # select_columns would name train's keys: predict cannot choose others
        raise MarketcastError(
            f"the prices have no {', '.join(lacking)} column (they have "
            f"{', '.join(frame.columns)}), which the run was trained on: fix the source, or "
            "train a run on the columns it has."
        )
    selected = select_columns(frame, t.features, t.target)
    as_of = selected.index[-1]
    due, behind, csv_behind = None, 0, None
    if cfg.max_stale_sessions is not None:  # first: stale prices leave few rows in the range
        due, behind, csv_behind = _check_fresh(as_of, reference, data, exchange, cfg, now)
    need = t.window + 1  # one row before the window: log returns need it
    if len(selected) < need:
        raise MarketcastError(
            f"only {len(selected)} rows of data up to {selected.index[-1].date()}; the run "
            f"needs {need} (window.size={t.window} + 1). Use a later as_of, or a run with a "
            "smaller window."
        )
    if csv_behind:  # said once the file is known to be forecast from, not before a refusal
        log.warning(
            "%s: the last row of %s is %s, %s before %s: forecasting from it (a CSV "
            "file is not refreshed: update it if it should hold newer prices)",
            symbol, data.path, as_of.date(), counted(csv_behind, "session"), due.date(),
        )  # fmt: skip
    reads = run.prep.intervals.rows  # the band's year of prices (GARCH), or the window
    if len(selected) < reads:
        log.warning(
            "%s: %d rows up to %s, where the interval reads the last %d: its band (and "
            "a peer fitted here, on up to %d rows) differs from what a longer history "
            "gives. %s",
            symbol, len(selected), selected.index[-1].date(), reads, HISTORY_ROWS,
            "Give the file more history." if data.source == "csv" else "(A recent listing, "
            "most likely: the cache holds what the source has.)",
        )  # fmt: skip
    return Window(
        symbol=symbol,
        run=run,
        features=selected[t.features].to_numpy("float64"),
        target=selected[t.target].to_numpy("float64"),
        dates=pd.DatetimeIndex(selected.index),
        exchange=exchange,
        # dated here, per symbol: a calendar that ends too soon (exchange-calendars knows
        # an exchange's holidays so far ahead) stops this symbol, not the night
        targets=next_trading_days(as_of, t.horizon, exchange),
        due=due,
        behind=behind,
    )


def _peers_used(run: Run) -> tuple[str, ...]:
    """The classical peers the run's combination gives any weight (fitted per symbol)."""
    weights = run.weights
    if weights is None:
        return ()
    return tuple(
        name
        for name in PEER_COMPONENTS
        if name in weights.names and weights.published[:, weights.names.index(name)].any()
    )


def _published(
    run: Run, peers: dict[str, np.ndarray], lstm: np.ndarray, history: np.ndarray
) -> np.ndarray:
    """(J, H) what the run publishes: its validated combination of the LSTM, the weighted
    peers' forecasts ``peers`` (``_peer_forecasts``) and drift."""
    weights = run.weights
    if weights is None:
        return lstm
    horizon = lstm.shape[1]
    components = {"lstm": lstm, "drift": drift(history, horizon)}
    for name in PEER_COMPONENTS:
        if name in weights.names:
            components[name] = persistence(history, horizon)  # weight 0: any value will do
    components.update(peers)
    return weights.apply(persistence(history, horizon), components)


def _peer_forecasts(
    run: Run, origins: list[_Origins], keys: dict[str, str], horizon: int
) -> dict[str, np.ndarray]:
    """(J, H) forecasts of each peer the run's combination weights, at every origin of
    ``origins`` (their rows in order, J in all). ETS goes on from the model the run fitted,
    from its saved state on the last training day or the run's last origin
    (``_checkpoint``), filtered on at its parameters: what the run's own forecasts did, so
    predict repeats them exactly. Where the run saved none (a symbol it never saw, a run
    saved before, peers refitted during the run), where the origins start before both days
    or the prices hold neither, and for ARIMA, the peer is fitted on the origin's last
    ``HISTORY_ROWS`` rows, all such origins in one statsforecast call."""
    used = _peers_used(run)
    rows = [(o.window, r) for o in origins for r in o.rows]
    out = {name: np.empty((len(rows), horizon)) for name in used}
    refit: dict[str, list[int]] = {name: [] for name in used}
    start = 0
    for o in origins if "ets" in used else ():
        w, at, js = o.window, o.rows, list(range(start, start + len(o.rows)))
        start += len(o.rows)
        saved = run.peer_states.get(keys[w.symbol], {}).get("ets")
        checkpoint, row = _checkpoint(w, saved, int(at.min())) if saved else (None, None)
        if checkpoint is None:
            if saved:
                _warn_ets_refitted(w, saved, int(at.min()))
            refit["ets"] += js
            continue
        prices = w.target[row + 1 : at.max() + 1]
        out["ets"][js] = continued_ets(saved, checkpoint, prices, at - row - 1, horizon)
    if "arima" in used:
        refit["arima"] = list(range(len(rows)))
    for name, js in refit.items():
        if js:
            histories = {
                f"{j}": rows[j][0].target[max(0, rows[j][1] + 1 - HISTORY_ROWS) : rows[j][1] + 1]
                for j in js
            }
            out[name][js] = latest_peer_forecasts(histories, horizon, models=(name,))[name]
    return out


def _warn_arima_refitted(runs: list[Run]) -> None:
    """Once a night: the runs whose published forecast gives ARIMA a share, which predict
    refits (``_peer_forecasts``), unlike the run's own forecasts."""
    if not runs:
        return
    which = f"the run {runs[0].run_dir} gives" if len(runs) == 1 else f"{len(runs)} runs give"
    log.warning(
        "%s ARIMA a share of the forecast: a run keeps no ARIMA state, so predict refits "
        "ARIMA on the last %d rows before each origin, and the forecast differs a little "
        "from what the run would give (forecast.components without arima avoids it)",
        which, HISTORY_ROWS,
    )  # fmt: skip


def _checkpoint(window: Window, saved: dict, first: int) -> tuple[int | None, int | None]:
    """The latest of the saved ETS's checkpoints on a row of ``window`` at or before row
    ``first`` (the first origin to forecast), and that row; (None, None) where none is."""
    for k in reversed(range(len(saved["checkpoints"]))):
        row = _row_of(window, saved["checkpoints"][k][0])
        if row is not None and row <= first:
            return k, row
    return None, None


def _warn_ets_refitted(window: Window, saved: dict, first: int) -> None:
    fitted_to = saved["checkpoints"][0][0]
    day = window.dates[first].date()
    if day < pd.Timestamp(fitted_to).date():  # a backfill, or a backtest's earlier fold
        why = f"the origin {day} is before the day the run's ETS was fitted to ({fitted_to})"
    else:
        why = (
            f"the prices from {window.dates[0].date()} hold none of the days the run saved "
            f"its ETS on ({', '.join(d for d, _ in saved['checkpoints'])}): revised, or the "
            "run is older than predict reads back"
        )
    log.warning(
        "%s: %s; ETS refitted on the last %d rows, so the forecast differs a little from "
        "what the run would give",
        window.symbol, why, HISTORY_ROWS,
    )  # fmt: skip


def _row_of(window: Window, day: str) -> int | None:
    """The row of ``window`` dated ``day``, or None where it has none."""
    at = window.dates.searchsorted(pd.Timestamp(day))
    return int(at) if at < len(window.dates) and window.dates[at] == pd.Timestamp(day) else None


@dataclass(frozen=True)
class _Origins:
    """The origins a window's forecast needs: the rows (indices into the window's arrays)
    after the saved interval state's origin (the run's last, or, for an ``as_of`` inside
    its test segment, the checkpoint before it), whose realised outcomes the interval learns
    from, ending with the latest row (the one forecast)."""

    window: Window
    rows: np.ndarray  # (J,) last observed row of each origin, increasing; rows[-1] = n - 1
    start: Checkpoint  # the saved state just before rows[0]
    short_of: str | None = None  # the saved origin's date, where the replay starts later
    early_of: str | None = None  # the earliest saved date, where as_of is before it


def _origins(window: Window, band: SymbolBand, gamma: float) -> _Origins:
    n = len(window.target)
    latest = np.array([n - 1])
    state = band.state_at(str(window.as_of.date()))
    if state is None:  # as_of before every saved state (or a new symbol): no replay
        early = None
        if gamma and band.as_of:
            early = band.checkpoints[0].as_of if band.checkpoints else band.as_of
        return _Origins(window, latest, Checkpoint("", band.earliest), None, early)
    as_it_is = Checkpoint(state.as_of, state.tails)  # its tails serve, nothing to replay
    seen = window.dates.searchsorted(pd.Timestamp(state.as_of))
    found = seen < n and window.dates[seen] == pd.Timestamp(state.as_of)
    if not gamma or (found and seen == n - 1):  # frozen, or forecast at the state's origin
        return _Origins(window, latest, as_it_is)
    floor = max(n - 1 - MAX_REPLAY, window.run.prep.transform.window)
    # from the origin after the state's; a state saved before pending updates were kept
    # replays its own origin too, whose outcomes it had not learned from
    first = seen + 1 if state.pending is not None else seen
    if found and first >= floor:  # replay every origin since the state's
        return _Origins(window, np.arange(first, n), state)
    # that day's row is not among the loaded prices, or it is too far back
    return _Origins(window, np.arange(floor, n), as_it_is, state.as_of)


def forecast_windows(windows: list[Window]) -> pd.DataFrame:
    """The forecast table for ``windows``: one model call per run, all its symbols stacked.

    Each symbol's interval first replays the origins since its saved state (the run's last
    evaluated origin, or the checkpoint before an ``as_of`` inside the test segment: their
    forecasts and realised outcomes, one model call with the latest windows), so its
    adaptive calibration has learned from every outcome known at ``as_of``.

    Columns: symbol, as_of (last observed date), target_date, step, forecast,
    one column per interval bound (q10, q90, ...), run_dir.
    """
    groups: dict[Path, list[Window]] = defaultdict(list)
    for w in windows:
        groups[w.run.run_dir].append(w)
    frames = []
    _warn_arima_refitted([g[0].run for g in groups.values() if "arima" in _peers_used(g[0].run)])
    for group in groups.values():
        run = group[0].run
        t, intervals = run.prep.transform, run.prep.intervals
        keys = {w.symbol: intervals.state_name(w.symbol) for w in group}
        unseen = [w for w in group if keys[w.symbol] not in intervals.symbols]
        intervals = intervals.with_symbols(  # a global model's symbols it was not trained on
            {w.symbol: _unseen_garch(intervals, w.target) for w in unseen}
        )
        origins = [_origins(w, intervals.symbols[keys[w.symbol]], intervals.gamma) for w in group]
        _warn_about_replays(origins)
        rows = [(o.window, r) for o in origins for r in o.rows]
        raw = np.stack([w.features[r - t.window : r + 1] for w, r in rows])  # -> (J, W + 1, F)
        history = np.stack([w.target[r - t.window + 1 : r + 1] for w, r in rows])  # -> (J, W)
        last = history[:, -1]
        output = run.model.predict(t.inputs(raw, last), batch_size=4096, verbose=0)
        lstm = t.prices(point_forecast(np.asarray(output)), last)  # -> (J, H)
        peers = _peer_forecasts(run, origins, keys, t.horizon)
        centre = _published(run, peers, lstm, history)
        recent = np.concatenate(
            [recent_prices(o.window.target, o.rows + 1, intervals.rows) for o in origins]
        )
        scale = intervals.scale(recent, [keys[w.symbol] for w, _ in rows])  # -> (J, H)
        points, bands, start = [], [], 0
        for o in origins:
            w, stop = o.window, start + len(o.rows)
            band, _ = intervals.adapt(
                keys[w.symbol],
                centre[start:stop],
                scale[start:stop],
                _realised(w.target, o.rows, t.horizon),
                [str(d.date()) for d in w.dates[o.rows]],
                o.start,
            )
            points.append(centre[stop - 1])
            bands.append(band[-1])
            start = stop
        point, bands = np.stack(points), np.stack(bands)  # -> (S, H), (S, H, L)
        steps = t.horizon
        frame = pd.DataFrame(
            {
                "symbol": np.repeat([w.symbol for w in group], steps),
                "as_of": np.repeat([w.as_of.date() for w in group], steps),
                "target_date": np.concatenate([w.targets.date for w in group]),
                "step": np.tile(np.arange(1, steps + 1), len(group)),
                "forecast": point.ravel(),
            }
        )
        for j, level in enumerate(intervals.levels):
            frame[quantile_column(level)] = bands[:, :, j].ravel()
        frame["run_dir"] = str(run.run_dir)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _warn_about_replays(origins: list[_Origins]) -> None:
    """One warning for the symbols forecast at an ``as_of`` before the run's test segment (no
    saved interval state is older, so their levels have already seen later outcomes, and
    the model was fitted on those prices), and one for those whose interval cannot replay
    from its saved state (that origin's row is not in the loaded prices, or it lies more
    than MAX_REPLAY origins back)."""
    early = [
        f"{o.window.symbol} ({o.window.as_of.date()} < {o.early_of})" for o in origins if o.early_of
    ]
    if early:
        log.warning(
            "%s forecast before the run's test segment, on prices the model was fitted on: "
            "the interval uses the earliest adaptive levels the run saved, which have seen "
            "later outcomes: %s",
            counted(len(early), "symbol"),
            listed(early, most=5),
        )
    short = [f"{o.window.symbol} (saved {o.short_of})" for o in origins if o.short_of]
    if short:
        log.warning(
            "%s: the interval replays fewer outcomes than happened since its saved state "
            "(more than %d origins back, or that day's row is missing), so its band is not "
            "the one the run would have published: %s",
            counted(len(short), "symbol"),
            MAX_REPLAY,
            listed(short, most=5),
        )


def _unseen_garch(intervals: Intervals, target: np.ndarray) -> dict[str, float] | None:
    """GARCH parameters for a symbol the run never saw, without a fit per symbol (a
    nightly universe has a thousand): the trained symbols' mean alpha, gamma and beta, and
    the symbol's own variance of its loaded returns as the long-run level (variance
    targeting)."""
    if intervals.volatility not in GARCH_MODELS:
        return None
    known = [garch_params(b.garch) for b in intervals.symbols.values() if b.garch]
    alpha, gamma, beta = (float(np.mean([g[k] for g in known])) for k in ("alpha", "gamma", "beta"))
    returns = np.diff(np.log(target))
    variance = max(float(np.mean(returns**2)), 1e-10)
    return {
        "omega": variance * max(1.0 - alpha - gamma / 2 - beta, 1e-3),
        "alpha": alpha,
        "gamma": gamma,
        "beta": beta,
        "start": variance,
    }


def _realised(target: np.ndarray, rows: np.ndarray, horizon: int) -> np.ndarray:
    """(J, H) the outcomes of origins ``rows`` known by the last row (NaN beyond)."""
    padded = np.concatenate([target, np.full(horizon, np.nan)])
    return padded[rows[:, None] + 1 + np.arange(horizon)]


def _check_fresh(
    as_of: pd.Timestamp,
    reference: pd.Timestamp | None,
    data: DataConfig,
    exchange: str | None,
    cfg: DictConfig,
    now: pd.Timestamp,
) -> tuple[pd.Timestamp, int, int | None]:
    """Refuse prices more than ``max_stale_sessions`` sessions behind the last completed
    session (or the ``as_of`` asked for, ``reference``, where that is earlier: the sessions
    of an as_of ahead of today have not happened); else that session, how many sessions
    before it they end (``_warn_behind`` says so, once a night) and None. A CSV file without
    an ``as_of`` is forecast from its last row, with a warning (the caller's, given the
    sessions it is behind, the third value): it is the file's own end (the bundled sample's
    is 2018), but a nightly job whose file stopped growing must hear of it; with
    ``stale_csv=skip`` it is refused as the others are (a cut-off download: exit 3 or 4)."""
    today = now.tz_convert("UTC").tz_localize(None).normalize()
    if reference is not None and reference < today - pd.Timedelta(days=1):
        latest = reference  # its sessions have all closed
    else:  # an as_of ahead of today counts only the sessions that have happened
        latest = last_completed_session(exchange, now)
        latest = latest if reference is None else min(latest, reference)
    behind = len(sessions(as_of + pd.Timedelta(days=1), latest, exchange))
    if behind <= cfg.max_stale_sessions:
        return latest, behind, None
    if data.source == "fdr" or reference is not None or cfg.stale_csv == StaleCsv.skip:
        if data.source == "fdr":
            fix = "Refresh the cache (marketcast fetch) or check the source."
        elif reference is not None:
            fix = f"Update {data.path}, or pass an as_of up to {as_of.date()}."
        else:
            fix = f"Update {data.path}, or pass stale_csv=warn to forecast from its last row."
        raise MarketcastError(
            f"stale prices: the last row is {as_of.date()}, {counted(behind, 'session')} before "
            f"{latest.date()} (max_stale_sessions={cfg.max_stale_sessions}). {fix}"
        )
    return latest, 0, behind  # the caller says it


def _warn_behind(windows: list[Window], most_stale: int) -> None:
    """One warning a night for the symbols whose prices end a session or a few (up to
    ``max_stale_sessions``) before the session they should reach, forecast from their last
    day all the same (never from an earlier day without a word); a line for each such day,
    not for each of a universe's symbols, which a source a day late makes all of them."""
    groups: dict[tuple[pd.Timestamp, int, pd.Timestamp], list[str]] = defaultdict(list)
    for w in windows:
        if w.behind:
            groups[(w.as_of, w.behind, w.due)].append(w.symbol)
    for (as_of, behind, due), symbols in groups.items():
        whose = (
            symbols[0]
            if len(symbols) == 1
            else f"{counted(len(symbols), 'symbol')} ({listed(symbols, most=5)})"
        )
        log.warning(
            "%s: the prices end on %s, %s before %s: forecasting from that day "
            "(max_stale_sessions=%d)",
            whose, as_of.date(), counted(behind, "session"), due.date(), most_stale,
        )  # fmt: skip


SHOWN_ROWS = 40  # printed by predict; forecast.csv and the store hold every row


def _shown(table: pd.DataFrame) -> str:
    """The forecast table as printed: six significant digits in the price columns (a won
    price read 71234.562500, a dollar one 2506.850098), at most ``SHOWN_ROWS`` rows, and
    how many there are where some are left out (pandas' "..." alone did not say)."""
    text = table.drop(columns="run_dir").to_string(
        index=False, max_rows=SHOWN_ROWS, float_format=_six_digits
    )
    if len(table) > SHOWN_ROWS:
        text += f"\n{rows_shown(len(table), SHOWN_ROWS)}"
    return text


def _six_digits(value: float) -> str:
    digits = int(np.floor(np.log10(abs(value)))) + 1 if np.isfinite(value) and value else 1
    return f"{value:.{max(0, 6 - digits)}f}"


def _summary(done: int, failed: dict[str, str], dry_run: bool = False) -> int:
    total = done + len(failed)
    said = f"{done} of {counted(total, 'symbol')} forecast"
    said += "; dry run: nothing written" if dry_run else ""
    log_to_files(log, said)  # predict.log holds the night's outcome too (each failure is warned)
    print(said)
    for symbol, message in failed.items():
        print(f"  {symbol}: {message}")
    if not failed:
        return EXIT_OK
    return EXIT_PARTIAL if done else EXIT_NONE
