"""Training speed and validation loss: the pipeline's configurations against a tutorial script.

Every configuration trains LSTM -> Dense on the same windows of the bundled sample (the
default config's features, representation, window and split; --csv for another file)
until EarlyStopping ends it, as a real run does:

  tutorial  a plain Keras script with the tutorial's settings: TensorFlow, batch 32,
            no XLA, Adam(1e-3), MSE, EarlyStopping(patience 8, best weights restored)
  default   the pipeline's fit() with conf/train.yaml's train.* settings (batch 512; XLA
            only if the fit is long enough to pay for its compile: runtime.XLA_MIN_SAMPLES)
  xla       the same, always with XLA (train.jit_compile=true)
  no_xla    the same, never with XLA (train.jit_compile=false)
  b32       the pipeline's fit() with the tutorial's settings (batch 32, lr 1e-3, no XLA)
  NAME=OVERRIDES  any other: --config 'b2048=train.batch_size=2048,train.learning_rate=0.008'

--synthetic K trains on K synthetic random-walk symbols of the sample's length instead,
pooled as the global model pools a universe (one transform fitted on all of them): K=64
gives ~220,000 training windows, enough to time large batches on a GPU. --no-tutorial
leaves the tutorial out (ratios are then to the first configuration).

Reported per configuration (medians over --repeats, each repeat with seed 42 + i, the
configurations alternating so that drift in the machine's speed hits all of them):
samples/s over the epochs after the first (which traces and, with XLA, compiles),
epochs run, wall time of the whole fit, and the validation MSE of the weights
EarlyStopping restores (scaled units, the same for every configuration whatever its
train.loss; lower is better). Ratios are to the tutorial.

    python bench/train_throughput.py [--repeats 3] [--max-epochs 50] [--config ...]
    KERAS_BACKEND=jax python bench/train_throughput.py   # the same on JAX (needs jax)
    KERAS_BACKEND=jax python bench/train_throughput.py --synthetic 64 --no-tutorial \
        --max-epochs 6 --config 'b4096=train.batch_size=4096,train.learning_rate=0.011'  # GPU
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from synthetic import random_walk_bars  # noqa: E402  (bench/synthetic.py)

import marketcast.config  # noqa: E402,F401  (registers the schemas)
from marketcast.config import DataConfig, TrainConfig  # noqa: E402
from marketcast.data.sources import load  # noqa: E402
from marketcast.features.dataset import (  # noqa: E402
    Transform,
    prepare,
    prepare_many,
    used_columns,
)
from marketcast.features.windows import Windows  # noqa: E402
from marketcast.model import runtime  # noqa: E402
from marketcast.model.network import build_model  # noqa: E402
from marketcast.model.training import compile_model, fit, seed_everything  # noqa: E402

TUTORIAL = "tutorial"
BUILT_IN = {
    "default": [],
    "xla": ["train.jit_compile=true"],
    "no_xla": ["train.jit_compile=false"],
    # the pipeline with the tutorial's settings: what the pipeline itself costs
    "b32": ["train.batch_size=32", "train.learning_rate=0.001", "train.jit_compile=false"],
}


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


@dataclass(frozen=True)
class Data:
    """The windows every configuration trains on."""

    transform: Transform
    train: Windows
    val: Windows


def load_data(args, base) -> Data:
    """The sample (or --csv) as one run prepares it; or --synthetic K pooled symbols."""
    if not args.synthetic:
        data_cfg = DataConfig(path=args.csv) if args.csv else base.data
        columns = used_columns(base.features.columns, base.features.target)  # as train loads
        frame = load(data_cfg, columns=columns).frame
        prepared = prepare(frame, base.features, base.window, base.split)
        parts = prepared.parts
        return Data(prepared.transform, parts["train"].windows, parts["val"].windows)
    rows = len(load(base.data).frame)
    frames = {f"SYN{k}": synthetic_prices(rows, seed=k) for k in range(args.synthetic)}
    prepared = prepare_many(frames, base.features, base.window, base.split)

    def pooled(part: str) -> Windows:
        windows = [p.parts[part].windows for p in prepared.values()]
        return Windows(
            *(np.concatenate([getattr(w, f) for w in windows]) for f in Windows.__annotations__)
        )

    transform = next(iter(prepared.values())).transform
    return Data(transform, pooled("train"), pooled("val"))


def synthetic_prices(rows: int, seed: int) -> pd.DataFrame:
    """A geometric random walk with daily bars (Open, High, Low, Close, Volume)."""
    frame = random_walk_bars(np.random.default_rng(seed), rows, "1990-01-02", 100, 0.0003, 0.015)
    return frame.assign(Volume=1e6)


@dataclass
class Result:
    samples_per_s: float
    epochs: int
    fit_s: float
    val_mse: float


def measure(model, train_fn, data) -> Result:
    """Run ``train_fn(timer)``; time it, then score the restored weights on validation."""
    timer = EpochTimer()
    started = time.perf_counter()
    train_fn(timer)
    fit_s = time.perf_counter() - started
    steady = timer.times[1:] or timer.times  # the first epoch traces (and compiles)
    val = data.val
    error = model.predict(val.inputs, batch_size=4096, verbose=0) - val.targets  # -> (B, H)
    return Result(
        len(data.train) / statistics.median(steady),
        len(timer.times),
        fit_s,
        float(np.mean(np.square(error))),
    )


def run_pipeline(data, cfg, seed: int) -> Result:
    """The pipeline's own path: build_model, compile_model, fit (as fit_forecaster calls them)."""
    train_cfg = TrainConfig(**{**OmegaConf.to_container(cfg.train), "seed": seed, "verbose": 0})
    runtime.clear_session()
    seed_everything(seed)
    t = data.transform
    with runtime.strategy_scope(train_cfg.distribute):
        model = build_model(cfg.model, t.window, len(t.features), t.horizon)
        compile_model(model, train_cfg, len(data.train.inputs))
    train, val = data.train, data.val

    def train_fn(timer):
        fit(model, train.inputs, train.targets, val.inputs, val.targets, train_cfg, [timer])

    return measure(model, train_fn, data)


def run_tutorial(data, units: int, epochs: int, seed: int) -> Result:
    """What a tutorial script does: Sequential, compile, fit with EarlyStopping."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    t = data.transform
    model = keras.Sequential(
        [
            keras.Input(shape=(t.window, len(t.features))),
            keras.layers.LSTM(units),
            keras.layers.Dense(t.horizon),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    train, val = data.train, data.val
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True)

    def train_fn(timer):
        model.fit(
            train.inputs,
            train.targets,
            validation_data=(val.inputs, val.targets),
            epochs=epochs,
            batch_size=32,
            shuffle=True,
            verbose=0,
            callbacks=[stop, timer],
        )

    return measure(model, train_fn, data)


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=overrides)


def parse_config(text: str) -> tuple[str, list[str]]:
    name, _, overrides = text.partition("=")
    if name in BUILT_IN and not overrides:
        return name, BUILT_IN[name]
    return name, [o for o in overrides.split(",") if o]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", help="prices to train on (default: the bundled sample)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="K", help="K synthetic symbols")
    parser.add_argument("--no-tutorial", action="store_true", help="leave the tutorial out")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=None, help="cap train.epochs")
    parser.add_argument(
        "--config",
        action="append",
        help="NAME or NAME=override,override (repeatable; default: default, xla and no_xla)",
    )
    args = parser.parse_args()

    extra = [f"train.epochs={args.max_epochs}"] if args.max_epochs else []
    configs = dict(parse_config(c) for c in (args.config or ["default", "xla", "no_xla"]))
    cfgs = {name: compose_train([*overrides, *extra]) for name, overrides in configs.items()}
    base = next(iter(cfgs.values()))
    data = load_data(args, base)
    n_train = len(data.train)
    epochs = args.max_epochs or TrainConfig().epochs
    print(
        f"{n_train} training windows of {data.transform.window}x{len(data.transform.features)} "
        f"({data.transform.representation}), LSTM({base.model.units}), backend "
        f"{keras.backend.backend()}, {runtime.available_cpus()} cores"
    )
    for name, cfg in cfgs.items():
        t = cfg.train
        print(
            f"  {name}: loss {t.loss}, batch {t.batch_size}, lr {t.learning_rate}, "
            f"jit_compile {t.jit_compile}, epochs <= {t.epochs}, patience {t.patience}"
        )

    results: dict[str, list[Result]] = {name: [] for name in cfgs}
    if not args.no_tutorial:
        results = {TUTORIAL: [], **results}
    for i in range(args.repeats):
        seed = 42 + i
        if not args.no_tutorial:
            results[TUTORIAL].append(run_tutorial(data, base.model.units, epochs, seed))
        for name, cfg in cfgs.items():
            results[name].append(run_pipeline(data, cfg, seed))
        print(
            f"repeat {i + 1}: "
            + ", ".join(
                f"{name} {r[-1].samples_per_s:,.0f}/s val MSE {r[-1].val_mse:.5f}"
                for name, r in results.items()
            ),
            flush=True,
        )

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[name])

    first = next(iter(results))
    tutorial_rate = median(first, "samples_per_s")
    train_targets, val_targets = data.train.targets, data.val.targets
    mean_mse = float(np.mean(np.square(val_targets - train_targets.mean(axis=0))))
    print(
        f"\n{'config':<12}{'samples/s':>11}{'x ' + first:>12}{'epochs':>8}{'fit s':>8}"
        f"{'val MSE':>10}{'min..max':>22}"
    )
    for name in results:
        losses = [r.val_mse for r in results[name]]
        print(
            f"{name:<12}{median(name, 'samples_per_s'):>11,.0f}"
            f"{median(name, 'samples_per_s') / tutorial_rate:>12.2f}"
            f"{median(name, 'epochs'):>8.0f}{median(name, 'fit_s'):>8.1f}"
            f"{statistics.median(losses):>10.5f}{f'{min(losses):.5f}..{max(losses):.5f}':>22}"
        )
    print(f"reference: predicting the training targets' mean gives val MSE {mean_mse:.5f}")


if __name__ == "__main__":
    main()
