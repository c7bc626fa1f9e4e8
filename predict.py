"""Forecast the next trading days from a trained run: python predict.py [run_dir=DIR]."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from marketcast.cli import prepare_environment, user_errors

prepare_environment(Path(__file__).resolve().parent)

import marketcast.config  # noqa: E402,F401  (registers the config schemas)


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
@user_errors
def main(cfg: DictConfig) -> None:
    from marketcast.forecast import forecast  # imports Keras: after the environment is set

    forecast(cfg)


if __name__ == "__main__":
    main()
