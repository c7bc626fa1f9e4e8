"""The forecast store: idempotent, all-or-nothing writes, and a lock."""

import datetime as dt

import pandas as pd
import pytest
from lock_holder import lock_held_elsewhere

from marketcast.storage import parquet_store as store_module
from marketcast.storage.parquet_store import StoreLocked, locked, read_store, write_forecasts


def forecasts(symbols, as_of, value=1.0, horizon=2):
    rows = []
    for symbol in symbols:
        for step in range(1, horizon + 1):
            rows.append(
                {
                    "symbol": symbol,
                    "as_of": as_of,
                    "target_date": as_of + dt.timedelta(days=step),
                    "step": step,
                    "forecast": value + step,
                    "q10": value,
                    "q90": value + 3,
                    "run_dir": "/runs/x",
                }
            )
    return pd.DataFrame(rows)


DAY1, DAY2 = dt.date(2024, 5, 2), dt.date(2024, 5, 3)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_rerunning_the_same_day_is_idempotent(tmp_path, fmt):
    write_forecasts(tmp_path, forecasts(["A", "B"], DAY1), fmt)
    once = read_store(tmp_path, fmt)
    write_forecasts(tmp_path, forecasts(["A", "B"], DAY1), fmt)
    pd.testing.assert_frame_equal(read_store(tmp_path, fmt), once)
    assert len(once) == 4


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_rerun_replaces_exactly_its_own_rows(tmp_path, fmt):
    write_forecasts(tmp_path, forecasts(["A", "B"], DAY1), fmt)
    write_forecasts(tmp_path, forecasts(["A"], DAY2), fmt)
    write_forecasts(tmp_path, forecasts(["B"], DAY1, value=10.0), fmt)
    got = read_store(tmp_path, fmt)
    assert len(got) == 6
    b_day1 = got[(got["symbol"] == "B") & (got["as_of"] == DAY1)]
    assert list(b_day1["forecast"]) == [11.0, 12.0]
    a_day1 = got[(got["symbol"] == "A") & (got["as_of"] == DAY1)]
    assert list(a_day1["forecast"]) == [2.0, 3.0]


# The update below writes 2 partition files, renames the journal into place, then renames
# the 2 files: 5 points at which a kill can land. Every one is tried.
@pytest.mark.parametrize("fail_at", range(1, 6))
def test_an_interrupted_write_leaves_the_before_or_after_state(tmp_path, monkeypatch, fail_at):
    """Raise at each point inside the writer: the store reads back as before or after."""
    fmt = "parquet"
    write_forecasts(tmp_path, forecasts(["A", "B"], DAY1), fmt)
    before = read_store(tmp_path, fmt)
    update = pd.concat([forecasts(["A"], DAY1, value=5.0), forecasts(["A", "C"], DAY2)])

    calls = {"n": 0}
    real_write, real_replace = store_module._write_file, store_module.os.replace

    def counting(real):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise KeyboardInterrupt("killed")
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(store_module, "_write_file", counting(real_write))
    monkeypatch.setattr(store_module.os, "replace", counting(real_replace))
    with pytest.raises(KeyboardInterrupt):
        write_forecasts(tmp_path, update, fmt)
    monkeypatch.undo()

    after_clean = tmp_path.parent / f"clean{fail_at}"
    write_forecasts(after_clean, forecasts(["A", "B"], DAY1), fmt)
    write_forecasts(after_clean, update, fmt)
    expected_after = read_store(after_clean, fmt)
    got = read_store(tmp_path, fmt)
    assert got.equals(before) or got.equals(expected_after), (fail_at, got)
    if fail_at > 3:  # killed after the commit point: rolled forward
        assert got.equals(expected_after)
    assert not list(tmp_path.glob("as_of=*/.*.tmp"))


def test_a_second_run_cannot_take_the_lock(tmp_path):
    with (
        lock_held_elsewhere(tmp_path),
        pytest.raises(StoreLocked, match="another forecast run"),
        locked(tmp_path),
    ):
        pass
    with locked(tmp_path):  # released when its holder finished
        pass
