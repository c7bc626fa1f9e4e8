"""The run's figures: which are drawn for which run, and that each is a real PNG."""

import numpy as np
import pandas as pd
import pytest

from marketcast.evaluation import plots
from marketcast.runfiles import PLOT_FILES

PNG = b"\x89PNG\r\n\x1a\n"
HISTORY = {"loss": [0.5, 0.4, 0.35, 0.36], "val_loss": [0.3, 0.25, 0.27, 0.29]}


def predictions(horizon: int, origins: int = 150, seed: int = 0, **keys) -> pd.DataFrame:
    """A test predictions table of a random walk: ``origins`` x ``horizon`` rows."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=origins + horizon + 1)
    price = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
    rows = []
    for i in range(origins):
        last = price[i]
        for step in range(1, horizon + 1):
            actual = price[i + step]
            model = last * (1 + rng.normal(0, 0.002))
            spread = 0.012 * last * np.sqrt(step)
            rows.append(
                {**keys, "origin": dates[i].date(), "date": dates[i + step].date(), "step": step,
                 "actual": actual, "model": model, "persistence": last, "drift": last * 1.0003,
                 "window_mean": price[max(0, i - 20) : i + 1].mean() * 1.05,
                 "ridge": model * 1.001, "ets": last * 0.999,  # a forecaster added later
                 "q10": model - spread, "q90": model + spread}
            )  # fmt: skip
    return pd.DataFrame(rows)


def backtest_predictions(horizon: int) -> tuple[pd.DataFrame, dict]:
    table = predictions(horizon, origins=240)
    table.insert(0, "fold", np.repeat(np.arange(1, 5), 60 * horizon))
    names = ["model", "persistence", "drift", "window_mean", "ridge", "ets"]
    folds = [
        {"fold": k, "test": {n: {"rel_mae": 1.0 + 0.01 * i * k} for i, n in enumerate(names)}}
        for k in range(1, 5)
    ]
    folds[0]["test"]["window_mean"]["rel_mae"] = 4.6  # far off: cut and labelled
    return table, {"folds": folds}


def written(paths) -> set[str]:
    for path in paths:
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000, path
    return {p.name for p in paths}


def test_horizon_1_skips_the_per_step_error_and_the_fan(tmp_path):
    paths = plots.run_plots(tmp_path, predictions(1), {}, HISTORY, "X", False, False)
    assert written(paths) == {
        "test_forecast.png", "coverage.png", "cumulative_loss.png", "loss.png"
    }  # fmt: skip
    assert not (tmp_path / "error_per_step.png").exists()


def test_horizon_5_adds_the_fan_and_the_per_step_error(tmp_path):
    paths = plots.run_plots(tmp_path, predictions(5), {}, HISTORY, "X", False, False)
    assert written(paths) == {
        "test_forecast.png", "fan.png", "coverage.png", "cumulative_loss.png",
        "error_per_step.png", "loss.png",
    }  # fmt: skip


@pytest.mark.parametrize("horizon", [1, 3])
def test_a_backtest_has_folds_and_its_own_forecast_figure(tmp_path, horizon):
    table, metrics = backtest_predictions(horizon)
    paths = plots.run_plots(tmp_path, table, metrics, HISTORY, "X", True, False)
    expected = {"backtest_forecast.png", "coverage.png", "cumulative_loss.png", "folds.png",
                "loss.png"}  # fmt: skip
    if horizon > 1:
        expected |= {"fan.png", "error_per_step.png"}
    assert written(paths) == expected
    # every figure a run draws is one an overwriting run removes first (runfiles.PLOT_FILES):
    # the single split's at h = 5 and the backtest's at h = 3 draw each of them
    single = plots.run_plots(tmp_path / "s", predictions(5), {}, HISTORY, "X", False, False)
    assert written(paths) | written(single) <= set(PLOT_FILES)


def test_a_universe_gets_the_pooled_figures_only(tmp_path):
    table = pd.concat(
        [predictions(2, seed=1, symbol="A"), predictions(2, seed=2, symbol="B")]
    ).reset_index(drop=True)
    table.loc[table["symbol"] == "B", ["actual", "model", "persistence", "q10", "q90"]] *= 50
    paths = plots.run_plots(tmp_path, table, {}, HISTORY, "universe", False, True)
    assert written(paths) == {
        "coverage.png", "cumulative_loss.png", "error_per_step.png", "loss.png"
    }  # fmt: skip


def test_interval_pairs_and_forecasters_are_read_from_the_columns():
    table = predictions(1, origins=3).assign(q2_5=0.0)
    table["q2.5"], table["q97.5"] = 0.0, 1.0
    assert plots.interval_pairs(table) == [("q2.5", "q97.5", pytest.approx(0.95)),
                                           ("q10", "q90", pytest.approx(0.8))]  # fmt: skip
    assert plots.forecasters(table.drop(columns="q2_5")) == [
        "model", "persistence", "drift", "window_mean", "ridge", "ets"
    ]  # fmt: skip


def test_loss_without_validation_and_without_history(tmp_path):
    plots.plot_loss({"loss": [1.0, 0.5]}, "X", tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG
    paths = plots.run_plots(tmp_path, predictions(1, origins=80), {}, {}, "X", False, False)
    assert "loss.png" not in {p.name for p in paths}
