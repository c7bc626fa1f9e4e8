"""Batch forecasting of a large universe from a warm cache.

Builds a synthetic universe (default 1,000 symbols x 20 years of daily prices)
in a temporary price cache, trains a small global model on a few of them
(offline, from the cache), then measures:

1. the whole ``python predict.py`` run for the universe (a fresh process: Python and
   TensorFlow start-up, loading every symbol's window from the cache, one batched
   model call, the CSV and the forecast store), and
2. inside one process, the model-inference part: one batched call for every
   window (what predict.py does) against a loop calling ``model.predict`` once per
   symbol, on the same windows, as a ratio. The loop is timed on --loop-symbols
   symbols and its per-symbol time scaled to the universe.

    python bench/batch_forecast.py [--symbols 1000] [--years 20] [--loop-symbols 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

import marketcast.config  # noqa: E402,F401  (registers the schemas)
from marketcast.data.cache import write_cached  # noqa: E402
from marketcast.data.trading_days import sessions  # noqa: E402
from marketcast.jobs.predict import forecast_windows, latest_window  # noqa: E402
from marketcast.jobs.runs import resolve_runs  # noqa: E402
from marketcast.jobs.train import train  # noqa: E402


def synthetic_universe(cache_dir: Path, n_symbols: int, years: int) -> tuple[list[str], str]:
    """US-style tickers S0000.. with geometric random walks on NYSE sessions (as a US
    source gives them: weekdays would put holidays in every file); returns symbols and
    last date."""
    first = pd.Timestamp("2025-10-31") - pd.DateOffset(years=years + 1)
    dates = sessions(first, pd.Timestamp("2025-10-31"), "XNYS")[-years * 252 :]
    dates = pd.DatetimeIndex(dates, name="Date").as_unit("ns")
    rng = np.random.default_rng(0)
    symbols = [f"S{i:04d}" for i in range(n_symbols)]
    for symbol in symbols:
        close = rng.uniform(10, 500) * np.exp(np.cumsum(rng.normal(0.0003, 0.015, len(dates))))
        open_ = close * np.exp(rng.normal(0, 0.004, len(dates)))
        frame = pd.DataFrame(
            {
                "Open": open_,
                "High": np.maximum(open_, close) * 1.005,
                "Low": np.minimum(open_, close) * 0.995,
                "Close": close,
                "Volume": rng.integers(10_000, 1_000_000, len(dates)).astype(float),
            },
            index=dates,
        )
        write_cached(cache_dir, symbol, frame)
    return symbols, str(dates[-1].date())


def compose_cfg(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(name, overrides=overrides)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--loop-symbols", type=int, default=200)
    parser.add_argument(
        "--keep", type=Path, metavar="DIR",
        help="build the cache, run and store in DIR and leave them there (default: a "
        "temporary folder, removed at the end: 1,000 symbols x 20 years is about 270 MB)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return bench(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="marketcast-batch-") as tmp:
        return bench(args, Path(tmp))


def bench(args: argparse.Namespace, work: Path) -> int:
    cache = work / "cache"

    started = time.perf_counter()
    symbols, last = synthetic_universe(cache, args.symbols, args.years)
    print(
        f"cache: {args.symbols} symbols x {args.years * 252} rows in {cache} "
        f"({time.perf_counter() - started:.1f}s to build)"
    )
    data = [
        "data=fdr",
        "data.symbol=null",
        f"data.cache_dir={cache}",
        "data.refresh=never",
        "data.start=2023-01-01",
    ]
    run_dir = work / "run"
    train(
        compose_cfg(
            "train",
            [
                f"paths.run_dir={run_dir}",
                *data,
                f"data.symbols=[{','.join(symbols[:3])}]",
                "train.epochs=2",
                "train.verbose=0",
                "plots=false",
            ],
        )
    )
    universe = work / "universe.txt"
    universe.write_text("\n".join(symbols) + "\n")

    # 1. The whole predict.py run, as cron would start it.
    command = [
        sys.executable,
        str(ROOT / "predict.py"),
        f"run_dir={run_dir}",
        f"universe_file={universe}",
        "refresh=never",
        f"as_of={last}",
        f"store.dir={work / 'store'}",
        f"hydra.run.dir={work / 'predict'}",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    whole = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-4000:], file=sys.stderr)
        return 1
    print(
        f"whole predict.py run: {whole:.1f}s for {args.symbols} symbols "
        f"({1000 * whole / args.symbols:.1f} ms per symbol; target < 30 s)"
    )

    # 2. Inference: one batched call vs a model.predict call per symbol, same windows.
    cfg = compose_cfg(
        "predict", [f"run_dir={run_dir}", "refresh=never", f"as_of={last}", "output=/dev/null"]
    )
    run = next(iter(resolve_runs(cfg).by_symbol.values()))
    now = pd.Timestamp.now(tz="UTC")
    started = time.perf_counter()
    windows = [latest_window(s, run, cfg, now) for s in symbols]
    loading = time.perf_counter() - started
    t = run.prep.transform
    inputs = np.concatenate([t.inputs(w.raw[None], w.history[-1:]) for w in windows])
    run.model.predict(inputs[:1], verbose=0)  # warm up both paths' compiled functions
    started = time.perf_counter()
    forecast_windows(windows)
    batched = time.perf_counter() - started
    batched_model = time.perf_counter()
    run.model.predict(inputs, batch_size=4096, verbose=0)
    batched_model = time.perf_counter() - batched_model
    loop_n = min(args.loop_symbols, len(windows))
    started = time.perf_counter()
    for i in range(loop_n):
        run.model.predict(inputs[i : i + 1], verbose=0)
    per_symbol = (time.perf_counter() - started) / loop_n
    loop_total = per_symbol * len(windows)
    print(
        f"loading {len(windows)} windows from the cache: {loading:.1f}s "
        f"({1000 * loading / len(windows):.1f} ms per symbol)"
    )
    print(
        f"forecast_windows (batched model call, prices, intervals, dates): {batched:.2f}s; "
        f"the model call alone {1000 * batched_model:.0f} ms"
    )
    print(
        f"per-symbol model.predict loop: {1000 * per_symbol:.1f} ms per call "
        f"(timed on {loop_n}), {loop_total:.1f}s for {len(windows)} symbols"
    )
    print(
        f"inference speed-up, batched vs loop: {loop_total / batched_model:.0f}x "
        f"(whole forecast_windows: {loop_total / batched:.0f}x; target >= 50x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
