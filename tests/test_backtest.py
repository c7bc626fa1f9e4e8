"""Walk-forward backtest: fold plans, no look-ahead, and a whole run on tiny data."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import ar1_prices, compose_predict, compose_train, synthetic_prices

from marketcast.config import BacktestConfig
from marketcast.errors import MarketcastError
from marketcast.evaluation.combination import fit_weights, keep_earned
from marketcast.evaluation.forecasts import fit_peers, model_prices, peer_forecasts_and_bands
from marketcast.evaluation.predictions import quantile_column
from marketcast.evaluation.scores import coverage_by_tercile, interval_score_test
from marketcast.evaluation.verdicts import dm_words, p_words, score_test_words
from marketcast.features.dataset import prepare
from marketcast.features.folds import plan_folds
from marketcast.jobs.forecaster import fit_forecaster
from marketcast.jobs.predict import forecast
from marketcast.jobs.train import train


def test_expanding_folds_tile_the_end_of_the_history():
    folds = plan_folds(1000, BacktestConfig(folds=4, test_size=50), min_rows=100, horizon=1)
    assert [f.origin for f in folds] == [800, 850, 900, 950]
    assert all(f.stop == f.origin + 50 and f.start == 0 for f in folds)
    assert folds[-1].stop == 1000
    assert all(f.start < f.val_start < f.origin for f in folds)


def test_rolling_folds_keep_a_fixed_training_length():
    rolling = BacktestConfig(folds=3, test_size=100, scheme="rolling", train_size=300)
    folds = plan_folds(1000, rolling, min_rows=100, horizon=1)
    assert [(f.start, f.origin) for f in folds] == [(400, 700), (500, 800), (600, 900)]


def test_folds_that_leave_too_little_history_are_named():
    with pytest.raises(MarketcastError, match="rows before the first origin"):
        plan_folds(1000, BacktestConfig(folds=50, test_size=30), min_rows=100, horizon=1)


def fit_with_peers(prepared, cfg, peers, past=()):
    """``fit_forecaster`` on one prepared fold, as a run fits it (the validated combination)."""
    return fit_forecaster(
        [prepared],
        cfg.model,
        cfg.train,
        list(cfg.evaluation.interval_levels),
        forecast_cfg=cfg.forecast,
        val_peers=[peers],
        past=past,
    )


def test_folds_too_short_to_score_are_refused_before_any_fold_trains():
    """test_size=2 trained every fold, then crashed writing NaN coverage thirds (exit 1, no
    metrics.json); folds=100 on a short file did the same after 100 fits."""
    with pytest.raises(MarketcastError) as refused:
        plan_folds(1000, BacktestConfig(folds=5, test_size=2), min_rows=100, horizon=1)
    assert str(refused.value) == (
        "evaluation.backtest.test_size=2 gives each fold 2 test rows, 2 origins of "
        "window.horizon=1 steps: a fold's scores need at least 10. Pass "
        "evaluation.backtest.test_size=10 or more, fewer evaluation.backtest.folds, or more data."
    )
    with pytest.raises(MarketcastError, match=r"^evaluation.backtest.folds=100 \(15% of the"):
        plan_folds(1000, BacktestConfig(folds=100), min_rows=100, horizon=1)
    with pytest.raises(MarketcastError, match="test_size=14 or more"):
        plan_folds(1000, BacktestConfig(folds=5, test_size=13), min_rows=100, horizon=5)
    assert len(plan_folds(1000, BacktestConfig(folds=5, test_size=14), 100, horizon=5)) == 5


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_a_combination_component_without_forecasts_is_refused_before_training(
    tmp_path, monkeypatch
):
    """forecast.components asks for ETS, but the past folds' rows have no ETS forecasts: the
    fit stops, naming ETS, before any model trains (it fitted without ETS before)."""
    frame = synthetic_prices(360)
    cfg = compose_train(tmp_path / "run", "model.units=4", "train.epochs=2")
    fold = plan_folds(len(frame), BacktestConfig(folds=3, test_size=40), min_rows=60, horizon=1)[0]
    prepared = prepare(
        frame.iloc[fold.start : fold.stop], cfg.features, cfg.window, fold.segments()
    )
    peers = peer_forecasts_and_bands(prepared, "val", fit_peers(prepared, ["ets"]), 0, None)[0]
    part = prepared.parts["val"]
    no_ets = {"actual": part.actual, "persistence": part.actual, "lstm": part.actual}

    def no_training(*args, **kwargs):
        raise AssertionError("a model was built before the components were checked")

    monkeypatch.setattr("marketcast.jobs.forecaster.build_model", no_training)
    with pytest.raises(MarketcastError, match="includes ets, but 1 of the 2 row sets"):
        fit_with_peers(prepared, cfg, peers, past=[no_ets])


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_fold_never_sees_data_after_its_origin(tmp_path):
    """Perturb everything after the origin: the fold's fitted state (model, ridge, the
    combination's weights and the intervals) does not change, nor does its forecast made
    at the origin."""
    frame = synthetic_prices(360)
    cfg = compose_train(tmp_path / "run", "model.units=4", "train.epochs=2")
    fold = plan_folds(len(frame), BacktestConfig(folds=3, test_size=40), min_rows=60, horizon=1)[0]

    def fit_fold(prices):
        rows = prices.iloc[fold.start : fold.stop]
        prepared = prepare(rows, cfg.features, cfg.window, fold.segments())
        peers = peer_forecasts_and_bands(prepared, "val", fit_peers(prepared, ["ets"]), 0, None)[0]
        fitted = fit_with_peers(prepared, cfg, peers)
        first = prepared.parts["test"]
        return fitted, model_prices(fitted.model, fitted.transform, first)[0]

    before, first_forecast = fit_fold(frame)
    future = frame.copy()
    future.iloc[fold.origin :] *= 1.5
    after, first_forecast_after = fit_fold(future)
    assert before.transform == after.transform
    assert before.intervals == after.intervals
    assert before.weights.names == ("lstm", "ets")
    np.testing.assert_array_equal(before.weights.weights, after.weights.weights)
    for a, b in zip(before.model.get_weights(), after.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(before.ridge.coef_, after.ridge.coef_)
    np.testing.assert_array_equal(first_forecast, first_forecast_after)


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_backtest_run_writes_report_and_predictions(tmp_path):
    prices = tmp_path / "prices.csv"
    synthetic_prices(420).to_csv(prices)
    run_dir = tmp_path / "bt"
    cfg = compose_train(
        run_dir,
        "data=csv",
        f"data.path={prices}",
        "evaluation=backtest",
        "evaluation.backtest.folds=3",
        "evaluation.backtest.refit_every=2",
        "model.units=4",
        "window.horizon=2",
    )
    score = train(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [f["refit"] for f in metrics["folds"]] == [True, False, True]
    # each fold's weights (refitted per refit fold; a fold not refitted keeps the earlier),
    # and what the published forecast takes of them, beside the fitted shares
    first, kept, last = (f["combination"] for f in metrics["folds"])
    assert kept == first and last == metrics["combination"]
    assert last["published"] == (np.asarray(last["weights"]) * (1 - last["shrink"])).tolist()
    assert score == pytest.approx(metrics["val"]["lstm"]["mase"])
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    assert list(predictions.columns[:6]) == ["fold", "origin", "date", "step", "actual", "model"]
    assert {"persistence", "drift", "window_mean", "ridge", "q10", "q90"} <= set(
        predictions.columns
    )
    assert sorted(predictions["fold"].unique()) == [1, 2, 3]
    for fold in metrics["folds"]:  # each fold forecasts only after its own origin
        rows = predictions[predictions["fold"] == fold["fold"]]
        assert (pd.to_datetime(rows["origin"]) >= pd.Timestamp(fold["origin"])).all()
        assert rows["date"].min() == fold["test_start"]
    pooled = (predictions["model"] - predictions["actual"]).abs().mean()
    assert pooled == pytest.approx(metrics["test"]["model"]["mae"], rel=1e-6)
    report = (run_dir / "report.md").read_text()
    assert "Walk-forward backtest" in report and "95% interval" in report
    for fold in (1, 3):  # the refit folds' combinations, in words
        words = metrics["folds"][fold - 1]["combination"]["words"]
        assert f"\n- fold {fold}: {words}.\n" in report
    interval = metrics["test"]["model"]["interval"]
    reference = metrics["test"]["persistence"]["interval"]
    assert f"covers {interval['coverage']:.1%}" in report  # the published band's figures
    assert f"interval score {interval['winkler_pct']:.3f}%" in report
    assert (
        f"GARCH(1,1) band around persistence: 80% interval covers {reference['coverage']:.1%}"
        in (report)
    )
    coverage_p = interval["coverage_test"]["p_value"]  # verdicts in words, from the metrics
    assert f"80%, {p_words(coverage_p)})" in report
    assert f"Interval score, {score_test_words(interval)}." in report
    for name in ("model", "lstm", "ets", "arima"):  # each DM verdict, one line
        assert f"- {dm_words(metrics['test'][name]['dm_vs_persistence'], name)}\n" in report
    # the folds' validation segments overlap: pooled, their days repeat, and a test that
    # takes them as distinct origins called chance differences significant
    val = metrics["val"]
    assert pd.read_csv(run_dir / "val_predictions.csv").duplicated(["origin", "step"]).any()
    assert all(val[name]["dm_vs_persistence"] is None for name in val if name != "persistence")
    assert val["model"]["interval"]["coverage_test"] is None
    assert val["model"]["interval"]["score_vs_reference"] is None
    assert val["model"]["mase"] > 0 and val["model"]["interval"]["coverage"] > 0
    assert metrics["test"]["model"]["interval"]["coverage_test"] is not None  # test: distinct
    # the file holds what the interval verdicts were computed from: they can be audited
    low, high = (quantile_column(q) for q in interval["levels"])
    actual = predictions["actual"].to_numpy().reshape(-1, 2)
    ours, garch = (
        np.stack([predictions[c].to_numpy().reshape(-1, 2) for c in columns], axis=-1)
        for columns in ((low, high), (f"garch_{low}", f"garch_{high}"))
    )
    redone = interval_score_test(actual, ours, garch, interval["nominal"])
    assert redone.statistic == pytest.approx(interval["score_vs_reference"]["statistic"])
    volatility = predictions["volatility"].to_numpy()[::2]
    thirds = coverage_by_tercile(actual, ours[..., 0], ours[..., 1], volatility).mean(axis=1)
    assert thirds == pytest.approx(interval["coverage_by_tercile"])


@pytest.mark.slow  # the figures cost a third of the run (tests/test_plots.py draws each)
def test_a_backtest_run_with_plots_writes_its_figures(tmp_path):
    prices = tmp_path / "prices.csv"
    synthetic_prices(420).to_csv(prices)
    run_dir = tmp_path / "bt"
    overrides = ("data=csv", f"data.path={prices}", "evaluation=backtest", "plots=true")
    train(compose_train(run_dir, *overrides, "evaluation.backtest.folds=3", "window.horizon=2"))
    for figure in ("backtest_forecast.png", "folds.png", "error_per_step.png"):
        assert (run_dir / figure).stat().st_size > 1000


def train_ar1_backtest(tmp_path, *overrides: str):
    """A small 3-fold backtest (h = 2) on AR(1) prices, a move the LSTM can learn a share of;
    returns its run directory."""
    prices = tmp_path / "prices.csv"
    ar1_prices(700, phi=0.4, seed=2).to_csv(prices)
    run_dir = tmp_path / "bt"
    cfg = compose_train(
        run_dir,
        "data=csv",
        f"data.path={prices}",
        "data.exchange=null",
        "evaluation=backtest",
        "evaluation.backtest.folds=3",
        "model.units=8",
        "train.epochs=8",
        "window.size=10",
        "window.horizon=2",
        *overrides,
    )
    train(cfg)
    return run_dir


@pytest.mark.slow  # two 4-fold backtests, 14 s: the default run keeps under 3 minutes on 2 cores
@pytest.mark.parametrize("past_folds", [True, False])
def test_the_last_fold_fits_its_combination_on_the_earlier_folds_test_rows(tmp_path, past_folds):
    """The last fold's weights refit from the run's own files: its later validation rows,
    and (forecast.past_folds) the test rows of the folds before it. Squared loss and no bar
    on the gain (min_improvement=0): the weights fit the noise of these rows, off the
    vertices where the MAE programme's would coincide, so the two row sets tell apart."""
    run_dir = train_ar1_backtest(
        tmp_path,
        "forecast.min_improvement=0",
        "forecast.loss=mse",
        f"forecast.past_folds={str(past_folds).lower()}",
    )
    combination = json.loads((run_dir / "metrics.json").read_text())["combination"]
    assert combination["names"] == ["lstm", "ets"]  # the default components, none dropped
    val = pd.read_csv(run_dir / "val_predictions.csv")
    test = pd.read_csv(run_dir / "test_predictions.csv")
    own = val[(val["fold"] == 3) & (val["use"] == "fit")]
    earlier = test[test["fold"] < 3]

    def refit(rows: pd.DataFrame) -> np.ndarray:
        def wide(name: str) -> np.ndarray:  # -> (B, H), fold by fold
            return np.concatenate(
                [
                    r.pivot(index="origin", columns="step", values=name).to_numpy()
                    for _, r in rows.groupby("fold", sort=True)
                ]
            )

        actual, naive = wide("actual"), wide("persistence")
        components = {n: wide(n) for n in combination["names"]}
        weights = fit_weights(actual, naive, components, loss="mse")
        return keep_earned(weights, actual, naive, components, 0.0).weights

    with_past, alone = refit(pd.concat([own, earlier])), refit(own)
    assert not np.allclose(with_past, alone, atol=1e-3)  # the rows tell the two apart
    expected = with_past if past_folds else alone
    np.testing.assert_allclose(combination["weights"], expected, atol=1e-3)
    fitted_on = f"{own['origin'].nunique()} later validation samples"
    if past_folds:  # the origins of folds 1 and 2 (one row per origin and step)
        fitted_on += f" and {len(earlier) // 2} test samples that earlier folds' models forecast"
    assert combination["fitted_on"] == fitted_on
    assert f"which predict uses), fitted on {fitted_on}: " in (run_dir / "report.md").read_text()


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_predict_publishes_the_last_folds_forecast(tmp_path):
    """predict from a backtest run, at the last test origin, gives the run's own published
    forecast and band there: the last fold's model and weights (fitted with the earlier
    folds' rows), the interval levels adapted through every fold, and the last fold's ETS
    (predict refitted ETS on recent history: the combination had to leave it out here)."""
    run_dir = train_ar1_backtest(
        tmp_path,
        "forecast.min_improvement=0",  # whatever share the rows give, published
    )
    combination = json.loads((run_dir / "metrics.json").read_text())["combination"]
    assert np.asarray(combination["published"]).all()  # both move it away from persistence
    scored = pd.read_csv(run_dir / "test_predictions.csv")
    last = scored[scored["origin"] == scored["origin"].max()]
    out = tmp_path / "forecast.csv"
    as_of = last["origin"].iloc[0]
    predict_cfg = compose_predict(
        f"run_dir={run_dir}", f"as_of={as_of}", f"output={out}", "refresh=never"
    )
    assert forecast(predict_cfg) == 0
    published = pd.read_csv(out)
    for column, expected in (("forecast", "model"), ("q10", "q10"), ("q90", "q90")):
        np.testing.assert_allclose(published[column], last[expected], rtol=1e-6)
