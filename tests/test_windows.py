import numpy as np
import pytest

from marketcast.errors import MarketcastError
from marketcast.features.windows import make_windows, sequence_targets


def naive_windows(values, target, start, stop, window, horizon):
    xs, ys, ts = [], [], []
    for t in range(start, stop):
        if t - window < 0 or t + horizon > stop:
            continue
        xs.append(values[t - window : t])
        ys.append(target[t : t + horizon])
        ts.append(t)
    return np.array(xs), np.array(ys), np.array(ts)


@pytest.mark.parametrize(
    ("start", "stop", "window", "horizon"),
    [(0, 50, 5, 1), (20, 50, 7, 3), (0, 50, 1, 1), (45, 50, 30, 5)],
)
def test_windows_equal_a_naive_loop(start, stop, window, horizon):
    rng = np.random.default_rng(1)
    values, target = rng.normal(size=(50, 3)), rng.normal(size=50)
    got = make_windows(values, target, start, stop, window, horizon)
    x, y, t = naive_windows(values, target, start, stop, window, horizon)
    assert got.inputs.shape == (len(t), window, 3)
    np.testing.assert_array_equal(got.inputs, x)
    np.testing.assert_array_equal(got.targets, y)
    np.testing.assert_array_equal(got.first_target, t)


def test_targets_never_leave_their_segment():
    target = np.arange(100.0)
    values = target[:, None]
    got = make_windows(values, target, 60, 80, window=25, horizon=4)
    assert got.targets.min() >= 60 and got.targets.max() <= 79
    # inputs may reach back before the segment, never past the first target
    assert got.inputs.min() == 35
    assert np.all(got.inputs[:, -1, 0] == got.targets[:, 0] - 1)


def test_segment_too_short_gives_no_samples():
    values = np.zeros((20, 1))
    assert len(make_windows(values, values[:, 0], 0, 20, window=20, horizon=1)) == 0


def test_window_below_one_is_an_error():
    with pytest.raises(MarketcastError, match="window"):
        make_windows(np.zeros((5, 1)), np.zeros(5), 0, 5, window=0, horizon=1)


def test_sequence_targets_give_each_step_its_following_values():
    target = np.arange(40.0)
    got = make_windows(target[:, None], target, 10, 40, window=6, horizon=2)
    seq = sequence_targets(target, got.first_target, 6, 2)  # -> (B, W, H)
    assert seq.shape == (len(got), 6, 2)
    np.testing.assert_array_equal(seq[:, -1, :], got.targets)
    # step j's targets follow the input value at step j
    np.testing.assert_array_equal(seq[:, :, 0], got.inputs[:, :, 0] + 1)
