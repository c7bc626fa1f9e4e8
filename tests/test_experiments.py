"""Every experiment config composes with its own values, and a run of it finishes on tiny data."""

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CONF, compose_hydra
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from marketcast.jobs.train import train
from marketcast.runfiles import CONFIG_FILE, PREPROCESSING_FILE

EXPERIMENTS = sorted((CONF / "experiment").glob("*.yaml"))


def leaves(node: dict, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}``; lists are values."""
    flat = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(leaves(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def experiment_values(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The values an experiment file sets, and the config groups it chooses (``override /g: o``)."""
    content = yaml.safe_load(path.read_text()) or {}
    groups = {}
    for entry in content.pop("defaults", []):
        if isinstance(entry, dict):
            for key, option in entry.items():
                groups[key.removeprefix("override").strip().lstrip("/")] = option
    return leaves(content), groups


def value_at(cfg, key: str) -> Any:
    value = OmegaConf.select(cfg, key, throw_on_missing=True)
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_experiment_composes_with_its_values_and_a_run_finishes(path, tiny_csv, tmp_path, caplog):
    values, groups = experiment_values(path)
    assert values or groups, f"{path.name} changes nothing"
    run_dir = tmp_path / "run"
    # Only the data and the plots are overridden: the experiment's own values must win.
    overrides = [
        f"experiment={path.stem}",
        "data=csv",
        f"data.path={tiny_csv}",
        "plots=false",
        f"paths.run_dir={run_dir}",
        f"paths.output_root={tmp_path}",
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    for key, value in values.items():
        assert value_at(cfg, key) == value, key
    choices = compose_hydra(*overrides).hydra.runtime.choices
    for group, option in groups.items():
        assert choices[group] == option, group

    caplog.set_level(logging.INFO, logger="marketcast.model.training")
    train(cfg)
    assert (run_dir / PREPROCESSING_FILE).is_file()  # written last: the run finished
    saved = OmegaConf.load(run_dir / CONFIG_FILE)
    for key, value in values.items():
        assert value_at(saved, key) == value, key
    epochs = cfg.train.epochs
    logged = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")
    ]  # one line per epoch trained: "epoch 2/3  loss ..."
    assert 1 <= len(logged) <= epochs, logged
    assert all(line.split()[1].endswith(f"/{epochs}") for line in logged), logged
