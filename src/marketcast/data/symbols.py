"""What names a security: one spelling of each symbol (pure)."""

from __future__ import annotations


def canonical_symbol(symbol: object) -> str:
    """``symbol`` as FinanceDataReader reads it: upper case, without blanks at its ends.

    ``aapl``, ``AAPL`` and `` AAPL `` are one security, so they are one cache file, one
    run's symbol and one key of the forecast store, whichever spelling a night was given.
    """
    return str(symbol).strip().upper()
