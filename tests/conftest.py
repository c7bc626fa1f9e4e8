"""Shared fixtures: small synthetic price files and composed configs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import marketcast.config  # noqa: E402,F401  (registers the schemas)
from marketcast.cli import config_dir  # noqa: E402

CONF = config_dir()


def synthetic_prices(n: int = 400, seed: int = 0, start: str = "2015-01-02") -> pd.DataFrame:
    """A geometric random walk in the common schema (Date index, OHLCV floats)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    volume = rng.integers(1_000, 10_000, n).astype(float)
    dates = pd.bdate_range(start, periods=n, name="Date")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=dates
    )


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
