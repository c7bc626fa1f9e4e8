import numpy as np
import pytest
from conftest import synthetic_prices

from marketcast.config import FeaturesConfig, SplitConfig, WindowConfig
from marketcast.dataset import prepare, select_columns
from marketcast.errors import MarketcastError
from marketcast.scaling import Scaler

FEATURES = FeaturesConfig()
WINDOW = WindowConfig(size=10, horizon=2)
SPLIT = SplitConfig(train=0.6, val=0.2, test=0.2)


def test_scaler_and_training_windows_ignore_everything_after_training():
    frame = synthetic_prices(300)
    before = prepare(frame, FEATURES, WINDOW, SPLIT)
    perturbed = frame.copy()
    perturbed.iloc[before.segments.val_start :] *= 7.5  # every value after the training segment
    after = prepare(perturbed, FEATURES, WINDOW, SPLIT)
    assert before.scaler == after.scaler
    np.testing.assert_array_equal(
        before.parts["train"].windows.inputs, after.parts["train"].windows.inputs
    )
    np.testing.assert_array_equal(
        before.parts["train"].windows.targets, after.parts["train"].windows.targets
    )
    assert before.naive_mae == after.naive_mae
    # ...and the later segments did change, so the test can fail
    assert not np.array_equal(before.parts["test"].actual, after.parts["test"].actual)


def test_scaler_is_fitted_on_training_rows_only():
    frame = synthetic_prices(300)
    prepared = prepare(frame, FEATURES, WINDOW, SPLIT)
    train = frame.iloc[: prepared.segments.val_start]
    assert prepared.scaler.offset[0] == pytest.approx(train["Close"].min())
    assert prepared.scaler.scale[0] == pytest.approx(train["Close"].max() - train["Close"].min())


def test_segments_are_chronological_and_targets_stay_inside():
    prepared = prepare(synthetic_prices(300), FEATURES, WINDOW, SPLIT)
    for name, part in prepared.parts.items():
        start, stop = prepared.segments.bounds(name)
        t = part.windows.first_target
        assert t.min() >= start and t.max() + WINDOW.horizon - 1 < stop
    assert prepared.parts["train"].windows.inputs.shape[1:] == (10, 3)


def test_scaling_round_trips():
    values = np.random.default_rng(0).uniform(10, 20, size=(50, 2))
    for method in ("minmax", "standard"):
        scaler = Scaler.fit(values, ["Close", "Open"], method)
        restored = Scaler.from_dict(scaler.to_dict())
        scaled = restored.transform(values)
        np.testing.assert_allclose(restored.inverse(scaled[:, 1], "Open"), values[:, 1])


def test_split_by_dates():
    frame = synthetic_prices(300)
    split = SplitConfig(
        val_start=str(frame.index[200].date()), test_start=str(frame.index[250].date())
    )
    prepared = prepare(frame, FEATURES, WINDOW, split)
    assert (prepared.segments.val_start, prepared.segments.test_start) == (200, 250)


@pytest.mark.parametrize(
    ("features", "window", "split", "message"),
    [
        (FeaturesConfig(columns=["Close", "Opn"]), WINDOW, SPLIT, r"unknown feature 'Opn'"),
        (FeaturesConfig(target="close"), WINDOW, SPLIT, r"unknown feature 'close'"),
        (FEATURES, WindowConfig(size=0), SPLIT, r"window.size=0 must be at least 1"),
        (FEATURES, WindowConfig(horizon=0), SPLIT, r"window.horizon=0 must be at least 1"),
        (FEATURES, WINDOW, SplitConfig(train=0.7, val=0.2, test=0.2), r"add up to 1.1, not 1"),
        (FEATURES, WindowConfig(size=250), SPLIT, r"the train segment .* too short"),
        (
            FEATURES,
            WindowConfig(size=10, horizon=3),
            SplitConfig(train=0.9, val=0.095, test=0.005),
            r"test segment .* too short .* window.horizon = 3 rows",
        ),
    ],
)
def test_bad_inputs_are_named(features, window, split, message):
    with pytest.raises(MarketcastError, match=message):
        prepare(synthetic_prices(300), features, window, split)


def test_missing_column_is_named():
    frame = synthetic_prices(50).drop(columns="High")
    with pytest.raises(MarketcastError, match="no High column"):
        select_columns(frame, FEATURES)


def test_rows_with_missing_values_are_dropped():
    frame = synthetic_prices(50)
    frame.iloc[5, 0] = np.nan
    assert len(select_columns(frame, FEATURES)) == 49
