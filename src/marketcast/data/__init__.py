"""Stage 1, prices: the sources (CSV, FinanceDataReader), the cache, validation, calendars."""
