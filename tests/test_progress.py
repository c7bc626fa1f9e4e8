"""Progress of long stages: log lines without a terminal, a tqdm bar at one."""

import io
import logging
import sys

import pytest

from marketcast import progress as progress_module
from marketcast.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_there_is_no_bar_only_one_end_line(monkeypatch, caplog):
    stderr = io.StringIO()  # not a TTY, as under cron or CI
    monkeypatch.setattr(sys, "stderr", stderr)
    caplog.set_level(logging.INFO, logger="marketcast.progress")
    with progress(range(10), desc="fetched", unit="symbol") as items:
        for i in items:
            if i in (3, 7):
                items.fail()
    assert stderr.getvalue() == ""  # no bar, no carriage returns
    # the symbols that were fetched, then those that failed ("10 of 10 (2 failed)" said 10)
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == ["fetched 8 of 10 symbols"]
    assert caplog.records[0].getMessage().endswith(" s, 2 failed")


def test_a_long_stage_logs_every_tenth(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    now = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    caplog.set_level(logging.INFO, logger="marketcast.progress")
    for _ in progress(range(20), desc="forecast", unit="symbol"):
        now[0] += 7.0  # each item takes 7 "seconds"
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "forecast 2 of 20 symbols so far, 14.0 s"
    assert len(messages) == 10  # 9 tenths, then the end line
    assert messages[-1] == "forecast 20 of 20 symbols in 140.0 s"


def test_slow_items_log_every_30_seconds(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    now = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    caplog.set_level(logging.INFO, logger="marketcast.progress")
    for _ in progress(range(1000), desc="fetched", unit="symbol"):
        now[0] += 1.0  # a tenth takes 100 s: a line every 30 s instead
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:2] == [
        "fetched 30 of 1000 symbols so far, 30.0 s",
        "fetched 60 of 1000 symbols so far, 60.0 s",
    ]


def test_a_stage_stopped_by_an_error_says_so(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    caplog.set_level(logging.INFO, logger="marketcast.progress")
    with pytest.raises(KeyError), progress(range(5), desc="backtest", unit="fold") as folds:
        for k in folds:
            if k == 2:
                raise KeyError(k)
    # folds 0 and 1 were done; fold 2 was cut off by the error
    assert caplog.records[-1].getMessage().startswith("stopped: backtest 2 of 5 folds in ")


def test_a_stage_whose_last_item_an_error_cut_off_is_not_said_done(monkeypatch, caplog):
    """A SIGTERM while the peers were fitted for the one symbol logged "peers fitted for 1 of
    1 symbol" after the run's "terminated" line: the item in hand was counted done, and the
    comprehension's Progress was closed only when collected."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    caplog.set_level(logging.INFO, logger="marketcast.progress")
    with pytest.raises(KeyboardInterrupt), progress(["A"], desc="fitted", unit="symbol") as each:
        {symbol: (_ for _ in ()).throw(KeyboardInterrupt) for symbol in each}
    assert caplog.records[-1].getMessage().startswith("stopped: fitted 0 of 1 symbol in ")
    assert list(progress(["A"], desc="fitted", unit="symbol")) == ["A"]  # and when it ends
    assert caplog.records[-1].getMessage().startswith("fitted 1 of 1 symbol in ")


def test_an_item_that_failed_and_was_then_cut_off_is_counted_once(monkeypatch, caplog):
    """predict counts a symbol failed, then logs why: a SIGTERM in that line said "stopped:
    loaded 0 of 3 symbols, 1 failed", where one symbol had loaded."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    caplog.set_level(logging.INFO, logger="marketcast.progress")
    with pytest.raises(KeyboardInterrupt), progress("abc", desc="loaded", unit="symbol") as each:
        for symbol in each:
            if symbol == "b":
                each.fail()
                raise KeyboardInterrupt
    said = caplog.records[-1].getMessage()
    assert said.startswith("stopped: loaded 1 of 3 symbols in ") and said.endswith(", 1 failed")


def test_at_a_terminal_a_tqdm_bar_is_drawn(monkeypatch, caplog):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    caplog.set_level(logging.INFO, logger="marketcast.progress")
    assert list(progress(iter("abc"), total=3, desc="loaded", unit="symbol")) == ["a", "b", "c"]
    drawn = terminal.getvalue()
    assert "\rloaded:   0%|" in drawn and "0/3" in drawn
    assert caplog.records[-1].getMessage().startswith("loaded 3 of 3 symbols in ")


def test_a_count_is_said_one_way():
    """'1 of 1 symbols forecast', 'on 1 symbols': each module wrote its own plural."""
    from marketcast.progress import counted

    assert [counted(n, "symbol") for n in (0, 1, 2)] == ["0 symbols", "1 symbol", "2 symbols"]
    assert [counted(n, "try", "tries") for n in (1, 3)] == ["1 try", "3 tries"]
