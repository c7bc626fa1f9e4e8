"""Which folders a command makes, so that one that fails removes only what it made.

Hydra makes a run's folder (``hydra.run.dir``) or a sweep's (``hydra.sweep.dir``), and the
folders above it, before the job starts. A command that fails before it wrote anything
removes that folder and the two above it where they are left empty (``cli``): only those
this command made, never a folder of the user's own that was there before (a failing run
into ``hydra.run.dir=~/logs`` removed the folder with the user's logs in it).

Hydra also writes its ``.hydra/`` files (the config, the overrides) into the run's folder
before the job starts. In a folder that was there before, a command that fails puts back
what they held (``restore``): a run refused because the folder holds a finished run had
rewritten that run's ``.hydra/overrides.yaml`` with the refused command's overrides (a
sweep's summary reads them), and a refusal in a folder of the user's own left Hydra's
files and an empty log in it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

_made: set[Path] = set()  # the folders this command's run or sweep folder adds
_sweep: Path | None = None  # the sweep folder this command started (a multirun's)
_folder: Path | None = None  # the run or sweep folder this command records
# a run folder that was there before: its entries' names and sizes, its .hydra/ files' bytes
_before: dict[Path, tuple[dict[str, int], dict[str, bytes]]] = {}


def made(folder: Path) -> bool:
    """Whether this command made ``folder`` (it did not exist when the command started)."""
    return Path(folder).absolute() in _made


def recorded() -> Path | None:
    """The run or sweep folder this command records (None before Hydra's run starts)."""
    return _folder


def started_sweep() -> Path | None:
    """The sweep folder this command started, if it is a multirun."""
    return _sweep


def restore(folder: Path, logs: bool = True) -> None:
    """Put ``folder``'s ``.hydra/`` files back as they were when the command started, and
    (``logs``) cut its log files back to their sizes then and remove those it added; a
    folder this command made, or one it did not see before, is left alone (``cli`` removes
    the first). ``logs=False``: a job that failed on a bug or was interrupted, whose log
    says so, keeps it."""
    folder = Path(folder).absolute()
    if folder not in _before:
        return
    entries, hydra_files = _before[folder]
    hydra = folder / HYDRA_DIR
    if HYDRA_DIR not in entries:
        shutil.rmtree(hydra, ignore_errors=True)
    elif hydra.is_dir():
        for path in hydra.iterdir():
            if path.name in hydra_files:
                path.write_bytes(hydra_files[path.name])
            elif path.is_file():
                path.unlink()
    for path in folder.iterdir() if logs else ():
        if path.suffix != ".log" or not path.is_file():
            continue
        if path.name not in entries:
            path.unlink(missing_ok=True)
        elif path.stat().st_size > entries[path.name]:  # what this command appended
            os.truncate(path, entries[path.name])


def restore_recorded() -> None:
    """``restore`` (its logs kept) the run folder this command found there before, if any:
    for a job stopped by Ctrl-C or SIGTERM, which the command cannot tie to its config."""
    for folder in list(_before):
        restore(folder, logs=False)


HYDRA_DIR = ".hydra"  # Hydra's output_subdir (its default; conf/hydra sets no other)


def _record(folder: Path, sweep: bool) -> None:
    global _sweep, _folder
    _made.clear()  # one command per process; tests run several in one
    _before.clear()
    _sweep = folder if sweep else None
    _folder = folder
    for path in [folder, *list(folder.parents)[:2]]:
        if not path.exists():
            _made.add(path)
    if not sweep and folder.is_dir():
        hydra = folder / HYDRA_DIR
        saved = (
            {p.name: p.read_bytes() for p in hydra.iterdir() if p.is_file()}
            if hydra.is_dir()
            else {}
        )
        _before[folder] = ({p.name: p.lstat().st_size for p in folder.iterdir()}, saved)


class NewFolders(Callback):
    """Hydra callback (conf/hydra/default.yaml, every command): notes which of the run or
    sweep folder and the two above it do not exist yet, before Hydra makes them."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _record(Path(str(config.hydra.run.dir)).absolute(), sweep=False)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _record(Path(str(config.hydra.sweep.dir)).absolute(), sweep=True)
