"""The Markdown report of a run, a single split or a backtest (pure: metrics in, text out)."""

from __future__ import annotations

from marketcast.evaluation.verdicts import (
    direction_words,
    dm_words,
    interval_words,
    score_test_words,
)


def run_report(metrics: dict, settings: dict, label: str) -> str:
    """The test segment's table, every test in words, the published combination and the
    interval; a backtest's (``metrics["folds"]``) per fold too. ``settings``:
    representation, features, window, horizon, units, layers, scheme, refit_every
    (``jobs.outputs.describe``)."""
    folds = metrics.get("folds")
    test = metrics["test"]
    model = test["model"]
    model_line = (
        f"Representation `{settings['representation']}`, features {settings['features']}, "
        f"window {settings['window']}, horizon {settings['horizon']}, "
        f"LSTM({settings['units']}) x {settings['layers']}."
    )
    if folds:
        lines = [
            f"# Walk-forward backtest: {label}",
            "",
            f"{len(folds)} folds ({settings['scheme']} training window, refit every "
            f"{settings['refit_every']}), first origin {folds[0]['origin']}, last forecast "
            f"{folds[-1]['test_end']}. " + model_line,
            "",
            *_data_lines(metrics),
            "## All folds together (test blocks)",
            "",
        ]
    else:
        lines = [f"# {label}", "", "One split: train, validation, test. " + model_line, ""]
        lines += [*_data_lines(metrics), "## Test segment", ""]
    lines += [
        "| forecaster | MAE | RMSE | MAPE % | MASE | MAE / persistence | direction (95% CI) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in test.items():
        lines.append(
            f"| {name} | {row['mae']:.4f} | {row['rmse']:.4f} | {row['mape']:.3f} | "
            f"{_num(row['mase'])} | {_num(row['rel_mae'])} | {_direction(row)} |"
        )
    lines += [
        "",
        f"The published model's MAE on these targets is {model['rel_mae']:.3f} times "
        f"persistence's (skill {model['skill']:+.3f}).",
        "Diebold-Mariano tests of equal MAE against persistence (Harvey-Leybourne-Newbold, "
        "Student-t):",
        "",
    ]
    for name in ("model", "lstm", "ets", "arima"):  # "better" only where it is significant
        if name in test:
            lines.append(f"- {dm_words(test[name].get('dm_vs_persistence'), name)}")
    lines.append("")
    if "combination" in metrics:
        combination = metrics["combination"]
        fitted_on = combination.get("fitted_on")  # absent in a run saved before it was kept
        lines.append(
            (
                "Published forecast (the last fold's weights, which predict uses)"
                if folds
                else "Published forecast (the weights predict uses)"
            )
            + (f", fitted on {fitted_on}" if fitted_on else "")
            + f": {combination['words']}."
        )
    direction = direction_words(test)
    if direction:
        lines.append(f"{direction[0].upper()}{direction[1:]}.")
    interval = model.get("interval")
    if interval:
        lines += [
            "",
            "## Prediction interval",
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
    if folds:
        lines += _per_fold(folds, test)
    if "per_step" in model:
        lines += [
            "",
            "## MAE per step",
            "",
            "| step | " + " | ".join(test) + " |",
            "|---|" + "---|" * len(test),
        ]
        for h in range(len(model["per_step"])):
            lines.append(
                f"| {h + 1} | "
                + " | ".join(f"{test[n]['per_step'][h]['mae']:.4f}" for n in test)
                + " |"
            )
        lines += ["", "Diebold-Mariano tests per step against persistence:", ""]
        for h in range(len(model["per_step"])):
            for name in ("model", "lstm", "ets", "arima"):
                if name in test:
                    dm = test[name]["per_step"][h].get("dm_vs_persistence")
                    lines.append(f"- step {h + 1}, {dm_words(dm, name)}")
    figures = (
        "`backtest_forecast.png` (actual vs forecast with the interval band), `folds.png` "
        "(every forecaster per fold)"
        if folds
        else "`test_forecast.png` (actual vs forecast with the interval band)"
    )
    lines += [
        "",
        f"Figures (where plots are on): {figures}, `coverage.png`, `cumulative_loss.png`"
        + (", `fan.png`, `error_per_step.png`" if "per_step" in model else "")
        + ". Every forecast: `test_predictions.csv`.",
        "",
    ]
    return "\n".join(lines)


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
