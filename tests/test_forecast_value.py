"""The published forecast earns its place: the validated combination on data with and without
something to learn, and what predict publishes equals what the run scored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ar1_prices, compose_predict, compose_train, synthetic_prices

from marketcast.config import ForecastConfig
from marketcast.evaluation import intervals as intervals_module
from marketcast.evaluation.combination import fit_weights, keep_earned
from marketcast.jobs import predict as predict_module
from marketcast.jobs.predict import forecast
from marketcast.jobs.train import train


def train_on(frame: pd.DataFrame, run_dir: Path, *overrides: str) -> dict:
    csv = run_dir.parent / f"{run_dir.name}.csv"
    frame.to_csv(csv)
    cfg = compose_train(
        run_dir,
        "data=csv",
        f"data.path={csv}",
        "data.exchange=null",
        "model.units=16",
        "train.epochs=30",
        "train.patience=5",
        "window.size=20",
        *overrides,
    )
    train(cfg)
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_the_lstm_gets_most_of_the_move_where_returns_are_predictable(tmp_path):
    metrics = train_on(ar1_prices(3000, phi=0.3), tmp_path / "ar1")
    combination = metrics["combination"]
    weights = dict(zip(combination["names"], combination["weights"][0], strict=True))
    assert weights["lstm"] > 0.5, metrics["combination"]["words"]
    assert metrics["test"]["model"]["rel_mae"] < 1.0
    assert metrics["test"]["model"]["dm_vs_persistence"]["statistic"] < 0
    # a user can refit the published weights from the run's own validation rows
    val = pd.read_csv(tmp_path / "ar1" / "val_predictions.csv")
    rows = val[val["use"] == "fit"]

    def wide(name: str) -> np.ndarray:
        return rows.pivot(index="origin", columns="step", values=name).to_numpy()

    components = {n: wide(n) for n in combination["names"]}
    refitted = fit_weights(wide("actual"), wide("persistence"), components)
    bar = ForecastConfig().min_improvement
    refitted = keep_earned(refitted, wide("actual"), wide("persistence"), components, bar)
    np.testing.assert_allclose(refitted.weights, combination["weights"], atol=1e-3)


@pytest.mark.slow
def test_the_combination_is_persistence_on_a_random_walk(tmp_path):
    metrics = train_on(ar1_prices(3000, phi=0.0, seed=5), tmp_path / "walk")  # no drift either
    weights = np.asarray(metrics["combination"]["weights"])
    assert weights.sum() < 0.3, metrics["combination"]["words"]


@pytest.mark.parametrize(
    "combine",
    # over 5 s on 2 cores: CI's second stage runs both (test_pipeline's
    # test_predict_repeats_the_run_forecast_for_the_same_window is the default suite's)
    [pytest.param(c, marks=pytest.mark.slow) for c in ("none", "validated")],
)
def test_predict_publishes_what_the_run_scored(tmp_path, monkeypatch, caplog, combine):
    """Save -> load -> predict at the last test origin, and at one inside the test segment,
    gives the run's own forecast and band there: the earlier one replays the adaptive
    levels from the test segment's checkpoint before it, not from its end (which has seen
    later outcomes). Checkpoints every 20 origins and a 25-origin replay cap stand in for
    the defaults (200, 250) on a test segment this short; with a 5-origin cap the replay
    falls short and says so.

    Exact wherever the combination does not lean on ETS, which predict refits on each
    symbol's recent history (here the weights leave ETS out or are all zero).
    """
    monkeypatch.setattr(intervals_module, "CHECKPOINT_EVERY", 20)
    monkeypatch.setattr(predict_module, "MAX_REPLAY", 25)
    run_dir = tmp_path / "run"
    metrics = train_on(
        synthetic_prices(500, seed=2),
        run_dir,
        f"forecast.combine={combine}",
        "train.epochs=2",
        "evaluation.peers.ets=false",  # the combination's ETS with it
        "evaluation.intervals.adapt_rate=0.05",  # levels that move visibly within the test
    )
    assert ("combination" in metrics) == (combine == "validated")
    scored = pd.read_csv(run_dir / "test_predictions.csv")
    origins = np.sort(scored["origin"].unique())
    assert len(origins) > 60  # the middle origin is more than MAX_REPLAY from the start
    last = scored[scored["origin"] == origins[-1]]
    middle = scored[scored["origin"] == origins[len(origins) // 2]]
    widths = [(o["q90"] - o["q10"]) / o["model"] for o in (middle, last)]
    assert not np.allclose(*widths, rtol=1e-3)  # the levels did move between the two

    def publish(expected: pd.DataFrame, name: str) -> pd.DataFrame:
        out = tmp_path / f"{name}.csv"
        as_of = expected["origin"].iloc[0]
        cfg = compose_predict(
            f"run_dir={run_dir}", f"as_of={as_of}", f"output={out}", "refresh=never"
        )
        assert forecast(cfg) == 0
        return pd.read_csv(out)

    for name, expected in (("last", last), ("middle", middle)):
        with caplog.at_level("WARNING", logger="marketcast"):
            published = publish(expected, name)
        np.testing.assert_allclose(published["forecast"], expected["model"], rtol=1e-6)
        np.testing.assert_allclose(published["q10"], expected["q10"], rtol=1e-6)
        np.testing.assert_allclose(published["q90"], expected["q90"], rtol=1e-6)
    assert "replays fewer outcomes" not in caplog.text
    monkeypatch.setattr(predict_module, "MAX_REPLAY", 5)
    with caplog.at_level("WARNING", logger="marketcast"):
        capped = publish(middle, "capped")
    assert "1 symbol: the interval replays fewer outcomes than happened" in caplog.text
    assert not np.allclose(capped["q10"], middle["q10"], rtol=1e-6)
