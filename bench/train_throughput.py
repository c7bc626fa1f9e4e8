"""Training throughput of the pipeline against a plain Keras script of the same model.

Both train LSTM(units) -> Dense(horizon) on the same windows of the bundled sample
(or a CSV given with --csv), with the same batch size, for the same epochs; the
first epoch (tracing) is left out. Pairs run alternately (pipeline, plain, ...)
so that drift in the machine's speed hits both. Prints samples/s of each and the
ratio pipeline / plain (>= 0.95 means the pipeline adds no real overhead).

    python bench/train_throughput.py [--epochs 6] [--repeats 5] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from marketcast.config import (
    DataConfig,
    FeaturesConfig,
    ModelConfig,
    SplitConfig,
    TrainConfig,
    WindowConfig,
)
from marketcast.dataset import prepare
from marketcast.model import build_model
from marketcast.sources import load_prices
from marketcast.training import compile_model, fit, seed_everything

ROOT = Path(__file__).resolve().parents[1]


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def samples_per_second(timer: EpochTimer, n_samples: int) -> float:
    return n_samples / statistics.median(timer.times[1:])  # first epoch traces the graph


def run_pipeline(data, cfg: TrainConfig, units: int) -> float:
    seed_everything(cfg.seed)
    model = build_model(ModelConfig(units=units), data.window, len(data.features), data.horizon)
    compile_model(model, cfg)
    timer = EpochTimer()
    train, val = data.parts["train"].windows, data.parts["val"].windows
    fit(model, train.inputs, train.targets, val.inputs, val.targets, cfg, [timer])
    return samples_per_second(timer, len(train))


def run_plain(data, cfg: TrainConfig, units: int) -> float:
    """What a tutorial script does: Sequential, compile, fit."""
    keras.utils.set_random_seed(cfg.seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(data.window, len(data.features))),
            keras.layers.LSTM(units),
            keras.layers.Dense(data.horizon),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse")
    timer = EpochTimer()
    train, val = data.parts["train"].windows, data.parts["val"].windows
    model.fit(
        train.inputs,
        train.targets,
        validation_data=(val.inputs, val.targets),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[timer],
    )
    return samples_per_second(timer, len(train))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=str(ROOT / "data" / "sp500.csv"))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--units", type=int, default=64)
    args = parser.parse_args()

    data = prepare(
        load_prices(DataConfig(path=args.csv)),
        FeaturesConfig(),
        WindowConfig(size=args.window),
        SplitConfig(),
    )
    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, patience=args.epochs, verbose=0
    )
    n_train = len(data.parts["train"].windows)
    print(
        f"{n_train} training windows of {args.window}x{len(data.features)}, "
        f"LSTM({args.units}), batch {args.batch_size}, {args.epochs} epochs, "
        f"backend {keras.backend.backend()}"
    )
    ratios, pipe_rates, plain_rates = [], [], []
    for i in range(args.repeats):
        pipe = run_pipeline(data, cfg, args.units)
        plain = run_plain(data, cfg, args.units)
        pipe_rates.append(pipe)
        plain_rates.append(plain)
        ratios.append(pipe / plain)
        print(
            f"pair {i + 1}: pipeline {pipe:,.0f} samples/s, plain Keras {plain:,.0f} samples/s, "
            f"ratio {pipe / plain:.3f}"
        )
    print(
        f"median: pipeline {statistics.median(pipe_rates):,.0f} samples/s, plain Keras "
        f"{statistics.median(plain_rates):,.0f} samples/s, ratio pipeline/plain "
        f"{statistics.median(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
