"""`marketcast store`: the forecast store's history, its table at a version, and its upkeep."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from marketcast.atomic import atomic_write
from marketcast.config import StoreAction
from marketcast.errors import EXIT_LOCKED, EXIT_OK
from marketcast.progress import rows_shown
from marketcast.storage.forecast_store import StoreLocked, no_store
from marketcast.storage.stores import from_config

SHOWN_ROWS = 60  # printed by store show; output=FILE writes every row


def store(cfg: DictConfig) -> int:
    target = from_config(cfg.store)
    if cfg.action == StoreAction.history:
        history = target.history()
        if cfg.output:  # whole, machine-readable: the lists as JSON
            lists = {c: history[c].map(json.dumps) for c in ("run_dirs", "as_of")}
            table = history.assign(**lists)
            atomic_write(Path(cfg.output), lambda tmp: table.to_csv(tmp, index=False))
            print(f"{len(history)} runs written to {cfg.output}")
        elif history.empty:
            print(f"{target.location}: no runs recorded")
        else:
            print(history.to_string(index=False, max_colwidth=60))
        return EXIT_OK
    if cfg.action == StoreAction.show:
        table = target.read(version=cfg.version, timestamp=cfg.timestamp)
        if cfg.output:
            atomic_write(Path(cfg.output), lambda tmp: table.to_csv(tmp, index=False))
            print(f"{len(table)} rows written to {cfg.output}")
        else:
            with pd.option_context("display.width", 200):
                print(table.to_string(index=False, max_rows=SHOWN_ROWS))
            if len(table) > SHOWN_ROWS:
                print(f"{rows_shown(len(table), SHOWN_ROWS)} (output=FILE writes them all)")
        return EXIT_OK
    if not target.exists():  # before locked(), which makes the lock file (and its directory)
        raise no_store(target)
    if not target.compacts:  # SQL and the CSV export: a database keeps its own, a CSV file has none
        print(f"{target.location}: nothing to do (compaction and vacuum are a Delta table's)")
        return EXIT_OK
    try:
        with target.locked():
            done = target.maintain(cfg.store.retention_hours)
    except StoreLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    print(f"{target.location}: " + ", ".join(f"{k} {v}" for k, v in done.items()))
    return EXIT_OK
