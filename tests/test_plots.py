"""The run's figures: which are drawn for which run, and that each is a real PNG."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

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


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_horizon_1_skips_the_fan_and_draws_the_error_as_bars(tmp_path):
    """Issue 4 asks every backtest for an error-per-step figure; at horizon 1 it was not
    drawn (one point per forecaster): now one bar each."""
    paths = plots.run_plots(tmp_path, predictions(1), {}, HISTORY, "X", False, False)
    assert written(paths) == {
        "test_forecast.png", "coverage.png", "cumulative_loss.png", "error_per_step.png",
        "loss.png",
    }  # fmt: skip


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_horizon_5_adds_the_fan_and_the_per_step_error(tmp_path):
    paths = plots.run_plots(tmp_path, predictions(5), {}, HISTORY, "X", False, False)
    assert written(paths) == {
        "test_forecast.png", "fan.png", "coverage.png", "cumulative_loss.png",
        "error_per_step.png", "loss.png",
    }  # fmt: skip


@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_backtest_has_folds_and_its_own_forecast_figure(tmp_path, horizon):
    table, metrics = backtest_predictions(horizon)
    paths = plots.run_plots(tmp_path, table, metrics, HISTORY, "X", True, False)
    expected = {"backtest_forecast.png", "coverage.png", "cumulative_loss.png", "folds.png",
                "loss.png", "error_per_step.png"}  # fmt: skip
    if horizon > 1:
        expected |= {"fan.png"}
    assert written(paths) == expected
    # every figure a run draws is one an overwriting run removes first (runfiles.PLOT_FILES):
    # the single split's at h = 5 and the backtest's at h = 3 draw each of them
    single = plots.run_plots(tmp_path / "s", predictions(5), {}, HISTORY, "X", False, False)
    assert written(paths) | written(single) <= set(PLOT_FILES)


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
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
    asymmetric = table.drop(columns=["q2.5", "q97.5", "q90"]).assign(q95=1.0)  # 0.1 and 0.95
    assert plots.interval_pairs(asymmetric) == [("q10", "q95", pytest.approx(0.85))]
    assert plots.forecasters(table.drop(columns="q2_5")) == [
        "model", "persistence", "drift", "window_mean", "ridge", "ets"
    ]  # fmt: skip


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_loss_without_validation_and_without_history(tmp_path):
    plots.plot_loss({"loss": [1.0, 0.5]}, "X", tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG
    paths = plots.run_plots(tmp_path, predictions(1, origins=80), {}, {}, "X", False, False)
    assert "loss.png" not in {p.name for p in paths}


@pytest.fixture
def figures(monkeypatch):
    """Each figure the plots save, by path, kept for its text to be measured."""
    kept = {}
    save = plots._save

    def keep(fig, path):
        save(fig, path)
        kept[path] = fig

    monkeypatch.setattr(plots, "_save", keep)
    return kept


def titles_too_wide(fig) -> list[str]:
    """The titles wider than their axes (a figure's text: the figure) or past its edges."""
    renderer = FigureCanvasAgg(fig).get_renderer()  # a closed figure has lost its canvas
    page = fig.bbox
    texts = [(ax.title, ax.get_window_extent(renderer)) for ax in fig.axes]
    texts += [(text, page) for text in fig.texts]  # the suptitle
    return [
        text.get_text()
        for text, room in texts
        if text.get_text()
        and (
            (box := text.get_window_extent(renderer)).width > room.width + 1
            or box.x0 < page.x0 - 1
            or box.x1 > page.x1 + 1
        )
    ]


def two_symbols(gap_years: int = 0) -> pd.DataFrame:
    """A universe table of two symbols; B's test segment is shorter, ``gap_years`` later."""
    a = predictions(2, origins=200, seed=1, symbol="A")
    a[["origin", "date"]] = a[["origin", "date"]].apply(pd.to_datetime)
    b = predictions(2, origins=90, seed=2, symbol="B")
    for key in ("origin", "date"):
        b[key] = pd.to_datetime(b[key]) + pd.DateOffset(years=gap_years)
    b[["actual", "model", "persistence", "drift", "window_mean", "ridge", "ets"]] *= 50
    b[["q10", "q90"]] = b[["model"]].to_numpy() + [-0.004, 0.004] * b[["model"]].to_numpy()
    return pd.concat([a, b]).reset_index(drop=True)


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_every_title_fits_its_chart_at_any_price_scale(tmp_path, figures):
    """KRX prices (100,000s) widen the zoomed panel's MAE; a universe's label its titles."""
    table, metrics = backtest_predictions(1)
    table[["actual", "model", "persistence", "drift", "window_mean", "ridge", "ets", "q10",
           "q90"]] *= 2000  # fmt: skip
    plots.run_plots(tmp_path / "krx", table, metrics, HISTORY, "krx_000660", True, False)
    plots.run_plots(tmp_path / "u", two_symbols(), {}, HISTORY, "universe", False, True)
    assert {p.name for p in figures} >= {"backtest_forecast.png", "cumulative_loss.png",
                                         "coverage.png", "loss.png"}  # fmt: skip
    too_wide = {path.name: titles_too_wide(fig) for path, fig in figures.items()}
    assert too_wide == {path.name: [] for path in figures}


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_universe_coverage_is_the_mean_over_symbols_metrics_reports_with_gaps(tmp_path, figures):
    """Its figure is each symbol's coverage, then their mean (as metrics.json), not the
    mean over dates; where no symbol has test data the line breaks instead of crossing."""
    table = two_symbols(gap_years=3)
    first = table[table["step"] == 1]
    inside = (first["actual"] >= first["q10"]) & (first["actual"] <= first["q90"])
    per_symbol = inside.groupby(first["symbol"]).mean().mean()
    per_date = inside.groupby(first["date"]).mean().mean()
    assert f"{per_symbol:.1%}" != f"{per_date:.1%}"  # the two definitions tell apart here
    metrics = {"test": {"model": {"interval": {"nominal": 0.8, "coverage": 0.8123}}}}
    plots.run_plots(tmp_path, table, metrics, HISTORY, "universe", False, True)
    ax = figures[tmp_path / "coverage.png"].axes[0]
    assert "mean over the symbols" in ax.get_title()
    per_step = figures[tmp_path / "error_per_step.png"].axes[0]
    assert per_step.get_title().endswith("(mean over symbols)")  # as its values are
    labels = [line.get_label() for line in ax.get_lines()]
    step_1 = next(line for line in ax.get_lines() if "step 1" in line.get_label())
    assert f"{per_symbol:.1%}" in step_1.get_label()
    assert any("metrics.json, all 2 steps: 81.2%" in label for label in labels), labels
    # no drawn segment joins A's last day to B's first, three years later
    dates = pd.to_datetime(step_1.get_xdata())
    values = np.asarray(step_1.get_ydata(), dtype=float)
    a_end = first.loc[first["symbol"] == "A", "date"].max()
    b_start = first.loc[first["symbol"] == "B", "date"].min()
    joined = np.isfinite(values[:-1]) & np.isfinite(values[1:])
    assert not (joined & (dates[:-1] <= a_end) & (dates[1:] >= b_start)).any()
    assert np.isfinite(values[dates >= b_start]).any()  # B's stretch is drawn, on its own


def test_a_one_epoch_loss_has_whole_epoch_ticks_and_the_singular(tmp_path, figures):
    plots.plot_loss({"loss": [0.4], "val_loss": [0.37]}, "X", tmp_path / "loss.png")
    fig = figures[tmp_path / "loss.png"]
    assert "\n1 epoch;" in fig.axes[0].get_title()
    ax = fig.axes[-1]
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert ticks == [1.0]
    plots.plot_loss(HISTORY, "X", tmp_path / "loss.png")
    assert "\n4 epochs;" in figures[tmp_path / "loss.png"].axes[0].get_title()
