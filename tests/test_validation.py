"""The validator: each check's documented behaviour, and properties on generated frames."""

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_prices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketcast.data.validation import PRICE_COLUMNS, PRICES, schema_problem, validate


def frame_of(rows: list[tuple], start="2024-01-02") -> pd.DataFrame:
    dates = pd.bdate_range(start, periods=len(rows), name="Date")
    return pd.DataFrame(rows, index=dates, columns=list(PRICE_COLUMNS), dtype=float)


GOOD = (10.0, 11.0, 9.0, 10.5, 100.0)


def test_clean_data_passes_unchanged():
    frame = synthetic_prices(50)
    out, report = validate(frame)
    pd.testing.assert_frame_equal(out, frame, check_index_type=False)
    assert schema_problem(out) is None  # nanosecond dates, whatever came in
    assert report.summary() == "clean" and not report.changed
    assert (report.rows_in, report.rows_out) == (50, 50)


def test_missing_values_dropped_by_default():
    out, report = validate(frame_of([GOOD, (10, 11, 9, np.nan, 100), GOOD, (np.inf, *GOOD[1:])]))
    assert len(out) == 2
    assert report.summary() == "2 rows with missing values dropped (first 2024-01-03)"
    assert report.changed


def test_missing_values_forward_filled_on_request():
    rows = [(np.nan, 11, 9, 10, 1), GOOD, (10, 11, 9, np.nan, 100), (10, 12, 9, 11, np.nan)]
    out, report = validate(frame_of(rows), missing="ffill")
    assert len(out) == 3 and not out.isna().any().any()
    assert out.loc["2024-01-04", "Close"] == GOOD[3]  # from the previous row
    assert out.loc["2024-01-05", "Volume"] == GOOD[4]
    assert report.summary() == (
        "2 rows with missing values filled (first 2024-01-04; from the previous row); "
        "1 rows with missing values at the start dropped (first 2024-01-02)"
    )


def test_a_column_the_caller_does_not_use_is_left_out_where_it_misses_values():
    """An index's Volume given only for recent years must not cost a Close run its rows."""
    rows = [(10, 11, 9, 10.5, np.nan), (10, 11, 9, 10.5, np.nan), GOOD, (10, 11, 9, np.nan, 100)]
    out, report = validate(frame_of(rows), columns=["Close", "Open"])
    assert list(out.columns) == ["Open", "High", "Low", "Close"]  # High is whole: kept
    assert len(out) == 3  # the Volume-less rows kept, the row without a Close dropped
    assert report.summary() == (
        "1 rows with missing values dropped (first 2024-01-05); "
        "2 rows without Volume kept (first 2024-01-02; Volume left out: not used)"
    )
    assert report.left_out == ("Volume",)
    assert len(validate(frame_of(rows), columns=["Close", "Volume"])[0]) == 1  # used: rows go
    assert len(validate(frame_of(rows), columns=["Close"], halts="drop")[0]) == 1  # reads Volume
    assert len(validate(frame_of(rows))[0]) == 1  # every column, by default


def test_a_left_out_column_still_checks_its_rows_whatever_the_range():
    """Which rows a run keeps must not hang on whether an unused column is whole over the
    rows loaded: predict loads the recent years only, where an unused Low may be whole."""
    rows = [(10, 11, np.nan, 10.5, 100), GOOD, (10, 11, 10.8, 10.5, 100), GOOD]  # Low > Close
    used = ["Close", "Open", "High"]
    whole, whole_report = validate(frame_of(rows), columns=used)
    recent, recent_report = validate(frame_of(rows)[1:], columns=used)
    assert whole_report.left_out == ("Low",) and recent_report.left_out == ()
    assert list(whole.index[1:]) == list(recent.index)  # the bad Low's row gone from both
    assert pd.Timestamp("2024-01-04") not in whole.index


def test_non_positive_prices_and_negative_volume_dropped():
    rows = [GOOD, (0, 11, 9, 10, 1), GOOD, (10, 11, 9, -10, 1), (10, 11, 9, 10, -5)]
    out, report = validate(frame_of(rows))
    assert len(out) == 2
    assert report.summary() == (
        "3 rows with prices <= 0 or above 1e+15, or Volume < 0 dropped (first 2024-01-03)"
    )


@pytest.mark.parametrize(
    "bad",
    [
        (10, 10.2, 9, 10.5, 100),  # High below Close
        (10, 11, 10.2, 10.5, 100),  # Low above Open
        (10, 9, 11, 10, 100),  # High and Low swapped
    ],
)
def test_high_low_outside_open_close_dropped(bad):
    out, report = validate(frame_of([GOOD, bad, GOOD]))
    assert len(out) == 2 and pd.Timestamp("2024-01-03") not in out.index
    assert report.summary() == "1 rows with High/Low outside Open/Close dropped (first 2024-01-03)"


def test_float_noise_in_high_low_is_not_an_error():
    close = 150.11999511718751
    out, report = validate(frame_of([(150.0, close * (1 - 1e-9), 149.0, close, 1e6)]))
    assert len(out) == 1 and report.summary() == "clean"


@pytest.mark.parametrize(("policy", "rows"), [("keep", 4), ("drop", 2)])
def test_trading_halts_kept_or_dropped(policy, rows):
    halt = (10.5, 10.5, 10.5, 10.5, 0.0)
    out, report = validate(frame_of([GOOD, halt, halt, GOOD]), halts=policy)
    assert len(out) == rows
    action = "kept" if policy == "keep" else "dropped"
    assert report.summary() == (
        f"2 trading-halt rows (Volume 0, flat prices) {action} (first 2024-01-03)"
    )
    assert report.changed == (policy == "drop")


def test_zero_volume_with_moving_prices_is_not_a_halt():
    out, report = validate(frame_of([GOOD, (10, 11, 9, 10.5, 0.0)]))
    assert len(out) == 2 and report.summary() == "clean"


def test_repeated_and_unsorted_dates_are_put_in_order():
    frame = frame_of([GOOD, (10, 12, 9, 11, 5), (10, 12, 9, 11.5, 6)])
    frame.index = pd.DatetimeIndex(["2024-01-03", "2024-01-02", "2024-01-03"], name="Date")
    out, report = validate(frame)
    assert list(out.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
    assert out.loc["2024-01-03", "Close"] == 11.5  # the last row of a date wins
    assert report.summary().startswith("1 repeated dates dropped (first 2024-01-03")


def test_a_repeated_date_keeps_its_last_row_with_a_price():
    """A line cut off mid-write ('2020-06-2') reads as an earlier date with no prices: it
    replaced that date's real row, and then went as a row with missing values."""
    frame = frame_of([GOOD, (11.0, 12.0, 10.0, 11.5, 100.0), GOOD])
    cut_off = pd.DataFrame([[np.nan] * 5], index=[frame.index[1]], columns=frame.columns)
    out, report = validate(pd.concat([frame, cut_off]))
    assert len(out) == 3 and out.loc[frame.index[1], "Close"] == 11.5
    assert report.summary() == (
        "1 repeated dates dropped (first 2024-01-03; the last row with a price of each date kept)"
    )
    revised = pd.concat([frame, frame.iloc[[1]] * 1.01])  # a revision, later in the file
    assert validate(revised)[0].loc[frame.index[1], "Close"] == pytest.approx(11.5 * 1.01)


def test_rows_after_today_are_warned():
    """A CSV row typed a year ahead was forecast from without a word."""
    frame = frame_of([GOOD, GOOD, GOOD])  # 2024-01-02 .. 01-04
    out, report = validate(frame, last_day=pd.Timestamp("2024-01-03"))
    assert len(out) == 3 and not report.changed
    assert report.summary() == "1 rows dated after 2024-01-03 warned (first 2024-01-04)"


def test_a_split_the_prices_were_not_adjusted_for_is_warned():
    split = (5.0, 5.5, 4.5, 5.25, 200.0)  # 2-for-1: every price halves
    out, report = validate(frame_of([GOOD, GOOD, split, split]))
    assert len(out) == 4 and not report.changed  # warned, nothing changed
    assert report.summary() == (
        "1 daily Close moves beyond 65% up or 39% down warned (first 2024-01-04; x0.5 that "
        "day: a split the prices were not adjusted for, or a bad price? Use split-adjusted "
        "prices)"
    )
    assert validate(frame_of([GOOD, (10.0, 13.0, 9.0, 13.0, 1.0)]))[1].summary() == "clean"


def test_holidays_are_not_gaps_but_long_holes_are():
    # Chuseok 2025: XKRX closed 10-03..10-09; a week of weekdays, no session missing.
    dates = pd.DatetimeIndex(["2025-09-30", "2025-10-01", "2025-10-02", "2025-10-10"])
    frame = pd.DataFrame([GOOD] * 4, index=dates.rename("Date"), columns=list(PRICE_COLUMNS))
    assert validate(frame, exchange="XKRX")[1].summary() == "clean"
    assert "gaps of more than 5 missing weekday sessions" not in validate(frame)[1].summary()
    assert "1 gaps of more than 2 missing weekday sessions warned" in (
        validate(frame, max_gap_sessions=2)[1].summary()
    )

    hole = synthetic_prices(60, start="2024-01-02", exchange="XNYS")
    hole = hole.drop(pd.bdate_range("2024-02-01", "2024-02-20"), errors="ignore")
    out, report = validate(hole, exchange="XNYS")
    assert len(out) == len(hole)  # warned, nothing dropped
    assert report.summary() == (
        "1 gaps of more than 5 missing XNYS sessions warned "
        "(first 2024-02-21; longest 13 sessions, before 2024-02-21)"
    )  # 14 weekdays, less Presidents' Day
    assert validate(hole, max_gap_sessions=None)[1].summary() == "clean"


def test_columns_a_source_lacks_are_not_required():
    frame = synthetic_prices(10)[["Close"]]
    out, report = validate(frame)
    assert list(out.columns) == ["Close"] and report.summary() == "clean"


def test_bad_policy_is_refused():
    with pytest.raises(ValueError, match="missing='zero'"):
        validate(synthetic_prices(5), missing="zero")


# Properties, on frames a broken source might send: any columns, any order, repeated dates,
# NaN, infinities, zeros, negatives, inverted bars and halts.

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1.0, 100.0, np.nan]),
)


@st.composite
def raw_frames(draw):
    columns = draw(st.lists(st.sampled_from(PRICE_COLUMNS), min_size=1, max_size=5, unique=True))
    n = draw(st.integers(0, 30))
    days = draw(st.lists(st.integers(0, 60), min_size=n, max_size=n))
    index = pd.DatetimeIndex(pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"))
    data = {c: draw(st.lists(values, min_size=n, max_size=n)) for c in columns}
    if n and draw(st.booleans()) and set(PRICE_COLUMNS) <= set(columns):
        price = draw(st.floats(0.01, 1e6))
        row = draw(st.integers(0, n - 1))
        for c in PRICES:
            data[c][row] = price
        data["Volume"][row] = 0.0  # a halt
    return pd.DataFrame(data, index=index.rename(draw(st.sampled_from(["Date", None]))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw_frames(),
    st.sampled_from(["drop", "ffill"]),
    st.sampled_from(["keep", "drop"]),
    st.one_of(st.none(), st.integers(0, 10)),
    st.one_of(st.none(), st.lists(st.sampled_from(PRICE_COLUMNS), min_size=1, unique=True)),
)
@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_validated_output_always_satisfies_the_schema(frame, missing, halts, max_gap, used):
    out, report = validate(
        frame, missing=missing, halts=halts, max_gap_sessions=max_gap, columns=used
    )
    if len(out):
        assert schema_problem(out) is None
    kept = [c for c in PRICE_COLUMNS if c in frame.columns]
    if used is None:
        assert list(out.columns) == kept
    else:  # the used columns stay; another may be left out where it missed values
        assert [c for c in kept if c in used] == [c for c in out.columns if c in used]
        assert set(out.columns) <= set(kept)
    assert np.isfinite(out.to_numpy()).all()
    prices = [c for c in PRICES if c in out.columns]
    assert (out[prices] > 0).all().all()
    if "Volume" in out.columns:
        assert (out["Volume"] >= 0).all()
    if "High" in out.columns:
        others = [c for c in ("Open", "Close", "Low") if c in out.columns]
        if others:
            assert (out["High"] >= out[others].max(axis=1) * (1 - 1e-6)).all()
    if halts == "drop" and set(PRICE_COLUMNS) <= set(out.columns):
        flat = out[list(PRICES)].nunique(axis=1) == 1
        assert not (flat & (out["Volume"] == 0)).any()
    assert report.rows_in == len(frame) and report.rows_out == len(out)
    assert set(out.index) <= set(pd.DatetimeIndex(frame.index).normalize())
    # Whatever was dropped is in the report.
    dates = pd.DatetimeIndex(frame.index).normalize()
    checks = {f.check for f in report.findings if f.action == "dropped"}
    assert ("repeated dates" in checks) == (len(dates) > dates.nunique())
    assert (len(out) < dates.nunique()) == bool(checks - {"repeated dates"})


@settings(max_examples=100, deadline=None)
@given(raw_frames(), st.sampled_from(["drop", "ffill"]), st.sampled_from(["keep", "drop"]))
@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_validation_is_idempotent(frame, missing, halts):
    once, _ = validate(frame, missing=missing, halts=halts, max_gap_sessions=None)
    twice, report = validate(once, missing=missing, halts=halts, max_gap_sessions=None)
    pd.testing.assert_frame_equal(twice, once, check_freq=False)
    assert not report.changed
