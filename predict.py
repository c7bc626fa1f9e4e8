"""Forecast the next trading days from trained runs: python predict.py [run_dir=DIR].

For a universe: python predict.py symbols=[005930,000660] (or universe_file=FILE).

Exit status: 0 all symbols forecast, 3 some, 4 none, 5 the store is locked by another
run, 2 bad input (see `python predict.py --help` and README.md).
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from marketcast.cli import prepare_environment, user_errors

prepare_environment(Path(__file__).resolve().parent)

import marketcast.config  # noqa: E402,F401  (registers the config schemas)


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
@user_errors
def main(cfg: DictConfig) -> int:
    from marketcast.jobs.predict import forecast  # imports Keras: after the environment is set

    status = forecast(cfg)
    if status:
        sys.exit(status)
    return status


if __name__ == "__main__":
    main()
