"""Shared fixtures: small synthetic price files, composed configs, the command in a subprocess."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Exchange calendars are kept under $XDG_CACHE_HOME (marketcast.data.calendars): the tests,
# and the commands they start, keep theirs apart from the user's, so that what a home holds
# (an old or damaged file, a read-only folder) changes no result. Matplotlib's font cache
# stays where it was: it follows XDG_CACHE_HOME too, and would be built again (seconds).
_USER_CACHE = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_USER_CACHE, "matplotlib"))
# One folder a session: the processes the tests spawn import this module too (a spawned
# worker imports its test module), and each made a folder of its own that nothing removed.
_CALENDARS = os.environ.get("MARKETCAST_TESTS_CACHE")
_OWN_CALENDARS = _CALENDARS is None
if _OWN_CALENDARS:
    _CALENDARS = tempfile.mkdtemp(prefix="marketcast-tests-cache-")
    os.environ["MARKETCAST_TESTS_CACHE"] = _CALENDARS
os.environ["XDG_CACHE_HOME"] = _CALENDARS

import marketcast.config  # noqa: E402,F401  (registers the schemas)
from marketcast.config import config_dir  # noqa: E402

CONF = config_dir()


def synthetic_prices(
    n: int = 400, seed: int = 0, start: str = "2015-01-02", exchange: str | None = None
) -> pd.DataFrame:
    """A geometric random walk in the common schema (Date index, OHLCV floats), on weekdays
    from ``start``, or on ``exchange``'s sessions (its holidays skipped)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    volume = rng.integers(1_000, 10_000, n).astype(float)
    dates = pd.bdate_range(start, periods=n, name="Date")
    if exchange is not None:
        from marketcast.data.trading_days import next_trading_days

        before = pd.Timestamp(start) - pd.Timedelta(days=1)
        dates = next_trading_days(before, n, exchange).rename("Date")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=dates
    )


def ar1_prices(n: int, phi: float, seed: int = 0) -> pd.DataFrame:
    """Daily bars whose log returns are AR(1) with coefficient ``phi``: a learnable drift."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, 0.01, n)
    returns = np.zeros(n)
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + shocks[t]
    frame = synthetic_prices(n, seed=seed)
    close = 100 * np.exp(np.cumsum(returns))
    frame["Close"] = close
    frame["Open"] = np.concatenate([[close[0]], close[:-1]])  # the previous close
    frame["High"] = np.maximum(frame["Open"], close) * 1.002
    frame["Low"] = np.minimum(frame["Open"], close) * 0.998
    return frame


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    """300 synthetic trading days, shared by every test that only reads them."""
    path = tmp_path_factory.mktemp("data") / "prices.csv"
    synthetic_prices(300).to_csv(path)
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_csv) -> list[str]:
    """Overrides for a tiny training run on ``tiny_csv`` (conf/debug/default.yaml: one epoch)."""
    return ["data=csv", f"data.path={tiny_csv}", "debug=default"]


@pytest.fixture
def saved_runs() -> Iterator[list[Path]]:
    """The process's record of the runs saved whole (``runfiles.finished_here``), cleared
    after the test: the CLI clears it per command, a test that calls a job does not."""
    from marketcast.runfiles import finished_here

    yield finished_here
    finished_here.clear()


@pytest.fixture
def prices_csv(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    synthetic_prices().to_csv(path)
    return path


def compose_train(run_dir: Path, *overrides: str):
    """The real training config, with tiny-run overrides and a temporary run directory."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.run_dir={run_dir}",
                f"paths.output_root={run_dir.parent}",
                "debug=default",
                *overrides,
            ],
        )


def compose_predict(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("predict", overrides=list(overrides))


def compose_fetch(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("fetch", overrides=list(overrides))


def compose_hydra(*overrides: str):
    """The training config with its ``hydra`` node, as a job sees it (launchers, run mode)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


@contextlib.contextmanager
def hydra_job(cfg) -> Iterator[None]:
    """Inside, this process is a Hydra job of ``cfg`` (from ``compose_hydra``)."""
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    try:
        yield
    finally:
        HydraConfig.instance().cfg = None


def run_marketcast(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m marketcast ARGS`` in a fresh process; its output, status and ``pid``.

    ``tests/`` is on its ``PYTHONPATH`` (Hydra callbacks such as ``sweep_probe.JobProbe``);
    ``env`` adds to this process's environment. Each call starts Python, and most start
    TensorFlow: seconds each, so tests that call it are marked slow unless the command
    stops before the job's module is imported (a bad value, a config that does not compose).
    """
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), environ.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [sys.executable, "-m", "marketcast", *args],
        cwd=cwd or ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    result.pid = process.pid  # the driver's pid: a job in another process has another
    return result


def run_in_process(*args: str) -> int:
    """``marketcast ARGS`` in this process, Hydra and all; its exit status.

    The same path as the command (``marketcast.cli.main``) without a new Python and
    TensorFlow, so it costs what the job costs. What Hydra leaves behind is undone: the
    logging handlers it installs on the root logger, ``sys.argv``, ``HYDRA_FULL_ERROR``.
    Exceptions the command would end with (a traceback, status 1) propagate.
    """
    from marketcast import cli

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    argv, full_error = list(sys.argv), os.environ.get("HYDRA_FULL_ERROR")
    # Hydra's logging set-up shuts every handler down, and absl's (imported with
    # TensorFlow) then closes its stream unless that is the sys.stderr of the moment: it
    # is the sys.stderr of its import, pytest's capture file, which must stay open.
    absl = sys.modules.get("absl.logging")
    absl_handler = absl.get_absl_handler().python_handler if absl else None
    absl_stream = absl_handler.setStream(sys.stderr) if absl_handler else None
    try:
        cli.main(list(args))
    except SystemExit as exit:
        return 0 if exit.code is None else int(exit.code)
    finally:
        if absl_stream is not None:
            absl_handler.setStream(absl_stream)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        sys.argv = argv
        # the run's Hydra config (its mode, its overrides): a later test would read them
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().cfg = None
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
    return 0


PROBE = "+hydra.callbacks.probe._target_=sweep_probe.JobProbe"  # tests/sweep_probe.py


def multirun(sweep_dir: Path, tiny_run: list[str], *args: str):
    """``marketcast train -m`` of a tiny run (LSTM(4)) into ``sweep_dir``, in a subprocess.

    ``args`` come last and win: sweeps (``window.size=10,1000``), groups, ``+`` keys.
    """
    return run_marketcast(
        "train", "-m", f"hydra.sweep.dir={sweep_dir}", *tiny_run, "model.units=4", *args
    )


def probes(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/probe.json")}


def refingerprint(run_dir: Path) -> None:
    """Make run.json agree with the files again, as a hand-edited run would be made to."""
    from marketcast.runfiles import DONE_FILE, fingerprint

    marker = json.loads((run_dir / DONE_FILE).read_text())
    for name in marker["files"]:
        marker["files"][name] = fingerprint(run_dir / name)
    (run_dir / DONE_FILE).write_text(json.dumps(marker))


def pytest_unconfigure(config):
    if _OWN_CALENDARS:
        shutil.rmtree(_CALENDARS, ignore_errors=True)


NOBODY = 65534  # the unprivileged user and group of Debian and most Linux systems


@contextlib.contextmanager
def without_write_access(directory: Path) -> Iterator[None]:
    """Inside, this process cannot write in ``directory``: by its mode (0o555), and where the
    tests run as root (CI), which writes through any mode, as the user nobody (effective ids;
    the real ones stay root, to come back)."""
    directory.chmod(0o555)
    as_root = os.geteuid() == 0
    try:
        if as_root:
            os.setegid(NOBODY)
            os.seteuid(NOBODY)
        yield
    finally:
        if as_root:
            os.seteuid(0)
            os.setegid(0)
        directory.chmod(0o755)
