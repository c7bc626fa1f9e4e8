"""Which folders a command makes, so that one that fails removes only what it made.

Hydra makes a run's folder (``hydra.run.dir``) or a sweep's (``hydra.sweep.dir``), and the
folders above it, before the job starts. A command that fails before it wrote anything
removes that folder and the two above it where they are left empty (``cli``): only those
this command made, never a folder of the user's own that was there before (a failing run
into ``hydra.run.dir=~/logs`` removed the folder with the user's logs in it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

_made: set[Path] = set()  # the folders this command's run or sweep folder adds
_sweep: Path | None = None  # the sweep folder this command started (a multirun's)


def made(folder: Path) -> bool:
    """Whether this command made ``folder`` (it did not exist when the command started)."""
    return Path(folder).absolute() in _made


def started_sweep() -> Path | None:
    """The sweep folder this command started, if it is a multirun."""
    return _sweep


def _record(folder: Path, sweep: bool) -> None:
    global _sweep
    _made.clear()  # one command per process; tests run several in one
    _sweep = folder if sweep else None
    for path in [folder, *list(folder.parents)[:2]]:
        if not path.exists():
            _made.add(path)


class NewFolders(Callback):
    """Hydra callback (conf/hydra/default.yaml, every command): notes which of the run or
    sweep folder and the two above it do not exist yet, before Hydra makes them."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _record(Path(str(config.hydra.run.dir)).absolute(), sweep=False)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _record(Path(str(config.hydra.sweep.dir)).absolute(), sweep=True)
