"""Classical peers, their combination and 80% bands on real daily prices: the evidence for defaults.

    PYTHONPATH=src python bench/peers_dev.py /work/shared/data [--refit-every 0] [--json out.json]
    PYTHONPATH=src python bench/peers_dev.py --cost data/sp500.csv

Per CSV (Date, Close; KRX files from 2010 on, US files whole): test = the last
15% of rows, validation = the 15% before it, training = the rest; samples as
the pipeline makes them (window 60, first targets inside each segment). Nothing
fitted sees the test segment: peers forecast each origin from rows before it
(first fit on training, refits on rows before the origin), the combination
weights and every calibration come from validation, GARCH is fitted on
training returns, ACI adapts on test outcomes only once they are realised.

Point forecasts: test MAE and RMSE / persistence per step, DM-HLN p-values vs
persistence. Bands (80%): coverage, coverage per EWMA-volatility tercile
(calm / mid / turbulent) and Winkler score (% of price) of the GARCH band
(empirical, normal, t quantiles), conformal EWMA- and GARCH-scaled around
persistence, and each with ACI.

--cost: seconds for ETS / ARIMA / GARCH on the test segment of one file at
several refit_every values, and the statsforecast import + cold numba JIT.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast.evaluation import peers
from marketcast.evaluation.baselines import drift, persistence
from marketcast.evaluation.combination import fit_weights
from marketcast.evaluation.conformal import ScaledConformal, adaptive_bands, relative_scores
from marketcast.evaluation.intervals import window_volatility
from marketcast.evaluation.scores import (
    coverage,
    coverage_by_tercile,
    diebold_mariano_per_step,
    significant_side,
    winkler_score,
)
from marketcast.features.windows import first_targets

WINDOW = 60
LEVELS = [0.1, 0.9]
GAMMAS = (0.002, 0.005, 0.01, 0.02)


def load_close(path: Path) -> np.ndarray:
    frame = pd.read_csv(path, parse_dates=["Date"]).set_index("Date").sort_index()
    if not path.name.startswith("us_"):
        frame = frame.loc["2010-01-01":]
    close = frame["Close"].astype(float)
    return close[close > 0].to_numpy()


def segment_bounds(n: int) -> tuple[int, int]:
    test = round(0.15 * n)
    return n - 2 * test, n - test  # val_start, test_start


def evaluate_file(
    prices: np.ndarray, horizon: int, refit_every: int, arima: bool, min_gain: float
) -> dict:
    n = len(prices)
    val_start, test_start = segment_bounds(n)
    tv = first_targets(val_start, test_start, WINDOW + 1, horizon)
    tt = first_targets(test_start, n, WINDOW + 1, horizon)
    both = np.concatenate([tv, tt])
    steps = np.arange(horizon)
    history = prices[both[:, None] - WINDOW + np.arange(WINDOW)]  # -> (B, W)
    actual = prices[both[:, None] + steps]  # -> (B, H)
    fc = {"persistence": persistence(history, horizon), "drift": drift(history, horizon)}
    fc["ets"] = peers.ets_forecasts(prices, both, horizon, refit_every, val_start)
    if arima:
        fc["arima"] = peers.arima_forecasts(prices, both, horizon, refit_every, val_start)
    v, t = slice(0, len(tv)), slice(len(tv), None)
    pers = fc["persistence"]
    out = {"n_val": len(tv), "n_test": len(tt), "point": {}, "bands": {}}
    for loss in ("mae", "mse"):
        comps = {"ets": fc["ets"][v], "drift": fc["drift"][v]}
        w = fit_weights(actual[v], pers[v], comps, loss, min_gain)
        fc[f"combo_{loss}"] = w.apply(pers, {"ets": fc["ets"], "drift": fc["drift"]})
        out[f"weights_{loss}"] = w.weights.tolist()
    ref_mae = np.mean(np.abs(actual[t] - pers[t]), axis=0)
    ref_rmse = np.sqrt(np.mean((actual[t] - pers[t]) ** 2, axis=0))
    for name, f in fc.items():
        if name == "persistence":
            continue
        dm = diebold_mariano_per_step(actual[t], f[t], pers[t])
        out["point"][name] = {
            "mae_ratio": (np.mean(np.abs(actual[t] - f[t]), axis=0) / ref_mae).tolist(),
            "rmse_ratio": (np.sqrt(np.mean((actual[t] - f[t]) ** 2, axis=0)) / ref_rmse).tolist(),
            "dm_p": [None if d is None else d.p_value for d in dm],
            "dm_stat": [None if d is None else d.statistic for d in dm],
        }
    # bands around persistence
    ewma = window_volatility(history)  # -> (B,)
    garch_vol = peers.garch_volatility(prices, both, val_start)
    garch_var, _ = peers.garch_variance(prices, both, horizon, val_start)
    bands = {}
    for dist in peers.GARCH_DISTRIBUTIONS:
        bands[f"garch_{dist}"] = peers.garch_band(prices, both, horizon, LEVELS, val_start, dist)[t]
    scales = {"ewma": ewma, "garch": garch_vol, "garch_h": np.sqrt(garch_var)}
    for label, scale in scales.items():
        cal = ScaledConformal.calibrate(actual[v], pers[v], scale[v], LEVELS, label)
        bands[f"conformal_{label}"] = cal.apply(pers[t], scale[t])
        scores = relative_scores(actual[v], pers[v], scale[v])
        for gamma in GAMMAS:
            band, _ = adaptive_bands(pers[t], scale[t], actual[t], scores, LEVELS, gamma)
            bands[f"conformal_{label}_aci{gamma:g}"] = band
    for name, band in bands.items():
        lower, upper = band[..., 0], band[..., -1]
        out["bands"][name] = {
            "coverage": coverage(actual[t], lower, upper).tolist(),
            "terciles": coverage_by_tercile(actual[t], lower, upper, ewma[t]).tolist(),
            "winkler": winkler_score(actual[t], lower, upper, LEVELS[-1] - LEVELS[0]).tolist(),
        }
    return out


def dev(
    data_dir: Path, refit_every: int, arima: bool, min_gain: float, json_path: Path | None
) -> None:
    results: dict[str, dict] = {}
    for path in sorted(data_dir.glob("*.csv")):
        prices = load_close(path)
        started = time.perf_counter()
        results[path.stem] = {
            f"h{h}": evaluate_file(prices, h, refit_every, arima, min_gain) for h in (1, 5)
        }
        print(f"{path.stem}: {len(prices)} rows, {time.perf_counter() - started:.1f} s", flush=True)
    if json_path:
        json_path.write_text(json.dumps(results, indent=1))
    print_tables(results)


def print_tables(results: dict[str, dict]) -> None:
    files = list(results)
    for h in ("h1", "h5"):
        names = list(results[files[0]][h]["point"])
        last = -1  # report the last step of h5; per step in the JSON
        print(f"\n## {h}: test MAE / persistence (step {1 if h == 'h1' else 5}), DM-HLN p")
        print(f"{'file':<12}" + "".join(f"{n:>20}" for n in names))
        for f in [*files, "mean"]:
            cells = []
            for n in names:
                if f == "mean":
                    r = np.mean([results[g][h]["point"][n]["mae_ratio"][last] for g in files])
                    sides = [
                        significant_side(
                            results[g][h]["point"][n]["dm_stat"][last],
                            results[g][h]["point"][n]["dm_p"][last],
                        )
                        for g in files
                    ]
                    below, above = sides.count(-1), sides.count(1)
                    cells.append(f"{r:.4f} +{below}/-{above}")
                else:
                    row = results[f][h]["point"][n]
                    p = row["dm_p"][last]
                    cells.append(
                        f"{row['mae_ratio'][last]:.4f} p={'n/a' if p is None else f'{p:.2f}'}"
                    )
            print(f"{f:<12}" + "".join(f"{c:>20}" for c in cells))
        print(
            "mean RMSE ratio: "
            + ", ".join(
                f"{n} {np.mean([results[g][h]['point'][n]['rmse_ratio'][last] for g in files]):.4f}"
                for n in names
            )
        )
        if h == "h5":
            print(
                "mean MAE ratio per step: "
                + "; ".join(
                    f"{n} "
                    + " ".join(
                        f"{x:.4f}"
                        for x in np.mean(
                            [results[g][h]["point"][n]["mae_ratio"] for g in files], axis=0
                        )
                    )
                    for n in names
                )
            )
        bands = list(results[files[0]][h]["bands"])
        print(f"\n## {h}: 80% bands, mean over files (step 1 | step {1 if h == 'h1' else 5})")
        print(
            f"{'band':<28}{'coverage':>16}{'calm/mid/turb (last step)':>28}{'winkler %':>16}"
            f"{'worst file cov':>16}"
        )
        for b in bands:
            cov = np.mean([results[g][h]["bands"][b]["coverage"] for g in files], axis=0)
            ter = np.mean([results[g][h]["bands"][b]["terciles"] for g in files], axis=0)[:, last]
            wink = np.mean([results[g][h]["bands"][b]["winkler"] for g in files], axis=0)
            worst = min(results[g][h]["bands"][b]["coverage"][last] for g in files)
            print(
                f"{b:<28}{cov[0]:>8.3f}|{cov[last]:.3f}"
                f"{'/'.join(f'{x:.2f}' for x in ter):>28}{wink[0]:>8.3f}|{wink[last]:.3f}"
                f"{worst:>16.3f}"
            )


def cost(path: Path) -> None:
    prices = (
        load_close(path)
        if not path.name.startswith("sp500")
        else (pd.read_csv(path)["Close"].to_numpy(dtype=float))
    )
    n = len(prices)
    val_start, test_start = segment_bounds(n)
    print(f"{path.name}: {n} rows, test origins from row {test_start}; train_stop = {val_start}")
    print(cold_import_seconds())
    from statsforecast.models import AutoARIMA

    approx = lambda: AutoARIMA(  # noqa: E731
        seasonal=False, max_p=3, max_q=3, max_order=5, approximation=True
    )
    makers = {"ets": peers.ets_model, "arima": peers.arima_model, "arima_approx": approx}
    for horizon in (1, 5):
        t = first_targets(test_start, n, WINDOW + 1, horizon)
        for name, make in makers.items():
            cells = []
            for k in (1, 5, 20, 60, 250, 0):
                origins = t[:60] if k == 1 else t  # refit every origin: time 60, scale up
                started = time.perf_counter()
                peers.rolling_forecasts(make, prices, origins, horizon, k, val_start)
                took = (time.perf_counter() - started) * len(t) / len(origins)
                cells.append(f"k={k}: {took:6.1f}s{'*' if k == 1 else ''}")
            print(f"h={horizon} {name:<13}{len(t)} origins  " + "  ".join(cells), flush=True)
        started = time.perf_counter()
        peers.garch_band(prices, t, horizon, LEVELS, val_start)
        peers.garch_volatility(prices, t, val_start)
        print(f"h={horizon} garch band + volatility: {time.perf_counter() - started:.2f}s")
    print("* refit every origin: timed on the first 60 origins, scaled to all")


def cold_import_seconds() -> str:
    """Import + first fit in a fresh interpreter, numba's cache empty and then warm."""
    code = (
        "import time; s = time.perf_counter(); import numpy as np; "
        "from statsforecast.models import AutoETS, AutoARIMA; i = time.perf_counter() - s; "
        "y = np.log(100 + np.cumsum(np.random.default_rng(0).normal(0, 1, 500)) / 10); "
        "s = time.perf_counter(); AutoETS().fit(y); AutoARIMA(seasonal=False).fit(y); "
        "f = time.perf_counter() - s; s = time.perf_counter(); AutoETS().fit(y); "
        "AutoARIMA(seasonal=False).fit(y); g = time.perf_counter() - s; "
        "print(f'import {i:.2f}s, first ETS+ARIMA fit {f:.2f}s, second {g:.2f}s')"
    )
    lines = []
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold numba cache", "warm numba cache"):
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            run = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True
            )
            lines.append(f"{label}: {run.stdout.strip() or run.stderr.strip()[-300:]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="directory of CSVs, or one CSV with --cost")
    parser.add_argument("--cost", action="store_true")
    parser.add_argument("--refit-every", type=int, default=0, help="0: fit once on training")
    parser.add_argument("--no-arima", action="store_true", help="skip AutoARIMA (the slow peer)")
    parser.add_argument("--min-gain", type=float, default=1e-4, help="see fit_weights")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.cost:
        cost(args.path)
    else:
        dev(args.path, args.refit_every, not args.no_arima, args.min_gain, args.json)


if __name__ == "__main__":
    main()
