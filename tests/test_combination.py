"""Combination weights: persistence at zero, trust in an informative component, none in noise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from marketcast.errors import MarketcastError
from marketcast.evaluation.combination import Weights, fit_weights


def ar1_samples(n: int, phi: float, seed: int, horizon: int = 2):
    """Prices with AR(1) log returns; actual, persistence and the true conditional mean (B, H)."""
    rng = np.random.default_rng(seed)
    r = np.zeros(n + horizon + 1)
    eps = rng.normal(0, 0.01, len(r))
    for i in range(1, len(r)):
        r[i] = phi * r[i - 1] + eps[i]
    log_p = 4.6 + np.cumsum(r)
    t = np.arange(1, n + 1)  # first target rows; r[t - 1] is the last return seen
    steps = np.arange(horizon)
    actual = np.exp(log_p[t[:, None] + steps])
    persistence = np.repeat(np.exp(log_p[t - 1])[:, None], horizon, axis=1)
    expected_moves = np.cumsum(phi ** (steps[None, :] + 1) * r[t - 1][:, None], axis=1)
    mean = np.exp(log_p[t - 1][:, None] + expected_moves)
    return actual, persistence, mean, rng


def mae(a, f):
    return np.mean(np.abs(a - f), axis=0)


def test_zero_weights_reproduce_persistence_exactly():
    _, persistence, mean, _ = ar1_samples(50, 0.3, 0)
    weights = Weights(("model", "ets"), np.zeros((2, 2)))
    out = weights.apply(persistence, {"model": mean, "ets": mean * 1.01})
    np.testing.assert_array_equal(out, persistence)
    assert "the combination is persistence" in weights.describe()


@pytest.mark.parametrize("loss", ["mae", "mse"])
def test_an_informative_component_earns_most_of_its_move(loss):
    actual, persistence, mean, rng = ar1_samples(800, 0.3, 1)
    informative = mean * np.exp(rng.normal(0, 0.0005, mean.shape))
    noise = persistence * np.exp(rng.normal(0, 0.01, mean.shape))
    weights = fit_weights(actual, persistence, {"informative": informative, "noise": noise}, loss)
    assert np.all(weights.weights[:, 0] > 0.5)
    assert np.all(weights.weights.sum(axis=1) <= 1 + 1e-9) and np.all(weights.weights >= 0)
    # fresh samples from the same process: the combination beats persistence at every step
    actual2, persistence2, mean2, rng2 = ar1_samples(800, 0.3, 2)
    components = {
        "informative": mean2 * np.exp(rng2.normal(0, 0.0005, mean2.shape)),
        "noise": persistence2 * np.exp(rng2.normal(0, 0.01, mean2.shape)),
    }
    combined = weights.apply(persistence2, components)
    assert np.all(mae(actual2, combined) < mae(actual2, persistence2))


@pytest.mark.parametrize("loss", ["mae", "mse"])
def test_on_a_random_walk_a_noise_component_gets_almost_nothing(loss):
    actual, persistence, _, rng = ar1_samples(800, 0.0, 3)
    noise = persistence * np.exp(rng.normal(0, 0.01, persistence.shape))
    weights = fit_weights(actual, persistence, {"noise": noise}, loss)
    assert np.all(weights.weights < 0.1)


def test_weights_round_trip_through_json_and_describe_themselves():
    actual, persistence, mean, _ = ar1_samples(300, 0.3, 4)
    weights = fit_weights(actual, persistence, {"lstm": mean, "ets": persistence * 1.001})
    again = Weights.from_dict(json.loads(json.dumps(weights.to_dict())))
    comps = {"lstm": mean, "ets": persistence * 1.001}
    np.testing.assert_array_equal(
        again.apply(persistence, comps), weights.apply(persistence, comps)
    )
    text = weights.describe()
    assert text.startswith("validation gives, step 1: lstm ") and "of its move" in text
    assert "; step 2: lstm " in text


def test_missing_component_and_wrong_horizon_are_named():
    weights = Weights(("lstm",), np.zeros((2, 1)))
    p = np.ones((3, 2))
    with pytest.raises(MarketcastError, match="lstm"):
        weights.apply(p, {"ets": p})
    with pytest.raises(MarketcastError, match="horizon 2"):
        weights.apply(np.ones((3, 1)), {"lstm": np.ones((3, 1))})
    with pytest.raises(MarketcastError, match="'huber'"):
        fit_weights(p, p, {"lstm": p}, loss="huber")


def test_only_steps_and_paths_that_earned_their_share_are_kept():
    """A predictable path keeps its weights; a lone step that barely clears the bar on a
    five-step path, and a path of noise, publish persistence."""
    from marketcast.evaluation.combination import keep_earned

    actual, persistence, mean, rng = ar1_samples(2000, 0.3, seed=5, horizon=5)
    informed = keep_earned(
        fit_weights(actual, persistence, {"lstm": mean}), actual, persistence, {"lstm": mean}, 0.005
    )
    assert informed.weights[0, 0] > 0.5  # step 1 carries the AR(1) signal

    # step 3 alone gains 1% (a step's bar: 0.5%), the others nothing: 1% of one step's
    # MAE is below 0.5% of the path's summed MAE, so the whole path publishes persistence
    lone = persistence.copy()
    lone[:, 2] = persistence[:, 2] + 0.5 * (actual[:, 2] - persistence[:, 2]) * (
        rng.random(len(actual)) < 0.02
    )
    full = Weights(("lstm",), np.array([[0.0], [0.0], [1.0], [0.0], [0.0]]))
    gain = 1 - mae(actual, lone)[2] / mae(actual, persistence)[2]
    assert 0.005 < gain < 0.005 * mae(actual, persistence).sum() / mae(actual, persistence)[2]
    kept = keep_earned(full, actual, persistence, {"lstm": lone}, 0.005)
    np.testing.assert_array_equal(kept.weights, 0.0)
    # the same step on a one-step path keeps it
    one = keep_earned(
        Weights(("lstm",), np.array([[1.0]])),
        actual[:, 2:3],
        persistence[:, 2:3],
        {"lstm": lone[:, 2:3]},
        0.005,
    )
    assert one.weights[0, 0] == 1.0


def test_a_global_models_gate_weighs_each_symbol_alike_not_by_its_price_units():
    """The gate compared pooled price-unit MAEs: a won-priced symbol (x1000) that gains
    decided, alone, that two dollar-priced symbols that lose publish the combination."""
    from marketcast.evaluation.combination import keep_earned

    sets = []
    for seed, scale, sign in ((7, 1000.0, 1), (8, 1.0, -1), (9, 1.0, -1)):
        actual, persistence, mean, _ = ar1_samples(500, 0.3, seed, horizon=1)
        lstm = persistence + sign * (mean - persistence)  # -1: the move the wrong way
        sets.append([scale * actual, scale * persistence, scale * lstm])
    actual, persistence, lstm = (np.concatenate(k) for k in zip(*sets, strict=True))
    ratios = [mae(a, f)[0] / mae(a, p)[0] for a, p, f in sets]
    assert ratios[0] < 0.99 and min(ratios[1:]) > 1.01 and np.mean(ratios) > 1
    full = Weights(("lstm",), np.array([[1.0]]))
    pooled = keep_earned(full, actual, persistence, {"lstm": lstm}, 0.005)
    assert pooled.weights[0, 0] == 1.0  # one symbol or no groups: price units, as before
    groups = np.repeat([0, 1, 2], 500)
    kept = keep_earned(full, actual, persistence, {"lstm": lstm}, 0.005, groups)
    np.testing.assert_array_equal(kept.weights, 0.0)
    gaining = np.repeat([0, 1, 2], 500) * 0  # one group: the same decision as no groups
    assert keep_earned(full, actual, persistence, {"lstm": lstm}, 0.005, gaining).weights[0, 0]


def test_shrink_publishes_a_share_of_each_fitted_move_and_keeps_the_fit():
    actual, persistence, mean, _ = ar1_samples(300, 0.3, 6)
    comps = {"lstm": mean, "ets": persistence * 1.001}
    fitted = fit_weights(actual, persistence, comps)
    half = fitted.shrunk(0.5)
    np.testing.assert_array_equal(half.weights, fitted.weights)  # the fit is what is saved
    np.testing.assert_allclose(
        half.apply(persistence, comps) - persistence,
        0.5 * (fitted.apply(persistence, comps) - persistence),
    )
    np.testing.assert_array_equal(fitted.shrunk(1.0).apply(persistence, comps), persistence)
    assert half.describe().endswith("; published: 50% of each share (shrink 0.5)")
    again = Weights.from_dict(json.loads(json.dumps(half.to_dict())))
    np.testing.assert_array_equal(again.apply(persistence, comps), half.apply(persistence, comps))
    old = {k: v for k, v in half.to_dict().items() if k != "shrink"}  # saved before shrink
    np.testing.assert_array_equal(
        Weights.from_dict(old).apply(persistence, comps), fitted.apply(persistence, comps)
    )
    with pytest.raises(MarketcastError, match=r"shrink=1.5 must lie in \[0, 1\]"):
        fitted.shrunk(1.5)
