"""Batch forecasting for a universe: a global model, the store, partial failure and the lock."""

import json
import logging
import shutil

import FinanceDataReader
import numpy as np
import pandas as pd
import pytest
from conftest import (
    compose_fetch,
    compose_predict,
    compose_train,
    refingerprint,
    run_in_process,
    synthetic_prices,
)
from fake_fdr import FakeReader, UnresolvedReader
from lock_holder import lock_held_elsewhere

from marketcast.errors import EXIT_LOCKED, EXIT_NONE, EXIT_OK, EXIT_PARTIAL, MarketcastError
from marketcast.jobs.fetch import fetch
from marketcast.jobs.predict import forecast
from marketcast.jobs.train import command, train
from marketcast.progress import listed
from marketcast.storage.forecast_store import LOCK_FILE
from marketcast.storage.stores import open_store

AS_OF = "2025-10-02"  # a Thursday; KRX then closes for Chuseok until 2025-10-10
HISTORIES = {
    # a 20,000-KRW stock, a 400-USD stock and a 100-KRW one: one model for all
    "005930": synthetic_prices(520, seed=1, start="2023-11-01") * 200,
    "AAPL": synthetic_prices(520, seed=2, start="2023-11-01") * 4,
    "000660": synthetic_prices(520, seed=3, start="2023-11-01"),
}


@pytest.fixture(scope="module")
def global_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("global")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FinanceDataReader, "DataReader", FakeReader(HISTORIES))
        run_dir = tmp / "run"
        cfg = compose_train(
            run_dir,
            "data=fdr",
            "data.symbol=null",
            "data.symbols=[005930,AAPL]",
            f"data.cache_dir={tmp / 'cache'}",
            f"data.end={AS_OF}",
            "data.backoff_s=0",
            "window.horizon=2",
            "train.epochs=2",
        )
        train(cfg)
        # warm the third symbol's cache too, so that predict runs offline
        warm = compose_fetch(
            "symbols=[000660]", f"data.cache_dir={tmp / 'cache'}", f"data.end={AS_OF}"
        )
        assert fetch(warm) == EXIT_OK
    return tmp, run_dir


def predict_overrides(tmp, run_dir, *extra):
    return [
        f"run_dir={run_dir}",
        f"as_of={AS_OF}",
        "refresh=never",
        f"output={tmp / 'out' / 'forecast.csv'}",
        f"store.dir={tmp / 'store'}",
        *extra,
    ]


def test_global_model_is_scored_per_symbol(global_run):
    _, run_dir = global_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["symbols"]) == {"005930", "AAPL"}
    for segment in ("val", "test"):
        per_symbol = [metrics["symbols"][s][segment]["model"]["mase"] for s in ("005930", "AAPL")]
        assert metrics[segment]["model"]["mase"] == pytest.approx(np.mean(per_symbol))
    predictions = pd.read_csv(run_dir / "test_predictions.csv", dtype={"symbol": str})
    assert set(predictions["symbol"]) == {"005930", "AAPL"}


def test_global_model_forecasts_each_symbol_in_its_own_units(global_run):
    tmp, run_dir = global_run
    cfg = compose_predict(
        *predict_overrides(tmp / "units", run_dir, "symbols=[005930,AAPL,000660]")
    )
    assert forecast(cfg) == EXIT_OK
    table = pd.read_csv(tmp / "units" / "out" / "forecast.csv", dtype={"symbol": str})
    for symbol, history in HISTORIES.items():
        last = history.loc[:AS_OF, "Close"].iloc[-1]
        rows = table[table["symbol"] == symbol]
        assert len(rows) == 2  # horizon 2
        assert np.all(np.abs(rows["forecast"] / last - 1) < 0.2), (symbol, rows, last)
        assert (rows["q10"] < rows["forecast"]).all() and (rows["forecast"] < rows["q90"]).all()
    krx = table[table["symbol"] == "005930"]
    assert list(krx["target_date"]) == ["2025-10-10", "2025-10-13"]  # after Chuseok
    us = table[table["symbol"] == "AAPL"]
    assert list(us["target_date"]) == ["2025-10-03", "2025-10-06"]  # NYSE: a weekend only


def test_an_offline_night_asks_each_source_once(global_run, monkeypatch, caplog):
    """A night without a network: each source is asked once, not once a symbol (each
    lookup of an unknown host took 0.13 s, and a universe has a thousand symbols), and
    every symbol is forecast from its cache."""
    tmp, run_dir = global_run
    offline = UnresolvedReader()
    monkeypatch.setattr(FinanceDataReader, "DataReader", offline)
    overrides = predict_overrides(tmp / "offline", run_dir, "symbols=[005930,000660,AAPL]")
    cfg = compose_predict(*[o for o in overrides if o != "refresh=never"], "refresh=always")
    with caplog.at_level("WARNING", logger="marketcast"):
        assert forecast(cfg) == EXIT_OK
    assert offline.asked == ["005930", "AAPL"]
    assert (
        "the data source (Naver) was not asked for 1 symbol (000660): its host name was "
        "unknown to the resolver when 005930 asked (offline); they use their cached prices"
    ) in caplog.text
    table = pd.read_csv(tmp / "offline" / "out" / "forecast.csv", dtype={"symbol": str})
    assert set(table["symbol"]) == {"005930", "000660", "AAPL"}


def test_predict_refuses_a_price_cache_it_could_not_refresh_before_forecasting(global_run):
    """Each symbol failed in turn (exit 3 or 4) where the night's cache cannot be written;
    refresh=never writes nothing, and a dry run neither."""
    tmp, run_dir = global_run
    (tmp / "afile").write_text("not a folder\n")
    cache = tmp / "afile" / "cache"
    overrides = predict_overrides(tmp / "unwritable", run_dir, f"paths.cache_dir={cache}")
    refreshing = [o if o != "refresh=never" else "refresh=if_stale" for o in overrides]
    with pytest.raises(MarketcastError) as refused:
        forecast(compose_predict(*refreshing))
    assert str(refused.value) == (
        f"data.cache_dir='{cache}' cannot be written: {tmp / 'afile'}: Not a directory "
        "(ENOTDIR): a file stands where a folder must be. Move that file away, or choose "
        "another location."
    )
    assert not (tmp / "unwritable").exists()
    assert forecast(compose_predict(*refreshing, "dry_run=true")) == EXIT_NONE  # not refused


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_predict_reads_the_cache_it_is_told_to_not_the_one_training_used(
    global_run, monkeypatch, capsys
):
    """A nightly job runs elsewhere than training did: paths.cache_dir (or
    $MARKETCAST_CACHE_DIR, as `marketcast fetch` takes it) names its cache; unset, the
    run's own. Predict read the training cache whatever it was told."""
    tmp, run_dir = global_run
    moved = tmp / "moved" / "cache"
    shutil.copytree(tmp / "cache", moved)
    expected = compose_predict(*predict_overrides(tmp / "own", run_dir, "symbols=[000660]"))
    assert forecast(expected) == EXIT_OK
    told = compose_predict(
        *predict_overrides(tmp / "told", run_dir, "symbols=[000660]", f"paths.cache_dir={moved}")
    )
    (moved / "000660.parquet").unlink()  # only the told cache lacks it: it must be read
    assert forecast(told) == EXIT_NONE
    said = capsys.readouterr().out
    assert f"no cached prices at {moved / '000660.parquet'}" in said
    assert f"marketcast fetch symbols=[000660] paths.cache_dir={moved})" in said
    shutil.copy(tmp / "cache" / "000660.parquet", moved)
    monkeypatch.setenv("MARKETCAST_CACHE_DIR", str(moved))
    by_env = compose_predict(*predict_overrides(tmp / "env", run_dir, "symbols=[000660]"))
    assert by_env.paths.cache_dir == str(moved)
    assert forecast(by_env) == EXIT_OK
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp / "env" / "out" / "forecast.csv"),
        pd.read_csv(tmp / "own" / "out" / "forecast.csv"),
    )


def test_running_twice_for_the_same_day_gives_the_same_store(global_run):
    tmp, run_dir = global_run
    cfg = compose_predict(*predict_overrides(tmp / "twice", run_dir))
    assert forecast(cfg) == EXIT_OK
    once = read_store(tmp / "twice" / "store")
    assert forecast(cfg) == EXIT_OK
    pd.testing.assert_frame_equal(read_store(tmp / "twice" / "store"), once)
    assert len(once) == 4 and set(once["symbol"]) == {"005930", "AAPL"}


def test_one_bad_symbol_does_not_stop_the_others(global_run, capsys):
    tmp, run_dir = global_run
    cfg = compose_predict(
        *predict_overrides(tmp / "partial", run_dir, "symbols=[005930,999999,AAPL]")
    )
    assert forecast(cfg) == EXIT_PARTIAL
    out = capsys.readouterr().out
    assert "2 of 3 symbols forecast" in out and "999999" in out
    stored = read_store(tmp / "partial" / "store")
    assert set(stored["symbol"]) == {"005930", "AAPL"}


def test_a_universe_a_session_behind_is_warned_once_not_once_a_symbol(global_run, caplog):
    """A source a day late makes every symbol of the universe a session behind: a thousand
    warnings of one fact, where one line a day is what a night's log can be read for."""
    tmp, run_dir = global_run
    last = HISTORIES["AAPL"].index[-1].date()  # every history's: 2025-10-28, a Tuesday
    later = "2025-10-29"  # a session on both exchanges
    overrides = predict_overrides(tmp / "behind", run_dir, "symbols=[005930,000660,AAPL]")
    cfg = compose_predict(*[o for o in overrides if not o.startswith("as_of=")], f"as_of={later}")
    with caplog.at_level(logging.WARNING, logger="marketcast"):
        assert forecast(cfg) == EXIT_OK
    behind = [r.getMessage() for r in caplog.records if "the prices end on" in r.getMessage()]
    assert behind == [
        f"3 symbols (005930, 000660, AAPL): the prices end on {last}, 1 session before "
        f"{later}: forecasting from that day (max_stale_sessions=3)"
    ]
    table = pd.read_csv(tmp / "behind" / "out" / "forecast.csv", dtype={"symbol": str})
    assert len(table) == 6 and (table["as_of"] == str(last)).all()


def test_a_calendar_that_ends_too_soon_stops_its_symbol_not_the_night(
    global_run, tmp_path, monkeypatch, capsys
):
    """exchange-calendars knows Shanghai's holidays to the end of this year: SSEC's dates
    were refused outside the per-symbol loop, and every other symbol went unforecast
    (exit 2). Here NYSE's kept calendar ends the day after as_of, as an old
    exchange-calendars' would."""
    import pyarrow.parquet as pq

    from marketcast.data import calendars, trading_days

    def fresh_process():
        calendars.calendar.cache_clear()
        trading_days._next_sessions.cache_clear()

    tmp, run_dir = global_run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    fresh_process()
    calendars.calendar("XNYS")  # kept under tmp_path, then cut short
    kept = calendars.kept_path("XNYS")
    table = pq.read_table(kept)
    sessions = pd.DatetimeIndex(table.column("session").to_numpy())
    cut = table.slice(0, int((sessions <= pd.Timestamp("2025-10-03")).sum()))
    pq.write_table(cut, kept)  # its schema's metadata (the stamp) kept
    fresh_process()
    try:
        cfg = compose_predict(*predict_overrides(tmp / "ends", run_dir, "symbols=[005930,AAPL]"))
        assert forecast(cfg) == EXIT_PARTIAL
    finally:
        fresh_process()
    said = capsys.readouterr().out
    assert "1 of 2 symbols forecast" in said
    assert (
        "  AAPL: the XNYS calendar ends on 2025-10-03: it cannot date 2 sessions after "
        "2025-10-02. Update exchange-calendars.\n"
    ) in said
    table = pd.read_csv(tmp / "ends" / "out" / "forecast.csv", dtype={"symbol": str})
    assert set(table["symbol"]) == {"005930"}


def test_dry_run_writes_nothing(global_run, capsys, caplog):
    tmp, run_dir = global_run
    cfg = compose_predict(*predict_overrides(tmp / "dry", run_dir, "dry_run=true"))
    logged = tmp / "dry_predict.log"  # predict.log, as Hydra's file handler writes it
    handler = logging.FileHandler(logged)
    logging.getLogger().addHandler(handler)
    try:
        with caplog.at_level("INFO", logger="marketcast.jobs.predict"):
            assert forecast(cfg) == EXIT_OK
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    # predict.log holds the outcome too; the console (a stream handler) is not told twice
    assert "2 of 2 symbols forecast" in logged.read_text()
    assert "symbols forecast" not in caplog.text and "loaded 2 of 2" in caplog.text
    assert not (tmp / "dry").exists()
    said = capsys.readouterr().out  # the forecasts it would write, and one summary line
    assert "q10" in said and "005930" in said
    assert said.rstrip().endswith("2 of 2 symbols forecast; dry run: nothing written")


def test_a_dry_run_that_fetches_prices_writes_no_cache(global_run, monkeypatch):
    """A dry run "checks data and models and writes nothing": it fetched each symbol's
    prices and wrote them to the cache."""
    tmp, run_dir = global_run
    reader = FakeReader(HISTORIES)
    monkeypatch.setattr(FinanceDataReader, "DataReader", reader)
    cache = tmp / "dry_cache"
    overrides = predict_overrides(tmp / "dry2", run_dir, "dry_run=true", f"paths.cache_dir={cache}")
    overrides.remove("refresh=never")
    assert forecast(compose_predict(*overrides)) == EXIT_OK
    assert {symbol for symbol, _, _ in reader.calls} == {"005930", "AAPL"}  # fetched
    assert not cache.exists() and not (tmp / "dry2").exists()


def predict_sigtermed_in(monkeypatch, cls, method: str, *args: str) -> int:
    """``marketcast predict ARGS`` in this process, with SIGTERM sent to it as ``cls.method``
    begins (as cron's timeout would); its exit status. The SIGTERM handler is put back."""
    import os
    import signal

    original = getattr(cls, method)

    def killed(self, *a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        return original(self, *a, **k)

    monkeypatch.setattr(cls, method, killed)
    before = signal.getsignal(signal.SIGTERM)
    try:
        return run_in_process("predict", *args)
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_sigterm_during_the_store_write_lets_the_commit_finish_and_says_so(
    global_run, monkeypatch, capsys
):
    """SIGTERM while delta-rs committed (its Rust code runs on): the night was in the store,
    yet the job exited 143 without a word of the commit in its log."""
    from marketcast.storage.delta_store import DeltaForecastStore

    tmp, run_dir = global_run
    job = tmp / "term" / "job"
    status = predict_sigtermed_in(
        monkeypatch, DeltaForecastStore, "write",
        *predict_overrides(tmp / "term", run_dir), f"hydra.run.dir={job}",
    )  # fmt: skip
    assert status == 143
    assert "marketcast predict: terminated (SIGTERM)" in capsys.readouterr().err
    said = (job / "predict.log").read_text()
    committed = said.find(f"forecast store {tmp / 'term' / 'store'}: version 0, run id ")
    assert 0 < committed < said.find("terminated (SIGTERM)")
    stored = open_store("delta", str(tmp / "term" / "store")).read()
    assert set(stored["symbol"]) == {"005930", "AAPL"}
    assert not (tmp / "term" / "out" / "forecast.csv").exists()  # stopped after the commit


def test_a_sigterm_during_a_sql_write_stops_it_at_once_and_it_rolls_back(global_run, monkeypatch):
    """Held like Delta's, a SQL write that waited on another session's table lock ignored
    SIGTERM until the lock was released, then committed: a signal rolls SQL back whole."""
    from marketcast.storage.sql_store import SqlForecastStore

    tmp, run_dir = global_run
    database = tmp / "sqlterm" / "f.db"
    database.parent.mkdir()
    status = predict_sigtermed_in(
        monkeypatch, SqlForecastStore, "write",
        *predict_overrides(tmp / "sqlterm", run_dir),
        "store.format=sql", f"store.url=sqlite:///{database}",
    )  # fmt: skip
    assert status == 143
    assert not open_store("sql", f"sqlite:///{database}").exists()


def test_a_sigterm_after_a_sql_commit_waits_for_the_log_line(global_run, monkeypatch, capsys):
    """SIGTERM after the COMMIT (here in SQLite's checkpoint that follows it): the night was
    in the store, yet the job exited 143 without a word of it in its log."""
    from marketcast.storage.sql_store import SqlForecastStore

    tmp, run_dir = global_run
    database = tmp / "sqlcommitted" / "f.db"
    database.parent.mkdir()
    job = tmp / "sqlcommitted" / "job"
    status = predict_sigtermed_in(
        monkeypatch, SqlForecastStore, "_checkpoint",
        *predict_overrides(tmp / "sqlcommitted", run_dir),
        "store.format=sql", f"store.url=sqlite:///{database}", f"hydra.run.dir={job}",
    )  # fmt: skip
    assert status == 143
    assert "stopping once the forecast store's write ends" in capsys.readouterr().err
    said = (job / "predict.log").read_text()
    committed = said.find(f"forecast store sqlite:///{database}: version 1, run id ")
    assert 0 < committed < said.find("terminated (SIGTERM)")
    stored = open_store("sql", f"sqlite:///{database}").read()
    assert set(stored["symbol"]) == {"005930", "AAPL"}


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_a_second_run_exits_at_once_while_the_store_is_locked(global_run, capsys):
    tmp, run_dir = global_run
    store_dir = tmp / "locked" / "store"
    with lock_held_elsewhere(store_dir):
        cfg = compose_predict(*predict_overrides(tmp / "locked", run_dir))
        assert forecast(cfg) == EXIT_LOCKED
    assert not (tmp / "locked" / "out").exists()
    assert read_store(store_dir).empty
    # the store's setting, as every store message names it (a SQLite file's folder was named)
    assert capsys.readouterr().err == (
        f"error: another forecast run is writing to the forecast store store.dir={store_dir} "
        f"(it holds {store_dir / LOCK_FILE}); this run wrote nothing. Let it finish, or "
        "schedule runs further apart.\n"
    )


@pytest.mark.slow  # 9-12 s: trains several models
def test_a_sweep_directory_gives_each_symbol_its_own_run(global_run, monkeypatch):
    tmp, _ = global_run
    monkeypatch.setattr(FinanceDataReader, "DataReader", FakeReader(HISTORIES))
    sweep = tmp / "sweep"
    for job, symbol in enumerate(["005930", "000660"]):
        train(
            compose_train(
                sweep / str(job),
                "data=fdr",
                f"data.symbol={symbol}",
                f"data.cache_dir={tmp / 'cache'}",
                f"data.end={AS_OF}",
            )
        )
    cfg = compose_predict(*predict_overrides(tmp / "per_symbol", sweep))
    assert forecast(cfg) == EXIT_OK
    table = pd.read_csv(tmp / "per_symbol" / "out" / "forecast.csv", dtype={"symbol": str})
    runs = dict(zip(table["symbol"], table["run_dir"], strict=False))
    assert runs == {"005930": str(sweep / "0"), "000660": str(sweep / "1")}


def read_store(path):
    """What a dashboard reading the store sees (without the run id each write sets)."""
    store = open_store("delta", str(path))
    if not store.exists():  # a locked-out run may leave the lock file, never a table
        return pd.DataFrame()
    return store.read().drop(columns="run_id")


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_predict_says_what_is_wrong_in_its_own_keys(global_run, tmp_path, capsys):
    """Predict's keys are symbols, universe_file, refresh and as_of (not train's data.*),
    and the range it loads is its own choice: an empty range means stale prices or an
    as_of before the data, and the message says which."""
    _, run_dir = global_run
    empty = tmp_path / "universe.txt"
    empty.write_text("# nothing tonight\n\n")
    cfg = compose_predict(*predict_overrides(tmp_path, run_dir, f"universe_file={empty}"))
    with pytest.raises(MarketcastError, match=r"no symbols to forecast: universe_file='.*universe"):
        forecast(cfg)
    missing = tmp_path / "no_such_universe.txt"  # the data layer's message, in predict's keys
    cfg = compose_predict(*predict_overrides(tmp_path, run_dir, f"universe_file={missing}"))
    with pytest.raises(MarketcastError) as said:
        forecast(cfg)
    assert str(said.value) == (
        f"universe_file='{missing}' does not exist or is not a file: write one symbol per "
        "line, or pass symbols=[...] instead."
    )
    cases = {
        "symbols=[035720]": "035720: refresh=never and no cached prices",  # never cached
        "as_of=2029-06-01": "005930: the newest price is from 2025-10-28, too old",
        # predict loads at most three years before as_of: prices ending three years before
        # leave a few rows in that range, too few for a window, and it was "only 8 rows"
        "as_of=2028-10-16": "005930: stale prices: the last row is 2025-10-28",
        "as_of=2019-01-02": "005930: as_of=2019-01-02 is before its first price (2023-11-01)",
    }
    for override, message in cases.items():
        symbols = [] if override.startswith("symbols") else ["symbols=[005930]"]
        overrides = predict_overrides(tmp_path, run_dir, *symbols, override)
        if override.startswith("as_of"):
            overrides = [o for o in overrides if not o.startswith("as_of=2025")]
        assert forecast(compose_predict(*overrides)) == EXIT_NONE
        out = capsys.readouterr().out
        assert message in out and "data.refresh" not in out
        assert f"{message.split(':')[0]}: {message.split(':')[0]}:" not in out  # said once
    assert not (tmp_path / "out").exists()


def test_a_store_that_fails_to_take_the_forecast_leaves_no_forecast_csv(global_run, tmp_path):
    """The store is written before forecast.csv: where the store refuses the rows (here a
    Delta table of another schema at store.dir), no CSV says the night went well."""
    import pyarrow as pa
    from deltalake import write_deltalake

    _, run_dir = global_run
    write_deltalake(str(tmp_path / "store"), pa.table({"other": [1, 2]}))
    cfg = compose_predict(*predict_overrides(tmp_path, run_dir))
    with pytest.raises(Exception):  # noqa: B017 - whatever the store raises, nothing is written
        forecast(cfg)
    assert not (tmp_path / "out" / "forecast.csv").exists()


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_the_store_records_the_run_directory_absolute(global_run, tmp_path, monkeypatch):
    _, run_dir = global_run
    monkeypatch.chdir(run_dir.parent)
    overrides = [o for o in predict_overrides(tmp_path, run_dir) if not o.startswith("run_dir")]
    assert forecast(compose_predict(*overrides, f"run_dir={run_dir.name}")) == EXIT_OK
    assert set(read_store(tmp_path / "store")["run_dir"]) == {str(run_dir)}


def test_one_damaged_run_of_a_sweep_does_not_stop_the_night(global_run, tmp_path, caplog):
    """Two runs in a sweep directory, one with a model file changed after it finished: the
    other forecasts every symbol, and a warning names the damaged one."""
    import shutil

    _, run_dir = global_run
    for job in ("0", "1"):
        shutil.copytree(run_dir, tmp_path / "sweep" / job)
    model = tmp_path / "sweep" / "1" / "model.keras"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other digest
    model.write_bytes(bytes(data))
    cfg = compose_predict(*predict_overrides(tmp_path, tmp_path / "sweep"))
    assert forecast(cfg) == EXIT_OK
    assert f"{tmp_path / 'sweep' / '1'}: skipped: " in caplog.text
    assert set(read_store(tmp_path / "store")["run_dir"]) == {str(tmp_path / "sweep" / "0")}


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_sweep_whose_jobs_did_not_all_finish_is_said_to_be_incomplete(
    global_run, tmp_path, caplog
):
    """A sweep stopped in its second job (SIGTERM): predict took the one finished run
    without a word, as if the sweep were whole. A failed job (its failed.json) or a pruned
    trial is an outcome, and is not counted."""
    import shutil

    _, run_dir = global_run
    sweep = tmp_path / "sweep"
    shutil.copytree(run_dir, sweep / "0")
    for job in ("0", "1", "2"):
        (sweep / job / ".hydra").mkdir(parents=True)
        (sweep / job / ".hydra" / "overrides.yaml").write_text(f"- model.units={8 << int(job)}\n")
    (sweep / "2" / "failed.json").write_text('{"error": "MarketcastError", "message": "m"}')
    (tmp_path / "predict" / ".hydra").mkdir(parents=True)  # a command's own folder: no job
    (tmp_path / "predict" / ".hydra" / "overrides.yaml").write_text("[]\n")
    for root in (sweep, tmp_path):  # a sweep is a job folder's parent's multirun.yaml
        with caplog.at_level("WARNING", logger="marketcast"):
            assert forecast(compose_predict(*predict_overrides(tmp_path, root))) == EXIT_OK
        assert "did not finish" not in caplog.text
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    with caplog.at_level("WARNING", logger="marketcast"):
        assert forecast(compose_predict(*predict_overrides(tmp_path, sweep))) == EXIT_OK
    assert (
        f"run_dir={sweep}: 1 sweep job did not finish (folder 1: interrupted, killed, not run, "
        "or still running); forecasting with the best of the 1 finished run"
    ) in caplog.text
    caplog.clear()
    (sweep / "1" / "failed.json").write_text('{"error": "MarketcastError", "message": "m"}')
    with caplog.at_level("WARNING", logger="marketcast"):
        assert forecast(compose_predict(*predict_overrides(tmp_path, sweep))) == EXIT_OK
    assert "did not finish" not in caplog.text


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_each_night_is_its_own_run_in_the_store_history_with_a_fixed_run_directory(global_run):
    """A cron job's fixed hydra.run.dir: two nights, two run ids (the directory's name was
    the id of both)."""
    tmp, run_dir = global_run
    store_dir = tmp / "nightly" / "store"
    for _ in range(2):
        status = run_in_process(
            "predict",
            *predict_overrides(tmp / "nightly", run_dir),
            f"hydra.run.dir={tmp / 'logs' / 'predict'}",
        )
        assert status == EXIT_OK
    history = open_store("delta", str(store_dir)).history()
    assert len(history) == 2 and history["run_id"].nunique() == 2
    assert "predict" not in set(history["run_id"])
    logged = (tmp / "logs" / "predict" / "predict.log").read_text()  # the night's own id
    assert all(f"run id {run_id}" in logged for run_id in history["run_id"])


@pytest.mark.slow  # over 1.5 s on 2 cores: CI's second stage runs it
def test_a_symbol_typed_in_lower_case_one_night_is_the_same_store_key(global_run):
    tmp, run_dir = global_run
    overrides = predict_overrides(tmp / "spelling", run_dir)
    assert forecast(compose_predict(*overrides, "symbols=[aapl,005930]")) == EXIT_OK
    once = read_store(tmp / "spelling" / "store")
    assert set(once["symbol"]) == {"AAPL", "005930"}
    assert forecast(compose_predict(*overrides, "symbols=[AAPL]")) == EXIT_OK
    pd.testing.assert_frame_equal(read_store(tmp / "spelling" / "store"), once)


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_one_symbol_run_trained_on_a_lower_case_symbol_is_one_store_key(tmp_path, monkeypatch):
    monkeypatch.setattr(FinanceDataReader, "DataReader", FakeReader(HISTORIES))
    run_dir = tmp_path / "run"
    data = ("data=fdr", "data.symbol=aapl", f"data.cache_dir={tmp_path / 'cache'}")
    train(compose_train(run_dir, *data, f"data.end={AS_OF}", "data.backoff_s=0"))
    for extra in ((), ("symbols=[aapl]",), ("symbols=[AAPL]",)):
        assert forecast(compose_predict(*predict_overrides(tmp_path, run_dir, *extra))) == EXIT_OK
    assert set(read_store(tmp_path / "store")["symbol"]) == {"AAPL"}


def test_predict_on_a_sweep_with_no_finished_run_says_what_became_of_its_jobs(tmp_path, capsys):
    """It said "run_dir has no finished run (no run.json: the run did not finish)", as of a
    folder that never held a run: at start-up (the command) and in the job."""
    sweep = tmp_path / "sweep"
    for job, failed in (("0", True), ("1", True), ("2", False)):
        (sweep / job / ".hydra").mkdir(parents=True)
        (sweep / job / ".hydra" / "overrides.yaml").write_text(f"- window.size={job}0\n")
        if failed:
            (sweep / job / "failed.json").write_text('{"error": "E", "message": "too short"}')
    (sweep / "summary.csv").write_text("job,status\n")
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    with pytest.raises(MarketcastError) as said:
        forecast(compose_predict(f"run_dir={sweep}", f"paths.output_root={tmp_path / 'out'}"))
    assert str(said.value) == (
        f"run_dir={sweep} is a sweep with no finished run: 2 jobs failed (0, 1), 1 job "
        f"incomplete (2). The failed jobs' messages are in {sweep / 'summary.csv'} and each "
        "one's failed.json and log: fix the cause; the incomplete ones were cut off "
        "(interrupted, killed) or are still running; then train again."
    )
    capsys.readouterr()
    assert run_in_process("predict", f"run_dir={sweep}") == 2
    assert capsys.readouterr().err == f"error: {said.value}\n"
    # a sweep whose every trial was pruned has nothing to fix
    for job in ("0", "1", "2"):
        (sweep / job / "failed.json").unlink(missing_ok=True)
        (sweep / job / "optuna_trial.json").write_text('{"state": "PRUNED"}')
    with pytest.raises(MarketcastError, match=r"3 jobs pruned \(0, 1, 2\)\. The Optuna pruner"):
        forecast(compose_predict(f"run_dir={sweep}", f"paths.output_root={tmp_path / 'out'}"))
    # a single run cut off, or one job's folder of a sweep: no sweep to speak of
    for single in (sweep / "0", tmp_path / "single"):
        (single / ".hydra").mkdir(parents=True, exist_ok=True)
        (single / ".hydra" / "overrides.yaml").write_text("[]\n")
        with pytest.raises(MarketcastError, match=r"has no finished run \(no run.json"):
            forecast(compose_predict(f"run_dir={single}"))


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_predict_on_a_sweep_says_which_run_it_chose_and_why(
    global_run, tmp_path, caplog, monkeypatch
):
    """It took the best run of a sweep without a word: now one line per chosen run, with
    the validation MASE it was chosen by; past SAID_CHOICES runs, one line for all (a sweep
    of a run per symbol of a universe) and each run's line in the job's log file."""
    from marketcast.jobs import runs

    _, run_dir = global_run
    sweep = tmp_path / "sweep"
    for job in ("0", "1"):
        shutil.copytree(run_dir, sweep / job)
    metrics = json.loads((sweep / "1" / "metrics.json").read_text())
    best = metrics["val"]["model"]["mase"] - 0.01
    metrics["val"]["model"]["mase"] = best
    (sweep / "1" / "metrics.json").write_text(json.dumps(metrics))
    refingerprint(sweep / "1")
    overrides = predict_overrides(tmp_path, sweep, "symbols=[005930]")
    with caplog.at_level("INFO", logger="marketcast"):
        assert forecast(compose_predict(*overrides)) == EXIT_OK
    assert set(read_store(tmp_path / "store")["run_dir"]) == {str(sweep / "1")}
    trained = listed(
        json.loads((sweep / "1" / "preprocessing.json").read_text())["data"]["symbols"]
    )
    assert (
        f"run_dir={sweep}: 1 forecasts {trained}: the best of 2 runs by the published "
        f"forecast's validation MASE, {best:.4f}, then the network's"
    ) in caplog.text
    caplog.clear()
    monkeypatch.setattr(runs, "SAID_CHOICES", 0)
    with caplog.at_level("INFO", logger="marketcast"):
        assert forecast(compose_predict(*overrides)) == EXIT_OK
    assert f"run_dir={sweep}: 1 of its runs forecast the" in caplog.text
    assert "1 forecasts" not in caplog.text


@pytest.mark.slow  # 1-2 s on 2 cores: out of the 3-minute default run; CI's second stage runs it
def test_a_damaged_runs_symbol_falls_to_a_global_run_of_the_sweep(global_run, tmp_path):
    """The README's promise: a damaged run's symbols fall to the sweep's other runs, a
    global one too (they were refused as damaged while a never-trained symbol went to it)."""
    import shutil

    _, run_dir = global_run
    sweep = tmp_path / "sweep"
    shutil.copytree(run_dir, sweep / "0")
    shutil.copytree(run_dir, sweep / "1")
    state = json.loads((sweep / "1" / "preprocessing.json").read_text())
    state["data"].update(symbols=[], symbol="000660")  # a per-symbol run of 000660, damaged
    (sweep / "1" / "preprocessing.json").write_text(json.dumps(state))
    overrides = predict_overrides(tmp_path, sweep, "symbols=[000660,005930]")
    assert forecast(compose_predict(*overrides)) == EXIT_OK
    table = read_store(tmp_path / "store")
    assert set(table["symbol"]) == {"000660", "005930"}
    assert set(table["run_dir"]) == {str(sweep / "0")}


@pytest.mark.slow  # trains a global model (10 s)
def test_a_universe_symbol_too_short_to_train_on_is_skipped_and_listed(
    tmp_path, monkeypatch, caplog
):
    """With data.on_error=skip (the default) one symbol whose train segment was too short
    for the interval's GARCH fit stopped the whole global model, exit 2."""
    histories = {**HISTORIES, "MSFT": synthetic_prices(40, seed=4, start="2025-06-01") * 3}
    monkeypatch.setattr(FinanceDataReader, "DataReader", FakeReader(histories))
    run_dir = tmp_path / "run"
    common = (
        run_dir,
        "data=fdr",
        "data.symbol=null",
        "data.symbols=[005930,MSFT]",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"data.end={AS_OF}",
        "data.backoff_s=0",
        "train.epochs=1",
    )
    with pytest.raises(MarketcastError, match="MSFT: the train segment .* is too short for"):
        train(compose_train(*common, "data.on_error=raise"))
    assert not (run_dir / "metrics.json").exists()
    with caplog.at_level("INFO", logger="marketcast"):  # exit 3, as fetch and predict
        assert command(compose_train(*common)) == EXIT_PARTIAL
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["symbols"]) == {"005930"}  # one left: still a universe's run
    # each symbol's own dates are logged, as a single run's are
    assert "  005930     rows 2023-11-01..2025-10-02, test from " in caplog.text
    assert metrics["failed"]["MSFT"].startswith("the train segment (")
    report = (run_dir / "report.md").read_text()
    assert "## Symbols skipped" in report and "- MSFT: the train segment (" in report
    assert "\n## 005930\n" in report and report.startswith("# universe: one model of 1 symbol\n")
    predictions = pd.read_csv(run_dir / "test_predictions.csv", dtype={"symbol": str})
    assert set(predictions["symbol"]) == {"005930"}


def test_the_printed_forecasts_show_six_significant_digits_at_any_price_scale():
    """predict printed pandas' six decimals: a won price read 71234.562500."""
    from marketcast.jobs.predict import _shown

    table = pd.DataFrame(
        {
            "symbol": ["005930", "AAPL", "PENNY"],
            "step": [1, 1, 1],
            "forecast": [71234.5625, 250.6850098, 0.01234567],
            "q10": [1234567.25, 240.0, 0.01],
            "run_dir": ["r"] * 3,
        }
    )
    lines = _shown(table).splitlines()
    assert lines[1].split() == ["005930", "1", "71234.6", "1234567"]
    assert lines[2].split() == ["AAPL", "1", "250.685", "240.000"]
    assert lines[3].split() == ["PENNY", "1", "0.0123457", "0.0100000"]
    assert len(lines) == 4  # all shown: no count
    many = pd.concat([table] * 20, ignore_index=True)  # 60 rows: pandas prints 40 and "..."
    assert _shown(many).splitlines()[-1] == "60 rows: the first and last 20 shown"
