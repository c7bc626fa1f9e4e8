"""An 8-job sweep on the joblib launcher (n_jobs=2) against Hydra's basic launcher.

The same 8 real jobs (bundled sample, LSTM units 8/16/32/64 x window 20/30, trained to
EarlyStopping; --epochs N caps them; extra overrides apply to every job, e.g.
evaluation=backtest for 5-fold backtests) run as one `train.py -m` each way; wall time
includes starting Python and TensorFlow, as a user would see it. The basic launcher runs
the jobs one after another in one process, TensorFlow using every core; joblib runs
n_jobs worker processes, each limited to its share of the cores (marketcast.model.runtime).
--oversubscribe adds a joblib sweep whose jobs each take every core
(train.threads=<cores>), to show what the limit is worth. --largest-first lists the
grid's values from the costliest down (units 64..8, window 30/20), so that Hydra hands
out the longest jobs first and the short ones fill the end. Sweeps alternate over
--repeats; the speed-up is basic / joblib wall time. The "jobs" columns time only the
span from the first job's first log line to the last job's last one, leaving out
starting Python and TensorFlow (once, or in every worker), which "start" times: from
launching train.py to the first job's first log line. "CPU" is the user + system time of
the sweep's processes, "cores busy" that CPU time over the wall time, and "of ideal"
compares the wall time with that CPU time spread over every core: what is left is time a
core sat idle (a single process's start, the last job running alone, shutting down). At
the end the basic launcher's seconds per job show which override drives the cost.

    python bench/sweep.py [--repeats 3] [--n-jobs 2] [--epochs N] [--oversubscribe]
    python bench/sweep.py --repeats 2 --largest-first evaluation=backtest
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from marketcast.jobs.sweep import SUMMARY_FILE

ROOT = Path(__file__).resolve().parents[1]
GRID = ["model.units=8,16,32,64", "window.size=20,30"]
GRID_LARGEST_FIRST = ["model.units=64,32,16,8", "window.size=30,20"]
QUIET = ["train.verbose=0", "plots=false"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant
    return usage.ru_utime + usage.ru_stime


def run_sweep(sweep_dir: Path, sweep: list[str], common: list[str]) -> dict[str, float]:
    """Run the sweep; return its wall and CPU seconds and where the wall time went."""
    command = [sys.executable, str(ROOT / "train.py"), "-m", f"hydra.sweep.dir={sweep_dir}"]
    cpu, started_at, started = _children_cpu(), datetime.now(), time.perf_counter()
    result = subprocess.run([*command, *sweep, *common], cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if result.returncode != 0:
        sys.exit(f"sweep failed ({result.returncode}):\n{result.stderr[-3000:]}")
    first, last = job_span(sweep_dir)
    jobs_s = (last - first).total_seconds()
    start_s = (first - started_at).total_seconds()
    return {"wall": wall, "cpu": cpu, "jobs": jobs_s, "start": start_s}


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


def log_bounds(job_dir: Path) -> tuple[datetime, datetime]:
    """The times of a job's first and last log lines (train.log)."""
    lines = (job_dir / "train.log").read_text().splitlines()
    # "[2026-11-26 21:06:34,352][logger][LEVEL] - ..."
    first, last = (
        datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f") for line in (lines[0], lines[-1])
    )
    return first, last


def job_span(sweep_dir: Path) -> tuple[datetime, datetime]:
    """The first job's first log line and the last job's last one."""
    bounds = [log_bounds(log.parent) for log in sweep_dir.glob("*/train.log")]
    return min(first for first, _ in bounds), max(last for _, last in bounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--oversubscribe", action="store_true")
    parser.add_argument(
        "--largest-first",
        action="store_true",
        help="add a joblib sweep of the same jobs, costliest values listed first",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="cap train.epochs (default: to EarlyStopping)"
    )
    parser.add_argument("overrides", nargs="*", help="more overrides for every job")
    args = parser.parse_intermixed_args()
    common = [*QUIET, *([f"train.epochs={args.epochs}"] if args.epochs else []), *args.overrides]

    cpus = len(os.sched_getaffinity(0))  # as marketcast.model.runtime.available_cpus counts
    joblib = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"]
    sweeps = {"basic": [*GRID], f"joblib n_jobs={args.n_jobs}": [*joblib, *GRID]}
    if args.largest_first:
        sweeps["joblib, largest first"] = [*joblib, *GRID_LARGEST_FIRST]
    if args.oversubscribe:
        sweeps[f"joblib, {cpus} threads/job"] = [*joblib, *GRID, f"train.threads={cpus}"]
    print(f"8 jobs, {cpus} cores: {' '.join([*GRID, *common])}")
    ceiling = parallel_ceiling(args.n_jobs)
    print(f"{args.n_jobs} processes of pure CPU work: {ceiling:.2f}x one (the machine's ceiling)")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sweeps}
    summaries: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for k, (name, sweep) in enumerate(sweeps.items()):
                sweep_dir = Path(tmp) / f"sweep{i}-{k}"
                run = run_sweep(sweep_dir, sweep, common)
                runs[name].append(run)
                summary = pd.read_csv(sweep_dir / SUMMARY_FILE)  # job numbers follow the order
                summary["seconds"] = [
                    (last - first).total_seconds()
                    for first, last in (log_bounds(sweep_dir / str(job)) for job in summary["job"])
                ]
                summaries[name] = summary.set_index(["model.units", "window.size"]).sort_index()
                print(
                    f"repeat {i + 1}: {name:<24} {run['wall']:6.1f} s (start {run['start']:.1f} s,"
                    f" jobs {run['jobs']:.1f} s, CPU {run['cpu']:.1f} s)",
                    flush=True,
                )

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    basic, basic_jobs = median("basic", "wall"), median("basic", "jobs")
    print(
        f"\n{'launcher':<26}{'median s':>9}{'speed-up':>9}{'start s':>8}{'jobs s':>8}"
        f"{'speed-up':>9}{'CPU s':>7}{'cores busy':>11}{'of ideal':>9}"
    )
    for name in sweeps:
        wall, jobs, cpu = median(name, "wall"), median(name, "jobs"), median(name, "cpu")
        print(
            f"{name:<26}{wall:>9.1f}{basic / wall:>9.2f}{median(name, 'start'):>8.1f}"
            f"{jobs:>8.1f}{basic_jobs / jobs:>9.2f}{cpu:>7.1f}{cpu / wall:>11.2f}"
            f"{cpu / cpus / wall:>9.0%}"
        )
    print(f"machine ceiling, {args.n_jobs} processes of pure CPU work: {ceiling:.2f}x")
    first = summaries["basic"]["val_mase"]
    for name, summary in summaries.items():
        diff = (summary["val_mase"] - first).abs().max()
        print(f"{name}: {len(summary)} jobs, largest val MASE difference to basic {diff:.2e}")
    seconds = summaries["basic"]["seconds"].unstack("window.size")
    print(f"\nseconds per job on the basic launcher (last repeat), window.size across:\n{seconds}")


if __name__ == "__main__":
    main()
