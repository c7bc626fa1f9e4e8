"""Reproduce the README's accuracy figures on a directory of daily-price CSV files.

For every ``*.csv`` in DATA_DIR (Date, Open, High, Low, Close, Volume, ...), from
--start on: one single-split run of the default config per target representation,
and one walk-forward backtest of the default config. Prints a Markdown table of
the model's test MAE relative to persistence (below 1 beats it) and the 80%
interval's coverage, and writes every run under --out.

    python bench/evaluate_dev.py ../shared/data [--start 2010-01-01] [--folds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hydra import compose, initialize_config_dir  # noqa: E402

import marketcast.config  # noqa: E402,F401  (registers the schemas)
from marketcast.jobs.train import train  # noqa: E402
from marketcast.storage.runfiles import METRICS_FILE  # noqa: E402


def run(run_dir: Path, overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.run_dir={run_dir}", *overrides])
    started = time.perf_counter()
    train(cfg)
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    metrics["seconds"] = time.perf_counter() - started
    return metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--start", default="2010-01-01")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--representations",
        default="relative,log_return,level",
        help="comma-separated; each gets a single-split run",
    )
    parser.add_argument("--no-backtest", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="default: a temporary directory")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every run")
    args = parser.parse_intermixed_args()  # overrides may follow the options

    files = sorted(args.data_dir.glob("*.csv"))
    if not files:
        print(f"no *.csv files in {args.data_dir}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="marketcast-dev-"))
    common = [
        "data=csv",
        f"data.start={args.start}",
        "train.verbose=0",
        "plots=false",
        *args.overrides,
    ]
    rows, summary = [], {}
    for file in files:
        base = [*common, f"data.path={file}", f"data.symbol={file.stem}"]
        result = summary[file.stem] = {}
        for name in args.representations.split(","):
            m = run(out / file.stem / f"single_{name}", [*base, f"features.representation={name}"])
            result[f"single_{name}"] = {
                "val_rel_mae": m["val"]["model"]["rel_mae"],
                "test_rel_mae": m["test"]["model"]["rel_mae"],
                "test_coverage": m["test"]["model"]["interval"]["coverage"],
                "seconds": m["seconds"],
            }
            print(f"{file.stem} single {name}: {result[f'single_{name}']}", flush=True)
        if not args.no_backtest:
            m = run(
                out / file.stem / "backtest",
                [*base, "evaluation=backtest", f"evaluation.backtest.folds={args.folds}"],
            )
            result["backtest"] = {
                "test_rel_mae": m["test"]["model"]["rel_mae"],
                "test_coverage": m["test"]["model"]["interval"]["coverage"],
                "fold_rel_mae": [f["test"]["model"]["rel_mae"] for f in m["folds"]],
                "ridge_rel_mae": m["test"]["ridge"]["rel_mae"],
                "seconds": m["seconds"],
            }
            print(f"{file.stem} backtest: {result['backtest']}", flush=True)
        rows.append(file.stem)

    names = args.representations.split(",")
    header = ["file", *[f"single {n} test rel. MAE" for n in names]]
    if not args.no_backtest:
        header += [f"backtest ({args.folds} folds) rel. MAE", "backtest 80% coverage"]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for stem in rows:
        r = summary[stem]
        cells = [f"{r[f'single_{n}']['test_rel_mae']:.4f}" for n in names]
        if "backtest" in r:
            cells += [
                f"{r['backtest']['test_rel_mae']:.4f}",
                f"{r['backtest']['test_coverage']:.1%}",
            ]
        print(f"| {stem} | " + " | ".join(cells) + " |")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nruns and summary.json in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
