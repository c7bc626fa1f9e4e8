"""Hydra callbacks for the tests that run the command: they run in the job's own process.

Added on the command line (``+hydra.callbacks.probe._target_=sweep_probe.JobProbe``,
with ``tests/`` on ``PYTHONPATH``, as ``conftest.run_marketcast`` has it), whatever the
launcher. ``JobProbe`` writes what the job's process looked like at its end into
``probe.json`` in the job directory; ``TwoLogicalCpus`` gives TensorFlow two CPU devices;
``SignalAtJob`` sends the job's own process a signal as job ``job`` starts (SIGKILL: a
worker the system killed; SIGTERM: cron's timeout).
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


class SignalAtJob(Callback):
    def __init__(self, job: int, signal: str) -> None:
        self.job, self.signal = job, signal

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        import signal

        if config.hydra.job.num == self.job:
            os.kill(os.getpid(), getattr(signal, self.signal))


class TwoLogicalCpus(Callback):
    """Split the CPU into two logical devices, for ``train.distribute=mirrored`` on a CPU.

    TensorFlow accepts this only before it initialises its devices: the job imports it later.
    """

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        devices = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, devices)
