"""An 8-job sweep on the joblib launcher (n_jobs=2) against Hydra's basic launcher.

The same 8 real jobs (bundled sample, LSTM units 8/16/32/64 x window 20/30, trained to
EarlyStopping; --epochs N caps them; extra overrides apply to every job, e.g.
evaluation=backtest for 5-fold backtests) run as one `train.py -m` each way; wall time
includes starting Python and TensorFlow, as a user would see it. The basic launcher runs
the jobs one after another in one process, TensorFlow using every core; joblib runs
n_jobs worker processes, each limited to its share of the cores (marketcast.runtime).
--oversubscribe adds a joblib sweep whose jobs each take every core
(train.threads=<cores>), to show what the limit is worth. Sweeps alternate over
--repeats; the speed-up is basic / joblib wall time. The "jobs" columns time only the
span from the first job's first log line to the last job's last one, leaving out
starting Python and TensorFlow (once, or in every worker).

    python bench/sweep.py [--repeats 3] [--n-jobs 2] [--epochs N] [--oversubscribe]
    python bench/sweep.py --repeats 2 evaluation=backtest
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
JOBS = [
    "model.units=8,16,32,64",
    "window.size=20,30",
    "train.verbose=0",
    "plots=false",
]


def run_sweep(sweep_dir: Path, launcher: list[str], jobs: list[str]) -> float:
    """Run the sweep; return its wall time in seconds."""
    command = [sys.executable, str(ROOT / "train.py"), "-m", f"hydra.sweep.dir={sweep_dir}"]
    started = time.perf_counter()
    result = subprocess.run([*command, *launcher, *jobs], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"sweep failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return elapsed


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def parallel_ceiling(workers: int, n: int = 20_000_000) -> float:
    """What ``workers`` processes of pure CPU work gain over one here (ideal: ``workers``).

    On a shared or virtual machine the cores may not add up (hyperthreads, neighbours,
    clock limits); a sweep cannot gain more than this.
    """
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_spin, [1000] * workers))  # start the workers first
        started = time.perf_counter()
        pool.submit(_spin, n).result()
        one = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(_spin, [n] * workers))
        many = time.perf_counter() - started
    return workers * one / many


def job_span(sweep_dir: Path) -> float:
    """Seconds from the first job's first log line to the last job's last (train.log)."""
    stamps = []
    for log in sweep_dir.glob("*/train.log"):
        lines = log.read_text().splitlines()
        for line in (lines[0], lines[-1]):  # "[2026-11-26 21:06:34,352][logger][LEVEL] - ..."
            stamps.append(datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f"))
    return (max(stamps) - min(stamps)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--oversubscribe", action="store_true")
    parser.add_argument(
        "--epochs", type=int, default=None, help="cap train.epochs (default: to EarlyStopping)"
    )
    parser.add_argument("overrides", nargs="*", help="more overrides for every job")
    args = parser.parse_intermixed_args()
    jobs = [*JOBS, *([f"train.epochs={args.epochs}"] if args.epochs else []), *args.overrides]

    cpus = len(os.sched_getaffinity(0))  # as marketcast.runtime.available_cpus counts
    joblib = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"]
    sweeps = {"basic": [], f"joblib n_jobs={args.n_jobs}": joblib}
    if args.oversubscribe:
        sweeps[f"joblib, {cpus} threads/job"] = [*joblib, f"train.threads={cpus}"]
    print(f"8 jobs, {cpus} cores: {' '.join(jobs)}")
    ceiling = parallel_ceiling(args.n_jobs)
    print(f"{args.n_jobs} processes of pure CPU work: {ceiling:.2f}x one (the machine's ceiling)")
    times: dict[str, list[float]] = {name: [] for name in sweeps}
    spans: dict[str, list[float]] = {name: [] for name in sweeps}
    summaries: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for k, (name, launcher) in enumerate(sweeps.items()):
                sweep_dir = Path(tmp) / f"sweep{i}-{k}"
                times[name].append(run_sweep(sweep_dir, launcher, jobs))
                spans[name].append(job_span(sweep_dir))
                summaries[name] = pd.read_csv(sweep_dir / "summary.csv").set_index("job")
                print(
                    f"repeat {i + 1}: {name:<24} {times[name][-1]:6.1f} s "
                    f"(jobs {spans[name][-1]:.1f} s)",
                    flush=True,
                )

    basic, basic_jobs = statistics.median(times["basic"]), statistics.median(spans["basic"])
    print(f"\n{'launcher':<26}{'median s':>9}{'speed-up':>10}{'jobs s':>9}{'speed-up':>10}")
    for name in sweeps:
        total, jobs = statistics.median(times[name]), statistics.median(spans[name])
        print(
            f"{name:<26}{total:>9.1f}{basic / total:>10.2f}{jobs:>9.1f}{basic_jobs / jobs:>10.2f}"
        )
    print(f"machine ceiling, {args.n_jobs} processes of pure CPU work: {ceiling:.2f}x")
    first = summaries["basic"]["val_mase"]
    for name, summary in summaries.items():
        diff = (summary["val_mase"] - first).abs().max()
        print(f"{name}: {len(summary)} jobs, largest val MASE difference to basic {diff:.2e}")


if __name__ == "__main__":
    main()
