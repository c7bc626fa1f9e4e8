"""The Markdown report of a run, a single split, a backtest or a global model (pure: metrics
in, text out)."""

from __future__ import annotations

from marketcast.evaluation.peers import PEER_NAMES
from marketcast.evaluation.verdicts import (
    direction_words,
    dm_words,
    interval_words,
    score_test_words,
)
from marketcast.progress import counted

# the forecasters whose DM verdicts the printed summary and the per-step lists say
# (report.md's test segment says every forecaster's)
TESTED = ("model", "lstm", "ets", "arima")


def run_report(metrics: dict, settings: dict, label: str) -> str:
    """The test segment's table, every test in words, the published combination and the
    interval; a backtest's (``metrics["folds"]``) per fold too. ``settings``:
    representation, features, window, horizon, units, layers, head, ensemble, scheme,
    refit_every (``jobs.outputs.describe``)."""
    folds = metrics.get("folds")
    test = metrics["test"]
    if folds:
        lines = [
            f"# Walk-forward backtest: {label}",
            "",
            f"{len(folds)} folds ({settings['scheme']} training window, refit every "
            f"{settings['refit_every']}), first origin {folds[0]['origin']}, last forecast "
            f"{folds[-1]['test_end']}. " + _model_line(settings),
            "",
            *_data_lines(metrics),
            "## All folds together (test blocks)",
            "",
        ]
    else:
        lines = [f"# {label}", "", "One split: train, validation, test. " + _model_line(settings)]
        lines += ["", *_data_lines(metrics), "## Test segment", ""]
    lines += [*_test_table(test), "", *_test_words(test)]
    if "combination" in metrics:
        whose = (
            "the last fold's weights, which predict uses" if folds else "the weights predict uses"
        )
        lines.append(_combination_line(metrics["combination"], whose))
    lines += _direction_lines(test)
    lines += _interval_lines(test, "##")
    if folds:
        lines += _per_fold(folds, test)
    lines += _per_step(test, "##")
    figures = (
        "`backtest_forecast.png` (actual vs forecast with the interval band), `folds.png` "
        "(every forecaster per fold)"
        if folds
        else "`test_forecast.png` (actual vs forecast with the interval band)"
    )
    lines += [
        "",
        f"Figures (where plots are on): {figures}, `coverage.png`, `cumulative_loss.png`"
        + (", `fan.png`" if "per_step" in test["model"] else "")
        + ", `error_per_step.png`"
        + ". Every forecast: `test_predictions.csv`.",
        "",
    ]
    return "\n".join(lines)


def universe_report(metrics: dict, settings: dict, label: str) -> str:
    """A global model's report: the means over symbols of the scale-free scores, the
    published combination (one for the whole universe), then per symbol
    (``metrics["symbols"]``) what ``run_report`` says of a single split: its test table in
    its own prices, every test in words, its interval beside the GARCH band. The symbols
    skipped (``metrics["failed"]``) are named. ``settings``: as ``run_report``."""
    symbols = metrics["symbols"]
    test = metrics["test"]
    lines = [
        f"# {label}: one model of {counted(len(symbols), 'symbol')}",
        "",
        f"One model trained on {', '.join(symbols)} together, each split into train, "
        "validation and test. " + _model_line(settings),
        "",
        *_data_lines(metrics),
    ]
    failed = metrics.get("failed") or {}
    if failed:  # data.on_error=skip: a symbol that failed to load, or too short to train on
        lines += ["## Symbols skipped", "", "Not in the model (`data.on_error=skip`):", ""]
        lines += [f"- {symbol}: {message}" for symbol, message in failed.items()]
        lines.append("")
    lines += [
        f"## Means over the {counted(len(symbols), 'symbol')} (test segment)",
        "",
        "Each symbol's scale-free scores, averaged: MAE and RMSE are in each symbol's own "
        "prices, and every test is made per symbol (the sections below).",
        "",
        *_test_table(test, prices=False),
        "",
    ]
    if "combination" in metrics:
        whose = "one set of weights for every symbol, which predict uses"
        lines.append(_combination_line(metrics["combination"], whose))
    interval = test["model"].get("interval")
    if interval:
        lines.append(f"The published interval, mean over symbols: {interval_words(interval)}.")
        reference = test.get("persistence", {}).get("interval")
        if reference:
            lines.append(
                "The GARCH(1,1) band around persistence, mean over symbols: "
                f"{interval_words(reference)}."
            )
        for name, said in PEER_NAMES.items():  # for comparison
            if test.get(name, {}).get("interval"):
                lines.append(
                    f"{said}'s own interval, mean over symbols: "
                    f"{interval_words(test[name]['interval'])}."
                )
    for symbol, segments in symbols.items():
        own = segments["test"]
        lines += ["", f"## {symbol}", "", f"Test segment; MAE and RMSE in {symbol}'s prices.", ""]
        lines += [*_test_table(own), "", *_test_words(own)]
        lines += _direction_lines(own)
        lines += _interval_lines(own, "###")
        lines += _per_step(own, "###")
    lines += [
        "",
        "Figures (where plots are on), every symbol's forecasts together: `coverage.png`, "
        "`cumulative_loss.png`, `error_per_step.png`. Every forecast: `test_predictions.csv` "
        "(its `symbol` column).",
        "",
    ]
    return "\n".join(lines)


def _model_line(settings: dict) -> str:
    return (
        f"Representation `{settings['representation']}`, features {settings['features']}, "
        f"window {settings['window']}, horizon {settings['horizon']}, "
        f"LSTM({settings['units']}) x {settings['layers']}, {settings.get('head', 'dense')} "
        "head"
        + (
            f", an ensemble of {settings['ensemble']} seeds"
            if settings.get("ensemble", 1) > 1
            else ""
        )
        + "."
    )


def _test_table(test: dict, prices: bool = True) -> list[str]:
    """The test segment's table; ``prices=False`` (means over symbols in several
    currencies) leaves out MAE and RMSE, which are in price units."""
    if not prices:
        lines = [
            "| forecaster | MAPE % | MASE | MAE / persistence | direction |",
            "|---|---|---|---|---|",
        ]
        for name, row in test.items():
            lines.append(
                f"| {name} | {_num(row.get('mape'), '.3f')} | {_num(row.get('mase'))} | "
                f"{_num(row.get('rel_mae'))} | {_num(row.get('direction_accuracy'), '.3f')} |"
            )
        return lines
    lines = [
        "| forecaster | MAE | RMSE | MAPE % | MASE | MAE / persistence | direction (95% CI) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in test.items():
        lines.append(
            f"| {name} | {row['mae']:.4f} | {row['rmse']:.4f} | {row['mape']:.3f} | "
            f"{_num(row['mase'])} | {_num(row['rel_mae'])} | {_direction(row)} |"
        )
    return lines


def _test_words(test: dict) -> list[str]:
    """The published model's MAE ratio, then each Diebold-Mariano verdict, one a line."""
    model = test["model"]
    lines = [
        f"The published model's MAE on these targets is {model['rel_mae']:.3f} times "
        f"persistence's (skill {model['skill']:+.3f}).",
        "Diebold-Mariano tests of equal MAE against persistence (Harvey-Leybourne-Newbold, "
        "Student-t):",
        "",
    ]
    # every forecaster's verdict ("better" only where it is significant), the published
    # and the peers' first, then the other baselines' (persistence has none: the reference)
    named = [*(n for n in TESTED if n in test), *(n for n in test if n not in TESTED)]
    for name in named:
        if "dm_vs_persistence" in test[name]:
            lines.append(f"- {dm_words(test[name]['dm_vs_persistence'], name)}")
    return [*lines, ""]


def _combination_line(combination: dict, whose: str) -> str:
    fitted_on = combination.get("fitted_on")  # absent in a run saved before it was kept
    return (
        f"Published forecast ({whose})"
        + (f", fitted on {fitted_on}" if fitted_on else "")
        + f": {combination['words']}."
    )


def _direction_lines(test: dict) -> list[str]:
    direction = direction_words(test)
    return [f"{direction[0].upper()}{direction[1:]}."] if direction else []


def _interval_lines(test: dict, heading: str) -> list[str]:
    """The published interval beside the GARCH(1,1) band, the test between them, and the
    peers' own intervals, under a ``heading`` (``##``, ``###``)."""
    interval = test["model"].get("interval")
    if not interval:
        return []
    lines = [
        "",
        f"{heading} Prediction interval",
        "",
        f"The published interval (quantiles {interval['levels'][0]} and "
        f"{interval['levels'][1]}): {interval_words(interval)}; the interval score is in % "
        "of the price, lower is better.",
    ]
    reference = test.get("persistence", {}).get("interval")
    if reference:
        lines.append(
            f"The reference, a GARCH(1,1) band around persistence: {interval_words(reference)}."
        )
    if interval.get("score_vs_reference"):
        lines.append(f"Interval score, {score_test_words(interval)}.")
    for name, said in PEER_NAMES.items():  # for comparison: the peers' own intervals
        if test.get(name, {}).get("interval"):
            lines.append(f"{said}'s own interval: {interval_words(test[name]['interval'])}.")
    return lines


def _per_step(test: dict, heading: str) -> list[str]:
    """Each forecaster's MAE per step and the Diebold-Mariano verdicts per step, under a
    ``heading``; nothing at horizon 1."""
    steps = len(test["model"].get("per_step", []))
    if not steps:
        return []
    lines = [
        "",
        f"{heading} MAE per step",
        "",
        "| step | " + " | ".join(test) + " |",
        "|---|" + "---|" * len(test),
    ]
    for h in range(steps):
        lines.append(
            f"| {h + 1} | "
            + " | ".join(f"{test[n]['per_step'][h]['mae']:.4f}" for n in test)
            + " |"
        )
    lines += ["", "Diebold-Mariano tests per step against persistence:", ""]
    for h in range(steps):
        for name in TESTED:
            if name in test:
                dm = test[name]["per_step"][h].get("dm_vs_persistence")
                lines.append(f"- step {h + 1}, {dm_words(dm, name)}")
    return lines


def _per_fold(folds: list[dict], test: dict) -> list[str]:
    lines = [
        "",
        "## Per fold (test block)",
        "",
        "| fold | origin | refit | " + " | ".join(f"{n} rel. MAE" for n in test) + " | coverage |",
        "|---|---|---|" + "---|" * len(test) + "---|",
    ]
    for fold in folds:
        cov = fold["test"]["model"].get("interval", {}).get("coverage")
        lines.append(
            f"| {fold['fold']} | {fold['origin']} | {'yes' if fold['refit'] else 'no'} | "
            + " | ".join(_num(fold["test"][n]["rel_mae"]) for n in test)
            + f" | {_num(cov, '.1%')} |"
        )
    refitted = [f for f in folds if f["refit"] and "combination" in f]
    if refitted:
        lines += ["", "Each refit fold's combination (a fold that is not refitted keeps it):", ""]
        lines += [f"- fold {f['fold']}: {f['combination']['words']}." for f in refitted]
    return lines


def _num(value, fmt: str = ".4f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _data_lines(metrics: dict) -> list[str]:
    """What validation found in each symbol's prices (``metrics["validation"]``), where it
    found anything: a forecast of prices with a bad day in them is read with that day in
    mind (the run's log said it; the report did not)."""
    found = metrics.get("validation") or {}
    if not found:
        return []
    lines = ["## Data", "", 'Validation of the prices found (the README\'s "Validation"):', ""]
    lines += [f"- {symbol}: {finding}" for symbol, items in found.items() for finding in items]
    return [*lines, ""]


def _direction(row: dict) -> str:
    if row["direction_accuracy"] is None:
        return "n/a"
    if row.get("direction_ci") is None:  # too few origins per step ahead for an interval
        return f"{row['direction_accuracy']:.3f}"
    lo, hi = row["direction_ci"]
    return f"{row['direction_accuracy']:.3f} ({lo:.3f}..{hi:.3f})"
