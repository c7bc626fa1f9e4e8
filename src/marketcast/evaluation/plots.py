"""PNG figures of a run, drawn from its test predictions, metrics and loss history.

``run_plots`` writes every figure that carries information for the run at hand:

- ``test_forecast.png`` / ``backtest_forecast.png``: actual vs the one-step-ahead model
  and persistence forecasts with the interval band, over the whole test period and,
  beside it, its last ~3 months, where the two can be told apart (one symbol only);
- ``fan.png`` (horizon > 1): every step of the forecasts from every ``horizon``-th
  origin of the last ~3 months, drawn as short paths with their bands over the actual;
- ``coverage.png``: the share of actual values inside each interval, over a rolling
  60-session window, against its nominal level (several symbols: the mean over those
  with test data each day), and the test coverage metrics.json reports;
- ``cumulative_loss.png``: the running sum of |model error| - |persistence error|:
  falling where the model beat persistence, rising where it did worse;
- ``error_per_step.png`` (horizon > 1): MAE relative to persistence at each step;
- ``folds.png`` (backtest): MAE relative to persistence per fold and forecaster;
- ``loss.png``: training and validation loss per epoch, the restored epoch marked.

The predictions table (``test_predictions.csv``) has the columns [fold,] [symbol,]
origin, date, step, actual, one column per forecaster (model, persistence, drift,
window_mean, ridge, and whichever others a run adds), interval bounds q<level>, the
reference band's <band>_q<level> and the origin's volatility.
Forecasters far worse than persistence (window_mean: ~4x its MAE) would flatten every
scale they share: they are cut at the top of the chart and their value is written there.
A universe's symbols can have test segments years apart: the charts by date leave a gap
where no symbol has test data rather than draw a line across it. A title too wide for
its chart (long labels, prices in the 100,000s) is wrapped onto more lines.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: scheduled runs have no display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from marketcast.atomic import atomic_write
from marketcast.evaluation.predictions import VOLATILITY_COLUMN
from marketcast.model.training import restored_epoch

KEY_COLUMNS = ("fold", "symbol", "origin", "date", "step", "actual")
ZOOM_SESSIONS = 63  # about three months of sessions: the zoomed panel and the fan chart
COVERAGE_SESSIONS = 60  # the rolling window of the coverage chart
REL_TOP = 1.3  # relative-MAE charts stop here: a far-off forecaster is cut and labelled
COLORS = {"actual": "black", "model": "tab:blue", "persistence": "tab:orange"}
OTHER_COLORS = ["tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]
_QUANTILE = re.compile(r"q(\d+(?:\.\d+)?)")
# garch_q10: the reference band's bound; ets_q10: a peer's own band's
_REFERENCE_QUANTILE = re.compile(r"[a-z]\w*_q\d+(?:\.\d+)?")


def run_plots(
    run_dir: Path,
    predictions: pd.DataFrame,
    metrics: dict,
    history: dict[str, list[float]],
    label: str,
    backtest: bool,
    universe: bool,
) -> list[Path]:
    """Write every figure of a run into ``run_dir`` (module docstring); return their paths.

    ``predictions`` is the test predictions table, ``metrics`` the run's metrics
    (``folds`` is read for a backtest), ``history`` the Keras loss history of the last
    fit, ``label`` the run's name in titles.
    """
    run_dir = Path(run_dir)
    table = predictions.assign(date=pd.to_datetime(predictions["date"]))
    horizon = int(table["step"].max())
    what = "walk-forward backtest" if backtest else "test segment"
    written = []

    def save(name: str, draw, *args) -> None:
        path = run_dir / name
        draw(*args, path)
        written.append(path)

    if not universe:
        name = "backtest_forecast.png" if backtest else "test_forecast.png"
        save(name, plot_forecast, table, f"{label}: {what}, one step ahead")
        if horizon > 1:
            save("fan.png", plot_fan, table, f"{label}: {what}, all {horizon} steps")
    if len(interval_pairs(table)):
        # the figure metrics.json reports for the test (a universe: the mean over symbols)
        reported = metrics.get("test", {}).get("model", {}).get("interval")
        save("coverage.png", plot_coverage, table, f"{label}: {what}", reported)
    save("cumulative_loss.png", plot_cumulative_loss, table, f"{label}: {what}")
    by_step = "error by step" if horizon > 1 else "error one step ahead"
    save("error_per_step.png", plot_error_per_step, table, f"{label}: {what}, {by_step}")
    if backtest and metrics.get("folds"):
        rel_mae = {
            name: [fold["test"][name]["rel_mae"] for fold in metrics["folds"]]
            for name in metrics["folds"][0]["test"]
            if name != "persistence"
        }
        save("folds.png", plot_folds, rel_mae, f"{label}: test MAE per fold")
    if history.get("loss"):
        fit = "training loss of the last fold's fit" if backtest else "training loss"
        save("loss.png", plot_loss, history, f"{label}: {fit}")
    return written


def forecasters(table: pd.DataFrame) -> list[str]:
    """The forecaster columns of a predictions table: model first, persistence second."""
    names = [
        c
        for c in table.columns
        if c not in KEY_COLUMNS
        and c != VOLATILITY_COLUMN
        and not _QUANTILE.fullmatch(str(c))
        and not _REFERENCE_QUANTILE.fullmatch(str(c))
    ]
    first = [n for n in ("model", "persistence") if n in names]
    return first + [n for n in names if n not in first]


def interval_pairs(table: pd.DataFrame) -> list[tuple[str, str, float]]:
    """(low column, high column, nominal coverage) of each central interval, widest first;
    with levels that pair into none (0.1 and 0.95), the outermost band, as it is scored."""
    levels = {float(m[1]) / 100: c for c in table.columns if (m := _QUANTILE.fullmatch(str(c)))}
    pairs = []
    for low, column in sorted(levels.items()):
        high = levels.get(round(1 - low, 10))
        if low < 0.5 and high is not None:
            pairs.append((column, high, 1 - 2 * low))
    if not pairs and len(levels) >= 2:  # no figure at all for such a run's band
        (low, column), (high, top) = min(levels.items()), max(levels.items())
        pairs.append((column, top, high - low))
    return pairs


def plot_forecast(table: pd.DataFrame, title: str, path: Path) -> None:
    """Step-1 forecasts vs actual: the whole period, and its last ``ZOOM_SESSIONS`` beside it."""
    first = table[table["step"] == 1].sort_values("date")
    pairs = interval_pairs(first)
    zoom = first.iloc[-ZOOM_SESSIONS:]
    # where the published forecast is persistence itself its line lies under persistence's
    same = bool(np.allclose(first["model"], first["persistence"], rtol=0, atol=1e-9))
    model_label = "model (= persistence: validation gave no share)" if same else "model"
    fig, (full, near) = plt.subplots(
        1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [2.2, 1]}, sharey=False
    )
    for ax, part, width in ((full, first, 0.8), (near, zoom, 1.3)):
        dates = part["date"]
        if pairs:
            low, high, nominal = pairs[0]
            ax.fill_between(
                dates,
                part[low],
                part[high],
                color=COLORS["model"],
                alpha=0.18,
                linewidth=0,
                label=f"{nominal:.0%} interval",
            )
        ax.plot(dates, part["actual"], color="black", linewidth=width + 0.4, label="actual")
        # the model above persistence: a model that moves must not hide under its line
        ax.plot(
            dates, part["model"], color=COLORS["model"], linewidth=width, label=model_label,
            zorder=3,
        )  # fmt: skip
        ax.plot(
            dates,
            part["persistence"],
            color=COLORS["persistence"],
            linewidth=width * 0.8,
            alpha=0.8,
            label="persistence (yesterday's close)",
        )
        _date_axis(ax)
        ax.grid(alpha=0.3)
    full.axvspan(zoom["date"].iloc[0], zoom["date"].iloc[-1], color="grey", alpha=0.12)
    _fold_starts(full, first)
    full.set_title("whole period (shaded: the zoomed part)", fontsize=10)
    zoom_mae = {n: (zoom[n] - zoom["actual"]).abs().mean() for n in ("model", "persistence")}
    near.set_title(
        f"last {len(zoom)} sessions\nMAE: model {_amount(zoom_mae['model'])}, "
        f"persistence {_amount(zoom_mae['persistence'])}",
        fontsize=10,
    )
    full.set_ylabel("price")
    full.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    _save(fig, path)


def plot_fan(table: pd.DataFrame, title: str, path: Path) -> None:
    """All steps of the forecasts from every ``horizon``-th origin of the last sessions.

    Each origin's path starts at the actual value on its origin day, so a path shows
    the move the model expected from there; its band is the interval at each step.
    """
    horizon = int(table["step"].max())
    rows = table.sort_values(["origin", "step"])
    if "fold" in rows:
        rows = rows[rows["fold"] == rows["fold"].max()]
    origins = pd.to_datetime(pd.Series(rows["origin"].unique())).sort_values()
    actual = rows.drop_duplicates("date").set_index("date")["actual"].sort_index()
    span = actual.index[-min(len(actual), ZOOM_SESSIONS + horizon) :]
    chosen = origins[origins >= span[0]].iloc[::horizon]
    pairs = interval_pairs(rows)
    fig, ax = plt.subplots(figsize=(12, 4.8))
    ax.plot(span, actual.loc[span], color="black", linewidth=1.4, label="actual", zorder=3)
    for k, origin in enumerate(chosen):
        path_rows = rows[pd.to_datetime(rows["origin"]) == origin]
        start = actual.get(origin)
        dates = list(path_rows["date"])
        values = list(path_rows["model"])
        if start is not None and not np.isnan(start):
            dates, values = [origin, *dates], [start, *values]
        if pairs:
            low, high, _ = pairs[0]
            ax.fill_between(
                path_rows["date"],
                path_rows[low],
                path_rows[high],
                color=COLORS["model"],
                alpha=0.15,
                linewidth=0,
                label=f"{pairs[0][2]:.0%} interval" if k == 0 else None,
            )
        ax.plot(
            dates,
            values,
            color=COLORS["model"],
            linewidth=1.1,
            marker="o",
            markersize=2.5,
            label=f"model, steps 1-{horizon} from an origin" if k == 0 else None,
        )
    ax.set_title(
        f"{title}: forecasts from every {horizon}th origin of the last {len(span)} sessions"
    )
    _date_axis(ax)
    _finish(fig, ax, path, ylabel="price")


def plot_coverage(table: pd.DataFrame, title: str, reported: dict | None, path: Path) -> None:
    """Share of actual values inside each interval, over a rolling window, vs nominal.

    Per step (1 and the last); with several symbols, the mean over the symbols with test
    data each day, and a gap where none has. The legend's figure for the whole test is
    each symbol's share, then their mean, as metrics.json computes it; ``reported`` is
    metrics.json's test interval of the model (its widest band, over all steps), shown
    beside it.
    """
    horizon = int(table["step"].max())
    steps = [1] if horizon == 1 else [1, horizon]
    pairs = interval_pairs(table)
    several = "symbol" in table and table["symbol"].nunique() > 1
    first = table[table["step"] == 1]
    # a test segment shorter than the window would draw nothing: the window shrinks to it
    longest = _data_runs(pd.DatetimeIndex(first["date"].unique()).sort_values(), first)
    window = min(COVERAGE_SESSIONS, int(longest.value_counts().max()))
    among = " (mean over symbols)" if several else ""
    drawn = []
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for i, (low, high, nominal) in enumerate(pairs):
        color = OTHER_COLORS[i % len(OTHER_COLORS)] if i else COLORS["model"]
        for step, style in zip(steps, ("-", "--"), strict=False):
            rows = table[table["step"] == step]
            inside = (rows["actual"] >= rows[low]) & (rows["actual"] <= rows[high])
            daily = inside.groupby(rows["date"]).mean().sort_index()
            runs = _data_runs(daily.index, rows)
            rolling = daily.groupby(runs).transform(
                lambda run, w=window: run.rolling(w, min_periods=w).mean()
            )
            overall = inside.groupby(rows["symbol"]).mean().mean() if several else inside.mean()
            same = step == horizon == 1 and _is_reported(reported, nominal, overall)
            line = _with_gaps(rolling, runs)
            drawn.append(line.to_numpy() * 100)
            ax.plot(
                line.index,
                line.to_numpy() * 100,
                color=color,
                linestyle=style,
                linewidth=1.1,
                label=f"{nominal:.0%} interval, step {step}: {overall:.1%} over the test{among}"
                + ("; as in metrics.json" if same else ""),
            )
        ax.axhline(nominal * 100, color=color, linewidth=0.9, linestyle=":", alpha=0.9)
        if reported and abs(reported["nominal"] - nominal) < 1e-9 and not same:
            steps_words = "step 1" if horizon == 1 else f"all {horizon} steps"
            ax.plot(
                [], [], " ", label=f"metrics.json, {steps_words}: {reported['coverage']:.1%}{among}"
            )
    # room below the nominal for misses, and for a coverage lower still (a symbol's band
    # far too narrow), which would otherwise be drawn below the chart
    narrowest = min(nominal for *_, nominal in pairs)
    lowest = min([100 * narrowest - 35, *(np.nanmin(y) - 5 for y in drawn if np.isfinite(y).any())])
    ax.set_ylim(max(0, lowest), 100.5)
    _fold_starts(ax, table)
    who = ", mean over the symbols with test data each day" if several else ""
    ax.set_title(f"{title}, interval coverage\nrolling {window} sessions{who} (dotted: nominal)")
    _date_axis(ax)
    _finish(fig, ax, path, ylabel="actual inside the interval (%)")


def plot_cumulative_loss(table: pd.DataFrame, title: str, path: Path) -> None:
    """Running sum of |forecaster error| - |persistence error| at step 1, by date.

    Below zero: better than persistence so far. Price units for one symbol; with
    several, each symbol's differences are divided by its persistence MAE first (so
    a high-priced symbol does not dominate) and averaged per day.
    """
    rows = table[table["step"] == 1]
    names = [n for n in forecasters(rows) if n != "persistence"]
    persistence_error = (rows["persistence"] - rows["actual"]).abs()
    scale = 1.0
    unit = "price units"
    if "symbol" in rows and rows["symbol"].nunique() > 1:
        scale = persistence_error.groupby(rows["symbol"]).transform("mean")
        unit = "persistence MAEs"
        title = f"{title} (mean over symbols)"
    curves = {}
    for name in names:
        gain = ((rows[name] - rows["actual"]).abs() - persistence_error) / scale
        curves[name] = gain.groupby(rows["date"]).mean().sort_index().cumsum()
    runs = _data_runs(next(iter(curves.values())).index, rows)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    # The scale is set by the published model and its closest rivals (the raw LSTM and the
    # classical peers), so a model that is persistence itself (a flat line) still shows them.
    rivals = [n for n in ("model", "lstm", "ets", "arima") if n in curves]
    reach = max(max(float(np.nanmax(np.abs(curves[n].to_numpy()))) for n in rivals), 1e-9)
    shown, left_out = [], []
    for i, (name, curve) in enumerate(curves.items()):
        off_scale = float(np.nanmax(np.abs(curve.to_numpy()))) > 4 * reach
        if name not in rivals and off_scale:
            left_out.append(f"{name} ({curve.iloc[-1]:+,.0f})")
            continue  # a line far off would flatten the model's, the one this chart is for
        shown.append(name)
        line = _with_gaps(curve, runs)
        ax.plot(
            line.index,
            line.to_numpy(),
            color=COLORS.get(name, OTHER_COLORS[i % len(OTHER_COLORS)]),
            linewidth=1.6 if name == "model" else 0.9,
            alpha=1.0 if name == "model" else 0.7,
            label=f"{name}: {curve.iloc[-1]:+,.1f} at the end",
        )
    ax.axhline(0, color="black", linewidth=0.8)
    _fold_starts(ax, rows)
    if left_out:
        ax.text(
            0.99,
            0.02,
            f"off this scale, with their end values: {', '.join(left_out)}",
            transform=ax.transAxes,
            ha="right",
            fontsize=8,
            color="grey",
        )
    ax.set_title(
        f"{title}\ncumulative |error| - |persistence error| at step 1 "
        "(below 0: better than persistence)"
    )
    _date_axis(ax)
    _finish(fig, ax, path, ylabel=f"cumulative difference ({unit})")


def plot_error_per_step(table: pd.DataFrame, title: str, path: Path) -> None:
    """MAE relative to persistence at each step (below 1: a smaller error than persistence's).

    With several symbols, each symbol's ratio and then the mean over symbols.
    """
    names = [n for n in forecasters(table) if n != "persistence"]
    keys = ["symbol", "step"] if "symbol" in table else ["step"]
    errors = pd.DataFrame({n: (table[n] - table["actual"]).abs() for n in forecasters(table)})
    mae = errors.groupby([table[k] for k in keys]).mean()
    relative = mae[names].div(mae["persistence"], axis=0)
    if "symbol" in table:
        relative = relative.groupby(level="step").mean()
        title = f"{title} (mean over symbols)"
    steps = relative.index.to_numpy()
    if len(steps) == 1:  # horizon 1: one bar per forecaster, not a point each
        _one_step_bars(relative.iloc[0], title, path)
        return
    fig, ax = plt.subplots(figsize=(8, 4.2))
    bottom, top = _relative_range(relative.to_numpy())  # -> (steps, forecasters)
    for i, name in enumerate(names):
        line = relative[name]
        color = COLORS.get(name, OTHER_COLORS[i % len(OTHER_COLORS)])
        if (line > top).all():
            ax.plot(
                [], [], color=color, label=f"{name}: {line.min():.1f}-{line.max():.1f} (off scale)"
            )
            continue
        ax.plot(steps, line, marker="o", color=color, label=name, linewidth=1.2)
    ax.axhline(1.0, color=COLORS["persistence"], linewidth=1, linestyle="--", label="persistence")
    ax.set_ylim(bottom, top)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    _finish(fig, ax, path, xlabel="step ahead (sessions)", ylabel="MAE / persistence MAE")


def _one_step_bars(relative: pd.Series, title: str, path: Path) -> None:
    """Each forecaster's MAE relative to persistence at the one step, as a bar from 1."""
    names = list(relative.index)
    values = relative.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    bottom, top = _relative_range(values)
    x = np.arange(len(names))
    colors = [COLORS.get(n, OTHER_COLORS[i % len(OTHER_COLORS)]) for i, n in enumerate(names)]
    # from 1 (persistence): up is worse, down better, lengths true to the ratios
    ax.bar(x, np.minimum(values, top) - 1.0, 0.6, bottom=1.0, color=colors)
    for xi, v in zip(x, values, strict=True):
        inside = v > top  # a cut bar: its value inside its top
        y = top - 0.005 if inside else v + (0.002 if v >= 1 else -0.002)  # beyond the bar's end
        ax.text(
            xi, y, f"{v:.4f}", ha="center", va="top" if inside or v < 1 else "bottom",
            fontsize=8, color="white" if inside else "black",
        )  # fmt: skip
    ax.axhline(1.0, color=COLORS["persistence"], linewidth=1, linestyle="--", label="persistence")
    ax.set_ylim(bottom, top)
    ax.set_xticks(x, names)
    ax.set_title(f"{title}\nbelow 1: smaller error than persistence; bars cut at {top:.2f}")
    _finish(fig, ax, path, ylabel="MAE / persistence MAE")


def plot_folds(rel_mae: dict[str, list[float]], title: str, path: Path) -> None:
    """MAE relative to persistence, per fold and forecaster (below 1 beats persistence)."""
    names = list(rel_mae)
    folds = len(next(iter(rel_mae.values())))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(8, folds * 1.3), 4.6))
    values = np.array([rel_mae[n] for n in names], dtype=float)  # -> (forecasters, folds)
    # Zoom on the interesting range near 1: a far-off baseline's bar is cut and labelled.
    bottom, top = _relative_range(values)
    for i, name in enumerate(names):
        x = np.arange(folds) + i * width
        color = COLORS.get(name, OTHER_COLORS[i % len(OTHER_COLORS)])
        # from 1 (persistence): up is worse, down better, lengths true to the ratios
        ax.bar(x, np.minimum(values[i], top) - 1.0, width, bottom=1.0, label=name, color=color)
        for xi, v in zip(x, values[i], strict=True):
            if v > top:
                ax.text(
                    xi, top - 0.005, f"{v:.1f}", ha="center", va="top", fontsize=7, color="white",
                    rotation=90, fontweight="bold",
                )  # fmt: skip
    ax.set_ylim(bottom, top)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(folds) + 0.4 - width / 2, [f"fold {k + 1}" for k in range(folds)])
    ax.set_ylabel("MAE / persistence MAE")
    ax.set_title(f"{title}\nbelow 1: smaller error than persistence; bars cut at {top:.2f}")
    # Under the axes, not over fold 1.
    ax.legend(fontsize=8, ncol=len(names), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)


def plot_loss(history: dict[str, list[float]], title: str, path: Path) -> None:
    """Training and validation loss per epoch (scaled units); the restored epoch marked.

    Two panels, each on its own scale: the two losses often differ by more than either
    moves, and on one axis both would look flat.
    """
    epochs = np.arange(1, len(history["loss"]) + 1)
    val = history.get("val_loss") or []
    fig, axes = plt.subplots(2 if val else 1, 1, figsize=(8, 5.4 if val else 3.6), sharex=True)
    axes = np.atleast_1d(axes)
    series = [("training loss", history["loss"], "tab:blue")]
    if val:
        series.append(("validation loss", val, "tab:orange"))
    best = restored_epoch(history)
    for ax, (name, values, color) in zip(axes, series, strict=True):
        ax.plot(epochs, values, marker="o", markersize=3, color=color, label=name)
        if best:
            ax.axvline(best, color="grey", linestyle="--", linewidth=0.9)
        positive = [v for v in values if v > 0]
        if positive and max(positive) / min(positive) > 30:  # log only where it spans decades
            ax.set_yscale("log")
        ax.set_ylabel(f"{name.split()[0]} (scaled)")
        ax.grid(alpha=0.3)
    if best:
        kept = f"restored: epoch {best}, val_loss {val[best - 1]:.4g}"
        axes[-1].plot([best], [val[best - 1]], "*", markersize=14, color="tab:red", label=kept)
    for ax in axes:
        ax.legend(fontsize=8)
    # Whole epochs only, from a margin of half an epoch: a single epoch would otherwise get
    # the fractional ticks (0.95 ... 1.05) of a range with no integer but its own.
    axes[-1].set_xlim(0.5, len(epochs) + 0.5)
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes[-1].set_xlabel("epoch")
    count = "1 epoch" if len(epochs) == 1 else f"{len(epochs)} epochs"
    # Two lines: a backtest's title (symbol, fold, dates) leaves no room for the key.
    axes[0].set_title(f"{title}\n{count}; dashed: the epoch whose weights were kept")
    _save(fig, path)


def _relative_range(values: np.ndarray) -> tuple[float, float]:
    """y limits of a relative-MAE chart: around 1 and the values up to ``REL_TOP``."""
    near = values[np.isfinite(values) & (values <= REL_TOP)]
    near = np.append(near, 1.0)
    return max(0.0, float(near.min()) - 0.03), float(near.max()) + 0.03


def _fold_starts(ax, table: pd.DataFrame) -> None:
    """A dotted line where each fold after the first begins (a backtest's table).

    Named in the legend: a note in a corner of the axes would lie under the legend there.
    """
    if "fold" not in table:
        return
    for k, start in enumerate(table.groupby("fold")["date"].min().iloc[1:]):
        ax.axvline(start, color="grey", linewidth=0.7, linestyle=":",
                   label="fold start" if k == 0 else None)  # fmt: skip


def _data_runs(dates: pd.DatetimeIndex, rows: pd.DataFrame) -> pd.Series:
    """The stretch of test data each of ``dates`` (sorted, unique) falls in, numbered from 0.

    Two neighbouring dates are in one stretch where some symbol's test rows (``rows``)
    reach from the first to the second; symbols' test segments can be years apart, and a
    line or a rolling window across the time between would show data that is not there.
    """
    symbol = rows["symbol"] if "symbol" in rows else pd.Series(0, index=rows.index)
    spans = rows["date"].groupby(symbol).agg(["min", "max"])
    first, last = spans["min"].to_numpy(), spans["max"].to_numpy()  # -> (symbols,)
    values = dates.to_numpy()
    before, after = values[:-1, None], values[1:, None]  # -> (dates - 1, 1)
    bridged = ((first <= before) & (last >= after)).any(axis=1)
    return pd.Series(np.concatenate([[0], np.cumsum(~bridged)]), index=dates)


def _with_gaps(line: pd.Series, runs: pd.Series) -> pd.Series:
    """``line`` (by date) with a NaN between two stretches of data: a break in the line."""
    change = runs.to_numpy()[1:] != runs.to_numpy()[:-1]
    ends, starts = runs.index[:-1][change], runs.index[1:][change]
    gaps = pd.Series(np.nan, index=ends + (starts - ends) / 2)
    return pd.concat([line, gaps]).sort_index()


def _is_reported(reported: dict | None, nominal: float, coverage: float) -> bool:
    """Whether ``coverage`` of the band at ``nominal`` is metrics.json's, as it is printed."""
    return (
        reported is not None
        and abs(reported["nominal"] - nominal) < 1e-9
        and f"{reported['coverage']:.1%}" == f"{coverage:.1%}"
    )


def _amount(value: float) -> str:
    """``value`` to four significant digits, with thousands separators (4,662; 1.234)."""
    if not np.isfinite(value) or value == 0:
        return f"{value:g}"
    decimals = max(0, 3 - int(np.floor(np.log10(abs(value)))))
    return f"{value:,.{decimals}f}"


def _date_axis(ax) -> None:
    locator = mdates.AutoDateLocator(maxticks=8)
    # 3.6 to 5 years (a universe's test segments far apart) are too many months for 8
    # ticks at its longest step, 6 months, and too few years to tick yearly: January only
    locator.intervald[mdates.MONTHLY] = [1, 2, 3, 4, 6, 12]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _finish(fig, ax, path: Path, *, ylabel: str, xlabel: str | None = None) -> None:
    """Label the axes, add the legend and grid, and save the figure."""
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    if _fit_titles(fig):
        fig.tight_layout()  # room for the added lines
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def _fit_titles(fig) -> bool:
    """Wrap each title wider than its axes (a figure's text, the suptitle: the figure).

    Measured, not guessed from a count of characters: a label or a price in the 100,000s
    widens a title by what the figure cannot hold. True where a title was wrapped.
    """
    renderer = fig.canvas.get_renderer()
    titles = [(ax.title, ax.get_window_extent(renderer).width) for ax in fig.axes]
    titles += [(text, fig.bbox.width) for text in fig.texts]  # the suptitle is one
    wrapped = False
    for text, room in titles:
        full = text.get_text()
        width = text.get_window_extent(renderer).width
        if not full or width <= room:
            continue
        # the longest line's characters that fit, then fewer until the measure agrees
        chars = int(max(map(len, full.split("\n"))) * room / width)
        while chars > 10:
            text.set_text("\n".join(textwrap.fill(line, chars) for line in full.split("\n")))
            if text.get_window_extent(renderer).width <= room:
                break
            chars -= 2
        wrapped = True
    return wrapped
