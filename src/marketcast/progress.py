"""Progress of a long stage: a tqdm bar at a terminal, log lines everywhere else.

At a terminal (stderr is a TTY) a stage shows a tqdm bar on stderr while it runs; log
records written meanwhile go above the bar instead of through it. Under cron, CI or
any redirected stderr a bar would be a stream of carriage returns, so the stage is
reported through ``logging`` instead: for a long stage a line every ~10 % of the items
(or every 30 s when items are slow), and always one line at the end, e.g.

    fetched 1000 of 1000 symbols in 212.4 s (3 failed)

The end line is logged at a terminal too, so the run's log file records every stage.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger(__name__)

T = TypeVar("T")

LOG_EVERY_S = 30.0  # without a terminal: at least one line per this many seconds
LOG_EVERY_FRACTION = 0.1  # ... and one per tenth of the items,
QUIET_S = 5.0  # but none more often than this: a stage of a few seconds gets its end line only


class Progress(Iterator[T]):
    """The items of ``iterable``, reporting progress as they are taken (see the module).

    ``fail()`` counts an item that failed (shown in the bar and the end line). The end
    line is logged when the items run out, or, if the loop stops early (an exception,
    ``break``), when the iterator is closed (``with progress(...) as items:``, which
    logs it before the error is reported) or collected: "stopped: backtest 2 of 5 folds".
    An item counts as done once the next is asked for: one an error cut off does not.
    """

    def __init__(
        self,
        iterable: Iterable[T],
        total: int | None,
        desc: str,
        unit: str,
        logger: logging.Logger,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.logger = logger
        self.done = 0
        self.failed = 0
        self._items = iter(iterable)
        self._began = time.monotonic()
        self._last_line = self._began
        self._next_step = 1
        self._closed = False
        self._exhausted = False
        self._finished = 0  # the items done: each once the next one is asked for
        self._failed_item = 0  # the last item fail() counted (1 the first; 0 none)
        self._bar: tqdm | None = None
        self._redirect = None
        if sys.stderr is not None and sys.stderr.isatty():
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()
            self._bar = tqdm(total=total, desc=desc, unit=f" {unit}", file=sys.stderr, leave=False)

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        try:
            item = next(self._items)
        except StopIteration:
            self._exhausted = True
            self.close()
            raise
        except BaseException:  # the source failed: the item in hand was finished
            self._last_done()
            self.close()
            raise
        if self.done:  # the previous item is finished once the next one is asked for
            self._advance()
        self.done += 1
        return item

    def __enter__(self) -> Progress[T]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def fail(self) -> None:
        """Count the current item as failed."""
        self.failed += 1
        self._failed_item = self.done
        if self._bar is not None:
            self._bar.set_postfix(failed=self.failed, refresh=False)

    def close(self) -> None:
        """Log the end line (once) and remove the bar."""
        if self._closed:
            return
        self._closed = True
        if self._exhausted:
            self._last_done()
        if self._bar is not None:
            self._bar.close()
            self._redirect.__exit__(None, None, None)
        seconds = time.monotonic() - self._began
        # "loaded 2 of 2 (1 failed)" said 2; an item an error cut off is not done, and not
        # to be taken off the finished ones where it had failed
        cut_off = self.done > self._finished  # the item in hand, if the error came in it
        failed_done = self.failed - (1 if cut_off and self._failed_item == self.done else 0)
        done = self._count(self._finished - failed_done)
        text = f"{self.desc} {done}" if self._exhausted else f"stopped: {self.desc} {done}"
        self.logger.info("%s in %.1f s%s", text, seconds, self._failures())

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            # a run folder removed after a refusal: its log is gone; a finaliser must not raise
            with contextlib.suppress(Exception):
                self.close()

    def _last_done(self) -> None:
        """The item in hand is done, and no line is due: the end line follows."""
        if self.done > self._finished:
            self._finished += 1
            if self._bar is not None:
                self._bar.update(1)

    def _advance(self) -> None:
        self._finished += 1
        if self._bar is not None:
            self._bar.update(1)
            return
        now = time.monotonic()
        step = (
            int(self.done / self.total / LOG_EVERY_FRACTION) if self.total else self._next_step - 1
        )
        due = step >= self._next_step or now - self._last_line >= LOG_EVERY_S
        if not due or now - self._last_line < QUIET_S:
            return
        self._next_step = step + 1
        self._last_line = now
        self.logger.info(
            "%s %s so far, %.1f s%s",
            self.desc,
            self._count(self.done - self.failed),
            now - self._began,
            self._failures(),
        )

    def _count(self, n: int) -> str:
        if self.total is None:
            return counted(n, self.unit)
        return f"{n} of {counted(self.total, self.unit)}"

    def _failures(self) -> str:
        return f", {self.failed} failed" if self.failed else ""


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str = "done",
    unit: str = "item",
    logger: logging.Logger | None = None,
) -> Progress[T]:
    """Iterate ``iterable`` with progress shown (module docstring); ``total`` its length.

    ``desc`` is the stage in the past tense and ``unit`` the singular noun of an item,
    as the end line reads them: ``desc="fetched", unit="symbol"`` gives "fetched 8 of 10
    symbols in 2.1 s (2 failed)". ``total`` defaults to ``len(iterable)`` where it has one.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    return Progress(iterable, total, desc, unit, logger or log)


def rows_shown(total: int, shown: int) -> str:
    """What a printed table left out, where pandas' "..." alone did not say: "75 rows: the
    first and last 30 shown" (``shown``: the rows printed, pandas' ``max_rows``)."""
    return f"{total} rows: the first and last {shown // 2} shown"


def listed(names: list[str], most: int = 3) -> str:
    """The first ``most`` of ``names``, and how many more: "a, b, c and 2 more"."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 symbol', '2 symbols', '0 symbols' ('1 try', '3 tries' with ``plural``): the one
    way a count is said."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
