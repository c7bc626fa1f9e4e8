"""The one exception type for problems a user can fix, every exit status of the commands,
how an error reads in one line of a warning, and how to install what an option needs."""

import contextlib
import importlib.metadata
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator

EXIT_OK = 0
EXIT_ERROR = 1  # anything else: a bug or an environment failure (the traceback is logged)
EXIT_USER_ERROR = 2  # a bad input, config value or missing artifact: one message on stderr
EXIT_PARTIAL = 3  # predict / fetch / train: some symbols failed, the others were done
EXIT_NONE = 4  # predict: no symbol could be forecast
EXIT_LOCKED = 5  # predict, store maintain: the store's lock is held (another run, or another
# program's SQLite write lock past the busy timeout); nothing written
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as a shell reports a job it interrupted
EXIT_TERMINATED = 143  # SIGTERM (timeout, systemd, a scheduler's kill), as a shell reports it
EXIT_PIPE_CLOSED = 141  # stdout's reader went away (`marketcast predict --help | head`): SIGPIPE


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C is: every cleanup an interrupted run
    does (its MLflow run marked failed, temporary files removed) runs for it too."""


@contextlib.contextmanager
def signals_held(what: str = "the forecast store's write") -> Iterator[None]:
    """Hold SIGTERM and Ctrl-C until the block ends, then deliver the first to the handler
    there was: a forecast store's commit runs to its end and is logged, where a signal that
    arrived during it (delta-rs' Rust code runs on) ended the job after the commit had
    taken effect, without a word of it. A second signal is delivered at once where Python
    code is running (a CSV export; delta-rs hears it only when its call returns), and so is
    one inside a ``signals_act`` block. A signal that is ignored (a job started in the
    background) stays ignored. The main thread only (where signals arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    delivered: list[bool] = []

    def hold(number: int, _frame: object) -> None:
        held.append(number)
        if len(held) > 1 or _acting:  # a second signal, or one a signals_act block lets act
            deliver()
            return
        print(f"marketcast: stopping once {what} ends", file=sys.stderr)

    def deliver() -> None:
        """The held signal, now (its handler raises here), the block no longer holding."""
        if held:
            number = held[-1]
            held.clear()
            restore()
            delivered.append(True)  # its handler may set others (SIG_IGN): not undone
            signal.raise_signal(number)

    def restore() -> None:
        for number, handler in handlers.items():
            signal.signal(number, handler)

    handlers = {
        s: signal.signal(s, hold) for s in _HELD if signal.getsignal(s) is not signal.SIG_IGN
    }
    _holding.append(deliver)
    try:
        yield
    finally:
        _holding.remove(deliver)
        if not delivered:
            restore()
        if held:  # also where the block failed: the signal asked the job to stop
            signal.raise_signal(held[0])


_HELD = (signal.SIGTERM, signal.SIGINT)
_holding: list[Callable[[], None]] = []  # the open signals_held blocks' deliver()
_acting: list[bool] = []  # open signals_act blocks


@contextlib.contextmanager
def signals_act() -> Iterator[None]:
    """Inside ``signals_held``: a signal held so far, or one that comes in this block, acts
    at once, as if none were held (a SQL transaction's statements, which a signal rolls
    back whole, where a write waiting on another session's lock waited for it to be
    released, then committed); after the block (the COMMIT) signals are held again, so
    that the commit is logged before the job stops."""
    if threading.current_thread() is not threading.main_thread():  # signals_held's too
        yield
        return
    _acting.append(True)  # first: a signal from here on acts, and one held so far now
    try:
        for deliver in _holding:
            deliver()
        yield
    finally:
        _acting.pop()


class MarketcastError(Exception):
    """A bad input, config value or missing artifact.

    The message names the bad value and says what to do; the command-line
    entry points print it without a traceback and exit with ``EXIT_USER_ERROR``.
    """


class SweepStopped(Exception):
    """A job's error that stops a sweep (``sweep.fail_fast=true``): said as one line by
    ``cli.run_command``, as a single run's would be (it was Hydra's traceback, exit 1)."""

    def __init__(self, run_dir: str, error: Exception):
        super().__init__(run_dir, error)
        self.run_dir, self.error = run_dir, error

    def __str__(self) -> str:
        if isinstance(self.error, MarketcastError):
            return f"{self.error} (sweep.fail_fast stopped the sweep at {self.run_dir})"
        return (
            f"unexpected {type(self.error).__name__}: {first_line(self.error)} (a bug, not "
            f"your input: the traceback is in {self.run_dir}/failed.json; sweep.fail_fast "
            "stopped the sweep)"
        )


def first_line(error: BaseException | str) -> str:
    """An error's message (or a recorded one's text) up to its first line break: SQLAlchemy
    adds the statement, its parameters and a web link on further lines, which the log's
    traceback keeps. An exception without a message: its type's name."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines:
        return lines[0]
    return "" if isinstance(error, str) else type(error).__name__


def log_bug(logger: logging.Logger, message: str, exc: BaseException) -> None:
    """Log ``message`` as an error: with ``exc``'s traceback in the job's log files, and as
    the one line in the console (cron's mail), where stderr's own line says where the
    traceback is. Where nothing logs to a file, the console gets the traceback, so that it
    is not lost."""
    traced = logger.makeRecord(
        logger.name, logging.ERROR, __file__, 0, message, None, (type(exc), exc, exc.__traceback__)
    )
    plain = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, None, None)
    handlers = [h for h in _handlers(logger) if traced.levelno >= h.level]
    files = [h for h in handlers if _keeps(h)]
    for handler in handlers:
        handler.handle(traced if not files or handler in files else plain)


def log_to_files(logger: logging.Logger, message: str) -> None:
    """Log ``message`` at INFO in the job's log files alone, for an outcome the job prints
    itself: through the console handler as well, the console showed it twice. Where
    nothing logs to a file, nothing more is said (the print is the record)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, None, None)
    for handler in _handlers(logger):
        if _keeps(handler) and record.levelno >= handler.level:
            handler.handle(record)


def _keeps(handler: logging.Handler) -> bool:
    """Whether ``handler`` writes to a file that keeps what it is given (pytest's own
    FileHandler writes to os.devnull)."""
    return isinstance(handler, logging.FileHandler) and handler.baseFilename != os.devnull


def _handlers(logger: logging.Logger) -> list[logging.Handler]:
    """Every handler a record of ``logger`` reaches, its ancestors' included."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found.extend(current.handlers)
        current = current.parent if current.propagate else None
    return found


def brief(exc: BaseException) -> str:
    """An error in one line of at most 200 characters, for a warning."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:197] + "..."


def install_command(extra: str) -> str:
    """The command that installs marketcast's optional ``extra`` (``sweep``, ``mlflow``,
    ...): its packages as this installation's metadata lists them (pyproject.toml), which
    holds in a checkout and in an installed package alike (``pip install -e '.[x]'`` only
    in a checkout)."""
    try:
        requires = importlib.metadata.requires("marketcast") or []
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        requires = []
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    packages = [r.split(";")[0].strip() for r in requires if marker.search(r)]
    if not packages:
        return f"pip install -e '.[{extra}]'"
    return "pip install " + " ".join(f"'{p}'" for p in packages)
