"""Test results in words, either way (pure): what the printed summary, ``report.md`` and
the benches say about a difference.

Every verdict reads its side from ``scores.significant_side``, so one rule (p below
``scores.ALPHA``) decides where a line says "significantly": nothing is called better,
lower or more for a difference the test calls noise, and a difference that is real is
named whichever way it goes.
"""

from __future__ import annotations

import math

from marketcast.evaluation.scores import ALPHA, ORIGINS_PER_STEP, significant_side


def p_words(p_value: float) -> str:
    """'p = 0.036', or 'p < 0.001' where three decimals would print a zero; more decimals
    where three would round across ``ALPHA`` ('p = 0.0497' beside 'significantly')."""
    if not math.isfinite(p_value):
        return "p undefined"
    if p_value < 0.001:
        return "p < 0.001"
    for places in range(3, 13):
        text = f"{p_value:.{places}f}"
        if (float(text) < ALPHA) == (p_value < ALPHA):
            break
    return f"p = {text}"


def compared(
    statistic: float,
    p_value: float,
    reference: str,
    lower: str = "better",
    higher: str = "worse",
) -> str:
    """'significantly worse than persistence' or 'no significant difference from
    persistence': ``lower`` where the statistic is significantly negative (a smaller loss),
    ``higher`` where it is significantly positive."""
    side = significant_side(statistic, p_value)
    if side == 0:
        return f"no significant difference from {reference}"
    return f"significantly {lower if side < 0 else higher} than {reference}"


def ratio_text(ratio: float) -> str:
    """'0.9875': a ratio to four places, or to as many more as it takes not to read 1.0000
    where it is not 1 ('0.99997'): a peer that barely moves can beat persistence by a hair,
    consistently enough to be significant, and its verdict must not sit beside a 1.0000."""
    for places in range(4, 13):
        text = f"{ratio:.{places}f}"
        if ratio == 1.0 or float(text) != 1.0:
            break
    return text


def dm_words(dm: dict | None, name: str, reference: str = "persistence") -> str:
    """A Diebold-Mariano result (``{"statistic", "p_value"}``, optionally ``"step"`` and
    ``"mae_ratio"``) in words: 'ets: significantly worse than persistence at step 2 (MAE
    ratio 1.0213, DM +2.31, p = 0.021)'. The ratio (the forecaster's MAE over the
    reference's on the targets tested, ``ratio_text``) shows how large the difference is:
    a significant one may be a hair."""
    if dm is None:
        return (
            f"{name}: not testable against {reference} (identical forecasts, or fewer than "
            f"{ORIGINS_PER_STEP} origins per step ahead)"
        )
    where = f" at step {dm['step']}" if dm.get("step", 1) > 1 else ""
    ratio = dm.get("mae_ratio")
    size = f"MAE ratio {ratio_text(ratio)}, " if ratio is not None and math.isfinite(ratio) else ""
    stat = f"{size}DM {dm['statistic']:+.2f}, {p_words(dm['p_value'])}"
    return f"{name}: {compared(dm['statistic'], dm['p_value'], reference + where)} ({stat})"


def interval_words(interval: dict) -> str:
    """'80% interval covers 81.2% of outcomes (no significant difference from 80%,
    p = 0.610), mean width 2.01%, interval score 2.822% (calm/mid/turbulent 80%/82%/81%)'
    from an interval's metrics (``scoring.interval_scores``)."""
    text = f"{interval['nominal']:.0%} interval covers {interval['coverage']:.1%} of outcomes"
    test = interval.get("coverage_test")
    if test:  # a positive statistic: the band covers more than nominal
        nominal = f"{interval['nominal']:.0%}"
        verdict = compared(test["statistic"], test["p_value"], nominal, "less", "more")
        text += f" ({verdict}, {p_words(test['p_value'])})"
    text += f", mean width {interval['width_pct']:.2f}%"
    if "winkler_pct" in interval:
        text += f", interval score {interval['winkler_pct']:.3f}%"
    terciles = interval.get("coverage_by_tercile")
    if terciles:
        text += " (calm/mid/turbulent " + "/".join(f"{c:.0%}" for c in terciles) + ")"
    return text


def score_test_words(interval: dict) -> str:
    """'published band: significantly lower than the GARCH(1,1) band's (DM -2.31,
    p = 0.021)': the test of the published band's interval score against the reference
    band's (``score_vs_reference``) in words."""
    dm = interval["score_vs_reference"]
    band = "the GARCH(1,1) band's" if dm.get("band") == "garch" else f"the {dm.get('band')} band's"
    stat = f"DM {dm['statistic']:+.2f}, {p_words(dm['p_value'])}"
    verdict = compared(dm["statistic"], dm["p_value"], band, "lower", "higher")
    return f"published band: {verdict} ({stat})"


def direction_words(test: dict) -> str | None:
    """The test segment's (``test``: forecaster -> row) direction accuracy in words, the
    published forecast's, or the raw LSTM's where the published one is persistence (which
    has no direction): 'direction accuracy 0.529 on 250 moves; its 95% interval
    0.467..0.590 contains 0.5: no evidence of directional skill'. None where neither has one.
    """
    label, row = "direction accuracy", test["model"]
    if row["direction_accuracy"] is None:
        label = "the published forecast is persistence; the raw LSTM's direction accuracy"
        row = test.get("lstm")
    if not row or row.get("direction_accuracy") is None:
        return None
    said = f"{label} {row['direction_accuracy']:.3f} on {row['direction_n']} moves"
    if row.get("direction_ci") is None:
        return f"{said}; too few origins per step ahead for an interval"
    lo, hi = row["direction_ci"]
    if lo <= 0.5 <= hi:
        verdict = "contains 0.5: no evidence of directional skill"
    else:  # said both ways, as every verdict
        verdict = f"excludes 0.5: significantly {'better' if lo > 0.5 else 'worse'} than chance"
    return f"{said}{worth_words(row)}; its 95% interval {lo:.3f}..{hi:.3f} {verdict}"


def worth_words(row: dict) -> str:
    """', worth 130 independent calls' beside a direction accuracy's count of calls where
    their moves overlap (``direction_n_effective`` below ``direction_n``), else ''."""
    effective = row.get("direction_n_effective")
    if effective is None or effective > row["direction_n"] - 0.5:
        return ""
    return f", worth {effective:.0f} independent calls"
