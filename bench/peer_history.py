"""ETS's share of the published combination judged on the long history before validation (h = 1).

A run's combination is fitted on its later validation rows (a few hundred), too few for
ETS's edge over persistence (under 1% of MAE) to clear the 1% bar. ETS's forecasts are out
of sample on any row (each refit sees only rows before its origin), so its share can be
judged on every row before the validation samples as well; the LSTM's cannot (its
training rows are in sample), so it keeps the share the default rule gives it.

For each single-split h = 1 run captured by ``bench/combination_rules.py capture`` (CAPTURE_DIR
/PERIOD/single/h1/FILE) this rebuilds the run's series and split with the project's own
loader (checked against the dates and actuals of its validation and test rows), forecasts
one step ahead with AutoETS from every origin between ``WARM_UP`` rows and the first
validation sample (refit every ``REFIT_EVERY`` origins; cached as parquet), then replays
each rule on the run's test rows and writes per period: the mean test MAE ratio to
persistence over the files, the files above 1 and significantly worse or better (DM-HLN,
p < 0.05), the mean RMSE ratio, ETS and ARIMA alone; and per file ETS's MAE ratio on each
set of rows and the share each rule gave it.

    python bench/peer_history.py CAPTURE_DIR DATA_DIR [--out FILE.md] [--cache DIR]

Measured on the 33 runs of stop 29: ETS earned no share on any run under the 1% or 0.5% bar
or a t > 2 gate (its best gain on the long rows 0.21%, |t| <= 1.31), so judging it on the
long history publishes exactly what the default does.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from combination_rules import COMPONENTS, RULES, _cells  # bench/ is on sys.path
from omegaconf import OmegaConf

from marketcast.config import TrainJobConfig
from marketcast.evaluation.baselines import drift
from marketcast.evaluation.combination import Weights, fit_weights, keep_earned
from marketcast.evaluation.peers import ets_model, rolling_forecasts
from marketcast.evaluation.scores import diebold_mariano_per_step
from marketcast.features.dataset import Prepared, prepare_many
from marketcast.jobs.train import load_run_data
from marketcast.runfiles import CONFIG_FILE, PREDICTIONS_FILE, VAL_PREDICTIONS_FILE

WARM_UP = 250  # rows before the first history origin: AutoETS's first fit
REFIT_EVERY = 20  # origins between ETS refits on the history rows
COLUMNS = ("actual", "persistence", "lstm", "ets", "arima", "drift", "model")

Rows = dict[str, np.ndarray]  # name -> (B, 1) prices on the same targets
Rule = Callable[[Rows, Rows, Rows], Weights]  # (fit rows, validation rows, history rows)


# -- the run's rows --------------------------------------------------------------------------


def prepared(run_dir: Path, data_dir: Path) -> Prepared:
    """The run's series and segments, rebuilt from its config with the project's loader,
    its CSV read from ``data_dir``; refuses a rebuild whose validation or test samples
    differ from the run's (dates, actuals, or the ETS forecasts on validation)."""
    cfg = OmegaConf.merge(
        OmegaConf.structured(TrainJobConfig), OmegaConf.load(run_dir / CONFIG_FILE)
    )
    cfg.data.path = str(data_dir / Path(cfg.data.path).name)
    (prep,) = prepare_many(
        load_run_data(cfg.data).frames, cfg.features, cfg.window, cfg.split
    ).values()
    files = {"val": VAL_PREDICTIONS_FILE, "test": PREDICTIONS_FILE}
    saved = {segment: pd.read_csv(run_dir / file) for segment, file in files.items()}
    for segment, rows in saved.items():
        t = prep.parts[segment].windows.first_target
        same = len(rows) == len(t) and np.array_equal(
            prep.dates[t].strftime("%Y-%m-%d"), rows["date"].to_numpy()
        )
        if not same or not np.allclose(prep.raw_target[t], rows["actual"], rtol=1e-9):
            raise SystemExit(f"{run_dir}: the rebuilt {segment} samples differ from the run's")
    # The run's ETS on validation was fitted on every training row: the same forecasts say
    # that the rows before the validation segment, which the history rows use, are the run's.
    t, stop = prep.parts["val"].windows.first_target, prep.segments.val_start
    ets, _ = rolling_forecasts(
        ets_model, prep.raw_target, t, 1, cfg.evaluation.peers.refit_every, stop
    )
    if not np.allclose(ets[:, 0], saved["val"]["ets"], rtol=1e-6):
        raise SystemExit(f"{run_dir}: the rebuilt training rows differ from the run's")
    return prep


def history_rows(run_dir: Path, data_dir: Path, cache_dir: Path) -> pd.DataFrame:
    """One row per target between ``WARM_UP`` and the run's first validation sample: the
    actual, persistence, drift and AutoETS's one-step forecast from the rows before it."""
    cached = cache_dir / f"{run_dir.parts[-4]}_{run_dir.name}.parquet"
    if cached.exists():
        return pd.read_parquet(cached)
    prep = prepared(run_dir, data_dir)
    series, width = prep.raw_target, prep.transform.window
    t = np.arange(WARM_UP, prep.parts["val"].windows.first_target[0])
    window = series[t[:, None] - width + np.arange(width)]  # -> (B, W) as the run's drift sees
    rows = pd.DataFrame(
        {
            "date": prep.dates[t].strftime("%Y-%m-%d"),
            "actual": series[t],
            "persistence": series[t - 1],
            "drift": drift(window, 1)[:, 0],
            "ets": rolling_forecasts(ets_model, series, t, 1, REFIT_EVERY, int(t[0]))[0][:, 0],
            "val_start": prep.segments.val_start,  # the split's rows, for the report
            "test_start": prep.segments.test_start,
            "n": prep.segments.n,
        }
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(cached)
    return rows


def arrays(rows: pd.DataFrame) -> Rows:
    return {c: rows[[c]].to_numpy(dtype=float) for c in COLUMNS if c in rows}  # -> (B, 1)


# -- rules -----------------------------------------------------------------------------------


def default(fit: Rows, val: Rows, history: Rows) -> Weights:
    """What the run published (``combination_rules``' default on its fit rows)."""
    return RULES["default"](fit["actual"], fit["persistence"], {n: fit[n] for n in COMPONENTS})


def peer_judged(
    peers: tuple[str, ...] = ("ets",),
    bar: float = 0.01,
    shrink: float = 0.5,
    z: float | None = None,
    long: bool = True,
) -> Rule:
    """The peers' shares fitted (LP on relative MAE) on the history and all validation rows
    (``long``; else the validation rows alone), kept where they beat persistence there by
    ``bar`` (``keep_earned``) or, with ``z``, where their DM-HLN statistic against
    persistence is at most ``-z``; published at ``1 - shrink``. The LSTM's share is the
    default rule's; where the shares sum above 1 all are scaled down to sum to 1."""

    def rule(fit, val, history):
        first = default(fit, val, history)
        lstm = first.published[:, [first.names.index("lstm")]]  # -> (H, 1)
        rows = {k: np.concatenate([history[k], val[k]]) for k in history} if long else val
        chosen = {n: rows[n] for n in peers}
        fitted = fit_weights(rows["actual"], rows["persistence"], chosen)
        if z is None:
            kept = keep_earned(fitted, rows["actual"], rows["persistence"], chosen, bar).weights
        else:
            combined = fitted.apply(rows["persistence"], chosen)
            dms = diebold_mariano_per_step(rows["actual"], combined, rows["persistence"])
            sure = np.array([dm is not None and dm.statistic <= -z for dm in dms])
            kept = fitted.weights * sure[:, None]
        shares = np.hstack([lstm, kept * (1 - shrink)])  # -> (H, 1 + P)
        shares /= np.maximum(shares.sum(axis=1, keepdims=True), 1.0)
        return Weights(("lstm", *peers), shares)

    return rule


ED = ("ets", "drift")
RULES_HERE: dict[str, Rule] = {
    "default": default,
    "ets short (all val rows)": peer_judged(long=False),
    "ets long": peer_judged(),
    "ets long, shrink 0": peer_judged(shrink=0.0),
    "ets long, bar 0.5%": peer_judged(bar=0.005),
    "ets long, bar 0": peer_judged(bar=0.0),  # any gain: the most the long rows could give
    "ets long, t>2": peer_judged(z=2.0),
    "ets long, t>2, shrink 0": peer_judged(z=2.0, shrink=0.0),
    "ets+drift long": peer_judged(ED),
    "ets+drift long, shrink 0": peer_judged(ED, shrink=0.0),
    "ets+drift long, bar 0.5%": peer_judged(ED, bar=0.005),
    "ets+drift long, t>2": peer_judged(ED, z=2.0),
}
ALONE = ("ets", "arima")  # the peers' own forecasts, scored beside the rules


# -- replay ----------------------------------------------------------------------------------


def ratio(rows: Rows, name: str) -> float:
    """MAE of ``name`` over persistence's on ``rows``."""
    actual = rows["actual"]
    return float(np.abs(rows[name] - actual).mean() / np.abs(rows["persistence"] - actual).mean())


def long_evidence(rows: Rows) -> dict:
    """ETS alone on the long rows, before any bar: the LP's share, the MAE gain over
    persistence it fits (%), and that gain's DM-HLN statistic (negative: ETS helps)."""
    chosen = {"ets": rows["ets"]}
    fitted = fit_weights(rows["actual"], rows["persistence"], chosen)
    combined = fitted.apply(rows["persistence"], chosen)
    (dm,) = diebold_mariano_per_step(rows["actual"], combined, rows["persistence"])
    return {
        "long LP share": fitted.weights[0, 0],
        "long gain %": 100 * (1 - ratio({**rows, "fitted": combined}, "fitted")),
        "long t": dm.statistic if dm else np.nan,
    }


def replay_run(run_dir: Path, data_dir: Path, cache_dir: Path) -> tuple[list[dict], dict]:
    """Every rule's test cells of one run (``combination_rules._cells``), and its file row."""
    period, stem = run_dir.parts[-4], run_dir.name
    where = (period, "single", "h1", stem)
    val_table = pd.read_csv(run_dir / VAL_PREDICTIONS_FILE)
    test_table = pd.read_csv(run_dir / PREDICTIONS_FILE)
    hist_table = history_rows(run_dir, data_dir, cache_dir)
    fit, val, history, test = (
        arrays(t) for t in (val_table[val_table["use"] == "fit"], val_table, hist_table, test_table)
    )
    split = hist_table.iloc[0]
    file_row = {
        "period": period,
        "file": stem,
        "rows": f"{split['val_start']}/{split['test_start']}/{split['n']}",
        "history origins": len(hist_table),
        "fit rows": len(fit["actual"]),
        "ets history": ratio(history, "ets"),
        "ets val": ratio(val, "ets"),
        "ets fit": ratio(fit, "ets"),
        "ets test": ratio(test, "ets"),
        **long_evidence({k: np.concatenate([history[k], val[k]]) for k in history}),
    }
    cells = []
    for name, rule in RULES_HERE.items():
        weights = rule(fit, val, history)
        published = weights.apply(test["persistence"], {n: test[n] for n in weights.names})
        if name == "default":
            file_row["default vs model"] = float(np.abs(published / test["model"] - 1).max())
            file_row["lstm (default)"] = weights.published[0, weights.names.index("lstm")]
        shares = dict(zip(weights.names, weights.published[0], strict=True))  # step 1's
        file_row[name] = "/".join(f"{w:.2f}" for n, w in shares.items() if n != "lstm")
        cells += _cells({**test, "published": published}, name, *where)
    for name in ALONE:
        cells += _cells({**test, "published": test[name]}, f"{name} alone", *where)
    return cells, file_row


def summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Per period and rule over the files: mean MAE ratio, files above 1, significantly
    worse and better than persistence, mean RMSE ratio."""
    return (
        cells.groupby(["period", "rule"], sort=False)
        .agg(
            mae_ratio=("rel_mae", "mean"),
            above_1=("rel_mae", lambda s: int((s > 1 + 1e-12).sum())),
            worse=("worse", "sum"),
            better=("better", "sum"),
            rmse_ratio=("rel_rmse", "mean"),
            files=("rel_mae", "size"),
        )
        .reset_index()
    )


FILE_COLUMNS = f"""Per file: rows = the split's val_start/test_start/n; history origins =
targets from row {WARM_UP} to the first validation sample (ETS refit every {REFIT_EVERY});
fit rows = the validation rows the default fits on; ets history / val / fit / test = ETS's
MAE over persistence's on those rows (val: every validation row); long LP share, gain %,
t = ETS alone fitted on history + validation rows before any bar (DM-HLN t, negative:
ETS helps); then each rule's published step-1 share of ETS (ets+drift rules: ets/drift)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture_dir", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument(
        "--cache", type=Path, help="ETS's history forecasts (default: CAPTURE_DIR/peer_history)"
    )
    args = parser.parse_args()
    args.cache = args.cache or args.capture_dir / "peer_history"
    started = time.perf_counter()
    runs = sorted(args.capture_dir.glob("*/single/h1/*/" + PREDICTIONS_FILE))
    if not runs:
        print(f"no single-split h1 runs under {args.capture_dir}", file=sys.stderr)
        return 2
    cells, files = [], []
    for path in runs:
        run_cells, file_row = replay_run(path.parent, args.data_dir, args.cache)
        cells += run_cells
        files.append(file_row)
    table = summary(pd.DataFrame(cells))
    overall = summary(pd.DataFrame(cells).assign(period="all"))
    by_file = pd.DataFrame(files)
    text = [f"# ETS judged on long history, h = 1, single split ({len(runs)} runs)\n"]
    text.append(
        f"default replay vs published `model`: max relative difference "
        f"{by_file['default vs model'].max():.1e}\n"
    )
    for period, part in [*table.groupby("period", sort=False), ("all", overall)]:
        text.append(
            f"\n## {period}\n\n"
            + part.drop(columns="period").to_markdown(index=False, floatfmt=".4f")
        )
    text.append(f"\n{FILE_COLUMNS}")
    for period, part in by_file.groupby("period", sort=False):
        shown = part.drop(columns=["period", "default vs model"])
        text.append(f"\n## {period}: per file\n\n" + shown.to_markdown(index=False, floatfmt=".4f"))
    text.append(f"\nruntime {time.perf_counter() - started:.0f} s\n")
    report = "\n".join(text)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
