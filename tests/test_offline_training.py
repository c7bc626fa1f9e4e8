"""Training on FinanceDataReader data with the network down: from a warm cache, or a clear error."""

import logging
import math

import FinanceDataReader
import pandas as pd
import pytest
from conftest import compose_train, run_in_process, run_marketcast, synthetic_prices
from fake_fdr import FailingReader, FakeReader

from marketcast.config import DataConfig
from marketcast.data.sources import load_prices
from marketcast.errors import MarketcastError
from marketcast.jobs.train import train

SYMBOL = "005930"
HISTORY = (
    synthetic_prices(400, seed=5, exchange="XKRX") * 500
)  # 2015-01-02..2016-07-29 (XKRX sessions), Naver's schema


@pytest.fixture
def warm_cache(tmp_path, monkeypatch):
    """A cache directory filled through the fetch path (the fake source), as a run would."""
    cache_dir = tmp_path / "cache"
    monkeypatch.setattr(FinanceDataReader, "DataReader", FakeReader({SYMBOL: HISTORY}))
    cfg = DataConfig(source="fdr", symbol=SYMBOL, cache_dir=str(cache_dir))
    load_prices(cfg, now=pd.Timestamp("2016-08-01", tz="UTC"))
    return cache_dir


@pytest.fixture
def network_down(monkeypatch):
    reader = FailingReader(ConnectionError("Failed to resolve 'fchart.stock.naver.com'"))
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    return reader.calls


def fdr_overrides(cache_dir):
    return ["data=fdr", f"data.symbol={SYMBOL}", f"data.cache_dir={cache_dir}", "data.backoff_s=0"]


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_offline_training_uses_the_warm_cache_with_one_warning(
    tmp_path, warm_cache, network_down, caplog
):
    run_dir = tmp_path / "run"
    caplog.set_level(logging.INFO)
    score = train(compose_train(run_dir, *fdr_overrides(warm_cache)))
    assert len(network_down) == 3  # the cache is stale today: the source was tried, 3 times
    assert math.isfinite(score)
    assert (run_dir / "preprocessing.json").is_file()
    warnings = [  # the data layer's: the run's own (its short validation) are not at issue
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("marketcast.data")
    ]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        f"{SYMBOL}: the data source (Naver) could not be reached: 3 tries"
    )
    assert "using the cached prices, which end on 2016-07-29 (" in warnings[0]


def test_offline_training_without_a_cache_fails_clearly(tmp_path, network_down):
    run_dir = tmp_path / "run"
    with pytest.raises(MarketcastError, match=r"could not be reached.*no cached copy at .*005930"):
        train(compose_train(run_dir, *fdr_overrides(tmp_path / "empty")))
    assert not (run_dir / "preprocessing.json").exists()


def test_refresh_never_without_a_cache_exits_2_naming_the_fetch_command(
    tmp_path, network_down, capsys
):
    """The command in this process: one message, status 2, no source asked, nothing written."""
    run_dir = tmp_path / "c"
    status = run_in_process(
        "train",
        *fdr_overrides(tmp_path / "none"),
        "data.refresh=never",
        f"hydra.run.dir={run_dir}",
    )
    assert status == 2
    assert network_down == []
    err = capsys.readouterr().err
    assert f"error: {SYMBOL}: data.refresh=never and no cached prices at" in err
    assert "marketcast fetch symbols=[005930]" in err
    assert "Traceback" not in err
    assert not run_dir.exists()  # Hydra made it; nothing but its own files: removed


@pytest.mark.slow
def test_train_cli_offline(tmp_path, warm_cache):
    """The real command, with data.refresh=never: no fake can reach a subprocess, nor a network."""
    common = ["data=fdr", f"data.symbol={SYMBOL}", "data.refresh=never", "debug=default"]

    warm = run_marketcast(
        "train", *common, f"data.cache_dir={warm_cache}", f"hydra.run.dir={tmp_path / 'w'}"
    )
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert (tmp_path / "w" / "preprocessing.json").is_file()

    cold_dir = tmp_path / "c"
    cold = run_marketcast(
        "train", *common, f"data.cache_dir={tmp_path / 'none'}", f"hydra.run.dir={cold_dir}"
    )
    assert cold.returncode == 2
    assert f"error: {SYMBOL}: data.refresh=never and no cached prices at" in cold.stderr
    assert "marketcast fetch symbols=[005930]" in cold.stderr
    assert "Traceback" not in cold.stderr
    assert not cold_dir.exists()  # nothing half-written
