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
    assert text.startswith("validation gives lstm ") and "of its move" in text and "step 2:" in text


def test_missing_component_and_wrong_horizon_are_named():
    weights = Weights(("lstm",), np.zeros((2, 1)))
    p = np.ones((3, 2))
    with pytest.raises(MarketcastError, match="lstm"):
        weights.apply(p, {"ets": p})
    with pytest.raises(MarketcastError, match="horizon 2"):
        weights.apply(np.ones((3, 1)), {"lstm": np.ones((3, 1))})
    with pytest.raises(MarketcastError, match="'huber'"):
        fit_weights(p, p, {"lstm": p}, loss="huber")
