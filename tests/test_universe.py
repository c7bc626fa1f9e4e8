"""Many symbols at once, and the cache-warming command `marketcast fetch`."""

import re
from dataclasses import replace

import FinanceDataReader
import pandas as pd
import pytest
from conftest import compose_fetch, run_in_process, run_marketcast, synthetic_prices
from fake_fdr import FakeReader, UnresolvedReader

from marketcast.config import DataConfig
from marketcast.data.sources import Offline
from marketcast.data.universe import load_universe, universe_symbols
from marketcast.errors import EXIT_PARTIAL, MarketcastError
from marketcast.jobs.fetch import fetch

NOW = pd.Timestamp("2016-06-01 12:00", tz="UTC")
HISTORIES = {
    "005930": synthetic_prices(300, seed=1, exchange="XKRX") * 500,
    "000660": synthetic_prices(250, seed=2, exchange="XKRX") * 300,
    "AAPL": synthetic_prices(200, seed=3, exchange="XNYS"),
}


@pytest.fixture
def fake(monkeypatch):
    reader = FakeReader(HISTORIES)
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    return reader


def universe_config(tmp_path, **overrides) -> DataConfig:
    values = {"source": "fdr", "cache_dir": str(tmp_path / "cache"), "backoff_s": 0.0}
    return DataConfig(**{**values, **overrides})


def test_symbols_inline_and_from_a_file_add_up_without_repeats(tmp_path):
    file = tmp_path / "universe.txt"
    file.write_text("# KRX\n000660\n005930  # Samsung\n\naapl\n")
    cfg = DataConfig(symbols=["005930", "AAPL"], universe_file=str(file))
    assert universe_symbols(cfg) == ["005930", "AAPL", "000660"]
    assert universe_symbols(DataConfig(symbol="KS11")) == ["KS11"]


def test_each_symbol_has_one_spelling_whichever_was_typed(caplog):
    """aapl is AAPL (as FinanceDataReader reads it): one cache file, one store key."""
    cfg = DataConfig(symbols=["aapl", " msft ", "MSFT", "005930"])
    with caplog.at_level("INFO", logger="marketcast"):
        assert universe_symbols(cfg) == ["AAPL", "MSFT", "005930"]
    assert "MSFT named more than once (any spelling): loaded once" in caplog.text
    assert universe_symbols(DataConfig(symbol=" ks11")) == ["KS11"]


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (DataConfig(source="fdr"), "no symbols to load"),
        (DataConfig(source="fdr", universe_file="/nonexistent.txt"), "does not exist"),
        (DataConfig(source="csv", symbols=["A"]), "use data=fdr with symbols"),
        # a CSV file's path was upper-cased and asked of Yahoo, and the network blamed
        (DataConfig(source="fdr", symbols=["AAPL", "/data/us_MSFT.csv"]), "is a file path"),
    ],
)
def test_bad_universe_config_is_named(fake, cfg, message):
    with pytest.raises(MarketcastError, match=message):
        load_universe(cfg, now=NOW)
    assert fake.calls == []


def test_each_symbol_is_loaded_and_validated_on_its_own(tmp_path, monkeypatch):
    histories = dict(HISTORIES)
    broken = histories["000660"].copy()
    broken.iloc[10, broken.columns.get_loc("High")] = 1.0  # below Low: dropped in 000660 only
    histories["000660"] = broken
    monkeypatch.setattr(FinanceDataReader, "DataReader", FakeReader(histories))
    result = load_universe(universe_config(tmp_path, symbols=list(histories)), now=NOW)
    assert list(result.loaded) == ["005930", "000660", "AAPL"] and not result.failed
    assert {s: len(f) for s, f in result.frames.items()} == {"005930": 300, "000660": 249,
                                                              "AAPL": 200}  # fmt: skip
    assert result.loaded["005930"].report.summary() == "clean"
    assert "1 rows with High/Low outside" in result.loaded["000660"].report.summary()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "000660.parquet",
        "005930.parquet",
        "AAPL.parquet",
    ]


def test_one_bad_symbol_does_not_stop_the_others(tmp_path, fake):
    cfg = universe_config(tmp_path, symbols=["005930", "999999", "NOSUCH", "AAPL"])
    result = load_universe(cfg, now=NOW)
    assert list(result.loaded) == ["005930", "AAPL"]
    assert "'999999' (Naver): the source returned no rows" in result.failed["999999"]
    assert "'NOSUCH' (Yahoo): the source does not know this symbol" in result.failed["NOSUCH"]


def test_on_error_raise_stops_at_the_first_failure(tmp_path, fake):
    """One request at a time, in universe order, the load stops at the failed symbol (the
    next may already have been handed to the worker); on the pool, symbols already in flight
    may finish, and the error is still the failed symbol's."""
    symbols = ["005930", "999999", "AAPL"]
    cfg = universe_config(tmp_path / "one", symbols=symbols, on_error="raise", max_concurrency=1)
    with pytest.raises(MarketcastError, match="'999999'"):
        load_universe(cfg, now=NOW)
    assert [s for s, _, _ in fake.calls][:2] == ["005930", "999999"]
    fake.calls.clear()
    cfg = universe_config(tmp_path / "pool", symbols=symbols, on_error="raise")
    with pytest.raises(MarketcastError, match="'999999'"):
        load_universe(cfg, now=NOW)
    assert "999999" in [s for s, _, _ in fake.calls]


@pytest.mark.parametrize(
    ("errno", "ask_again_s", "workers"),
    [("EAI_NONAME", 60.0, 1), ("EAI_NONAME", 0.0, 1), ("EAI_AGAIN", 60.0, 1),
     ("EAI_NONAME", 60.0, 2)],
)  # fmt: skip
def test_offline_a_source_is_asked_once_not_once_a_symbol(
    tmp_path, fake, monkeypatch, caplog, errno, ask_again_s, workers
):
    """An offline fetch of 200 cached symbols took 27 s, asking the resolver for each. A
    source's later symbols now use their caches without asking, for a minute; another source
    is still asked, and so is each symbol where the lookup failed for the time being. The
    symbols not asked are said in one warning per source (an offline night of 1,000 symbols
    wrote 1,000 lines); each symbol's line goes to the log file."""
    import logging
    import socket

    symbols = ["005930", "000660", "AAPL", "035720", "005380", "MSFT"]
    cfg = universe_config(tmp_path, symbols=symbols, max_concurrency=workers)
    for symbol in symbols:
        fake.histories.setdefault(
            symbol, HISTORIES["000660"] if symbol[0] == "0" else HISTORIES["AAPL"]
        )
    assert len(load_universe(cfg, now=NOW).loaded) == len(symbols)  # the caches filled
    offline = UnresolvedReader(getattr(socket, errno))
    monkeypatch.setattr(FinanceDataReader, "DataReader", offline)
    monkeypatch.setattr(Offline, "ASK_AGAIN_S", ask_again_s)
    later = NOW + pd.Timedelta(days=30)  # every cache is stale: each symbol would ask
    job_log = logging.FileHandler(tmp_path / "job.log")
    logging.getLogger("marketcast").addHandler(job_log)
    try:
        with caplog.at_level("INFO", logger="marketcast"):  # the job's level
            result = load_universe(replace(cfg, retries=0), now=later)
    finally:
        logging.getLogger("marketcast").removeHandler(job_log)
        job_log.close()
    assert list(result.loaded) == symbols and not result.failed
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    warned = warnings.count("using the cached prices")
    logged = (tmp_path / "job.log").read_text()
    assert logged.count("using the cached prices") == len(symbols)  # each symbol's line
    if errno == "EAI_AGAIN" or not ask_again_s:  # a resolver blip; a minute later
        assert sorted(offline.asked) == sorted(symbols)
        assert warned == len(symbols) and "was not asked" not in warnings
    elif workers == 1:
        assert offline.asked == ["005930", "AAPL"]
        assert warned == 2  # the symbols that asked; the others in one line per source
        said = "was not asked: its host name was unknown to the resolver when 005930 asked"
        assert logged.count(said) == 3
        assert (
            "the data source (Naver) was not asked for 3 symbols (000660, 035720, 005380): "
            "its host name was unknown to the resolver when 005930 asked (offline); they "
            "use their cached prices, which end on 2016-01-05 ("
        ) in warnings
        assert "the data source (Yahoo) was not asked for 1 symbol (MSFT)" in warnings
    else:  # only the workers that asked before their source's first answer came
        krx = [s for s in offline.asked if s[0] == "0"]
        assert krx and len(krx) <= workers  # whichever worker asked first
        assert 1 <= len(offline.asked) - len(krx) <= workers
        assert warned == len(offline.asked)  # each asker's own warning; the rest counted:
        counts = re.findall(r"was not asked for (\d+) symbols?", warnings)
        assert warned + sum(map(int, counts)) == len(symbols)


def test_fetch_prints_one_line_per_symbol(tmp_path, fake, capsys):
    cfg = compose_fetch("symbols=[005930,AAPL]", f"data.cache_dir={tmp_path}", "data.exchange=null")
    assert list(cfg.data.symbols) == ["005930", "AAPL"]  # codes stay strings
    assert fetch(cfg) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("005930     300 rows  2015-01-02..2016-03-21  fetched (whole")
    assert lines[0].endswith("validation: clean")
    assert lines[1].startswith("AAPL       200 rows  2015-01-02..2015-10-16  fetched")
    assert lines[2] == "2 of 2 symbols loaded"

    assert fetch(compose_fetch("symbols=[005930,999999]", f"data.cache_dir={tmp_path}")) == (
        EXIT_PARTIAL
    )
    output = capsys.readouterr().out
    assert '"999999" invalid symbol or has no data' in output  # FDR's own print, left alone
    lines = [line for line in output.splitlines() if not line.startswith('"')]
    # Now is years after the fake's last day, so the cache was stale and the source asked.
    assert lines[0].startswith("005930     300 rows  2015-01-02..2016-03-21  cache (no newer rows")
    assert lines[1].startswith("999999  FAILED  FinanceDataReader symbol '999999' (Naver)")
    assert lines[2] == "1 of 2 symbols loaded"


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_fetch_command_exit_status(tmp_path, fake, capsys):
    """The command in this process, on a warm cache (filled here through the fake), offline."""
    load_universe(universe_config(tmp_path, symbols=["005930"]), now=NOW)
    common = [f"data.cache_dir={tmp_path / 'cache'}", "data.refresh=never"]
    fake.calls.clear()

    assert run_in_process("fetch", "symbols=[005930]", *common, f"hydra.run.dir={tmp_path}/ok") == 0
    out = capsys.readouterr().out
    assert "005930     300 rows  2015-01-02..2016-03-21  cache; validation: clean" in out

    two = ["symbols=[005930,000660]", *common]
    assert run_in_process("fetch", *two, f"hydra.run.dir={tmp_path}/p") == EXIT_PARTIAL
    out = capsys.readouterr().out
    assert "000660  FAILED  data.refresh=never and no cached prices" in out
    assert (tmp_path / "p" / "fetch.log").is_file()

    assert run_in_process("fetch", *two, "data.on_error=raise", f"hydra.run.dir={tmp_path}/r") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 000660: data.refresh=never and no cached prices")
    assert err.count("\n") == 1  # one message
    assert not (tmp_path / "r").exists()  # nothing but Hydra's own files: removed
    assert fake.calls == []  # data.refresh=never: the source was never asked


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_cache_folder_that_cannot_be_written_is_one_message_before_any_fetch(
    tmp_path, fake, capsys
):
    """It failed each symbol in turn ('000660 FAILED cannot write the cache file'), exit 3,
    which a crontab's `fetch; predict` carries on past."""
    (tmp_path / "afile").write_text("not a folder\n")
    for command in ("fetch", "train"):
        args = [
            command, "data=fdr", "data.symbols=[005930,000660]", "data.symbol=null",
            f"data.cache_dir={tmp_path / 'afile' / 'cache'}",
            f"hydra.run.dir={tmp_path / command}",
        ]  # fmt: skip
        assert run_in_process(*args) == 2
        err = capsys.readouterr().err
        assert err == (
            f"error: data.cache_dir='{tmp_path / 'afile' / 'cache'}' cannot be written: "
            f"{tmp_path / 'afile'}: Not a directory (ENOTDIR): a file stands where a folder "
            "must be. Move that file away, or choose another location.\n"
        ), command
        assert not (tmp_path / command).exists()
    assert fake.calls == []  # before any fetch
    # data.refresh=never writes nothing: not refused at start-up, each symbol said as before
    refresh_never = ["data.refresh=never", f"data.cache_dir={tmp_path / 'afile' / 'cache'}"]
    assert run_in_process("fetch", "symbols=[005930]", *refresh_never) == EXIT_PARTIAL
    assert "005930  FAILED  the cache file " in capsys.readouterr().out


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_fetch_command_bad_value_exits_2_with_one_message(tmp_path):
    """A subprocess, cheap: the config does not compose, so nothing is imported or read."""
    bad = run_marketcast(
        "fetch", "symbols=[005930]", "data.refresh=sometimes", f"hydra.run.dir={tmp_path / 'b'}"
    )
    assert bad.returncode == 2
    assert "error: Error merging override data.refresh=sometimes: Invalid value" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1  # one message, once
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "b").exists()  # nothing half-written


@pytest.mark.slow
def test_fetch_command_exit_status_in_a_new_process(tmp_path, fake):
    # A warm cache (filled here through the fake), then the real command, offline.
    load_universe(universe_config(tmp_path, symbols=["005930"]), now=NOW)
    common = [f"data.cache_dir={tmp_path / 'cache'}", "data.refresh=never"]

    ok = run_marketcast("fetch", "symbols=[005930]", *common, f"hydra.run.dir={tmp_path / 'ok'}")
    assert ok.returncode == 0, ok.stderr
    assert "005930     300 rows  2015-01-02..2016-03-21  cache; validation: clean" in ok.stdout

    partly = run_marketcast(
        "fetch", "symbols=[005930,000660]", *common, f"hydra.run.dir={tmp_path / 'p'}"
    )
    assert partly.returncode == EXIT_PARTIAL
    assert "000660  FAILED  data.refresh=never and no cached prices" in partly.stdout


def test_a_universe_that_loads_nothing_names_each_symbol_once(tmp_path):
    """The data layer's messages start with the symbol, and the list named it again:
    'AAPL: AAPL: data.refresh=never ...'."""
    from marketcast.jobs.train import load_run_data

    cfg = universe_config(tmp_path, symbols=["AAPL", "005930"], refresh="never")
    with pytest.raises(MarketcastError) as refused:
        load_run_data(cfg)
    said = str(refused.value)
    assert said.startswith("no symbol of the universe could be loaded: ")
    assert "AAPL: data.refresh=never and no cached prices at " in said
    assert "AAPL: AAPL" not in said and "005930: 005930" not in said
    assert ".;" not in said  # each message's own full stop, then the list's ';'
