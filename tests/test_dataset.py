import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_prices

from marketcast.config import FeaturesConfig, Representation, SplitConfig, WindowConfig
from marketcast.errors import MarketcastError
from marketcast.features import representation as rep
from marketcast.features.dataset import prepare, select_columns
from marketcast.features.scaling import Scaler
from marketcast.features.split import split_rows

FEATURES = FeaturesConfig()
WINDOW = WindowConfig(size=10, horizon=2)
SPLIT = SplitConfig(train=0.6, val=0.2, test=0.2)


@pytest.mark.parametrize("representation", [r.value for r in Representation])
def test_scalers_and_training_windows_ignore_everything_after_training(representation):
    features = FeaturesConfig(representation=representation)
    frame = synthetic_prices(300)
    before = prepare(frame, features, WINDOW, SPLIT)
    perturbed = frame.copy()
    perturbed.iloc[before.segments.val_start :] *= 7.5  # every value after the training segment
    after = prepare(perturbed, features, WINDOW, SPLIT)
    assert before.transform == after.transform
    for field in ("inputs", "targets"):
        np.testing.assert_array_equal(
            getattr(before.parts["train"].windows, field),
            getattr(after.parts["train"].windows, field),
        )
    assert before.naive_mae == after.naive_mae
    # ...and the later segments did change, so the test can fail
    assert not np.array_equal(before.parts["test"].actual, after.parts["test"].actual)


def test_level_scaler_is_fitted_on_training_rows_only():
    frame = synthetic_prices(300)
    features = FeaturesConfig(representation="level", scaler="minmax")
    prepared = prepare(frame, features, WINDOW, SPLIT)
    train = frame.iloc[: prepared.segments.val_start]
    scaler = prepared.transform.target_scaler
    targets = train["Close"].iloc[WINDOW.size + 1 :]  # the rows that are training targets
    assert scaler.offset[0] == pytest.approx(targets.min())
    assert scaler.scale[0] == pytest.approx(targets.max() - targets.min())


@pytest.mark.parametrize("representation", [r.value for r in Representation])
def test_representation_round_trips_to_prices(representation):
    """transform then inverse gives back the prices, through the scalers too."""
    frame = synthetic_prices(300)
    prepared = prepare(frame, FeaturesConfig(representation=representation), WINDOW, SPLIT)
    for part in prepared.parts.values():
        restored = prepared.transform.prices(part.windows.targets, part.last)
        np.testing.assert_allclose(restored, part.actual, rtol=1e-5)  # float32 targets
    actual = np.array([[101.0, 99.0]])
    last = np.array([100.0])
    encoded = rep.encode_target(actual, last, representation)
    np.testing.assert_allclose(rep.decode_target(encoded, last, representation), actual)


def test_relative_inputs_are_scale_free():
    """A window at 10x the price level gives the same relative inputs."""
    frame = synthetic_prices(300)
    scaled = frame.copy()
    scaled[["Open", "High", "Low", "Close"]] *= 10
    a = prepare(frame, FeaturesConfig(representation="relative"), WINDOW, SPLIT)
    b = prepare(scaled, FeaturesConfig(representation="relative"), WINDOW, SPLIT)
    np.testing.assert_allclose(
        a.parts["test"].windows.inputs, b.parts["test"].windows.inputs, rtol=1e-5, atol=1e-6
    )


def test_segments_are_chronological_and_targets_stay_inside():
    prepared = prepare(synthetic_prices(300), FEATURES, WINDOW, SPLIT)
    for name, part in prepared.parts.items():
        start, stop = prepared.segments.bounds(name)
        t = part.windows.first_target
        assert t.min() >= start and t.max() + WINDOW.horizon - 1 < stop
    assert prepared.parts["train"].windows.inputs.shape[1:] == (10, 3)


def test_sequence_targets_end_with_the_samples_own_targets():
    prepared = prepare(synthetic_prices(300), FEATURES, WINDOW, SPLIT)
    seq = prepared.sequence_targets("val")  # -> (B, W, H)
    assert seq.shape == (len(prepared.parts["val"].windows), 10, 2)
    np.testing.assert_allclose(seq[:, -1, :], prepared.parts["val"].windows.targets, rtol=1e-6)


def test_scaling_round_trips():
    values = np.random.default_rng(0).uniform(10, 20, size=(50, 2))
    for method in ("minmax", "standard"):
        for center in (True, False):
            scaler = Scaler.fit(values, ["Close", "Open"], method, center=center)
            restored = Scaler.from_dict(scaler.to_dict())
            scaled = restored.transform(values)
            np.testing.assert_allclose(restored.inverse(scaled[:, 1], "Open"), values[:, 1])
            if not center:
                assert restored.transform(np.zeros((1, 2))).tolist() == [[0.0, 0.0]]


def test_split_by_dates():
    frame = synthetic_prices(300)
    split = SplitConfig(
        val_start=str(frame.index[200].date()), test_start=str(frame.index[250].date())
    )
    prepared = prepare(frame, FEATURES, WINDOW, split)
    assert (prepared.segments.val_start, prepared.segments.test_start) == (200, 250)


def test_the_test_fraction_is_the_same_rows_however_the_others_are_written():
    """split.train=0.65 split.val=0.2 started the test segment a row later than the default
    0.7/0.15 on 50 rows (and on 451 other lengths up to 20,000): 0.65 + 0.2 is
    0.8500000000000001 in floating point, so a comparison of validation lengths scored
    different test rows."""
    days = pd.bdate_range("2010-01-04", periods=2000)
    for n in range(10, 2000):
        starts = {
            split_rows(days[:n], SplitConfig(train=train, val=val, test=0.15)).test_start
            for train, val in ((0.7, 0.15), (0.65, 0.2), (0.6, 0.25), (0.55, 0.3))
        }
        assert len(starts) == 1, (n, starts)


def test_a_split_date_outside_the_data_is_named():
    """split.val_start=2030-01-01 said "val rows 1383..1176", naming no key."""
    frame = synthetic_prices(300)
    first, last = frame.index[0].date(), frame.index[-1].date()
    with pytest.raises(MarketcastError) as refused:
        prepare(frame, FEATURES, WINDOW, SplitConfig(val_start="2030-01-01"))
    assert str(refused.value) == (
        f"split.val_start=2030-01-01 is outside the data, which runs {first}..{last}: choose "
        "a date after its first day, up to its last."
    )
    with pytest.raises(MarketcastError, match=r"^split.test_start=2000-01-03 is outside"):
        prepare(frame, FEATURES, WINDOW, SplitConfig(test_start="2000-01-03"))


@pytest.mark.parametrize(
    ("features", "window", "split", "message"),
    [
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


def test_non_positive_prices_are_refused_for_relative_targets():
    frame = synthetic_prices(100)
    frame.iloc[50, frame.columns.get_loc("Close")] = 0.0
    with pytest.raises(MarketcastError, match="zero or negative prices"):
        prepare(frame, FEATURES, WINDOW, SPLIT)


def test_missing_column_is_named():
    frame = synthetic_prices(50).drop(columns="High")
    with pytest.raises(MarketcastError, match="no High column"):
        select_columns(frame, FEATURES.columns, FEATURES.target)
    with pytest.raises(MarketcastError, match=r"e\.g\. features\.columns=\[Close\]\.$"):
        select_columns(frame[["Close"]], FEATURES.columns, FEATURES.target)  # a Date,Close file


def test_rows_with_missing_values_are_dropped():
    frame = synthetic_prices(50)
    frame.iloc[5, 0] = np.nan
    assert len(select_columns(frame, FEATURES.columns, FEATURES.target)) == 49
