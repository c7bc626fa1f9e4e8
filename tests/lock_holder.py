"""Hold a forecast store's lock from another process, as a second cron run would."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

from marketcast.storage.stores import open_store


def _hold(path: Path, ready, release) -> None:
    with open_store("delta", str(path)).locked():
        ready.set()
        release.wait(30)


@contextlib.contextmanager
def lock_held_elsewhere(path: Path) -> Iterator[None]:
    """While inside, a separate process (spawned, so no shared state) holds ``path``'s lock."""
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(30), "the lock holder did not start"
        yield
    finally:
        release.set()
        holder.join(30)
