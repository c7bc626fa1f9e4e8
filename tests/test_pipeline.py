"""The composed config, end to end on tiny data: train.py's job, then predict.py's."""

import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import (
    ar1_prices,
    compose_hydra,
    compose_predict,
    compose_train,
    hydra_job,
    refingerprint,
    run_in_process,
    run_marketcast,
    synthetic_prices,
)
from omegaconf import OmegaConf

from marketcast.errors import MarketcastError
from marketcast.evaluation.verdicts import dm_words, interval_words
from marketcast.jobs.predict import forecast
from marketcast.jobs.train import train
from marketcast.storage import artifacts

RUN_FILES = {
    "model.keras",
    "preprocessing.json",
    "metrics.json",
    "config.yaml",
    "test_predictions.csv",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny training run shared by the tests below."""
    tmp = tmp_path_factory.mktemp("runs")
    prices = tmp / "prices.csv"
    synthetic_prices(400).to_csv(prices)
    run_dir = tmp / "run"
    cfg = compose_train(
        run_dir, "data=csv", f"data.path={prices}", "window.horizon=2", "plots=true"
    )
    score = train(cfg)
    return cfg, run_dir, score, prices


def test_train_writes_a_complete_run(trained):
    _, run_dir, score, _ = trained
    assert RUN_FILES | {"test_forecast.png", "loss.png"} <= {p.name for p in run_dir.iterdir()}
    # the single split's report: what the printed lines say, kept with the run
    report = (run_dir / "report.md").read_text()
    test = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert report.startswith("# prices\n") and "## Test segment" in report
    # every forecaster's verdict in words: drift, window mean and ridge had theirs only in
    # metrics.json
    for name in ("model", "lstm", "ets", "arima", "drift", "window_mean", "ridge"):
        assert f"- {dm_words(test[name]['dm_vs_persistence'], name)}\n" in report
    assert "GARCH(1,1) band around persistence" in report and "Per fold" not in report
    step_two = test["lstm"]["per_step"][1]["dm_vs_persistence"]  # horizon 2: per step too
    assert f"- step 2, {dm_words(step_two, 'lstm')}\n" in report
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for segment in ("val", "test"):
        for forecaster in ("model", "persistence", "drift", "window_mean", "ridge"):
            row = metrics[segment][forecaster]
            assert {"mae", "rmse", "mape", "mase", "direction_accuracy", "rel_mae"} <= set(row)
            assert len(row["per_step"]) == 2  # horizon 2: metrics per step too
        interval = metrics[segment]["model"]["interval"]
        assert interval["nominal"] == pytest.approx(0.8) and 0 <= interval["coverage"] <= 1
    assert score == pytest.approx(metrics["val"]["lstm"]["mase"])  # the network: what sweeps rank
    assert metrics["test"]["persistence"]["rel_mae"] == 1.0
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    interval = metrics["test"]["model"]["interval"]  # each origin counts once in its tests
    origins = predictions["origin"].nunique()
    assert interval["coverage_test"]["n"] == origins and interval["coverage_test"]["p_value"] > 0
    assert interval["score_vs_reference"]["band"] == "garch"
    assert interval["score_vs_reference"]["n"] == origins
    assert list(predictions.columns) == [
        "origin",
        "date",
        "step",
        "actual",
        "model",
        "lstm",
        "persistence",
        "drift",
        "window_mean",
        "ridge",
        "ets",
        "arima",
        "q10",
        "q90",
        "garch_q10",  # the band the published one is scored against, and what ranks the
        "garch_q90",  # origins into coverage thirds: the verdicts can be recomputed
        "ets_q10",  # the peers' own intervals, scored beside it
        "ets_q90",
        "arima_q10",
        "arima_q90",
        "volatility",
    ]
    for peer, said in (("ets", "AutoETS"), ("arima", "AutoARIMA")):
        own = metrics["test"][peer]["interval"]
        inside = predictions[peer + "_q10"].le(predictions["actual"]) & predictions["actual"].le(
            predictions[peer + "_q90"]
        )
        assert own["coverage"] == pytest.approx(inside.mean())
        assert (predictions[peer + "_q10"] < predictions[peer]).all()
        assert f"{said}'s own interval: {interval_words(own)}." in report
    assert set(predictions["step"]) == {1, 2}
    # validation: every forecast, the rows that decided early stopping and those that fitted
    # the combination and the intervals (evaluation.stop_share 0.5) marked, and between
    # them horizon - 1 = 1 origin whose targets overlap the last stopping origin's
    val = pd.read_csv(run_dir / "val_predictions.csv")
    assert list(val.columns) == ["use", *predictions.columns]
    uses = val.drop_duplicates("origin")["use"].tolist()
    stop, fit = uses.count("stop"), uses.count("fit")
    assert uses == ["stop"] * stop + ["gap"] + ["fit"] * fit
    assert abs(stop - (fit + 1)) <= 1
    assert (val["model"] - val["actual"]).abs().mean() == pytest.approx(
        metrics["val"]["model"]["mae"], rel=1e-5
    )
    assert (predictions["q10"] <= predictions["q90"]).all()
    prep = json.loads((run_dir / "preprocessing.json").read_text())["transform"]
    assert prep["features"] == ["Close", "Open", "High"] and prep["window"] == 10
    assert prep["representation"] == "relative"


def test_test_predictions_match_the_reported_metrics(trained):
    _, run_dir, _, _ = trained
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    mae = (predictions["model"] - predictions["actual"]).abs().mean()
    assert mae == pytest.approx(metrics["test"]["model"]["mae"], rel=1e-5)
    persistence_mae = (predictions["persistence"] - predictions["actual"]).abs().mean()
    assert persistence_mae == pytest.approx(metrics["test"]["persistence"]["mae"], rel=1e-5)
    for h, step in enumerate(metrics["test"]["lstm"]["per_step"], start=1):  # horizon 2
        rows = predictions[predictions["step"] == h]
        errors = {c: (rows[c] - rows["actual"]).abs().mean() for c in ("lstm", "persistence")}
        assert step["rel_mae"] == pytest.approx(errors["lstm"] / errors["persistence"], rel=1e-5)
        assert step["skill"] == pytest.approx(1 - step["rel_mae"])


@pytest.mark.slow  # a whole training run or more; moved out of the 3-minute default suite
def test_same_seed_same_metrics(trained, tmp_path):
    _, run_dir, score, prices = trained
    again = compose_train(tmp_path / "again", "data=csv", f"data.path={prices}", "window.horizon=2")
    assert train(again) == score
    first, second = (
        json.loads((d / "metrics.json").read_text()) for d in (run_dir, tmp_path / "again")
    )
    assert first.pop("run_id") != second.pop("run_id")  # two runs, the same metrics
    assert first == second


def test_save_load_predict_is_identical(trained):
    _, run_dir, _, _ = trained
    model, prep = artifacts.load_run(run_dir)
    shape = (4, prep.transform.window, len(prep.transform.features))
    x = np.random.default_rng(0).normal(size=shape)
    x = x.astype("float32")
    # compile=False as load_run: a compiled model would predict through XLA (the saved
    # compile config's), which rounds float32 differently
    original = keras.saving.load_model(run_dir / "model.keras", compile=False)
    for loaded, saved in zip(model.get_weights(), original.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, saved)
    np.testing.assert_array_equal(model.predict_on_batch(x), original.predict_on_batch(x))


def predict(tmp_path, *overrides) -> pd.DataFrame:
    """Run predict.py's job; expect every symbol forecast; return the written table."""
    out = tmp_path / "forecast.csv"
    assert forecast(compose_predict(*overrides, f"output={out}")) == 0
    return pd.read_csv(out)


def test_predict_writes_the_next_trading_days(trained, tmp_path, capsys):
    _, run_dir, _, prices = trained
    written = predict(tmp_path, f"run_dir={run_dir}")
    assert capsys.readouterr().out.rstrip().endswith("\n1 of 1 symbol forecast")  # not symbols
    assert list(written.columns) == [
        "symbol",
        "as_of",
        "target_date",
        "step",
        "forecast",
        "q10",
        "q90",
        "run_dir",
    ]
    assert (written["q10"] < written["forecast"]).all()
    assert (written["forecast"] < written["q90"]).all()
    # a CSV run's label in the store's spelling, upper case as FinanceDataReader's symbols:
    # runs labelled aapl and AAPL wrote two keys for what predict held to be one symbol
    assert set(written["symbol"]) == {"PRICES"}
    typed = predict(tmp_path / "typed", f"run_dir={run_dir}", "symbols=[prices]")
    assert set(typed["symbol"]) == {"PRICES"}  # whichever spelling a night types
    last = pd.read_csv(prices)["Date"].iloc[-1]
    assert (written["as_of"] == last).all()
    assert list(written["step"]) == [1, 2]
    dates = pd.to_datetime(written["target_date"])
    assert (dates > pd.Timestamp(last)).all() and (dates.dt.day_of_week < 5).all()


def test_predict_repeats_the_run_forecast_for_the_same_window(trained, tmp_path):
    """predict.py rebuilds the inputs exactly as training did: as_of = a test origin."""
    _, run_dir, _, _ = trained
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    rows = predictions.iloc[-2:]  # the last origin, steps 1 and 2
    table = predict(tmp_path, f"run_dir={run_dir}", f"as_of={rows['origin'].iloc[0]}")
    for step in (0, 1):  # step 2's band: the GARCH variance reverting (step_persistence)
        for ours, theirs in (("forecast", "model"), ("q10", "q10"), ("q90", "q90")):
            assert table[ours].iloc[step] == pytest.approx(rows[theirs].iloc[step], rel=1e-5)


def test_an_as_of_before_the_runs_first_day_is_named_so(trained, tmp_path, capsys):
    """It was called a gap in the data: "no prices from 2022-01-01 to 2021-06-01, though
    they run from 1990-09-11 to 2025-06-16"."""
    _, run_dir, _, prices = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    state = json.loads((copy / "preprocessing.json").read_text())
    dates = pd.read_csv(prices)["Date"]
    state["data"]["start"] = start = dates.iloc[100]
    _rewrite_state(copy, state)
    out = tmp_path / "forecast.csv"
    cfg = compose_predict(f"run_dir={copy}", f"as_of={dates.iloc[50]}", f"output={out}")
    assert forecast(cfg) == 4  # nothing forecast
    assert (
        f"  PRICES: as_of={dates.iloc[50]} is before the run's data.start={start}, the first "
        "day it reads prices from: pass a later as_of.\n"
    ) in capsys.readouterr().out


def test_an_as_of_ahead_of_today_counts_only_the_sessions_that_have_closed():
    """as_of a week ahead, on a cache up to date: 'stale prices: 5 sessions before' and
    advice to refresh a cache that could hold nothing newer (exit 4)."""
    from marketcast.config import DataConfig
    from marketcast.jobs.predict import _check_fresh

    cfg = compose_predict()
    data = DataConfig(source="fdr", symbol="AAPL")
    now = pd.Timestamp("2025-11-27 12:00", tz="UTC")  # Thanksgiving: NYSE closed on 11-26
    last = pd.Timestamp("2025-11-26")
    ahead = pd.Timestamp("2025-12-02")  # 11-28, 12-01 and 12-02 have not happened yet
    assert _check_fresh(last, ahead, data, "XNYS", cfg, now) == (last, 0, None)
    later = pd.Timestamp("2025-12-02 22:00", tz="UTC")  # they have now: 3 behind, warned
    assert _check_fresh(last, ahead, data, "XNYS", cfg, later) == (ahead, 3, None)


def _rewrite_state(run_dir, state: dict) -> None:
    """Give a finished run the preprocessing.json ``state``, run.json made to agree (a run
    whose files changed after it finished is refused as damaged)."""
    (run_dir / "preprocessing.json").write_text(json.dumps(state))
    refingerprint(run_dir)


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_predict_repeats_the_run_forecast_where_ets_has_a_share(tmp_path, caplog):
    """predict refitted ETS on each symbol's last 500 rows where the run had forecast from
    the ETS it fitted on the training rows: with ETS weighted, its forecast at a test origin
    was not the run's (0.06% off on an AR(1) series, where ETS finds a damped trend; the
    interval with it). The run's combination is given ETS 0.6 of its move here, so that the
    published forecast is persistence + 0.6 (ets - persistence) with the run's own ETS
    column, at the first test origin and the last."""
    prices = tmp_path / "prices.csv"
    ar1_prices(400, phi=0.3).to_csv(prices)
    run_dir = tmp_path / "run"
    train(
        compose_train(
            run_dir, "data=csv", f"data.path={prices}", "window.horizon=2", "train.epochs=1"
        )
    )
    state = json.loads((run_dir / "preprocessing.json").read_text())
    combination = state["combination"]
    assert combination["names"] == ["lstm", "ets"] and list(combination["peers"]) == ["prices"]
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    saved_on = [day for day, _ in combination["peers"]["prices"]["ets"]["checkpoints"]]
    assert saved_on[1] == predictions["origin"].iloc[-1]  # the run's last origin
    combination.update(weights=[[0.0, 0.6], [0.0, 0.6]], shrink=0.0)
    _rewrite_state(run_dir, state)
    for origin in (predictions["origin"].iloc[0], predictions["origin"].iloc[-1]):
        rows = predictions[predictions["origin"] == origin]
        table = predict(tmp_path, f"run_dir={run_dir}", f"as_of={origin}")
        published = rows["persistence"] + 0.6 * (rows["ets"] - rows["persistence"])
        np.testing.assert_allclose(table["forecast"], published, rtol=1e-9)
    # an as_of in the training rows, before either saved day: refitted, and said why
    with caplog.at_level("WARNING", logger="marketcast"):
        predict(tmp_path, f"run_dir={run_dir}", "as_of=2015-06-01")
    assert f"is before the day the run's ETS was fitted to ({saved_on[0]}); ETS refitted" in (
        caplog.text
    )


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_predict_says_where_an_arima_share_makes_it_differ_from_the_run(tmp_path, caplog):
    """A run keeps no ARIMA state: predict refits ARIMA on recent rows, and its forecast at
    a test origin was 0.1% off the run's where ARIMA had a share, with nothing said."""
    prices = tmp_path / "prices.csv"
    ar1_prices(400, phi=0.3).to_csv(prices)
    run_dir = tmp_path / "run"
    train(
        compose_train(
            run_dir, "data=csv", f"data.path={prices}", "train.epochs=1",
            "forecast.components=[lstm,arima]",
        )
    )  # fmt: skip
    state = json.loads((run_dir / "preprocessing.json").read_text())
    assert state["combination"]["names"] == ["lstm", "arima"]
    with caplog.at_level("WARNING", logger="marketcast"):
        predict(tmp_path, f"run_dir={run_dir}")
    assert "ARIMA" not in caplog.text  # no share: nothing refitted, nothing said
    state["combination"].update(weights=[[0.0, 0.6]], shrink=0.0)
    _rewrite_state(run_dir, state)
    with caplog.at_level("WARNING", logger="marketcast"):
        predict(tmp_path / "shared", f"run_dir={run_dir}")
    assert f"the run {run_dir} gives ARIMA a share of the forecast" in caplog.text
    assert caplog.text.count("predict refits ARIMA on the last") == 1


def test_predict_finds_the_latest_run(trained, tmp_path):
    _, run_dir, _, _ = trained
    table = predict(tmp_path, f"paths.output_root={run_dir.parent}")
    assert table["run_dir"].iloc[0] == str(run_dir)


@pytest.mark.slow  # 6 s: a whole training run of the sequence head
def test_sequence_head_trains_and_forecasts(prices_csv, tmp_path):
    run_dir = tmp_path / "seq"
    train(
        compose_train(
            run_dir,
            "data=csv",
            f"data.path={prices_csv}",
            "model=lstm_sequence",
            "window.horizon=3",
        )
    )
    assert len(predict(tmp_path, f"run_dir={run_dir}")) == 3


def test_run_dir_without_artifacts_is_named(tmp_path):
    with pytest.raises(MarketcastError, match="has no finished run"):
        forecast(compose_predict(f"run_dir={tmp_path}", f"output={tmp_path / 'f.csv'}"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["window.size=0"], "window.size=0 must be at least 3"),
        (["data=csv", "data.path=/nonexistent/prices.csv"], "does not exist"),
    ],
)
def test_train_cli_bad_input_exits_cleanly(tmp_path, overrides, message, capsys):
    run_dir = tmp_path / "run"
    status = run_in_process("train", f"hydra.run.dir={run_dir}", *overrides)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1  # one message, no traceback
    assert not run_dir.exists()  # nothing half-written


def test_predict_without_runs_exits_cleanly(tmp_path, capsys):
    """The command in this process (a subprocess would start TensorFlow: seconds)."""
    status = run_in_process(
        "predict", f"paths.output_root={tmp_path}", f"hydra.run.dir={tmp_path / 'p'}"
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "no finished training run" in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_predict_cli_without_runs_exits_cleanly(tmp_path):
    result = run_marketcast(
        "predict", f"paths.output_root={tmp_path}", f"hydra.run.dir={tmp_path / 'p'}"
    )
    assert result.returncode == 2
    assert "no finished training run" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", "train.epoch is not a config key (a typo?): did you mean train.epochs?"),
        ("windw.size=30", "windw is not a config key (a typo?): did you mean window? the top"),
        ("hydra.run.dri=x", "hydra.run.dri is not a config key (a typo?): did you mean hydra.run"),
        ("features.columns=[Close,Opn]", "Invalid value 'Opn', expected one of"),
        # OmegaConf fails on these with errors Hydra does not wrap (a traceback before)
        ("logger.mlflow.tracking_uri=x", "logger.mlflow is not set (null); choose it first"),
        ("data.symbols.x=1", "data.symbols is a list; set it whole, data.symbols=[...]"),
    ],
)
def test_train_cli_typo_fails_at_composition_naming_the_key(tmp_path, override, message, capsys):
    status = run_in_process("train", f"hydra.run.dir={tmp_path / 'r'}", override)
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert "+" not in err  # not Hydra's advice to add the key, which the checks refuse
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # 9-12 s: trains several models
def test_predict_intervals_learn_from_the_outcomes_since_training(tmp_path):
    """Prices after the run's data that jump far outside every band: the adaptive run's
    published band widens against a frozen twin's, beyond what it was at training's end."""
    frame = synthetic_prices(400)
    end = frame.index[329]
    wild = frame.copy()
    rng = np.random.default_rng(1)
    shocks = np.exp(np.cumsum(rng.choice([-0.06, 0.06], 70)))  # 6% a day, every day
    wild.iloc[330:, :4] = frame.iloc[[329]].to_numpy()[:, :4] * shocks[:, None]
    prices = tmp_path / "prices.csv"
    wild.to_csv(prices)

    def width(rate: float, as_of) -> float:
        run_dir = tmp_path / f"run-{rate}"
        if not run_dir.exists():
            train(
                compose_train(
                    run_dir,
                    "data=csv",
                    f"data.path={prices}",
                    f"data.end={end.date()}",
                    "debug=default",
                    f"evaluation.intervals.adapt_rate={rate}",
                )
            )
        row = predict(tmp_path, f"run_dir={run_dir}", f"as_of={as_of.date()}").iloc[0]
        return (row["q90"] - row["q10"]) / row["forecast"]

    at_end = width(0.05, end) / width(0.0, end)
    later = width(0.05, wild.index[-1]) / width(0.0, wild.index[-1])
    assert later > 1.2 * at_end


def test_predict_before_the_test_segment_warns_about_its_interval(trained, tmp_path, caplog):
    _, run_dir, _, _ = trained
    scored = pd.read_csv(run_dir / "test_predictions.csv")
    first = scored["origin"].min()
    with caplog.at_level("WARNING", logger="marketcast"):
        predict(tmp_path, f"run_dir={run_dir}", f"as_of={first}")
    assert "before the run's test segment" not in caplog.text  # its levels are saved
    earlier = (pd.Timestamp(first) - pd.Timedelta(days=30)).date()  # a validation origin
    with caplog.at_level("WARNING", logger="marketcast"):
        predict(tmp_path, f"run_dir={run_dir}", f"as_of={earlier}")
    assert "1 symbol forecast before the run's test segment" in caplog.text


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_ewma_leaves_the_garch_settings_aside_and_both_keep_step_rates(
    trained, tmp_path, tiny_run, caplog
):
    """The default step_persistence, shrink and variance_ratio shape GARCH bands only:
    volatility=ewma trains and saves none (and says so), where the default gjr run saves
    the configured ones. Both save the configured step_rates (the adaptation applies to
    either band)."""
    _, prep = artifacts.load_run(trained[1])
    assert prep.intervals.volatility == "gjr" and prep.intervals.step_persistence == 0.9
    assert prep.intervals.shrink == 0.2 and prep.intervals.variance_ratio == 1.0
    assert prep.intervals.step_rates == "inverse"
    run_dir = tmp_path / "ewma"
    overrides = ("window.horizon=2", "evaluation.intervals.volatility=ewma")
    with caplog.at_level("INFO", logger="marketcast"):
        train(compose_train(run_dir, *tiny_run, *overrides))
    said = "shrink, step_persistence and variance_ratio (GARCH scales only) are not used"
    assert said in caplog.text
    _, prep = artifacts.load_run(run_dir)
    assert prep.intervals.volatility == "ewma" and prep.intervals.step_persistence is None
    assert prep.intervals.shrink == 0.0 and prep.intervals.variance_ratio == 0.0
    assert prep.intervals.step_rates == "inverse"


def test_a_bug_is_one_line_naming_the_job_log_which_holds_the_traceback(
    tmp_path, monkeypatch, capsys
):
    """Not a user error: exit 1, one stderr line that says so and names the job's log, and
    the traceback in that log (README, "Exit status"), not on the console too. An error of
    several lines (SQLAlchemy's add the statement and a link) is said by its first."""
    import marketcast.jobs.store

    def broken(cfg):
        raise ZeroDivisionError("boom\n[SQL: SELECT 1]\n(Background on this error at: x)")

    monkeypatch.setattr(marketcast.jobs.store, "store", broken)
    run_dir = tmp_path / "run"
    status = run_in_process(
        "store", "history", f"store.dir={tmp_path / 'store'}", f"hydra.run.dir={run_dir}"
    )
    out, err = capsys.readouterr()
    log_file = run_dir / "store.log"
    assert status == 1, err
    assert err.strip().splitlines() == [
        "error: unexpected ZeroDivisionError: boom (a bug, not your input: the traceback is "
        f"in {log_file}; please report it)"
    ]
    assert "unexpected error" in out and "Traceback" not in out and "[SQL" not in out
    logged = log_file.read_text()
    assert "Traceback (most recent call last)" in logged
    assert "raise ZeroDivisionError(" in logged and "[SQL: SELECT 1]" in logged


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_combination_fitted_on_few_samples_is_warned_about(tmp_path, tiny_run, caplog):
    """300 days: the default split leaves about 20 later validation samples to fit the
    combination on, a long validation segment over 100."""
    with caplog.at_level("WARNING", logger="marketcast"):
        train(compose_train(tmp_path / "short", *tiny_run))
    assert "the combination is fitted on" in caplog.text and "(fewer than 100)" in caplog.text
    caplog.clear()
    long_validation = ("split.train=0.15", "split.val=0.7", "split.test=0.15")
    with caplog.at_level("WARNING", logger="marketcast"):
        train(compose_train(tmp_path / "long", *tiny_run, *long_validation))
    assert "the combination is fitted on" not in caplog.text
    # a handful of samples: no share is fitted at all (one gave the LSTM all of its move)
    train(compose_train(tmp_path / "few", *tiny_run, "evaluation.stop_share=0.8"))
    combination = json.loads((tmp_path / "few" / "metrics.json").read_text())["combination"]
    assert "too few to fit any share (fewer than 20)" in combination["fitted_on"]
    assert combination["words"].endswith("(the combination is persistence)")
    published = pd.read_csv(tmp_path / "few" / "test_predictions.csv")
    assert (published["model"] == published["persistence"]).all()


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_volume_missing_in_older_rows_costs_a_close_run_no_rows(tmp_path, caplog):
    """The default features do not read Volume: rows that lack it are trained on."""
    prices = synthetic_prices(400)
    prices.loc[prices.index[:150], "Volume"] = np.nan  # a source that gives it since 2015-08
    path = tmp_path / "prices.csv"
    prices.to_csv(path)
    with caplog.at_level("INFO", logger="marketcast"):
        train(compose_train(tmp_path / "run", "data=csv", f"data.path={path}"))
    tested = pd.read_csv(tmp_path / "run" / "test_predictions.csv")
    # The test segment is the last 15% of all 400 rows (row 340 on), not of the 250 with Volume.
    assert tested["date"].iloc[0] == str(prices.index[340].date())
    assert "150 rows without Volume kept (first 2015-01-02; Volume left out: not used)" in (
        caplog.text
    )
    assert "in a sweep" not in caplog.text
    caplog.clear()
    # A job of a sweep over features.columns says that other jobs may keep other rows.
    sweep = compose_hydra("hydra.mode=MULTIRUN", "features.columns=[Close,Open,High]")
    with hydra_job(sweep), caplog.at_level("WARNING"):
        train(compose_train(tmp_path / "job", "data=csv", f"data.path={path}"))
    assert "Volume left out (this job does not use it" in caplog.text
    assert "a job of this sweep that uses it keeps fewer rows" in caplog.text
    assert "set split.val_start and split.test_start" in caplog.text


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_relative_csv_path_is_read_from_where_training_ran(tmp_path, monkeypatch, caplog):
    """A cron job's working directory is not the one training ran in: the run keeps its
    file's absolute path, not whatever ``prices.csv`` the night's directory holds."""
    trained_in, cron = tmp_path / "research", tmp_path / "cron"
    for folder, start in ((trained_in, "2015-01-02"), (cron, "2019-01-02")):
        folder.mkdir()
        synthetic_prices(300, start=start).to_csv(folder / "prices.csv")
    monkeypatch.chdir(trained_in)
    run_dir = tmp_path / "run"
    train(compose_train(run_dir, "data=csv", "data.path=prices.csv"))
    saved = json.loads((run_dir / "preprocessing.json").read_text())["data"]["path"]
    assert saved == str(trained_in / "prices.csv")
    monkeypatch.chdir(cron)
    with caplog.at_level("WARNING", logger="marketcast"):
        written = predict(tmp_path, f"run_dir={run_dir}")
    last = pd.read_csv(trained_in / "prices.csv")["Date"].iloc[-1]
    assert (written["as_of"] == last).all()  # 2016-02-25, not the cron folder's 2020
    # A CSV does not refresh itself: a forecast from its years-old last row is warned about.
    assert f"the last row of {saved} is {last}" in caplog.text
    assert "forecasting from it" in caplog.text


def test_a_nightly_job_may_refuse_a_csv_file_that_stopped_growing(trained, tmp_path, capsys):
    """A cut-off download (a file years short of today) was forecast with a warning and
    exit 0: stale_csv=skip lists it as not forecast instead."""
    _, run_dir, _, prices = trained
    out = tmp_path / "forecast.csv"
    cfg = compose_predict(f"run_dir={run_dir}", f"output={out}", "stale_csv=skip")
    assert forecast(cfg) == 4 and not out.exists()
    last = pd.read_csv(prices)["Date"].iloc[-1]
    said = capsys.readouterr().out
    assert f"stale prices: the last row is {last}" in said
    assert f"Update {prices}, or pass stale_csv=warn to forecast from its last row." in said


def test_a_csv_file_too_short_to_forecast_is_refused_without_a_stale_warning(
    trained, tmp_path, capsys, caplog
):
    """A download cut off after 10 rows, years old: predict first warned it was forecast
    from its last row ("forecasting from it"), then refused it: only the refusal is true."""
    _, run_dir, _, prices = trained
    whole = prices.read_bytes()
    out = tmp_path / "forecast.csv"
    try:
        pd.read_csv(prices).head(10).to_csv(prices, index=False)
        with caplog.at_level("WARNING", logger="marketcast"):
            assert forecast(compose_predict(f"run_dir={run_dir}", f"output={out}")) == 4
    finally:
        prices.write_bytes(whole)  # the other tests' run reads it
    assert "only 10 rows of data" in capsys.readouterr().out
    assert "forecasting from it" not in caplog.text and not out.exists()


def test_an_as_of_past_a_csv_files_end_is_stale(trained, tmp_path, capsys):
    """Asked for a day well after the file's last row, predict forecasts nothing rather
    than republish the last row's forecast as that day's."""
    _, run_dir, _, prices = trained
    out = tmp_path / "forecast.csv"
    status = forecast(compose_predict(f"run_dir={run_dir}", "as_of=2030-01-02", f"output={out}"))
    assert status == 4 and not out.exists()
    last = pd.read_csv(prices)["Date"].iloc[-1]
    said = capsys.readouterr().out
    assert f"stale prices: the last row is {last}" in said
    assert f"Update {prices}, or pass an as_of up to {last}" in said


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_an_as_of_a_session_or_two_past_the_prices_is_forecast_with_a_warning(
    trained, tmp_path, caplog
):
    """Within max_stale_sessions the forecast is made from the last row, dated from it: said,
    where it was silent (as_of=06-18 gave rows as_of 06-16, one target date being 06-18)."""
    from marketcast.data.trading_days import next_trading_days

    _, run_dir, _, prices = trained
    last = pd.Timestamp(pd.read_csv(prices)["Date"].iloc[-1])
    two_later = next_trading_days(last, 2, None)[-1].date()  # the run's data: weekdays
    out = tmp_path / "forecast.csv"
    cfg = compose_predict(f"run_dir={run_dir}", f"as_of={two_later}", f"output={out}")
    with caplog.at_level("WARNING", logger="marketcast"):
        assert forecast(cfg) == 0
    assert (pd.read_csv(out)["as_of"] == str(last.date())).all()
    assert (
        f"PRICES: the prices end on {last.date()}, 2 sessions before {two_later}: forecasting "
        "from that day (max_stale_sessions=3)"
    ) in caplog.text
    caplog.clear()
    cfg = compose_predict(f"run_dir={run_dir}", f"as_of={last.date()}", f"output={out}")
    with caplog.at_level("WARNING", logger="marketcast"):
        assert forecast(cfg) == 0
    assert "the prices end on" not in caplog.text  # up to date: nothing to say


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_only_a_sweep_over_features_warns_that_its_jobs_keep_other_rows(tmp_path):
    from marketcast.jobs.train import _sweeps_features

    single = compose_train(tmp_path / "r")
    assert not _sweeps_features(single)
    for override, expected in (
        ("model.units=8", False),
        ("features.columns=[Close]", True),
        ("features.target=Low", True),  # a target decides the columns used too
        ("data.halts=drop", True),  # reads Volume
    ):
        with hydra_job(compose_hydra("hydra.mode=MULTIRUN", override)):
            assert _sweeps_features(single) is expected, override
    search = compose_train(tmp_path / "s", "hparams_search=optuna", "search.trial=0")
    assert _sweeps_features(search)  # its space has features.columns


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (["features.columns=[Close,Open]", "model.units=8,16"], False),  # one value in every job
        (["features.columns=[Close],[Close,Open]"], True),
        (["+features.target=Close,Low"], True),
        (["data.halts=choice(drop,keep)"], True),
        (["hydra.sweeper.params={features.columns:'[Close],[Close,Open]'}"], True),
        (["hydra.sweeper.params={model.units:'8,16'}"], False),
    ],
)
def test_the_sweep_warning_reads_what_the_sweep_varies(tmp_path, typed, expected):
    """The sweep's overrides as typed (its multirun.yaml) tell a varied key from one that
    every job sets alike; a job's own overrides cannot."""
    from omegaconf import open_dict

    from marketcast.jobs.train import _sweeps_features

    job = compose_hydra("hydra.mode=MULTIRUN", "features.columns=[Close,Open]")
    sweep_dir = tmp_path / "multirun" / "run"
    with open_dict(job):
        job.hydra.job.num = 1
        job.hydra.runtime.output_dir = str(sweep_dir / "1")
        if typed[0].startswith("hydra.sweeper.params="):  # an experiment's sweep, in its file
            key, value = typed[0].removeprefix("hydra.sweeper.params={").rstrip("}").split(":")
            job.hydra.sweeper.params = {key: value.strip("'")}
            typed = []
        job.hydra.overrides.task = typed
    sweep_dir.mkdir(parents=True)
    OmegaConf.save(job, sweep_dir / "multirun.yaml")
    with hydra_job(job):
        assert _sweeps_features(compose_train(tmp_path / "r")) is expected


def test_each_dm_verdict_holds_and_says_the_mae_ratio_it_tests(trained):
    """'ets: significantly better than persistence (DM -2.60, p = 0.010)' was said where
    ETS's MAE was 0.99997 times persistence's: the verdict now carries its size."""
    _, run_dir, _, _ = trained
    test = json.loads((run_dir / "metrics.json").read_text())["test"]
    report = (run_dir / "report.md").read_text()
    tested = 0
    for name in ("model", "lstm", "ets", "arima"):
        for row in (test[name], *test[name]["per_step"]):
            dm = row["dm_vs_persistence"]
            if dm is not None:
                assert dm["mae_ratio"] == row["rel_mae"]
                tested += 1
        if test[name]["dm_vs_persistence"] is not None:
            line = next(s for s in report.splitlines() if s.startswith(f"- {name}: "))
            said = line.split("(MAE ratio ")[1].split(",")[0]  # to 4 places, or more near 1
            assert float(said) == pytest.approx(test[name]["rel_mae"], abs=5e-5)
    assert tested  # the LSTM's forecasts are never persistence's


def test_a_sweep_job_that_skips_a_short_symbol_says_its_scores_cover_other_symbols(
    tmp_path, caplog
):
    """A larger window.size in one job skips a short symbol that another job keeps: the
    jobs' means over symbols were compared as if over one universe, without a word."""
    from marketcast.jobs.train import RunData, _skip_unfit_symbols

    cfg = compose_train(tmp_path / "r", "data=fdr", "data.symbol=null", "data.symbols=[A,S]")
    frames = {"A": synthetic_prices(300, seed=1), "S": synthetic_prices(40, seed=2)}
    alone = RunData("universe", dict(frames), universe=True)
    _skip_unfit_symbols(alone, cfg)  # a single run: skipped and listed, as before
    assert list(alone.frames) == ["A"] and "S" in alone.failed
    assert "this job of a sweep" not in caplog.text
    swept = RunData("universe", dict(frames), universe=True)
    with hydra_job(compose_hydra("hydra.mode=MULTIRUN", "window.size=10")):
        _skip_unfit_symbols(swept, cfg)
    assert "this job of a sweep trains without S (too short for it): its scores are" in (
        caplog.text
    )
