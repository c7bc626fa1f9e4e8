"""`python -m marketcast COMMAND [overrides]`: the same as the `marketcast` command."""

from marketcast.cli import main

main()
