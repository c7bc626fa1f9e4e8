"""Train a forecaster: python train.py [overrides]   (see README.md and conf/train.yaml)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from marketcast.cli import prepare_environment, user_errors

prepare_environment(Path(__file__).resolve().parent)

import marketcast.config  # noqa: E402,F401  (registers the config schemas)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@user_errors
def main(cfg: DictConfig) -> float:
    from marketcast.jobs.train import train  # imports Keras: after the environment is set

    return train(cfg)


if __name__ == "__main__":
    main()
