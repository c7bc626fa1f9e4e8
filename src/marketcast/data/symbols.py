"""What names a security: one spelling of each symbol, and whether it trades on KRX (pure)."""

from __future__ import annotations

import re

# FinanceDataReader's names of the KRX indices (it reads them from KRX, not Naver).
KRX_INDICES = frozenset({"KS11", "KOSPI", "KQ11", "KOSDAQ", "KS200", "KPI200"})
# The codes FinanceDataReader sends to Naver: six digits, or the alphanumeric codes of 2024 on.
KRX_CODE = re.compile(r"\d{4}[0-9A-HJ-NP-TV-Z][0-9KLMN]")
_KRX_SOURCES = frozenset({"KRX", "KRX-DETAIL", "KRX-DELISTING", "KRX-INDEX", "NAVER"})
# A name's KRX code: six digits, a preferred share's five and K-N (28513K), or a code of the
# 2024 scheme, which starts with 0 (0126Z0); FinanceDataReader's wider pattern would take a
# file named 2024Q1 for one.
_KRX_NAME_CODE = re.compile(r"\d{6}|\d{5}[KLMN]|0\d{3}[0-9A-HJ-NP-TV-Z][0-9KLMN]")
_KRX_NAME_PREFIX = re.compile(r"(?:KRX|KOSPI|KOSDAQ|KR)[_-]")  # file names: krx_005380.csv
# Yahoo's: ^KS11, and a KRX code with its market, 005930.KS, 00088K.KS (a preferred share)
_YAHOO_KRX = re.compile(rf"\^(?:KS11|KQ11|KS200)|(?:{_KRX_NAME_CODE.pattern})\.K[SQ]")


def canonical_symbol(symbol: object) -> str:
    """``symbol`` as FinanceDataReader reads it: upper case, without blanks at its ends.

    ``aapl``, ``AAPL`` and `` AAPL `` are one security, so they are one cache file, one
    run's symbol and one key of the forecast store, whichever spelling a night was given.
    """
    return str(symbol).strip().upper()


def without_symbol(message: object, symbol: str) -> str:
    """A data-layer message (they start with the symbol) without its leading ``SYMBOL: ``,
    for a list that names the symbol itself (``AAPL: AAPL: ...`` otherwise)."""
    said = str(message)
    for name in (symbol, canonical_symbol(symbol)):
        said = said.removeprefix(f"{name}: ")
    return said


def is_krx(name: object) -> bool:
    """Whether a symbol, or a CSV file's name, is a security or index of the Korea Exchange.

    FinanceDataReader's spellings (``005930``, ``0126Z0``, ``KS11``, ``KOSPI``,
    ``KRX:005930``, ``NAVER:005930``, ``KRX-INDEX:1001``, ``YAHOO:005930.KS``), Yahoo's
    (``005930.KS``, ``035720.KQ``, ``^KS11``) and those of file names (``krx_005380``,
    ``KOSPI-000660``, ``krx_KS11``); not a longer number or a date in a name (``1005930``,
    ``prices_202401``, ``2024Q1``).
    """
    code = "".join(canonical_symbol(name).split())
    source, _, code = code.rpartition(":")
    if source == "YAHOO":  # YAHOO:005930.KS, YAHOO:^KS11
        return bool(_YAHOO_KRX.fullmatch(code))
    if source:
        return source in _KRX_SOURCES
    if prefix := _KRX_NAME_PREFIX.match(code):
        code = code[prefix.end() :]
    named = code in KRX_INDICES or _KRX_NAME_CODE.fullmatch(code)
    return bool(named or _YAHOO_KRX.fullmatch(code))
