"""Interval methods side by side on a directory of daily-price CSV files, no network needed.

For every ``*.csv`` in DATA_DIR (Date, Open, High, Low, Close, ...; KRX files from
--start, US files whole): the rows are split 70/15/15 as the default config does, and
80% bands around persistence are scored on the test segment's one-step (or --horizon)
targets. Every method is fitted on the training rows only, except where its name says:

- ``garch``: the reference, ``peers.garch_band`` (arch's filter, normal quantiles);
- ``gjr``: GJR-GARCH(1,1,1), the asymmetric variant, normal likelihood and quantiles;
- ``garch_t``, ``gjr_t``: GARCH(1,1) and GJR-GARCH(1,1,1) fitted by Student-t likelihood,
  normal quantiles of the fitted variance;
- ``garch_trval``: GARCH(1,1) fitted on training and validation;
- ``range_ewma``: an EWMA (0.94) of the Parkinson high-low variance, scaled on training;
- ``mix``: the average variance of ``garch`` and ``range_ewma``;
- ``conformal``: GARCH-standardised moves' conformal quantiles from validation;
- ``published V gamma=G [shrink=S] [step_persistence=R] [step_rates=inverse]
  [variance_ratio=W]``: marketcast's own ``Intervals`` (volatility=V) adapting at rate G
  (step h at G / h with ``step_rates=inverse``, else every step at G), S of each step's
  variance from the trailing year (0 if absent), the multi-step variance reverting to the
  trailing year's level at R per step (``evaluation.intervals.step_persistence``; absent:
  the fit's own persistence and level), each step's variance scaled by W of the trailing
  year's variance ratio (``evaluation.intervals.variance_ratio``; absent: 0).

Prints, per method, the mean interval (Winkler) score in % of price, the mean coverage and
its range over files, and the range of coverage per volatility tercile.

--test-end moves the test segment earlier (0.85: test on the 15% of rows before the last
15%; validation and training before it), to see a method through other years.

    python bench/intervals_dev.py ../shared/data [--horizon 1] [--start 2010-01-01]
        [--test-end 1.0]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from marketcast.evaluation.conformal import conformal_quantile
from marketcast.evaluation.intervals import Intervals, recent_prices, window_volatility
from marketcast.evaluation.peers import fit_garch, garch_band
from marketcast.evaluation.scores import coverage_by_tercile, winkler_score

LEVELS = [0.1, 0.9]
Z = norm.ppf(LEVELS)


def load(path: Path, start: str) -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["Date"])
    if not path.name.startswith("us_"):
        frame = frame[frame["Date"] >= start]
    return frame[(frame["Close"] > 0) & (frame["Low"] > 0)].reset_index(drop=True)


def arch_variance(log_price, fit_stop, first, horizon, **spec):
    """(B, H) cumulative variance of the log move to each step, arch at fixed parameters."""
    from arch import arch_model

    spec = {"mean": "Zero", "p": 1, "q": 1, "dist": "normal", "rescale": False, **spec}
    returns = 100 * np.diff(log_price)
    fitted = arch_model(returns[: fit_stop - 1], **spec).fit(disp="off")
    fixed = arch_model(returns[: first.max() - 1], **spec).fix(fitted.params)
    start = int(first.min()) - 2
    variance = fixed.forecast(horizon=horizon, start=start, reindex=False).variance
    return np.cumsum(variance.to_numpy()[first - first.min()], axis=1) / 1e4


def ewma(values: np.ndarray, decay: float) -> np.ndarray:
    out, level = np.empty_like(values), values[:50].mean()
    for i, v in enumerate(values):
        level = decay * level + (1 - decay) * v
        out[i] = level
    return out


def methods(
    frame: pd.DataFrame, horizon: int, test_end: float = 1.0
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    close = frame["Close"].to_numpy(float)
    log_price, n = np.log(close), len(close)
    val_start, test_start = int((test_end - 0.3) * n), int((test_end - 0.15) * n)
    first = np.arange(test_start, int(test_end * n) - horizon + 1)
    last = close[first - 1]
    actual = close[first[:, None] + np.arange(horizon)]

    def around(variance):
        return np.exp(np.log(last)[:, None, None] + Z[None, None] * np.sqrt(variance)[..., None])

    out = {"garch": garch_band(close, first, horizon, LEVELS, val_start)}
    v_garch = arch_variance(log_price, val_start, first, horizon, vol="GARCH")
    out["gjr"] = around(arch_variance(log_price, val_start, first, horizon, vol="GARCH", o=1))
    out["garch_t"] = around(arch_variance(log_price, val_start, first, horizon, dist="t"))
    out["gjr_t"] = around(arch_variance(log_price, val_start, first, horizon, o=1, dist="t"))
    out["garch_trval"] = around(arch_variance(log_price, test_start, first, horizon, vol="GARCH"))
    parkinson = np.log(frame["High"].to_numpy(float) / frame["Low"].to_numpy(float)) ** 2
    smoothed = ewma(parkinson / (4 * np.log(2)), 0.94)  # row j: the range up to row j
    squared = np.diff(log_price) ** 2
    factor = squared[60 : val_start - 1].mean() / smoothed[60 : val_start - 1].mean()
    v_range = factor * smoothed[first - 1][:, None] * np.arange(1, horizon + 1)[None]
    out["range_ewma"] = around(v_range)
    out["mix"] = around(0.5 * (v_range + v_garch))
    val = np.arange(val_start, test_start - horizon + 1)
    moves = log_price[val[:, None] + np.arange(horizon)] - log_price[val - 1][:, None]
    z = moves / np.sqrt(arch_variance(log_price, val_start, val, horizon, vol="GARCH"))
    q = np.stack([conformal_quantile(z, level) for level in LEVELS], axis=1)  # -> (H, L)
    out["conformal"] = np.exp(np.log(last)[:, None, None] + q[None] * np.sqrt(v_garch)[..., None])
    centre = np.repeat(last[:, None], horizon, axis=1)
    settings = [("garch", g, 0.0, None, "flat", 0.0) for g in (0.0, 0.002, 0.005, 0.01)]
    settings += [("gjr", g, 0.0, None, "flat", 0.0) for g in (0.0, 0.002, 0.005, 0.01)]
    settings += [("gjr", 0.002, s, None, "flat", 0.0) for s in (0.1, 0.2, 0.3)]
    settings += [("gjr", 0.002, 0.0, rho, "flat", 0.0) for rho in (0.95, 0.9, 0.8, 0.7, 0.0)]
    settings += [("gjr", 0.002, 0.2, 0.9, "flat", 0.0)]
    settings += [("gjr", g, 0.0, 0.9, "inverse", 0.0) for g in (0.002, 0.005, 0.0075, 0.01)]
    settings += [("gjr", 0.005, 0.0, 0.9, "flat", 0.0)]
    settings += [("gjr", 0.005, s, 0.9, "inverse", 0.0) for s in (0.1, 0.2)]
    settings += [("gjr", 0.005, 0.2, 0.9, "inverse", w) for w in (0.5, 1.0)]  # 1.0: the defaults
    fits = {v: fit_garch(close, val_start, v) for v in ("garch", "gjr")}
    for volatility, gamma, shrink, rho, steps, ratio in settings:
        intervals = Intervals(
            LEVELS,
            horizon,
            60,
            volatility,
            gamma,
            shrink=shrink,
            step_persistence=rho,
            step_rates=steps,
            variance_ratio=ratio,
        )
        intervals = intervals.with_symbol("s", fits[volatility])
        scale = intervals.scale(recent_prices(close, first, intervals.rows), "s")
        band, _ = intervals.adapt("s", centre, scale, actual, list(first))
        name = f"published {volatility} gamma={gamma}" + (f" shrink={shrink}" if shrink else "")
        name += f" step_persistence={rho}" if rho is not None else ""
        name += " step_rates=inverse" if steps == "inverse" else ""
        out[name + (f" variance_ratio={ratio}" if ratio else "")] = band
    history = recent_prices(close, first, 60)
    return out, actual, window_volatility(history)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--start", default="2010-01-01", help="for KRX files; US files whole")
    parser.add_argument("--test-end", type=float, default=1.0, help="share of rows (0.45..1]")
    args = parser.parse_args()
    files = sorted(args.data_dir.glob("*.csv"))
    if not files:
        print(f"no *.csv files in {args.data_dir}", file=sys.stderr)
        return 2
    rows: dict[str, list[tuple[float, float, np.ndarray]]] = {}
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bands, actual, vol = methods(load(path, args.start), args.horizon, args.test_end)
        for name, band in bands.items():
            lower, upper = band[..., 0], band[..., -1]
            score = float(np.mean(winkler_score(actual, lower, upper, 0.8)))
            inside = float(np.mean((actual >= lower) & (actual <= upper)))
            terciles = coverage_by_tercile(actual, lower, upper, vol).mean(axis=1)
            rows.setdefault(name, []).append((score, inside, terciles))
        print(f"{path.stem}: " + ", ".join(f"{n} {r[-1][0]:.3f}" for n, r in rows.items()))
    print(
        f"\n80% bands around persistence, h = {args.horizon}, {len(files)} files, "
        f"test segment ending at {args.test_end:.0%} of the rows"
    )
    print("| method | interval score % | coverage (range over files) | per tercile, min..max |")
    print("|---|---|---|---|")
    for name, results in rows.items():
        scores, covers = [r[0] for r in results], [r[1] for r in results]
        terciles = np.concatenate([r[2] for r in results])
        print(
            f"| {name} | {np.mean(scores):.3f} | {np.mean(covers):.3f} "
            f"({min(covers):.3f}..{max(covers):.3f}) | {terciles.min():.2f}..{terciles.max():.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
