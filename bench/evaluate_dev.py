"""The published forecast beside its peers on a directory of daily-price CSV files.

For every ``*.csv`` in DATA_DIR (Date, Open, High, Low, Close, Volume, ...), from --start
on (KRX files; US files whole): a single-split run and, unless --no-backtest, a
walk-forward backtest of the default config, at each horizon of --horizons. Prints, per
file and on average, test MAE and RMSE relative to persistence (below 1: a smaller error) of the
published combination (model), the raw LSTM, AutoETS and AutoARIMA, per step for h > 1,
with the Diebold-Mariano (HLN) p-value against persistence; and for the 80% interval:
coverage, coverage per volatility tercile and the interval (Winkler) score with the DM-HLN
p-value of its difference from the GARCH band's, beside the GARCH(1,1) band around
persistence and AutoETS's and AutoARIMA's own intervals. (Persistence has no column: its
ratios are 1.) Every run is kept under --out, and summary.json.

    python bench/evaluate_dev.py ../shared/data [--horizons 1,5] [--folds 5]
        [--no-backtest | --no-single] [--files a,b] [overrides]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

import marketcast.config  # noqa: F401  (registers the schemas)
from marketcast.config import config_dir
from marketcast.evaluation.scores import ALPHA, significant_side
from marketcast.evaluation.verdicts import ratio_text
from marketcast.jobs.train import train
from marketcast.runfiles import METRICS_FILE

FORECASTERS = ("model", "lstm", "ets", "arima")
# each band of the table: the published one, then those it is compared with, by the row of
# metrics.json that holds it
BANDS = {"model": "model", "garch": "persistence", "ets": "ets", "arima": "arima"}


def run(run_dir: Path, overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.run_dir={run_dir}", *overrides])
    started = time.perf_counter()
    train(cfg)
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    metrics["seconds"] = time.perf_counter() - started
    return metrics


def dev_files(data_dir: Path, stems: str) -> list[Path]:
    """The ``*.csv`` files of ``data_dir`` (only ``stems``, comma-separated, if given);
    says so on stderr where there are none."""
    files = sorted(data_dir.glob("*.csv"))
    if stems:
        files = [f for f in files if f.stem in stems.split(",")]
    if not files:
        print(f"no *.csv files in {data_dir}", file=sys.stderr)
    return files


def file_overrides(file: Path, start: str) -> list[str]:
    """The overrides that train on one file: KRX files from ``start``, US files whole."""
    overrides = ["data=csv", f"data.path={file}", f"data.symbol={file.stem}", "plots=false"]
    return overrides + ([] if file.stem.startswith("us_") else [f"data.start={start}"])


def summarise(metrics: dict) -> dict:
    """The figures of one run's test segment."""
    test = metrics["test"]
    out = {"seconds": metrics["seconds"]}
    for name in FORECASTERS:
        row = test.get(name)
        if row is None:
            continue
        steps = row.get("per_step", [row])
        out[name] = {
            "rel_mae": [s["mae"] / p["mae"] for s, p in zip(steps, _steps(test), strict=True)],
            "rel_rmse": [s["rmse"] / p["rmse"] for s, p in zip(steps, _steps(test), strict=True)],
            # each step's own test (None where the step equals persistence exactly)
            "dm_p": [(s.get("dm_vs_persistence") or {}).get("p_value") for s in steps],
            "dm_stat": [(s.get("dm_vs_persistence") or {}).get("statistic") for s in steps],
        }
    for name, key in BANDS.items():
        interval = test.get(key, {}).get("interval")
        if interval:
            out[f"{name}_interval"] = {
                k: interval.get(k)
                for k in (
                    "coverage",
                    "coverage_by_tercile",
                    "winkler_pct",
                    "width_pct",
                    "coverage_test",
                    "score_vs_reference",
                )
            }
    out["combination"] = metrics.get("combination", {}).get("words")
    return out


def _steps(test: dict) -> list[dict]:
    return test["persistence"].get("per_step", [test["persistence"]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--start", default="2010-01-01", help="for KRX files; US files whole")
    parser.add_argument("--horizons", default="1,5")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-backtest", action="store_true", help="the single split only")
    parser.add_argument("--no-single", action="store_true", help="the backtest only")
    parser.add_argument("--files", default="", help="comma-separated stems (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="default: a temporary directory")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every run")
    args = parser.parse_intermixed_args()

    files = dev_files(args.data_dir, args.files)
    if not files:
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="marketcast-dev-"))
    modes = ([] if args.no_single else ["single"]) + ([] if args.no_backtest else ["backtest"])
    summary: dict = {}
    for file in files:
        base = file_overrides(file, args.start)
        for horizon in [int(h) for h in args.horizons.split(",")]:
            for mode in modes:
                extra = ["evaluation=backtest", f"evaluation.backtest.folds={args.folds}"]
                overrides = [*base, f"window.horizon={horizon}", *args.overrides]
                if mode == "backtest":
                    overrides += extra
                key = f"{mode}_h{horizon}"
                metrics = run(out / file.stem / key, overrides)
                summary.setdefault(key, {})[file.stem] = summarise(metrics)
                print(f"{file.stem} {key}: {json.dumps(summary[key][file.stem])}", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for key, by_file in summary.items():
        print_table(key, by_file)
    print(f"\nruns and summary.json in {out}")
    return 0


def print_table(key: str, by_file: dict) -> None:
    names = [n for n in FORECASTERS if all(n in r for r in by_file.values())]
    print(f"\n### {key}: test MAE / persistence MAE per step (DM p vs persistence)\n")
    others = [n for n in BANDS if n != "model"]
    print(
        "| file | " + " | ".join(names) + " | 80% coverage (calm/mid/turb) | "
        "interval score % (DM p vs GARCH) | "
        + " | ".join(f"{n.upper()} band coverage | {n.upper()} band score %" for n in others)
        + " |"
    )
    print("|---" * (len(names) + 3 + 2 * len(others)) + "|")
    for stem, r in by_file.items():
        cells = [_cell(r[n]) for n in names]
        cells += _interval_cells(r)
        print(f"| {stem} | " + " | ".join(cells) + " |")
    means = [
        " ".join(
            f"{np.mean([r[n]['rel_mae'][h] for r in by_file.values()]):.4f}"
            for h in range(len(next(iter(by_file.values()))[n]["rel_mae"]))
        )
        for n in names
    ]
    worse = [
        sum(
            any(
                significant_side(s, p) > 0
                for p, s in zip(r[n]["dm_p"], r[n]["dm_stat"], strict=True)
            )
            for r in by_file.values()
        )
        for n in names
    ]
    rmse = [
        " ".join(
            f"{np.mean([r[n]['rel_rmse'][h] for r in by_file.values()]):.4f}"
            for h in range(len(next(iter(by_file.values()))[n]["rel_rmse"]))
        )
        for n in names
    ]
    print(
        "| **mean MAE ratio** | "
        + " | ".join(means)
        + " | "
        + " | ".join(_mean_interval(by_file))
        + " |"
    )
    blank = " |" * (2 * len(BANDS))
    print("| mean RMSE ratio | " + " | ".join(rmse) + " |" + blank)
    print("| files significantly worse (any step) | " + " | ".join(map(str, worse)) + " |" + blank)
    print_targets(by_file)


def print_targets(by_file: dict) -> None:
    """The issue's targets in one line each: the published forecast's cells above
    persistence, and the interval's coverage ranges and wins over the GARCH band."""
    cells = [rel for r in by_file.values() for rel in r["model"]["rel_mae"]]
    above = [c for c in cells if c > 1.0]
    print(
        f"\npublished MAE above persistence in {len(above)} of {len(cells)} cells (files x "
        "steps)" + (f", at most {max(above):.4f}" if above else "")
    )
    rows = [r for r in by_file.values() if r.get("model_interval") and r.get("garch_interval")]
    if not rows:
        return
    covers = [r["model_interval"]["coverage"] for r in rows]
    terciles = [c for r in rows for c in r["model_interval"]["coverage_by_tercile"]]
    wins = sum(
        r["model_interval"]["winkler_pct"] < r["garch_interval"]["winkler_pct"] for r in rows
    )
    print(
        f"80% interval: coverage {min(covers):.3f}..{max(covers):.3f} over files (target "
        f"0.77..0.83), {min(terciles):.2f}..{max(terciles):.2f} per volatility tercile (target "
        f"0.72..0.88); interval score below the GARCH band's on {wins} of {len(rows)} files"
    )
    tests = [r["model_interval"].get("coverage_test") for r in rows]
    off = [t for t in tests if t and significant_side(t["statistic"], t["p_value"])]
    duels = [r["model_interval"].get("score_vs_reference") for r in rows]
    sides = [significant_side(d["statistic"], d["p_value"]) for d in duels if d]
    lower, higher = sides.count(-1), sides.count(1)
    print(
        f"coverage significantly off 80% (HAC test, p < {ALPHA}) on {len(off)} of {len(rows)} "
        f"files ({sum(t['statistic'] > 0 for t in off)} above); interval score significantly "
        f"below the GARCH band's (DM-HLN) on {lower} files, above it on {higher}"
    )


def _cell(row: dict) -> str:
    """'0.9875 (0.04 better)': the ratio per step, the DM p-value (two-sided) and, where it
    is significant, which side, beside a ratio with the digits that tell it from 1
    ('0.99997 (0.01 better)', as ``verdicts.ratio_text``)."""
    parts = []
    for rel, p, stat in zip(row["rel_mae"], row["dm_p"], row["dm_stat"], strict=True):
        side = {-1: " better", 1: " worse", 0: ""}[significant_side(stat, p)]
        ratio = ratio_text(rel) if side else f"{rel:.4f}"
        parts.append(ratio + (f" ({p:.2f}{side})" if p is not None else ""))
    return " ".join(parts)


def _interval_cells(r: dict) -> list[str]:
    """The published band's coverage (per tercile) and score (with the p-value of its DM
    test against the GARCH band's, and which side where significant), then each other
    band's coverage and score."""
    m = r.get("model_interval") or {}
    terciles = "/".join(f"{c:.2f}" for c in m.get("coverage_by_tercile") or [])
    score = f"{m.get('winkler_pct', float('nan')):.3f}"
    duel = m.get("score_vs_reference")
    if duel:
        side = {-1: " lower", 1: " higher", 0: ""}[
            significant_side(duel["statistic"], duel["p_value"])
        ]
        score += f" ({duel['p_value']:.2f}{side})"
    cells = [f"{m.get('coverage', float('nan')):.3f} ({terciles})", score]
    for name in BANDS:
        if name != "model":
            band = r.get(f"{name}_interval") or {}
            cells += [
                f"{band.get('coverage', float('nan')):.3f}",
                f"{band.get('winkler_pct', float('nan')):.3f}",
            ]
    return cells


def _mean_interval(by_file: dict) -> list[str]:
    def mean(which, key):
        values = [(r.get(which) or {}).get(key) for r in by_file.values()]
        values = [v for v in values if v is not None]
        return f"{np.mean(values):.3f}" if values else "n/a"

    return [mean(f"{name}_interval", key) for name in BANDS for key in ("coverage", "winkler_pct")]


if __name__ == "__main__":
    sys.exit(main())
