import FinanceDataReader
import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_prices

from marketcast.config import DataConfig
from marketcast.errors import MarketcastError
from marketcast.sources import PRICE_COLUMNS, load_prices


def check_schema(frame: pd.DataFrame) -> None:
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "Date"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert list(frame.columns) == [c for c in PRICE_COLUMNS if c in frame.columns]
    assert all(frame[c].dtype == "float64" for c in frame.columns)


def test_csv_in_any_capitalisation_with_extra_columns(tmp_path):
    frame = synthetic_prices(30)
    raw = frame.reset_index()
    raw.columns = ["date", "OPEN", "high", "Low", "close", "VoLuMe"]
    raw["Change"] = raw["close"].pct_change()
    raw = raw.iloc[::-1]  # newest first: must come back sorted
    path = tmp_path / "p.csv"
    raw.to_csv(path, index=False)
    got = load_prices(DataConfig(source="csv", path=str(path)))
    check_schema(got)
    np.testing.assert_allclose(got["Close"], frame["Close"])


def test_date_range_is_applied(prices_csv):
    got = load_prices(DataConfig(path=str(prices_csv), start="2015-03-02", end="2015-03-31"))
    assert got.index[0] == pd.Timestamp("2015-03-02") and got.index[-1] <= pd.Timestamp(
        "2015-03-31"
    )


def test_bundled_sample_loads():
    from conftest import ROOT

    got = load_prices(DataConfig(path=str(ROOT / "data" / "sp500.csv")))
    check_schema(got)
    assert len(got) == 5031
    assert got.index[0] == pd.Timestamp("1999-01-04")
    assert got.index[-1] == pd.Timestamp("2018-12-31")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "not a readable CSV|has no rows"),
        ("Open,Close\n1,2\n", "has no Date column"),
        ("Date,Foo\n2020-01-02,1\n", "none of the price columns"),
        ("Date,Close\n2020-01-02,abc\n", "column Close has 1 non-numeric"),
        ("Date,Close\nyesterday,1\n", "dates that cannot be read"),
    ],
)
def test_bad_csv_is_named(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(MarketcastError, match=message):
        load_prices(DataConfig(source="csv", path=str(path)))


def test_empty_date_range_is_named(prices_csv):
    with pytest.raises(MarketcastError, match="no rows between data.start=2030-01-01"):
        load_prices(DataConfig(path=str(prices_csv), start="2030-01-01"))


# FinanceDataReader's sources cannot be reached here: a fake stands at fdr.DataReader and
# returns frames in the schemas its real readers return.


def naver_frame(frame):
    """KRX codes (Naver): Open High Low Close Volume Change, index named Date, int prices."""
    out = frame.round(0).astype("int64")
    out["Change"] = out["Close"].pct_change()
    return out


def yahoo_frame(frame):
    """US tickers and indices (Yahoo): adds Adj Close; index unnamed."""
    out = frame[["Open", "High", "Low", "Close"]].copy()
    out["Adj Close"] = out["Close"] * 0.98
    out["Volume"] = frame["Volume"].astype("int64")
    out.index = pd.DatetimeIndex(out.index.to_numpy())
    return out


@pytest.mark.parametrize("schema", [naver_frame, yahoo_frame])
def test_fdr_schemas_normalise(monkeypatch, schema):
    frame = synthetic_prices(40)
    calls = []

    def fake_reader(symbol, start=None, end=None, exchange=None, data_source=None):
        calls.append((symbol, start, end))
        return schema(frame)

    monkeypatch.setattr(FinanceDataReader, "DataReader", fake_reader)
    got = load_prices(DataConfig(source="fdr", symbol="005930", start="2015-01-01"))
    check_schema(got)
    assert list(got.columns) == list(PRICE_COLUMNS)
    assert calls == [("005930", "2015-01-01", None)]
    assert len(got) == 40


def test_fdr_empty_frame_names_the_symbol(monkeypatch):
    monkeypatch.setattr(FinanceDataReader, "DataReader", lambda *a, **k: pd.DataFrame())
    with pytest.raises(MarketcastError, match=r"'999999': the source returned no rows"):
        load_prices(DataConfig(source="fdr", symbol="999999"))


def test_fdr_unreachable_says_so(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Max retries exceeded")

    monkeypatch.setattr(FinanceDataReader, "DataReader", offline)
    with pytest.raises(MarketcastError, match="could not be reached"):
        load_prices(DataConfig(source="fdr", symbol="AAPL"))


def test_unknown_source_is_named():
    with pytest.raises(MarketcastError, match="data.source='yahoo'"):
        load_prices(DataConfig(source="yahoo"))
