"""Train a forecaster: python train.py [overrides], the same as `marketcast train [overrides]`."""

import sys

from marketcast.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
