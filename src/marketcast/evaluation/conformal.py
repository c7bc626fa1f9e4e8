"""The finite-sample split-conformal quantile and the check of quantile levels (pure).

``marketcast.evaluation.intervals`` builds the published bands on them: the EWMA-scaled
conformal band takes its bounds at the ranks ``conformal_quantile`` defines.
"""

from __future__ import annotations

import math

import numpy as np

from marketcast.errors import MarketcastError


def conformal_quantile(scores: np.ndarray, level: float) -> np.ndarray:
    """Finite-sample conformal bound of ``scores`` (n,) or (n, H) at quantile ``level``.

    Upper bound (``level >= 0.5``): the ``ceil((n + 1) level)``-th smallest score,
    so that a new exchangeable score falls at or below it with probability
    ``>= level``; ``+inf`` when that rank exceeds n. Lower bound (``level < 0.5``):
    the mirror image, the ``ceil((n + 1)(1 - level))``-th largest score (``-inf``
    beyond n), so that a new score falls at or above it with probability
    ``>= 1 - level``. Returns a scalar array, or (H,).
    """
    ordered = np.sort(np.asarray(scores, dtype=float), axis=0)
    n = ordered.shape[0]
    if n == 0:
        raise MarketcastError("conformal calibration needs at least one score.")
    upper = level >= 0.5
    k = math.ceil((n + 1) * (level if upper else 1.0 - level) - 1e-9)  # float dust: 0.9*10
    if k > n:
        return np.full(ordered.shape[1:], np.inf if upper else -np.inf)
    return ordered[k - 1] if upper else ordered[n - k]


def check_levels(levels: list[float]) -> list[float]:
    """Sorted levels, or a MarketcastError naming the bad value."""
    if not levels or any(not 0 < q < 1 for q in levels):
        raise MarketcastError(
            f"interval levels {list(levels)} must be quantile levels in (0, 1), e.g. [0.1, 0.9]."
        )
    return sorted(float(q) for q in levels)
