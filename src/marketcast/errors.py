"""The one exception type for problems a user can fix."""


class MarketcastError(Exception):
    """A bad input, config value or missing artifact.

    The message names the bad value and says what to do; the command-line
    entry points print it without a traceback and exit with status 2.
    """
