"""A Hydra callback for the sweep tests: what each job's process looked like at its end.

Added on the command line (``+hydra.callbacks.probe._target_=sweep_probe.JobProbe``,
with ``tests/`` on ``PYTHONPATH``); runs in the job's own process, whatever the
launcher, and writes ``probe.json`` into the job directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def resident_mb() -> float:
    """This process's resident memory (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class JobProbe(Callback):
    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        from marketcast.model.runtime import thread_settings

        probe = {"pid": os.getpid(), "rss_mb": resident_mb(), **thread_settings()}
        path = Path(config.hydra.runtime.output_dir) / "probe.json"
        path.write_text(json.dumps(probe))
