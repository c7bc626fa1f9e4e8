"""Scores of a segment's forecasts: every forecaster on the same targets, pooled over folds,
averaged over symbols (pure)."""

from __future__ import annotations

import numpy as np

from marketcast.evaluation.forecasts import SegmentForecasts
from marketcast.evaluation.intervals import mean_width, window_volatility
from marketcast.evaluation.metrics import add_relative_mae, score, score_per_step
from marketcast.evaluation.scores import (
    coverage_by_tercile,
    coverage_test,
    diebold_mariano_hln,
    diebold_mariano_per_step,
    inside,
    interval_score_test,
    pinball_loss,
    same_forecast,
    winkler_score,
)
from marketcast.features.dataset import SegmentData
from marketcast.features.windows import Windows


def score_segment(f: SegmentForecasts, naive_mae: float) -> dict[str, dict]:
    """``{forecaster: metrics}``.

    Every forecaster but persistence has ``dm_vs_persistence`` (Diebold-Mariano with the
    Harvey-Leybourne-Newbold correction, Student-t p-value; per step too for H > 1), with
    ``mae_ratio``, the forecaster's MAE over persistence's on the targets tested. The
    published model's row holds its interval's scores, persistence's row those of the
    GARCH(1,1) band around it (the reference the intervals must beat).
    """
    actual, last = f.part.actual, f.part.last
    reference = f.forecasts["persistence"]
    table = {}
    for name, forecast in f.forecasts.items():
        table[name] = score(actual, forecast, last, naive_mae)
        if actual.shape[1] > 1:
            table[name]["per_step"] = score_per_step(actual, forecast, last, naive_mae)
        if name != "persistence":
            table[name]["dm_vs_persistence"] = _dm(actual, forecast, reference)
            if actual.shape[1] > 1:
                per_step = diebold_mariano_per_step(actual, forecast, reference)
                for row, dm in zip(table[name]["per_step"], per_step, strict=True):
                    row["dm_vs_persistence"] = _test_dict(dm)
    add_relative_mae(table)
    for row in table.values():  # each test holds the size of the difference it tests
        for own in (row, *row.get("per_step", [])):
            dm = own.get("dm_vs_persistence")
            if dm is not None and own.get("rel_mae") is not None:
                dm["mae_ratio"] = own["rel_mae"]
    volatility = window_volatility(f.part.history)
    if f.bands is not None and len(f.levels) >= 2:
        table["model"]["interval"] = interval_scores(actual, f.bands, f.levels, volatility)
    for name, bands in f.peer_bands.items():  # ETS's and ARIMA's own prediction intervals
        table[name]["interval"] = interval_scores(actual, bands, f.levels, volatility)
    for name, bands in f.reference_bands.items():
        table["persistence"]["interval"] = {
            "band": name,
            **interval_scores(actual, bands, f.levels, volatility),
        }
        if "interval" in table["model"]:  # is the published band's score lower by more than noise?
            nominal = table["model"]["interval"]["nominal"]
            dm = interval_score_test(actual, f.bands, bands, nominal)
            table["model"]["interval"]["score_vs_reference"] = (
                None if dm is None else {"band": name, **_test_dict(dm)}
            )
    return table


# The keys of score_segment's table that hold a test's result (None: not tested), and the
# direction accuracy's interval, sized by the same count of distinct origins.
TEST_KEYS = ("dm_vs_persistence", "coverage_test", "score_vs_reference")
INTERVAL_KEYS = ("direction_ci", "direction_n_effective")


def without_tests(table):
    """``score_segment``'s table (any part of it) with every test's result None: for
    forecasts whose origins repeat (a backtest's validation segments overlap from fold to
    fold), where the tests, which take origins as distinct and consecutive, would count
    the same days several times and call chance differences significant."""
    if isinstance(table, dict):
        return {
            k: None if k in TEST_KEYS + INTERVAL_KEYS else without_tests(v)
            for k, v in table.items()
        }
    if isinstance(table, list):
        return [without_tests(v) for v in table]
    return table


def interval_scores(
    actual: np.ndarray, bands: np.ndarray, levels: list[float], volatility: np.ndarray
) -> dict:
    """Coverage (and its test against nominal), width, interval (Winkler) score and pinball
    loss of the outermost band."""
    lower, upper = bands[..., 0], bands[..., -1]
    nominal = levels[-1] - levels[0]
    covered = inside(actual, lower, upper)  # -> (B, H)
    test = coverage_test(covered, nominal)
    return {
        "levels": [levels[0], levels[-1]],
        "nominal": nominal,
        "coverage": float(covered.mean()),
        # coverage against nominal: HAC t-test over origins (scores.coverage_test)
        "coverage_test": _test_dict(test),
        "width_pct": mean_width(lower, upper, actual),
        "winkler_pct": float(np.mean(winkler_score(actual, lower, upper, nominal))),
        "pinball_pct": np.mean(pinball_loss(actual, bands, levels), axis=0).tolist(),
        # the calm, middle and turbulent third of origins, by the window's volatility (None
        # below three origins: a third would be empty)
        "coverage_by_tercile": (
            np.mean(coverage_by_tercile(actual, lower, upper, volatility), axis=1).tolist()
            if len(actual) >= 3
            else None
        ),
    }


def _dm(actual: np.ndarray, forecast: np.ndarray, reference: np.ndarray) -> dict | None:
    """DM-HLN on each origin's mean absolute error over its H steps (lag H - 1); None for
    the same forecast (the errors are compared below, where rtol means nothing at an error
    of 0: an unchanged won price)."""
    if same_forecast(forecast, reference):
        return None
    horizon = actual.shape[1]
    ours = np.abs(forecast - actual).mean(axis=1)
    theirs = np.abs(reference - actual).mean(axis=1)
    return _test_dict(diebold_mariano_hln(np.zeros(len(ours)), ours, theirs, horizon))


def _test_dict(test) -> dict | None:
    """A test's result (``scores.DieboldMariano`` or ``scores.CoverageTest``) as metrics."""
    if test is None:
        return None
    return {"statistic": test.statistic, "p_value": test.p_value, "n": test.n}


def pool_forecasts(
    results: list[tuple[SegmentForecasts, float]],
) -> tuple[SegmentForecasts, float]:
    """Several segments' forecasts (folds, symbols) as one, with the mean MASE scale.

    Each item is a segment's forecasts and its naive MAE; scoring the pooled
    result gives metrics over all their targets together.
    """
    parts = [f.part for f, _ in results]
    windows = Windows(
        np.concatenate([p.windows.inputs for p in parts]),
        np.concatenate([p.windows.targets for p in parts]),
        np.concatenate([p.windows.first_target for p in parts]),
    )
    part = SegmentData(
        windows,
        np.concatenate([p.history for p in parts]),
        np.concatenate([p.actual for p in parts]),
    )
    first = results[0][0]
    forecasts = {
        name: np.concatenate([f.forecasts[name] for f, _ in results]) for name in first.forecasts
    }
    bands = np.concatenate([f.bands for f, _ in results]) if first.bands is not None else None
    reference = {
        name: np.concatenate([f.reference_bands[name] for f, _ in results])
        for name in first.reference_bands
    }
    own = {
        name: np.concatenate([f.peer_bands[name] for f, _ in results]) for name in first.peer_bands
    }
    naive = float(np.mean([scale for _, scale in results]))
    return SegmentForecasts(part, forecasts, bands, first.levels, reference, own), naive


# price units (a mean of won and dollars means nothing) and counts: per symbol only
NOT_AVERAGED = ("mae", "rmse", "direction_n", "direction_n_effective")


def mean_over(tables: list[dict[str, dict]]) -> dict[str, dict]:
    """The mean of each forecaster's scale-free scalar metrics over several tables
    (symbols): mase, mape, rel_mae, skill, direction_accuracy, interval coverage (and per
    volatility third), width, score and pinball loss per level in % of price. MAE and
    RMSE are in each symbol's price units, and a stock in won would outweigh one in
    dollars a thousandfold: they are left to each symbol's table.
    """
    out: dict[str, dict] = {}
    for name in tables[0]:
        rows = [t[name] for t in tables]
        keys = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in NOT_AVERAGED]
        # the scalars only, whatever the first symbol holds: a test is a dict where it was
        # made and None where it was not (a forecast at persistence on one symbol)
        out[name] = {
            key: _mean([row.get(key) for row in rows])
            for key in keys
            if all(isinstance(row.get(key), int | float | None) for row in rows)
        }
        intervals = [r["interval"] for r in rows if "interval" in r]
        if intervals:
            out[name]["interval"] = {
                "levels": intervals[0]["levels"],
                "nominal": intervals[0]["nominal"],
                **{
                    key: _mean([i[key] for i in intervals])
                    for key in ("coverage", "width_pct", "winkler_pct")
                },
                **{
                    key: _mean_per_item([i.get(key) for i in intervals])
                    for key in ("coverage_by_tercile", "pinball_pct")
                },
            }
    return out


def _mean_per_item(lists: list[list | None]) -> list[float | None] | None:
    """The item-by-item mean of equally long lists (a coverage per volatility third, a
    pinball loss per level), each item over the lists that have it; None where none do."""
    present = [v for v in lists if v is not None]
    if not present:
        return None
    return [_mean(list(items)) for items in zip(*present, strict=True)]


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None
