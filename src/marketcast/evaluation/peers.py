"""Classical peers of the model, forecast on exactly the samples the model is scored on (pure).

Every function takes the target column in price units, ``series`` (N,), and
``first_target`` (B,), the row index of each sample's first target (as in
``Windows.first_target``); the forecast for the sample with first target row
``t`` uses rows ``< t`` only. Returns are (B, H) prices, or (B, H, L) bands.

The peers model log prices: price moves are multiplicative, so an additive
model of logs has one error scale over decades of prices, AutoARIMA's drift
becomes a growth rate, forecasts stay positive, and ``exp`` of a log forecast
is its median, the point that minimises absolute error (the score used here).

Rolling origin: the first model is fitted on the rows before ``train_stop``
(the training segment, as the network sees), then refitted every
``refit_every`` origins on all rows before that origin; between refits the last
fitted model's parameters are applied to the longer series without
re-estimation (statsforecast's ``forward``), which costs a filter pass, not a fit.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from marketcast.errors import MarketcastError

log = logging.getLogger(__name__)

GARCH_DISTRIBUTIONS = ("empirical", "normal", "t")
ARCH_SCALE = 100.0  # arch's optimiser wants returns in percent, not fractions
# arch_model's arguments shared by every GARCH here: zero mean, one lag of each term
ARCH_SPEC = {"mean": "Zero", "vol": "GARCH", "p": 1, "q": 1, "rescale": False}


def ets_model():
    """The AutoETS peer: non-seasonal (daily prices have no season length to give)."""
    from statsforecast.models import AutoETS

    return AutoETS(season_length=1)


def arima_model():
    """The AutoARIMA peer, restricted to non-seasonal orders p, q <= 3 (measured by the
    former bench/peers_dev.py, in git history)."""
    from statsforecast.models import AutoARIMA

    return AutoARIMA(seasonal=False, max_p=3, max_q=3, max_order=5, season_length=1)


PEER_MODELS = {"ets": ets_model, "arima": arima_model}
# each peer by statsforecast's name of its model (its forecast columns), as reports say it
PEER_NAMES = {"ets": "AutoETS", "arima": "AutoARIMA"}


def fit_peer(name: str, series: np.ndarray, train_stop: int):
    """The peer ``name`` (``PEER_MODELS``) fitted on the log prices of rows ``< train_stop``:
    the first model of every rolling pass over the same series (``rolling_forecasts``'
    ``first``), fitted once for all of them."""
    return _fitted(PEER_MODELS[name], _log_prices(series[:train_stop]))


def _fitted(make_model: Callable, log_price: np.ndarray):
    """``make_model()`` fitted on ``log_price``, ARIMA's optimiser warnings silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="possible convergence problem")
        return make_model().fit(log_price)


def rolling_forecasts(
    make_model: Callable,
    series: np.ndarray,
    first_target: np.ndarray,
    horizon: int,
    refit_every: int,
    train_stop: int,
    first=None,
    levels: list[float] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(B, H) forecasts of a statsforecast model, fitted on log prices, refit every k origins,
    and, for quantile ``levels`` (0.1, 0.9), the (B, H, L) band of the model's own
    prediction intervals at each origin, its bounds in ascending order of level as every
    band here (the peer's band, as statsforecast gives it; None without ``levels``).

    ``refit_every`` = 0 never refits: one fit on rows ``< train_stop``, forwarded
    to every origin. Origins are visited in time order, whatever their order in
    ``first_target``; the output keeps the input order. ``first``: that first fit,
    made already (``fit_peer``); it is not changed.
    """
    levels = _check_levels(levels) if levels else None
    log_price = _log_prices(series)
    t = np.asarray(first_target, dtype=int)
    _check_origins(t, horizon, refit_every, train_stop, len(series))
    out = np.empty((len(t), horizon))
    keys, widths = _band_keys(levels or [])
    bands = np.empty((len(t), horizon, len(keys))) if levels else None
    model = first if first is not None else _fitted(make_model, log_price[:train_stop])
    with warnings.catch_warnings():
        # forward() re-runs ARIMA's likelihood at fixed coefficients; its optimiser then
        # reports "possible convergence problem" for a problem with nothing to optimise.
        warnings.filterwarnings("ignore", message="possible convergence problem")
        for k, i in enumerate(np.argsort(t, kind="stable")):
            if refit_every and k % refit_every == 0 and k > 0:
                model = _fitted(make_model, log_price[: t[i]])
            if bands is None:
                out[i] = model.forward(log_price[: t[i]], h=horizon)["mean"]
                continue
            got = model.forward(log_price[: t[i]], h=horizon, level=widths)
            out[i] = got["mean"]
            bands[i] = np.column_stack([np.asarray(got[key]) for key in keys])
    return np.exp(out), None if bands is None else np.exp(bands)


def _band_keys(levels: list[float]) -> tuple[list[str], list[float]]:
    """statsforecast's names for the bounds at quantile ``levels`` (0.1 -> "lo-80.0", the
    lower bound of its central 80% interval; 0.5 -> "mean", the median of log prices),
    and the central widths to ask it for."""
    keys, widths = [], []
    for q in levels:
        if np.isclose(q, 0.5):
            keys.append("mean")
            continue
        width = round(100 * abs(1 - 2 * q), 10)
        keys.append(f"{'lo' if q < 0.5 else 'hi'}-{width}")
        widths.append(width)
    return keys, sorted(set(widths))


def ets_state(
    model, series: np.ndarray, train_stop: int, last_origin: int, dates: pd.DatetimeIndex
) -> dict:
    """A fitted AutoETS peer as plain JSON, to forecast from after the run (``continued_ets``):
    its components and smoothing parameters, and its state on two days (``checkpoints``,
    ``[date, state]``): after the last row it was fitted on (``series[:train_stop]``), and
    after row ``last_origin`` (the run's last origin, where predict's interval replay
    starts). Filtering on from a state at the fitted parameters is what ``forward`` does
    over the whole series, so predict repeats the run's forecasts exactly and fits nothing;
    the later state spares a nightly run the rows before it."""
    fitted = model.model_
    saved = {
        "components": str(fitted["components"]),
        "m": int(fitted["m"]),
        "params": [None if np.isnan(p) else float(p) for p in fitted["par"][:4]],
        "checkpoints": [[_day(dates[train_stop - 1]), [float(v) for v in fitted["states"][-1]]]],
    }
    if last_origin >= train_stop:
        states = _ets_states(saved, 0, series[train_stop : last_origin + 1])
        saved["checkpoints"].append([_day(dates[last_origin]), [float(v) for v in states[-1]]])
    return saved


def continued_ets(
    saved: dict, checkpoint: int, prices: np.ndarray, origins: np.ndarray, horizon: int
) -> np.ndarray:
    """(J, H) AutoETS forecasts in price units from ``saved`` (``ets_state``), filtered on
    from its checkpoint ``checkpoint`` over ``prices`` (n,), the rows after that day, at
    fixed parameters; origin j forecasts after row ``origins[j]`` of them (-1: from the
    checkpoint's state itself)."""
    from statsforecast.ets import pegelsfcast_C

    states = _ets_states(saved, checkpoint, prices)  # -> (n + 1, nstate)
    model = {"m": saved["m"], "components": saved["components"], "par": _ets_params(saved)}
    out = np.empty((len(origins), horizon))
    for j, row in enumerate(np.asarray(origins, dtype=int)):
        out[j] = pegelsfcast_C(horizon, {**model, "states": states[row + 1 : row + 2]})
    return np.exp(out)


def _ets_states(saved: dict, checkpoint: int, prices: np.ndarray) -> np.ndarray:
    """(n + 1, nstate) the checkpoint's state, then the state after each row of ``prices``:
    the filter statsforecast's ``forward`` runs for a fitted model (``ets.ets_f``), called
    directly, since ets_f fits a new model to a constant series (a halted stock, one row)."""
    from statsforecast.ets import pegelsresid_C

    state = np.asarray(saved["checkpoints"][checkpoint][1], dtype=float)
    if not len(prices):
        return state[None, :]
    errortype, trendtype, seasontype, damped = saved["components"]
    alpha, beta, gamma, phi = _ets_params(saved)
    _, _, states, _ = pegelsresid_C(
        y=_log_prices(prices),
        m=saved["m"],
        init_state=state,
        errortype=errortype,
        trendtype=trendtype,
        seasontype=seasontype,
        damped=damped != "N",
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        phi=phi,
        nmse=3,  # ets_f's default; it shapes only the error sums, which are not used
    )
    return states


def _ets_params(saved: dict) -> np.ndarray:
    return np.array([np.nan if p is None else p for p in saved["params"]], dtype=float)


def _day(day: pd.Timestamp) -> str:
    return str(pd.Timestamp(day).date())


def latest_peer_forecasts(
    histories: dict[str, np.ndarray], horizon: int, models: tuple[str, ...] = ("ets", "arima")
) -> dict[str, np.ndarray]:
    """Forecasts after the last row of every history, all symbols in one statsforecast call.

    ``histories``: symbol -> (n_s,) prices. Returns ``{"ets": (S, H), "arima": (S, H)}`` (those
    of ``models``) in price units, rows in the order of ``histories``.
    """
    from statsforecast import StatsForecast

    if not histories:
        raise MarketcastError("latest_peer_forecasts got no histories: pass at least one symbol.")
    frames = []
    for symbol, prices in histories.items():
        y = _log_prices(np.asarray(prices, dtype=float), what=f"history of {symbol}")
        frames.append(pd.DataFrame({"unique_id": symbol, "ds": np.arange(len(y)), "y": y}))
    long_frame = pd.concat(frames, ignore_index=True)  # -> (sum n_s, 3)
    engine = StatsForecast(models=[PEER_MODELS[m]() for m in models], freq=1, n_jobs=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="possible convergence problem")
        fc = engine.forecast(df=long_frame, h=horizon)
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    fc["step"] = fc.groupby("unique_id").cumcount()  # ds differs between unequal histories
    symbols = list(histories)
    out = {}
    for name, column in PEER_NAMES.items():
        if name not in models:
            continue
        table = fc.pivot(index="unique_id", columns="step", values=column).loc[symbols]
        out[name] = np.exp(table.to_numpy())  # -> (S, H)
    return out


def garch_variance(
    series: np.ndarray,
    first_target: np.ndarray,
    horizon: int,
    train_stop: int,
    distribution: str = "normal",
) -> tuple[np.ndarray, object]:
    """Cumulative h-step variance of log returns (B, H) from a GARCH(1,1) fitted on training.

    The model (zero mean, GARCH(1,1)) is fitted on the daily log returns between
    rows ``< train_stop``, then filtered over the whole series at those fixed
    parameters: entry ``[b, k]`` is the variance of ``log p[t+k] - log p[t-1]``
    given rows ``< t`` (``t = first_target[b]``), in squared daily log-return units.
    Also returns arch's fitted training result (its parameters, standardised residuals).
    """
    if distribution not in GARCH_DISTRIBUTIONS:
        raise MarketcastError(
            f"GARCH distribution {distribution!r} is not one of {GARCH_DISTRIBUTIONS}."
        )
    t = np.asarray(first_target, dtype=int)
    _check_origins(t, horizon, 0, train_stop, len(series))
    return _garch_variance(_log_prices(series), t, horizon, train_stop, distribution)


def _garch_variance(
    log_price: np.ndarray, t: np.ndarray, horizon: int, train_stop: int, distribution: str
) -> tuple[np.ndarray, object]:
    from arch import arch_model

    returns = ARCH_SCALE * np.diff(log_price)  # r[j] = log p[j+1] - log p[j], -> (N - 1,)
    dist = "t" if distribution == "t" else "normal"
    spec = {**ARCH_SPEC, "dist": dist}
    # show_warning=False: arch's multi-line ConvergenceWarning (mostly flat training prices)
    # on stderr; said in one log line instead
    fitted = arch_model(returns[: train_stop - 1], **spec).fit(disp="off", show_warning=False)
    if fitted.convergence_flag != 0:
        log.warning(
            "the GARCH(1,1) band's fit on the training returns did not converge (arch: %s); "
            "its band uses the parameters where the optimiser stopped",
            " ".join(str(fitted.optimization_result.message).split()),
        )
    # Forecast row j uses r[0..j], i.e. prices up to row j + 1; the sample with first
    # target t needs prices up to row t - 1 only, hence row j = t - 2.
    filtered = arch_model(returns[: t.max() - 1], **spec).fix(fitted.params)
    variance = filtered.forecast(horizon=horizon, start=int(t.min()) - 2, reindex=False).variance
    per_step = variance.to_numpy()[t - t.min()]  # -> (B, H) variance of each step's return
    return np.cumsum(per_step, axis=1) / ARCH_SCALE**2, fitted


def garch_volatility(series: np.ndarray, first_target: np.ndarray, train_stop: int) -> np.ndarray:
    """(B,) GARCH(1,1) one-day volatility (daily log-return units) of the return into row t.

    A drop-in for the EWMA window volatility that scales conformal residuals.
    """
    variance, _ = garch_variance(series, first_target, 1, train_stop)
    return np.sqrt(variance[:, 0])


def garch_band(
    series: np.ndarray,
    first_target: np.ndarray,
    horizon: int,
    levels: list[float],
    train_stop: int,
    distribution: str = "normal",
) -> np.ndarray:
    """(B, H, L) quantile bounds around persistence in price units, from a GARCH(1,1).

    Bound ``l`` at step ``k`` is ``p[t-1] * exp(z_l * sqrt(V_k))`` with ``V_k`` the
    cumulative variance of ``garch_variance``. ``z_l`` is: "normal" (the default),
    the normal quantile; "empirical", the quantile of the training samples'
    standardised k-step log moves (for k = 1 the standardised residuals), per
    step; "t", the unit-variance Student-t quantile at the degrees of freedom
    fitted on training. On the 11 dev files (the former bench/peers_dev.py) "normal" covers
    0.800 of an 80% band at h = 1, "empirical" 0.769 and "t" 0.761: in-sample
    standardised residuals are more peaked than the out-of-sample ones, which
    also carry the error of the volatility forecast.
    """
    levels = _check_levels(levels)
    t = np.asarray(first_target, dtype=int)
    variance, fitted = garch_variance(series, t, horizon, train_stop, distribution)
    log_price = np.log(np.asarray(series, dtype=float))
    if distribution == "empirical":
        z = _training_quantiles(series, horizon, train_stop, levels)  # -> (H, L)
    elif distribution == "normal":
        from scipy.stats import norm

        z = np.broadcast_to(norm.ppf(levels), (horizon, len(levels)))
    else:
        z = np.broadcast_to(
            fitted.model.distribution.ppf(levels, fitted.params[["nu"]].to_numpy()),
            (horizon, len(levels)),
        )
    last = log_price[t - 1]  # -> (B,)
    return np.exp(last[:, None, None] + z[None] * np.sqrt(variance)[:, :, None])


def _training_quantiles(
    series: np.ndarray, horizon: int, train_stop: int, levels: list[float]
) -> np.ndarray:
    """(H, L) empirical quantiles of standardised k-step log moves over the training samples."""
    # The first ~75 returns seed arch's backcast: their volatility is not yet filtered.
    t = np.arange(77, train_stop - horizon + 1)
    if len(t) < 50:
        raise MarketcastError(
            f"a GARCH band needs at least ~130 training rows, got train_stop={train_stop}."
        )
    log_price = np.log(np.asarray(series, dtype=float))
    variance, _ = _garch_variance(log_price, t, horizon, train_stop, "normal")
    moves = log_price[t[:, None] + np.arange(horizon)] - log_price[t - 1][:, None]  # -> (T, H)
    z = moves / np.sqrt(variance)
    return np.quantile(z, levels, axis=0).T  # -> (H, L)


def _log_prices(series: np.ndarray, what: str = "price series") -> np.ndarray:
    series = np.asarray(series, dtype=float)
    if series.ndim != 1 or not np.all(np.isfinite(series)) or np.any(series <= 0):
        raise MarketcastError(
            f"the {what} for the peers must be 1-D, finite and positive; "
            "drop missing or non-positive rows first."
        )
    return np.log(series)


def _check_origins(t: np.ndarray, horizon: int, refit_every: int, train_stop: int, n: int) -> None:
    if horizon < 1 or refit_every < 0:
        raise MarketcastError(
            f"horizon={horizon} must be >= 1 and refit_every={refit_every} >= 0 (0: never refit)."
        )
    if len(t) == 0:
        raise MarketcastError("no origins to forecast: first_target is empty.")
    if t.min() < train_stop or t.max() + horizon > n:
        raise MarketcastError(
            f"origins must lie in [train_stop={train_stop}, {n - horizon}] so that the peers "
            f"train on the training rows only; got first targets {t.min()}..{t.max()}."
        )


def _check_levels(levels: list[float]) -> list[float]:
    if not levels or any(not 0 < q < 1 for q in levels):
        raise MarketcastError(
            f"quantile levels {list(levels)} must lie in (0, 1), e.g. [0.1, 0.9]."
        )
    return sorted(float(q) for q in levels)


GARCH_LOOKBACK = 250  # returns a published interval's GARCH variance is filtered over

# The published interval's volatility models (arch's arch_model arguments), by config name:
# "garch" is the reference GARCH(1,1) with a normal likelihood (the band every run is scored
# against); "gjr" adds the leverage term (a fall raises tomorrow's variance more than a rise,
# Glosten-Jagannathan-Runkle 1993) and fits by Student-t likelihood, which a few extreme
# days cannot drag to a degenerate fit the way they drag the normal one (bench/intervals_dev.py).
GARCH_MODELS = {
    "garch": {"o": 0, "dist": "normal"},
    "gjr": {"o": 1, "dist": "t"},
}
# A published fit whose average shock weight alpha + gamma/2 reaches this is degenerate: its
# variance is mostly yesterday's squared move, so the day after a flat day gets almost no
# band. A series flat for half its rows gives alpha near 1 and beta near 0, which arch calls
# converged; the dev files' fits, at training splits of 30 to 95% of the rows, reach at most
# 0.26. (Persistence at 1 is not degenerate: GJR fits with a large leverage term reach it
# and score well.)
MAX_SHOCK_WEIGHT = 0.5


MIN_GARCH_RETURNS = 30  # daily returns of the training rows a GARCH(1,1) fit needs


def fit_garch(
    series: np.ndarray, train_stop: int, model: str, what: str = "the series"
) -> dict[str, float]:
    """Parameters of a zero-mean GARCH-family ``model`` (``GARCH_MODELS``) of the daily log
    returns of rows ``< train_stop``, in daily log-return units: omega, alpha, gamma (the
    leverage term, 0 for "garch"), beta, and ``start``: the returns' sample variance, the
    variance the filter of ``garch_scale`` starts from.

    A fit whose optimiser does not converge (long flat stretches, a handful of distinct
    prices), stops at arch's starting values (mostly flat prices: arch calls that converged)
    or converges to a degenerate fit (``MAX_SHOCK_WEIGHT``) is not used: it
    falls back, with a warning naming ``what``, to the GARCH(1,1) and then to a constant
    variance (the sample variance: alpha = gamma = beta = 0), so one odd symbol gets a
    plain band rather than stopping a universe's run.
    """
    if model not in GARCH_MODELS:
        raise MarketcastError(f"GARCH model {model!r} is not one of {tuple(GARCH_MODELS)}.")
    returns = ARCH_SCALE * np.diff(_log_prices(series[:train_stop]))
    if len(returns) < MIN_GARCH_RETURNS:
        raise MarketcastError(
            f"a GARCH interval needs at least {MIN_GARCH_RETURNS} training returns, got "
            f"{len(returns)}."
        )
    variance = float(np.mean(returns**2)) / ARCH_SCALE**2
    if variance <= 0:
        raise MarketcastError(
            f"the training prices of {what} never move ({len(returns)} returns, all 0): "
            "no interval can be fitted; check the data or drop the symbol."
        )
    tried = []
    for name in dict.fromkeys([model, "garch"]):
        params, problem = _garch_fit(returns, name)
        if params is not None:
            if tried:
                log.warning("%s: %s; the interval uses a %s fit instead", what, tried[0], name)
            return {**params, "start": variance}
        tried.append(f"the {name} fit on {len(returns)} training returns {problem}")
    log.warning("%s: %s; the interval uses a constant variance", what, "; ".join(tried))
    return {"omega": variance, "alpha": 0.0, "gamma": 0.0, "beta": 0.0, "start": variance}


def _garch_fit(returns: np.ndarray, model: str) -> tuple[dict[str, float] | None, str]:
    """(omega, alpha, gamma, beta) of one arch fit of percent ``returns``, or None and why."""
    from arch import arch_model

    # show_warning=False: arch's convergence chatter (the flag is checked below)
    spec = arch_model(returns, **ARCH_SPEC, **GARCH_MODELS[model])
    fitted = spec.fit(disp="off", show_warning=False)
    params = fitted.params
    start = spec.volatility.starting_values(returns)  # zero mean: the residuals are the returns
    out = {
        "omega": float(params["omega"]) / ARCH_SCALE**2,
        "alpha": float(params["alpha[1]"]),
        "gamma": float(params.get("gamma[1]", 0.0)),
        "beta": float(params["beta[1]"]),
    }
    problem = fit_problem(out, params.to_numpy()[: len(start)], start, fitted.convergence_flag == 0)
    return (None, problem) if problem else (out, "")


def fit_problem(
    params: dict[str, float], fitted: np.ndarray, start: np.ndarray, converged: bool
) -> str:
    """Why a GARCH-family fit is not used, or "" when it is: ``params`` (omega in daily
    units, alpha, gamma, beta), ``fitted`` and ``start`` the optimiser's raw parameters
    and where it started from, ``converged`` its own verdict."""
    if not converged:
        return "did not converge"
    if np.allclose(fitted, start, rtol=1e-9, atol=0):
        return "stopped at its starting values"  # a flat likelihood: nothing was fitted
    if not all(np.isfinite(list(params.values()))) or params["omega"] <= 0:
        return f"gave unusable parameters {params}"
    shock = params["alpha"] + params["gamma"] / 2
    if shock >= MAX_SHOCK_WEIGHT:  # arch calls such a fit converged
        return (
            f"is degenerate (alpha + gamma/2 = {shock:.3f} >= {MAX_SHOCK_WEIGHT}: its "
            "variance is mostly yesterday's squared move)"
        )
    return ""


def garch_params(params: dict) -> dict:
    """``params`` with every key ``garch_scale`` reads: runs saved before the leverage term
    (volatility=garch) have no gamma, which is 0 for them."""
    return {"gamma": 0.0, **params}


def recent_returns(recent: np.ndarray) -> np.ndarray:
    """(B, <= GARCH_LOOKBACK) the daily log returns of ``recent`` (B, n) prices that a
    published band reads: the last ``GARCH_LOOKBACK`` (NaN before a series' start)."""
    return np.diff(np.log(np.asarray(recent, dtype=float)), axis=1)[:, -GARCH_LOOKBACK:]


def trailing_variance(returns: np.ndarray) -> np.ndarray:
    """(B,) the mean squared daily log return of each row of ``returns`` (B, n), NaN
    skipped; NaN where a row has no known return."""
    squared = returns**2
    known = np.isfinite(squared).sum(axis=1)
    return np.where(known > 0, np.nansum(squared, axis=1) / np.maximum(known, 1), np.nan)


def garch_scale(
    params: dict, recent: np.ndarray, horizon: int, step_persistence: float | None = None
) -> np.ndarray:
    """(B, H) the GARCH standard deviation of the log move from each origin's last price
    to each step, from ``recent`` (B, n) prices up to the origin.

    ``params``: omega, alpha, beta, start and (optional, 0 if absent) gamma, each a number
    or one per origin (B,). The variance is filtered over the (up to ``GARCH_LOOKBACK``)
    returns in ``recent`` from ``start`` at fixed parameters,
    ``v <- omega + (alpha + gamma [r < 0]) r^2 + beta v``, NaN rows skipped, so evaluation
    and ``predict`` get the same number from the same prices. The multi-step variance is
    the GJR-GARCH(1,1,1) forecast of symmetric innovations,
    ``V_k = u + p^(k-1) (V_1 - u)`` with ``p = alpha + gamma / 2 + beta``, summed over steps.

    ``step_persistence`` (rho, 0..1): from step 2 on, the variance reverts instead to the
    trailing level ``u = trailing_variance`` of the same returns, for every fit, its
    deviation carrying ``min(p, rho)`` from one step to the next; ``V_1`` is unchanged.
    (A fit's own long-run level is its training years'; a fit with ``p <= rho`` keeps its
    speed but takes the recent level too, and the constant-variance fallback, ``p = 0``,
    its training variance at step 1 and the trailing level after.)
    A GARCH fitted over years with shifts of level reads them as persistence (p near 1,
    Lamoureux & Lastrapes 1990) and reverts towards the training years' level: days after a
    shock it keeps the shock's variance, and it reverts to a level the market may have left.
    """
    returns = recent_returns(recent)
    params = garch_params(params)
    omega, alpha, gamma, beta, start = (
        np.broadcast_to(np.asarray(params[k], dtype=float), len(returns))
        for k in ("omega", "alpha", "gamma", "beta", "start")
    )
    var = start.copy()
    for r in returns.T:  # var: the variance of the return r, then of the next one
        known = np.isfinite(r)
        r = np.where(known, r, 0.0)
        shock = (alpha + gamma * (r < 0)) * r**2
        var = np.where(known, omega + shock + beta * var, var)
    persistence = (alpha + gamma / 2 + beta)[:, None]  # -> (B, 1)
    k = np.arange(horizon)[None]
    stationary = persistence < 1
    long_run = np.where(stationary, omega[:, None] / np.where(stationary, 1 - persistence, 1), 0)
    mean_reverting = long_run + persistence**k * (var[:, None] - long_run)
    integrated = var[:, None] + k * omega[:, None]
    steps = np.where(stationary, mean_reverting, integrated)  # -> (B, H)
    if step_persistence is not None:
        level = trailing_variance(returns)[:, None]  # -> (B, 1)
        decay = np.minimum(persistence, step_persistence)
        reverted = np.where(k == 0, steps, level + decay**k * (var[:, None] - level))
        steps = np.where(np.isfinite(level), reverted, steps)  # step 1 bit for bit
    return np.sqrt(np.cumsum(steps, axis=1))
