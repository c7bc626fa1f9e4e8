import numpy as np
import pytest

from marketcast.evaluation.intervals import Intervals, coverage, mean_width, window_volatility


def test_coverage_on_known_quantiles():
    """N(0, 1) outcomes inside its own 10% and 90% quantiles: 80% of the time."""
    rng = np.random.default_rng(0)
    actual = rng.normal(size=200_000)
    z = 1.2815515655446004  # the 90% quantile of N(0, 1)
    assert coverage(actual, np.full_like(actual, -z), np.full_like(actual, z)) == pytest.approx(
        0.8, abs=0.005
    )
    assert coverage(
        np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 0.0]), np.array([1.0, 3.0, 2.0])
    ) == pytest.approx(1 / 3)


def test_calibrated_intervals_cover_their_nominal_share_out_of_sample():
    """Relative errors proportional to each window's volatility: the band adapts to it."""
    rng = np.random.default_rng(1)

    def sample(n):
        vol = rng.uniform(0.005, 0.04, n)
        steps = rng.normal(0, 1, (n, 30)) * vol[:, None]
        history = 100 * np.exp(np.cumsum(steps, axis=1))
        forecast = history[:, -1:].repeat(2, axis=1)
        actual = forecast * (1 + rng.normal(0, 1, (n, 2)) * window_volatility(history)[:, None])
        return history, forecast, actual

    history, forecast, actual = sample(4000)
    intervals = Intervals.calibrate(actual, forecast, history, [0.1, 0.9])
    history, forecast, actual = sample(4000)
    bands = intervals.apply(forecast, history)  # -> (B, H, 2)
    assert bands.shape == (4000, 2, 2)
    assert coverage(actual, bands[..., 0], bands[..., 1]) == pytest.approx(0.8, abs=0.02)
    calm = window_volatility(history) < 0.01
    width = bands[..., 1] - bands[..., 0]
    assert width[calm].mean() < width[~calm].mean()  # narrower in calm markets
    restored = Intervals.from_dict(intervals.to_dict())
    np.testing.assert_array_equal(restored.apply(forecast, history), bands)


def test_width_in_percent():
    assert mean_width(np.array([99.0]), np.array([101.0]), np.array([100.0])) == pytest.approx(2)
