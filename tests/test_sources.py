"""Price sources: CSV files and FinanceDataReader (a fake at its DataReader), schema and errors."""

import threading
import time

import FinanceDataReader
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, synthetic_prices
from fake_fdr import (
    FailingReader,
    FakeReader,
    UnresolvedReader,
    http_error,
    naver_frame,
    yahoo_frame,
)

from marketcast.config import DataConfig
from marketcast.data import sources
from marketcast.data.sources import PRICE_COLUMNS, load, load_prices, source_name
from marketcast.data.validation import schema_problem
from marketcast.errors import MarketcastError

NOW = pd.Timestamp("2016-06-01 12:00", tz="UTC")  # after every synthetic session below


def fdr_config(**overrides) -> DataConfig:
    """FinanceDataReader without a cache and without waiting between retries."""
    return DataConfig(**{"source": "fdr", "symbol": "005930", "backoff_s": 0.0, **overrides})


def test_csv_in_any_capitalisation_with_extra_columns(tmp_path):
    frame = synthetic_prices(30)
    raw = frame.reset_index()
    raw.columns = ["date", "OPEN", "high", "Low", "close", "VoLuMe"]
    raw["Change"] = raw["close"].pct_change()
    raw = raw.iloc[::-1]  # newest first: must come back sorted
    path = tmp_path / "p.csv"
    raw.to_csv(path, index=False)
    got = load_prices(DataConfig(source="csv", path=str(path)))
    assert schema_problem(got) is None
    np.testing.assert_allclose(got["Close"], frame["Close"])


def test_an_empty_column_is_left_out_not_every_row(tmp_path, caplog):
    """An index's file can carry a Volume column without a value in it: the prices load,
    without Volume, and a warning says so (not 'no rows left after validation')."""
    frame = synthetic_prices(30)
    frame["Volume"] = np.nan
    path = tmp_path / "index.csv"
    frame.to_csv(path)
    got = load_prices(DataConfig(source="csv", path=str(path)))
    assert list(got.columns) == ["Open", "High", "Low", "Close"]
    assert len(got) == 30
    assert "column Volume has no values; left out" in caplog.text


def test_date_range_is_applied(prices_csv):
    got = load_prices(DataConfig(path=str(prices_csv), start="2015-03-02", end="2015-03-31"))
    assert got.index[0] == pd.Timestamp("2015-03-02")
    assert got.index[-1] <= pd.Timestamp("2015-03-31")


def test_bundled_sample_loads_and_is_clean():
    loaded = load(DataConfig(path=str(ROOT / "data" / "sp500.csv"), exchange="XNYS"))
    assert schema_problem(loaded.frame) is None
    assert len(loaded.frame) == 5031
    assert loaded.frame.index[0] == pd.Timestamp("1999-01-04")
    assert loaded.frame.index[-1] == pd.Timestamp("2018-12-31")
    assert loaded.report.summary() == "clean"  # not one NYSE session missing, no bad row


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "not a readable CSV|has no rows"),
        ("Open,Close\n1,2\n", "has no Date column"),
        ("Date,Foo\n2020-01-02,1\n", "none of the price columns"),
        ("Date,Close\n2020-01-02,abc\n", "column Close has 1 non-numeric"),
        ("Date,Close\nyesterday,1\n", "dates that cannot be read"),
        ("Date,Close\n,1\n,2\n", r"has no dates: its Date column is empty\.$"),
        ("Date,Close\n2020-01-02,-1\n", "no rows left after validation"),
        # pandas' tokenizer error ended in a newline: the message took two lines
        ("Date,Close\n2020-01-02,1\n2020-01-03,1,2\n", r"Expected 2 fields in line 3, saw 3\)\.$"),
    ],
)
def test_bad_csv_is_named(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(MarketcastError, match=message):
        load_prices(DataConfig(source="csv", path=str(path)))


def test_a_csv_is_named_in_one_line_with_what_to_change(tmp_path, caplog):
    unreadable = tmp_path / "unreadable.csv"  # read as the first row's format, then not
    unreadable.write_text("Date,Close\n01/02/2013,1\n16/13/2013,2\n")
    with pytest.raises(MarketcastError, match="dates that cannot be read") as caught:
        load_prices(DataConfig(source="csv", path=str(unreadable)))
    assert len(str(caught.value).splitlines()) == 1 and "might want" not in str(caught.value)
    assert str(caught.value).endswith("at position 1). Use ISO dates such as 2024-01-31.")
    yahoo = tmp_path / "adjusted.csv"
    yahoo.write_text("Date,Open,High,Low,Adj Close\n2020-01-02,1,2,0.5,1.5\n")
    with caplog.at_level("WARNING", logger="marketcast"):
        load_prices(DataConfig(source="csv", path=str(yahoo)))
    assert "its Adj Close column is not read (marketcast reads Close)" in caplog.text


@pytest.mark.parametrize("sep", [".", "/"])
def test_day_first_dates_are_read_day_first_where_the_file_tells(tmp_path, sep, recwarn):
    """dd.mm.yyyy files were read month-first from a first row whose day is at most 12,
    then refused at the 13th ("Use ISO dates"); one whose first day was above 12 was read
    day-first with pandas' UserWarning on stderr. Dates that read both ways are refused
    rather than guessed."""
    frame = synthetic_prices(30, start="2024-03-01", exchange="XNYS")
    raw = frame.reset_index()
    for form in (f"%d{sep}%m{sep}%Y", f"%m{sep}%d{sep}%Y"):
        path = tmp_path / "p.csv"
        raw.assign(Date=raw["Date"].dt.strftime(form)).to_csv(path, index=False)
        got = load(DataConfig(source="csv", path=str(path)))
        pd.testing.assert_frame_equal(got.frame, frame, check_freq=False)
    assert not [w for w in recwarn if "dayfirst" in str(w.message)]
    path.write_text(f"Date,Close\n04{sep}04{sep}2024,1\n03{sep}04{sep}2024,2\n")
    with pytest.raises(MarketcastError, match=f"dates such as 03{sep}04{sep}2024 that read"):
        load_prices(DataConfig(source="csv", path=str(path)))  # the first that differs
    path.write_text(f"Date,Close\n31{sep}01{sep}2024,1\nsoon,2\n")
    with pytest.raises(MarketcastError, match='time data "soon" doesn.t match format'):
        load_prices(DataConfig(source="csv", path=str(path)))  # not the swapped reading's


@pytest.mark.parametrize("form", ["%d/%m/%y", "%m/%d/%y", "%d.%m.%y", "%m-%d-%y", "%y.%m.%d"])
def test_two_digit_years_are_read_day_first_or_month_first_as_the_file_tells(tmp_path, form):
    """pandas guesses no format for 31/01/24: dateutil read each row on its own, month-first
    where the day was at most 12, and a day-first file was scrambled with gap warnings; a
    Korean export's 24.01.31 (year first) read as 24 January 2031 with warnings only."""
    frame = synthetic_prices(30, start="2024-03-01", exchange="XNYS")
    raw = frame.reset_index()
    path = tmp_path / "p.csv"
    raw.assign(Date=raw["Date"].dt.strftime(form)).to_csv(path, index=False)
    got = load(DataConfig(source="csv", path=str(path)))
    pd.testing.assert_frame_equal(got.frame, frame, check_freq=False)
    path.write_text("Date,Close\n04/04/24,1\n03/04/24,2\n")
    with pytest.raises(MarketcastError, match="dates such as 03/04/24 that read"):
        load_prices(DataConfig(source="csv", path=str(path)))


def test_dates_with_a_month_name_are_read_as_before(tmp_path):
    """05-Jan-2024 (a day, then a month's name) was swapped to a month-first reading that
    parsed too, and the file refused as ambiguous."""
    frame = synthetic_prices(30, start="2024-01-02", exchange="XNYS")
    raw = frame.reset_index()
    for form in ("%d-%b-%Y", "%d %b %Y", "%b %d, %Y"):
        path = tmp_path / "p.csv"
        raw.assign(Date=raw["Date"].dt.strftime(form)).to_csv(path, index=False)
        got = load(DataConfig(source="csv", path=str(path))).frame
        pd.testing.assert_frame_equal(got, frame, check_freq=False)


def test_rows_without_a_date_are_dropped_with_a_warning(tmp_path, caplog):
    """A spreadsheet's trailing ',,,,,' line (NaT) crashed training and the whole nightly
    predict with 'NaTType has no attribute normalize', exit 1; with the gap check off, a
    priced row without a date became the test segment's last row."""
    frame = synthetic_prices(30, exchange="XNYS")
    raw = frame.reset_index()
    raw.loc[10, "Date"] = None  # prices, no date
    path = tmp_path / "p.csv"
    path.write_text(raw.to_csv(index=False) + ",,,,,\n")
    for gaps in (5, None):
        got = load(DataConfig(source="csv", path=str(path), max_gap_sessions=gaps))
        assert got.frame.index.notna().all() and len(got.frame) == 29
        assert got.frame.index.equals(frame.index.drop(frame.index[10]))
    assert "2 rows without a date dropped (1 of them empty)" in caplog.text


def test_a_cut_off_repeat_of_a_date_keeps_the_row_with_prices(tmp_path, caplog):
    """A last line cut off mid-write ('2024-12-3' of '2024-12-31') repeats 2024-12-03
    without prices: the file's own 2024-12-03 row was lost (the last row won, and then
    was dropped for its missing values), against validation's own rule."""
    frame = synthetic_prices(30, start="2024-11-18", exchange="XNYS")
    path = tmp_path / "p.csv"
    path.write_text(frame.to_csv() + "2024-12-3")
    got = load(DataConfig(source="csv", path=str(path)))
    pd.testing.assert_frame_equal(got.frame, frame, check_freq=False)
    assert "1 repeated dates (first 2024-12-03); of each, the last row with a price kept" in (
        caplog.text
    )


def test_yyyymmdd_numbers_are_dates_and_other_numbers_are_refused(tmp_path):
    """read_csv makes 20240131 an integer, which pandas read as nanoseconds since 1970:
    every row was 1970-01-01, and the error blamed the split."""
    frame = synthetic_prices(30, exchange="XNYS")
    raw = frame.reset_index()
    raw["Date"] = raw["Date"].dt.strftime("%Y%m%d").astype(int)
    path = tmp_path / "p.csv"
    raw.to_csv(path, index=False)
    got = load_prices(DataConfig(source="csv", path=str(path)))
    assert got.index.equals(frame.index)
    raw["Date"] = frame.index.astype("int64") // 10**9  # epoch seconds
    raw.to_csv(path, index=False)
    with pytest.raises(MarketcastError, match=r"has dates that are numbers \(1420156800\)"):
        load_prices(DataConfig(source="csv", path=str(path)))


def test_dates_whose_offset_changes_with_summer_time_are_read_as_local_days(tmp_path):
    """A New York time zone across a DST change was refused ('Tz-aware datetime cannot be
    converted', 'Use ISO dates'), with pandas' FutureWarning on stderr."""
    frame = synthetic_prices(60, start="2024-02-01", exchange="XNYS")
    raw = frame.reset_index()
    raw["Date"] = raw["Date"].dt.tz_localize("America/New_York").astype(str)
    assert raw["Date"].str.endswith("-05:00").any() and raw["Date"].str.endswith("-04:00").any()
    path = tmp_path / "p.csv"
    raw.to_csv(path, index=False)
    got = load(DataConfig(source="csv", path=str(path)))
    assert got.frame.index.equals(frame.index) and got.report.summary() == "clean"


def test_text_in_a_column_the_run_does_not_use_leaves_the_column_out(tmp_path, caplog):
    frame = synthetic_prices(30, exchange="XNYS")
    raw = frame.reset_index()
    raw["Volume"] = raw["Volume"].astype(object)
    raw.loc[:5, "Volume"] = "-"
    path = tmp_path / "p.csv"
    raw.to_csv(path, index=False)
    got = load(DataConfig(source="csv", path=str(path)), columns=["Close", "Open", "High"])
    assert list(got.frame.columns) == ["Open", "High", "Low", "Close"] and len(got.frame) == 30
    assert "column Volume has 6 non-numeric values (first on 2015-01-02); left out" in (caplog.text)
    for columns in (None, ["Close", "Volume"]):  # used: refused, naming it
        with pytest.raises(MarketcastError, match="column Volume has 6 non-numeric values"):
            load(DataConfig(source="csv", path=str(path)), columns=columns)


def test_rows_on_days_the_exchange_does_not_trade_are_warned(tmp_path):
    """A Saturday row, a KRX file on the NYSE calendar, Seoul dates written in UTC (a day
    early): accepted in silence, and a Saturday could become predict's as_of."""
    frame = synthetic_prices(30, start="2024-06-03", exchange="XNYS")
    saturday = frame.iloc[[-1]].set_axis(pd.DatetimeIndex(["2024-07-13"], name="Date"))
    path = tmp_path / "p.csv"
    pd.concat([frame, saturday]).to_csv(path)
    got = load(DataConfig(source="csv", path=str(path)))
    assert len(got.frame) == 31  # warned, kept
    assert got.report.summary() == (
        "1 rows on days XNYS does not trade warned (first 2024-07-13; prices of another "
        "market than data.exchange, or dates a time zone moved by a day?)"
    )


def test_empty_date_range_is_named(prices_csv):
    with pytest.raises(MarketcastError, match="no rows between data.start=2030-01-01"):
        load_prices(DataConfig(path=str(prices_csv), start="2030-01-01"))


def test_csv_is_validated_too(tmp_path, caplog):
    frame = synthetic_prices(60)
    frame.iloc[5, frame.columns.get_loc("Close")] = np.nan
    frame.iloc[9, frame.columns.get_loc("High")] = frame["Low"].iloc[9] * 0.5  # inverted
    halt = frame.iloc[20]["Close"]
    frame.iloc[20] = [halt, halt, halt, halt, 0.0]
    path = tmp_path / "p.csv"
    frame.to_csv(path)
    loaded = load(DataConfig(source="csv", path=str(path), halts="drop"))
    assert len(loaded.frame) == 57
    summary = loaded.report.summary()
    assert "1 rows with missing values dropped (first 2015-01-09)" in summary
    assert "1 rows with High/Low outside Open/Close dropped" in summary
    assert "1 trading-halt rows (Volume 0, flat prices) dropped" in summary
    assert f"{path.stem}: validation: " in caplog.text  # reported, not silent


# FinanceDataReader's sources cannot be reached here: a fake stands at fdr.DataReader and
# returns frames in the schemas its real readers return (tests/fake_fdr.py).


@pytest.mark.parametrize(("symbol", "schema"), [("005930", naver_frame), ("AAPL", yahoo_frame)])
def test_fdr_schemas_normalise(monkeypatch, symbol, schema):
    frame = synthetic_prices(40) * 100
    fake = FakeReader({symbol: frame})
    monkeypatch.setattr(FinanceDataReader, "DataReader", fake)
    got = load_prices(fdr_config(symbol=symbol, start="2015-01-05"), now=NOW)
    assert schema(frame).shape[1] == 6  # Change / Adj Close came in, and went
    assert schema_problem(got) is None
    assert list(got.columns) == list(PRICE_COLUMNS)
    assert fake.calls == [(symbol, None, None)]  # always the whole history (the cache's unit)
    assert got.index[0] == pd.Timestamp("2015-01-05") and len(got) == 39
    expected = frame.round(0) if schema is naver_frame else frame
    np.testing.assert_allclose(got["Close"], expected["Close"].iloc[1:])


def test_fdr_empty_frame_names_the_symbol_and_source(monkeypatch):
    monkeypatch.setattr(FinanceDataReader, "DataReader", FakeReader({}))
    with pytest.raises(MarketcastError, match=r"'999999' \(Naver\): the source returned no rows"):
        load_prices(fdr_config(symbol="999999"), now=NOW)


def test_yahoo_404_names_the_symbol_and_source(monkeypatch):
    monkeypatch.setattr(FinanceDataReader, "DataReader", FakeReader({}))
    with pytest.raises(MarketcastError, match=r"'NOSUCH' \(Yahoo\): the source does not know"):
        load_prices(fdr_config(symbol="NOSUCH"), now=NOW)


def test_other_source_failures_are_not_retried(monkeypatch):
    broken = FailingReader(KeyError("timestamp"))
    monkeypatch.setattr(FinanceDataReader, "DataReader", broken)
    with pytest.raises(MarketcastError, match=r"the source failed \(KeyError: 'timestamp'\)"):
        load_prices(fdr_config(symbol="AAPL", retries=3), now=NOW)
    assert len(broken.calls) == 1


@pytest.mark.parametrize(
    "error",
    [ConnectionError("Max retries exceeded"), OSError("Network is unreachable"), http_error(503)],
)
def test_fdr_unreachable_without_cache_says_so(monkeypatch, error):
    offline = FailingReader(error)
    monkeypatch.setattr(FinanceDataReader, "DataReader", offline)
    with pytest.raises(MarketcastError, match="could not be reached: 3 tries.*no cached copy"):
        load_prices(fdr_config(symbol="AAPL", retries=2), now=NOW)
    assert len(offline.calls) == 3


def test_retries_back_off_exponentially(monkeypatch):
    frame = synthetic_prices(30)
    fake = FakeReader({"AAPL": frame})
    failures = iter([ConnectionError("reset"), TimeoutError("slow")])

    def flaky(*args, **kwargs):
        error = next(failures, None)
        if error:
            raise error
        return fake(*args, **kwargs)

    slept = []
    monkeypatch.setattr(FinanceDataReader, "DataReader", flaky)
    monkeypatch.setattr(sources.time, "sleep", slept.append)
    got = load_prices(fdr_config(symbol="AAPL", retries=2, backoff_s=0.5), now=NOW)
    assert slept == [0.5, 1.0]
    assert len(got) == 30


@pytest.mark.parametrize(
    ("errno", "calls"),
    [("EAI_NONAME", 1), ("EAI_AGAIN", 3)],  # offline; a resolver blip
)
def test_a_host_name_the_resolver_does_not_know_is_not_retried(monkeypatch, errno, calls):
    """Offline, every try fails on the name lookup at once: the back-off (1 s, then 2 s)
    was most of the 7 s before the error, which issue 12 wants under 5 s. A temporary
    lookup failure is retried as before."""
    import socket

    unresolved = UnresolvedReader(getattr(socket, errno))
    slept = []
    monkeypatch.setattr(FinanceDataReader, "DataReader", unresolved)
    monkeypatch.setattr(sources.time, "sleep", slept.append)
    said = "could not be reached: " + ("1 try, which" if calls == 1 else f"{calls} tries, the last")
    with pytest.raises(MarketcastError, match=said) as raised:
        load_prices(fdr_config(symbol="005930", retries=2, backoff_s=1.0), now=NOW)
    assert len(unresolved.asked) == calls and len(slept) == calls - 1
    assert ("not known to the resolver: offline, so not retried" in str(raised.value)) == (
        calls == 1
    )


def test_a_hanging_source_times_out(monkeypatch):
    release = threading.Event()

    def hangs(*args, **kwargs):
        release.wait(30)  # like a stalled socket: FDR sets no timeout of its own
        return pd.DataFrame()

    monkeypatch.setattr(FinanceDataReader, "DataReader", hangs)
    began = time.monotonic()
    try:
        with pytest.raises(MarketcastError, match="2 tries, the last failed with TimeoutError"):
            load_prices(fdr_config(timeout_s=0.2, retries=1), now=NOW)
    finally:
        release.set()
    assert time.monotonic() - began < 5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"symbol": None}, "data.symbol is not set"),
    ],
)
def test_bad_data_values_are_named_before_any_fetch(monkeypatch, override, message):
    fake = FakeReader({})
    monkeypatch.setattr(FinanceDataReader, "DataReader", fake)
    with pytest.raises(MarketcastError, match=message):
        load_prices(fdr_config(**override), now=NOW)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("symbol", "source"),
    [("005930", "Naver"), ("0126Z0", "Naver"), ("AAPL", "Yahoo"), ("US500", "Yahoo"),
     ("KS11", "KRX"), ("KRX:005930", "KRX"), ("fred:M2", "FRED")],
)  # fmt: skip
def test_source_name_follows_fdr_routing(symbol, source):
    assert source_name(symbol) == source


@pytest.mark.parametrize(("name", "gaps"), [("krx_005930.csv", False), ("prices.csv", True)])
def test_csv_named_after_a_krx_code_is_checked_on_the_krx_calendar(tmp_path, name, gaps):
    """exchange=auto reads a six-digit code in a CSV's name: Chuseok 2023 is no gap in it."""
    from marketcast.data.trading_days import sessions

    days = sessions(pd.Timestamp("2023-08-01"), pd.Timestamp("2023-11-30"), "XKRX")
    prices = synthetic_prices(len(days))
    prices.index = pd.DatetimeIndex(days, name="Date")
    path = tmp_path / name
    prices.to_csv(path)
    loaded = load(DataConfig(path=str(path), exchange="auto", max_gap_sessions=2))
    assert bool(loaded.report.findings) is gaps, loaded.report.summary()


def test_a_naive_now_is_utc(prices_csv):
    """load(now=) took only an aware time once the future-row check read it: a naive one,
    which trading_days reads as UTC, raised TypeError."""
    naive = load(DataConfig(path=str(prices_csv)), now=pd.Timestamp("2015-03-02 12:00"))
    aware = load(DataConfig(path=str(prices_csv)), now=pd.Timestamp("2015-03-02 12:00", tz="UTC"))
    pd.testing.assert_frame_equal(naive.frame, aware.frame)
    assert "rows dated after 2015-03-03" in naive.report.summary()
