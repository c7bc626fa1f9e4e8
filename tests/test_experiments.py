"""Every experiment config composes and trains on tiny data."""

from pathlib import Path

import pytest
from conftest import ROOT, compose_train

from marketcast.jobs.train import train

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_trains(experiment, prices_csv, tmp_path: Path):
    run_dir = tmp_path / experiment
    # Command-line overrides win over the experiment's values: epochs and size stay tiny.
    cfg = compose_train(
        run_dir,
        "data=csv",
        f"data.path={prices_csv}",
        f"experiment={experiment}",
        "train.epochs=1",
        "model.units=4",
    )
    assert train(cfg) > 0
    assert (run_dir / "preprocessing.json").is_file()
