"""What a run says of its tests: the DM verdicts with the size of the difference, and a
global model's report.md and printed summary, per symbol."""

import contextlib
import io
import json
from types import SimpleNamespace

import FinanceDataReader
import pandas as pd
import pytest
from conftest import compose_train, synthetic_prices
from fake_fdr import FakeReader

from marketcast.evaluation.scores import significant_side
from marketcast.evaluation.verdicts import dm_words, interval_words
from marketcast.jobs import outputs
from marketcast.storage import artifacts

SETTINGS = {
    "representation": "relative",
    "features": ["Close"],
    "window": 10,
    "horizon": 1,
    "units": 8,
    "layers": 1,
    "head": "direct",
    "scheme": "expanding",
    "refit_every": 1,
}


def dm(statistic: float, p_value: float, ratio: float) -> dict:
    return {"statistic": statistic, "p_value": p_value, "n": 250, "mae_ratio": ratio}


def row(mae: float, rel_mae: float, test: dict | None = None) -> dict:
    """A forecaster's test row as ``scoring.score_segment`` writes it (horizon 1)."""
    return {
        "mae": mae,
        "rmse": 1.3 * mae,
        "mape": 1.0,
        "mase": 1.1 * rel_mae,
        "direction_accuracy": None,
        "direction_ci": None,
        "direction_n": 0,
        "dm_vs_persistence": test,
        "rel_mae": rel_mae,
        "skill": 1 - rel_mae,
    }


def interval(coverage: float, **extra) -> dict:
    return {
        "levels": [0.1, 0.9],
        "nominal": 0.8,
        "coverage": coverage,
        "coverage_test": {"statistic": 0.5, "p_value": 0.6, "n": 250},
        "width_pct": 2.0,
        "winkler_pct": 2.8,
        **extra,
    }


def symbol_test(price: float, lstm: dict | None, model: dict | None = None) -> dict:
    """One symbol's test table, in prices near ``price``."""
    published = row(0.012 * price, 1.0 if model is None else model["mae_ratio"], model)
    published["interval"] = interval(
        0.81, score_vs_reference={"band": "garch", "statistic": -0.4, "p_value": 0.7, "n": 250}
    )
    persistence = row(0.012 * price, 1.0)
    del persistence["dm_vs_persistence"]
    persistence["interval"] = interval(0.86, band="garch")
    return {
        "model": published,
        "lstm": row(0.013 * price, 1.02, lstm),
        "persistence": persistence,
        "ets": row(0.012 * price, 0.99997, dm(-2.60, 0.0101, 0.99997)),
    }


def universe_metrics(tests: dict[str, dict], failed: dict[str, str] | None = None) -> dict:
    """A global model's metrics: per symbol, and the means ``scoring.mean_over`` gives,
    MAE and RMSE (price units) left out of them."""
    means = {
        name: {
            key: sum(t[name][key] for t in tests.values()) / len(tests)
            for key in ("mape", "mase", "rel_mae", "skill")
        }
        | {"mae": None, "rmse": None, "direction_accuracy": None}
        for name in next(iter(tests.values()))
    }
    means["model"]["interval"] = interval(0.81)
    means["persistence"]["interval"] = interval(0.86)
    metrics = {
        "val": means,
        "test": means,
        "symbols": {symbol: {"val": test, "test": test} for symbol, test in tests.items()},
        "combination": {"words": "validation gives lstm 0.00 of its move, ets 0.00 (the "
                        "combination is persistence)", "fitted_on": "72 later validation samples"},
    }  # fmt: skip
    if failed is not None:
        metrics["failed"] = failed
    return metrics


def section(report: str, heading: str) -> str:
    """The text of a report's ``## heading`` section, up to the next ``## ``."""
    start = report.index(f"\n## {heading}")
    end = report.find("\n## ", start + 1)
    return report[start : end if end >= 0 else None]


def universe_result(metrics: dict) -> outputs.RunResult:
    frame = pd.DataFrame()
    return outputs.RunResult(metrics, frame, frame, False, True, pd.Timestamp("2025-10-02"))


def test_a_dm_verdict_says_the_mae_ratio_with_the_digits_that_tell_it_from_one():
    """'ets: significantly better than persistence (DM -2.60, p = 0.010)' was said where
    ETS's MAE was persistence's to four places (ratio 0.99997, shown as 1.0000)."""
    assert dm_words(dm(-2.60, 0.0101, 0.99997), "ets") == (
        "ets: significantly better than persistence (MAE ratio 0.99997, DM -2.60, p = 0.010)"
    )
    assert dm_words(dm(2.59, 0.0099, 1.0246), "lstm").endswith(
        "significantly worse than persistence (MAE ratio 1.0246, DM +2.59, p = 0.010)"
    )
    for ratio, shown in [(1.00003, "1.00003"), (0.9999996, "0.9999996"), (1.0, "1.0000")]:
        assert f"(MAE ratio {shown}, DM" in dm_words(dm(0.5, 0.6, ratio), "ets")
    # a result without its ratio (a test of another loss, a run saved before) says none
    assert dm_words({"statistic": 0.5, "p_value": 0.6}, "ets") == (
        "ets: no significant difference from persistence (DM +0.50, p = 0.600)"
    )


def test_a_global_model_writes_a_report_with_a_section_per_symbol(tmp_path, monkeypatch):
    """write_run wrote no report.md for a global model: its per-symbol tests were nowhere
    in words."""
    saved = []
    monkeypatch.setattr(artifacts, "save_run", lambda *args, **kwargs: saved.append(args))
    tests = {
        "AAPL": symbol_test(400.0, dm(2.59, 0.0099, 1.0246)),
        "005930": symbol_test(60000.0, dm(0.3, 0.77, 1.004)),
    }
    metrics = universe_metrics(tests, failed={"NOSUCH": "the source does not know it"})
    metrics["test"]["ets"]["interval"] = interval(0.77)  # a peer's own band, as its rows hold
    fitted = SimpleNamespace(history={}, transform=None, intervals=None, weights=None, model=None)
    outputs.write_run(
        tmp_path, universe_result(metrics), fitted, {}, "", "universe", False, SETTINGS
    )
    assert saved  # the artifacts after the report, as for any run
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# universe: one model of 2 symbols\n")
    assert "- NOSUCH: the source does not know it\n" in report
    means = section(report, "Means over the 2 symbols (test segment)")
    assert "| forecaster | MAPE % | MASE | MAE / persistence | direction |\n" in means
    assert "| model | 1.000 | 1.1000 | 1.0000 | n/a |\n" in means  # no price-unit column
    assert means.count("Published forecast (one set of weights for every symbol") == 1
    assert f"mean over symbols: {interval_words(metrics['test']['model']['interval'])}." in means
    ets_band = interval_words(metrics["test"]["ets"]["interval"])
    assert f"AutoETS's own interval, mean over symbols: {ets_band}." in means
    assert report.count("Published forecast") == 1  # once: one set of weights
    for symbol, test in tests.items():
        own = section(report, f"{symbol}\n")
        assert f"MAE and RMSE in {symbol}'s prices" in own
        assert f"| lstm | {test['lstm']['mae']:.4f} | {test['lstm']['rmse']:.4f} |" in own
        for name in ("model", "lstm", "ets"):
            assert f"- {dm_words(test[name]['dm_vs_persistence'], name)}\n" in own
        garch = interval_words(test["persistence"]["interval"])
        assert "### Prediction interval\n" in own and f"around persistence: {garch}." in own
    assert (
        "- lstm: significantly worse than persistence (MAE ratio 1.0246, DM +2.59, p = 0.010)\n"
        in section(report, "AAPL\n")
    )


def test_a_global_models_summary_prints_each_significant_verdict_per_symbol(capsys):
    tests = {
        "AAPL": symbol_test(400.0, dm(2.59, 0.0099, 1.0246)),
        "MSFT": symbol_test(300.0, dm(2.47, 0.014, 1.031), model=dm(-2.1, 0.036, 0.981)),
        "005930": symbol_test(60000.0, dm(0.3, 0.77, 1.004)),
    }
    outputs.print_report(universe_result(universe_metrics(tests)), {"NOSUCH": "no such symbol"})
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("  AAPL       test rel_mae 1.0000  MASE 1.1000")
    assert lines[start:] == [
        "  AAPL       test rel_mae 1.0000  MASE 1.1000",
        "  AAPL       lstm: significantly worse than persistence (MAE ratio 1.0246, DM +2.59, "
        "p = 0.010)",
        "  MSFT       test rel_mae 0.9810  MASE 1.0791",
        "  MSFT       model: significantly better than persistence (MAE ratio 0.9810, DM -2.10, "
        "p = 0.036)",
        "  MSFT       lstm: significantly worse than persistence (MAE ratio 1.0310, DM +2.47, "
        "p = 0.014)",
        "  005930     test rel_mae 1.0000  MASE 1.1000",
        "  NOSUCH     skipped: no such symbol",
    ]  # ets's significant verdicts are report.md's: the summary names model and lstm


def test_a_big_universe_counts_its_significant_verdicts_and_a_quiet_one_says_so(capsys):
    worse, quiet = dm(2.59, 0.0099, 1.0246), dm(0.3, 0.77, 1.004)
    tests = {f"S{k:02d}": symbol_test(100.0, worse if k < 3 else quiet) for k in range(12)}
    outputs.print_report(universe_result(universe_metrics(tests)), {})
    out = capsys.readouterr().out
    assert "significantly worse than persistence" not in out  # not one line per symbol
    assert out.endswith(
        "  test MAE against persistence, 12 symbols: lstm significantly worse on 3 (each: "
        "report.md)\n"
    )
    tests = {symbol: symbol_test(100.0, quiet) for symbol in ("AAPL", "MSFT")}
    outputs.print_report(universe_result(universe_metrics(tests)), {})
    assert capsys.readouterr().out.endswith(
        "  test MAE: no symbol's model or lstm differs significantly from persistence (every "
        "test: report.md)\n"
    )


HISTORIES = {  # tests/test_universe.py's, the smallest a global model trains on
    "005930": synthetic_prices(300, seed=1, exchange="XKRX") * 500,
    "AAPL": synthetic_prices(200, seed=3, exchange="XNYS"),
}


@pytest.fixture(scope="module")
def global_run(tmp_path_factory):
    """A tiny global model of two symbols, a third skipped at load; its printed summary."""
    from marketcast.jobs.train import train

    tmp = tmp_path_factory.mktemp("global")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setattr(FinanceDataReader, "DataReader", FakeReader(HISTORIES))
        cfg = compose_train(
            tmp / "run",
            "data=fdr",
            "data.symbol=null",
            "data.symbols=[005930,AAPL,NOSUCH]",
            f"data.cache_dir={tmp / 'cache'}",
            "data.backoff_s=0",
            "window.horizon=2",
            "model.units=4",
            "evaluation.peers.arima=false",
        )
        train(cfg)
    return tmp / "run", printed.getvalue()


def test_a_global_run_reports_and_prints_every_symbols_tests(global_run):
    run_dir, printed = global_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    report = (run_dir / "report.md").read_text()
    assert "## Symbols skipped\n\nNot in the model (`data.on_error=skip`):\n\n- NOSUCH: " in report
    for symbol, segments in metrics["symbols"].items():
        test = segments["test"]
        own = section(report, f"{symbol}\n")
        assert f"| persistence | {test['persistence']['mae']:.4f} |" in own  # its own prices
        for name in ("model", "lstm", "ets"):
            assert f"- {dm_words(test[name]['dm_vs_persistence'], name)}\n" in own
            step_two = test[name]["per_step"][1]["dm_vs_persistence"]
            assert f"- step 2, {dm_words(step_two, name)}\n" in own
        assert "The reference, a GARCH(1,1) band around persistence: " in own
    assert "  NOSUCH     skipped: " in printed
    # the means table is introduced by what it is (the note was glued to its last row)
    assert "means over 2 symbols (MAE and RMSE, in each symbol's own prices: per " in printed
    assert "test    model" in printed.split("means over 2 symbols")[1]
    # the intervals' means too: a universe's summary said nothing of its bands
    mean = metrics["test"]["model"]["interval"]
    assert f"test, mean: {interval_words(mean)}\n" in printed
    garch = metrics["test"]["persistence"]["interval"]
    assert f"test, mean: the GARCH(1,1) band around persistence: {interval_words(garch)}\n" in (
        printed
    )
    said = 0
    for symbol, segments in metrics["symbols"].items():
        for name in ("model", "lstm"):
            test = segments["test"][name]["dm_vs_persistence"]
            line = f"  {symbol:<10} {dm_words(test, name)}\n"
            significant = test is not None and significant_side(test["statistic"], test["p_value"])
            assert (line in printed) == bool(significant), line
            said += bool(significant)
    assert ("no symbol's model or lstm differs significantly" in printed) == (said == 0)


def test_the_report_names_the_head_and_the_ensemble():
    """report.md read 'LSTM(8) x 2.' for a sequence head and for an ensemble of 3 seeds."""
    from marketcast.evaluation.report import _model_line

    settings = {
        "representation": "relative",
        "features": ["Close"],
        "window": 60,
        "horizon": 3,
        "units": 8,
        "layers": 2,
        "head": "sequence",
        "ensemble": 3,
    }
    said = _model_line(settings)
    assert said.endswith("LSTM(8) x 2, sequence head, an ensemble of 3 seeds.")
    assert _model_line({**settings, "head": "dense", "ensemble": 1}).endswith("dense head.")
