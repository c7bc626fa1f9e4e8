"""Forecast from trained runs: python predict.py [overrides], the same as `marketcast predict`.

Exit status: 0 all symbols forecast, 3 some, 4 none, 5 the store is locked by another
run, 2 bad input (see `marketcast predict --help` and README.md).
"""

import sys

from marketcast.cli import main

if __name__ == "__main__":
    main(["predict", *sys.argv[1:]])
