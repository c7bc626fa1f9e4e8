"""`python -m marketcast.fetch [overrides]`: the same as `marketcast fetch [overrides]`."""

import sys

from marketcast.cli import main

if __name__ == "__main__":
    main(["fetch", *sys.argv[1:]])
