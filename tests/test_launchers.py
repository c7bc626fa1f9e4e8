"""Cluster launchers on this machine: Ray against a local instance, Submitit as local jobs.

Slow (each starts fresh Python processes that import TensorFlow) and skipped where the
extras are missing: pip install -e '.[ray]' / '.[slurm]', then pytest -m slow.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import PROBE, multirun, probes

from marketcast.jobs import sweep

pytestmark = pytest.mark.slow


def check_sweep(sweep_dir, result, threads):
    """A user error in job 1 (window too long), job 0 finished; each ran in its own process."""
    assert result.returncode == 2, result.stderr
    summary = pd.read_csv(sweep_dir / sweep.SUMMARY_FILE)
    assert list(summary["status"]) == ["finished", "failed"]
    assert (sweep_dir / "1" / sweep.FAILED_FILE).is_file()
    found = probes(sweep_dir)
    assert set(found) == {"0", "1"}
    for probe in found.values():
        assert probe["pid"] != result.pid
        assert probe["intra_op"] == probe["inter_op"] == threads


def test_submitit_local_runs_the_sweep(tmp_path, tiny_run):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = multirun(
        tmp_path,
        tiny_run,
        "hydra/launcher=submitit_local",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.timeout_min=10",
        PROBE,
        "window.size=10,1000",
    )
    check_sweep(tmp_path, result, threads=1)


def test_ray_runs_the_sweep_on_a_local_instance(tmp_path, tiny_run):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    result = multirun(
        tmp_path,
        tiny_run,
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",  # a local instance, shut down when the command ends
        "+hydra.launcher.ray.init.include_dashboard=false",
        "+hydra.launcher.ray.remote.num_cpus=1",
        PROBE,
        "window.size=10,1000",
    )
    check_sweep(tmp_path, result, threads=1)
