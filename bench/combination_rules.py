"""Rules for the published combination, replayed on training runs over several test periods.

The combination's weights are fitted on a run's later validation rows, which the run
writes to ``val_predictions.csv`` (``use == "fit"``) beside every forecaster's forecast.
``capture`` trains the default config on every ``*.csv`` of DATA_DIR at each period and
horizon (single split, and with --backtest a walk-forward backtest too) and keeps the run
directories. ``replay`` then recomputes each rule's published forecast on each run's test
rows (``test_predictions.csv``) from its own validation rows (per fold, and in a backtest
the earlier folds' test rows, as runs fit them: ``forecast.past_folds``; a rule wrapped in
``OwnRows`` from the fold's own rows only), in seconds, and
prints per rule, period, mode and horizon: the mean MAE ratio to persistence per step, the
cells (file x step) above 1 and significantly worse (DM-HLN, p < 0.05), the mean RMSE
ratio, and the best classical peer's mean beside it.

A period is ``KRX_END/US_END`` (``data.end`` for the files not starting with ``us_`` and for
those that do), or ``end`` for the whole files.

    python bench/combination_rules.py capture ../shared/data --out DIR
        [--periods end,2021-09-30/2019-08-30,2018-06-29/2018-06-29] [--horizons 1,5]
        [--backtest] [--files a,b]
    python bench/combination_rules.py replay DIR [--rules "default;shrink 0;..."]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast.config import ForecastConfig
from marketcast.evaluation.combination import Weights, fit_weights, keep_earned
from marketcast.evaluation.scores import diebold_mariano_per_step, significant_side
from marketcast.runfiles import PREDICTIONS_FILE, VAL_PREDICTIONS_FILE, is_finished_run

COMPONENTS = ("lstm", "ets", "arima", "drift")


# -- capture ---------------------------------------------------------------------------------


def capture(args: argparse.Namespace) -> int:
    from evaluate_dev import dev_files, file_overrides, run  # bench/ is on sys.path

    files = dev_files(args.data_dir, args.files)
    if not files:
        return 2
    modes = ["single"] + (["backtest"] if args.backtest else [])
    for period in args.periods.split(","):
        krx_end, us_end = (None, None) if period == "end" else period.split("/")
        for file in files:
            end = us_end if file.stem.startswith("us_") else krx_end
            base = file_overrides(file, args.start) + ([f"data.end={end}"] if end else [])
            for horizon in [int(h) for h in args.horizons.split(",")]:
                for mode in modes:
                    run_dir = args.out / _label(period) / mode / f"h{horizon}" / file.stem
                    if is_finished_run(run_dir):
                        continue
                    overrides = [*base, f"window.horizon={horizon}"]
                    if mode == "backtest":
                        overrides += ["evaluation=backtest"]
                        overrides += [f"evaluation.backtest.folds={args.folds}"]
                    metrics = run(run_dir, overrides)
                    print(
                        f"{period} {mode} h{horizon} {file.stem}: {metrics['seconds']:.0f} s",
                        flush=True,
                    )
    return 0


def _label(period: str) -> str:
    return period.replace("/", "_")


# -- rules -----------------------------------------------------------------------------------

Rule = Callable[[np.ndarray, np.ndarray, dict[str, np.ndarray]], Weights]


DEFAULTS = ForecastConfig()  # the package's defaults: one home, read here


def validated(
    components: tuple[str, ...] = tuple(str(c) for c in DEFAULTS.components),
    bar: float = DEFAULTS.min_improvement,
    shrink: float = DEFAULTS.shrink,
) -> Rule:
    """What a run publishes (``jobs.forecaster``): the LP on relative MAE, the steps that
    earned ``bar`` kept, then published at ``1 - shrink`` of each share."""

    def rule(actual, persistence, comps):
        chosen = {n: comps[n] for n in components}
        weights = fit_weights(actual, persistence, chosen)
        return keep_earned(weights, actual, persistence, chosen, bar).shrunk(shrink)

    return rule


def fixed(shares: dict[str, float]) -> Rule:
    """The same shares at every step, whatever validation says."""

    def rule(actual, persistence, comps):
        names = tuple(shares)
        row = np.array([shares[n] for n in names])
        return Weights(names, np.tile(row, (actual.shape[1], 1)))

    return rule


def ets_unless_worse(bar: float = 0.0, **kwargs) -> Rule:
    """ETS's whole move where its validation MAE is not above persistence's by ``bar``
    (per step), with the whole-share rule's LSTM share on top where it earned one."""
    base = validated(shrink=0.0, **kwargs)

    def rule(actual, persistence, comps):
        w = base(actual, persistence, comps)
        ets = np.abs(comps["ets"] - actual).mean(axis=0)
        naive = np.abs(persistence - actual).mean(axis=0)
        weights = w.weights.copy()
        j = w.names.index("ets")
        keep = ets <= naive * (1 + bar)
        earned = weights.any(axis=1)
        weights[keep & ~earned, j] = 1.0
        return Weights(w.names, weights, w.loss)

    return rule


def evidence_shrunk(c: float = 1.0, **kwargs) -> Rule:
    """The whole-share rule's weights at each step times max(0, 1 - c / t^2), t the DM-HLN
    statistic of the combination against persistence on the validation rows: the
    positive-part empirical-Bayes shrinkage of a gain measured with noise (c = 1)."""
    base = validated(shrink=0.0, **kwargs)

    def rule(actual, persistence, comps):
        w = base(actual, persistence, comps)
        combined = w.apply(persistence, {n: comps[n] for n in w.names})
        factors = np.ones(actual.shape[1])
        for h, dm in enumerate(diebold_mariano_per_step(actual, combined, persistence)):
            t = 0.0 if dm is None else dm.statistic
            factors[h] = max(0.0, 1 - c / t**2) if t < 0 else 0.0
        return Weights(w.names, w.weights * factors[:, None], w.loss)

    return rule


def evidence_gate(
    z: float = 2.0,
    components: tuple[str, ...] = tuple(str(c) for c in DEFAULTS.components),
    bar: float = DEFAULTS.min_improvement,
    shrink: float = DEFAULTS.shrink,
) -> Rule:
    """The default rule, but a step whose gain missed the bar keeps its fitted shares where
    their validation gain is at least ``z`` standard errors from zero (the DM-HLN statistic
    against persistence, as ``evidence_shrunk`` reads it): a gate scaled to how much the
    fitted moves vary, so that a peer which barely moves (ETS) can earn a share of under 1%."""

    def rule(actual, persistence, comps):
        chosen = {n: comps[n] for n in components}
        fitted = fit_weights(actual, persistence, chosen)
        kept = keep_earned(fitted, actual, persistence, chosen, bar).weights.copy()
        combined = fitted.apply(persistence, chosen)
        for h, dm in enumerate(diebold_mariano_per_step(actual, combined, persistence)):
            if not kept[h].any() and dm is not None and dm.statistic <= -z:
                kept[h] = fitted.weights[h]
        return Weights(fitted.names, kept, fitted.loss).shrunk(shrink)

    return rule


def pooled_steps(
    components: tuple[str, ...] = tuple(str(c) for c in DEFAULTS.components),
    bar: float = DEFAULTS.min_improvement,
    shrink: float = DEFAULTS.shrink,
) -> Rule:
    """One share per component for every step, fitted on all steps' validation rows at
    once (fewer weights from the same rows), then the default gate and shrink."""

    def rule(actual, persistence, comps):
        chosen = {n: comps[n] for n in components}
        stacked = fit_weights(  # (B, H) -> (B * H, 1): one programme over every step
            actual.T.reshape(-1, 1),
            persistence.T.reshape(-1, 1),
            {n: c.T.reshape(-1, 1) for n, c in chosen.items()},
        )
        tiled = Weights(stacked.names, np.tile(stacked.weights, (actual.shape[1], 1)))
        return keep_earned(tiled, actual, persistence, chosen, bar).shrunk(shrink)

    return rule


def shrunk_per_component(shrinks: dict[str, float], **kwargs) -> Rule:
    """The default rule's kept shares, each component's published at ``1 - shrinks[name]``
    of it (a classical peer's smooth move may deserve more trust than the network's)."""
    base = validated(shrink=0.0, **kwargs)

    def rule(actual, persistence, comps):
        w = base(actual, persistence, comps)
        factors = np.array([1.0 - shrinks.get(n, DEFAULTS.shrink) for n in w.names])
        return Weights(w.names, w.weights * factors[None, :], w.loss)

    return rule


@dataclass(frozen=True)
class OwnRows:
    """``rule`` fitted on each fold's own validation rows only (``forecast.past_folds=false``);
    every other rule also on the earlier folds' test rows where the package default does."""

    rule: Rule


RULES: dict[str, Rule | OwnRows] = {
    "default": validated(),
    "own fold's rows": OwnRows(validated()),
    "shrink 0": validated(shrink=0.0),
    "shrink 0.3": validated(shrink=0.3),
    "shrink 0.4": validated(shrink=0.4),
    "shrink 0.6": validated(shrink=0.6),
    "bar 2%, shrink 0": validated(bar=0.02, shrink=0.0),
    "bar 0.5%, shrink 0": validated(bar=0.005, shrink=0.0),
    "bar 0.5%": validated(bar=0.005),
    "+arima, shrink 0": validated(components=("lstm", "ets", "arima"), shrink=0.0),
    "+arima": validated(components=("lstm", "ets", "arima")),
    "js c=1": evidence_shrunk(1.0),
    "js c=2": evidence_shrunk(2.0),
    "js c=4": evidence_shrunk(4.0),
    "gate or t 2": evidence_gate(2.0),
    "gate or t 1.64": evidence_gate(1.64),
    "one share for all steps": pooled_steps(),
    "lstm half + ets whole": shrunk_per_component({"lstm": 0.5, "ets": 0.0}),
    "lstm half + ets 3/4": shrunk_per_component({"lstm": 0.5, "ets": 0.25}),
    "ets unless worse": ets_unless_worse(),
    "half lstm + half ets": fixed({"lstm": 0.5, "ets": 0.5}),
    "ets": fixed({"ets": 1.0}),
    "arima": fixed({"arima": 1.0}),
    "lstm": fixed({"lstm": 1.0}),
}


# -- replay ----------------------------------------------------------------------------------


def replay(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.rules.split(";")] if args.rules else list(RULES)
    unknown = [n for n in names if n not in RULES]
    if unknown:
        print(f"unknown rules {unknown}; known: {list(RULES)}", file=sys.stderr)
        return 2
    runs = sorted(d / VAL_PREDICTIONS_FILE for d in args.dir.glob("*/*/h*/*") if is_finished_run(d))
    if not runs:
        print(f"no finished runs under {args.dir} (capture writes them)", file=sys.stderr)
        return 2
    rows = []
    for path in runs:
        period, mode, horizon, stem = path.parts[-5:-1]
        folds = _load(path)
        for name in names:
            arrays = _published(RULES[name], folds)
            rows += _cells(arrays, name, period, mode, horizon, stem)
    table = pd.DataFrame(rows)
    summary = _summary(table)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    print(summary.to_string())
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


Fold = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]  # (validation, test) arrays


def _load(path: Path) -> list[Fold]:
    """Per fold of a run: its validation rows that fitted the combination and its test rows,
    each as (B, H) arrays (actual, persistence and each component), origins in order."""
    tables = {"val": pd.read_csv(path), "test": pd.read_csv(path.parent / PREDICTIONS_FILE)}
    for table in tables.values():
        if "fold" not in table:
            table.insert(0, "fold", 1)
    val = tables["val"][tables["val"]["use"] == "fit"]
    out = []
    for fold in sorted(tables["test"]["fold"].unique()):
        out.append(tuple(_wide(t[t["fold"] == fold]) for t in (val, tables["test"])))
    return out


def _wide(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    return {  # -> (B, H) each
        n: rows.pivot(index="origin", columns="step", values=n).to_numpy()
        for n in ("actual", "persistence", *COMPONENTS)
    }


def _published(rule: Rule | OwnRows, folds: list[Fold]) -> dict[str, np.ndarray]:
    """The test arrays of every fold, with ``published``: the rule's weights from that
    fold's validation arrays (and the earlier folds' test arrays, as runs fit them by
    default: ``forecast.past_folds``), applied to its test rows."""
    past = DEFAULTS.past_folds and not isinstance(rule, OwnRows)
    fitted = rule.rule if isinstance(rule, OwnRows) else rule
    out = []
    for k, (fit, wide) in enumerate(folds):
        rows = [fit, *(folds[j][1] for j in range(k))] if past else [fit]
        pooled = {n: np.concatenate([r[n] for r in rows]) for n in fit}
        weights = fitted(
            pooled["actual"], pooled["persistence"], {n: pooled[n] for n in COMPONENTS}
        )
        published = weights.apply(wide["persistence"], {n: wide[n] for n in COMPONENTS})
        out.append({**wide, "published": published})
    return {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def _cells(arrays, rule, period, mode, horizon, stem) -> list[dict]:
    """One row per step: the rule's MAE and RMSE ratios to persistence, DM-HLN verdicts."""
    actual, naive, forecast = arrays["actual"], arrays["persistence"], arrays["published"]
    dms = diebold_mariano_per_step(actual, forecast, naive)
    rows = []
    for h in range(actual.shape[1]):
        error, naive_error = forecast[:, h] - actual[:, h], naive[:, h] - actual[:, h]
        dm = dms[h]
        rows.append(
            {
                "rule": rule,
                "period": period,
                "mode": mode,
                "horizon": horizon,
                "file": stem,
                "step": h + 1,
                "rel_mae": np.abs(error).mean() / np.abs(naive_error).mean(),
                "rel_rmse": np.sqrt((error**2).mean() / (naive_error**2).mean()),
                "worse": bool(dm and significant_side(dm.statistic, dm.p_value) > 0),
                "better": bool(dm and significant_side(dm.statistic, dm.p_value) < 0),
            }
        )
    return rows


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per period, mode, horizon and rule: cells above 1, the largest, cells significantly
    worse and better than persistence, and the mean MAE and RMSE ratios per step."""
    keys = ["period", "mode", "horizon", "rule"]
    by_step = table.groupby([*keys, "step"])[["rel_mae", "rel_rmse"]].mean().reset_index()

    def steps(column: str) -> pd.Series:
        return by_step.groupby(keys)[column].agg(lambda s: " ".join(f"{v:.4f}" for v in s))

    per_rule = table.groupby(keys).agg(
        above_1=("rel_mae", lambda s: int((s > 1 + 1e-12).sum())),
        max=("rel_mae", "max"),
        worse=("worse", "sum"),
        better=("better", "sum"),
        cells=("rel_mae", "size"),
    )
    return per_rule.assign(mae_by_step=steps("rel_mae"), rmse_by_step=steps("rel_rmse")).round(4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    cap = verbs.add_parser("capture")
    cap.add_argument("data_dir", type=Path)
    cap.add_argument("--out", type=Path, required=True)
    cap.add_argument("--periods", default="end,2021-09-30/2019-08-30,2018-06-29/2018-06-29")
    cap.add_argument("--horizons", default="1,5")
    cap.add_argument("--start", default="2010-01-01", help="for KRX files; US files whole")
    cap.add_argument("--backtest", action="store_true")
    cap.add_argument("--folds", type=int, default=5)
    cap.add_argument("--files", default="")
    rep = verbs.add_parser("replay")
    rep.add_argument("dir", type=Path)
    known = "; ".join(RULES).replace("%", "%%")  # argparse formats help with %
    rep.add_argument("--rules", default="", help=f"separated by ';' (names have commas): {known}")
    rep.add_argument("--csv", type=Path, default=None, help="every cell, for your own cuts")
    args = parser.parse_args()
    return capture(args) if args.verb == "capture" else replay(args)


if __name__ == "__main__":
    sys.exit(main())
