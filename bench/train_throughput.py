"""Training speed and validation loss: the pipeline's configurations against a tutorial script.

Every configuration trains LSTM -> Dense on the same windows of the bundled sample (the
default config's features, representation, window and split; --csv for another file)
until EarlyStopping ends it, as a real run does:

  tutorial  a plain Keras script with the tutorial's settings: TensorFlow, batch 32,
            no XLA, Adam(1e-3), MSE, EarlyStopping(patience 8, best weights restored)
  default   the pipeline's fit() with conf/train.yaml's train.* settings
  fast      the pipeline's fit() with experiment=fast (conf/experiment/fast.yaml)
  NAME=OVERRIDES  any other: --config 'b512=train.batch_size=512,train.jit_compile=true'

Reported per configuration (medians over --repeats, each repeat with seed 42 + i, the
configurations alternating so that drift in the machine's speed hits all of them):
samples/s over the epochs after the first (which traces and, with XLA, compiles),
epochs run, wall time of the whole fit, and the validation MSE of the weights
EarlyStopping restores (scaled units, the same for every configuration whatever its
train.loss; lower is better). Ratios are to the tutorial.

    python bench/train_throughput.py [--repeats 3] [--max-epochs 50] [--config ...]
    KERAS_BACKEND=jax python bench/train_throughput.py   # the same on JAX (needs jax)
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
os.environ.setdefault("MARKETCAST_ROOT", str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

import marketcast.config  # noqa: E402,F401  (registers the schemas)
from marketcast import runtime  # noqa: E402
from marketcast.config import DataConfig, TrainConfig  # noqa: E402
from marketcast.dataset import prepare  # noqa: E402
from marketcast.model import build_model  # noqa: E402
from marketcast.sources import load_prices  # noqa: E402
from marketcast.training import compile_model, fit, seed_everything  # noqa: E402

TUTORIAL = "tutorial"
BUILT_IN = {"default": [], "fast": ["experiment=fast"]}


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


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
    val = data.parts["val"].windows
    error = model.predict(val.inputs, batch_size=1024, verbose=0) - val.targets  # -> (B, H)
    return Result(
        len(data.parts["train"].windows) / statistics.median(steady),
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
        compile_model(model, train_cfg)
    train, val = data.parts["train"].windows, data.parts["val"].windows

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
    train, val = data.parts["train"].windows, data.parts["val"].windows
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=None, help="cap train.epochs")
    parser.add_argument(
        "--config",
        action="append",
        help="NAME or NAME=override,override (repeatable; default: default and fast)",
    )
    args = parser.parse_args()

    extra = [f"train.epochs={args.max_epochs}"] if args.max_epochs else []
    configs = dict(parse_config(c) for c in (args.config or ["default", "fast"]))
    cfgs = {name: compose_train([*overrides, *extra]) for name, overrides in configs.items()}
    base = next(iter(cfgs.values()))
    data_cfg = DataConfig(path=args.csv) if args.csv else base.data
    data = prepare(load_prices(data_cfg), base.features, base.window, base.split)
    n_train = len(data.parts["train"].windows)
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

    results: dict[str, list[Result]] = {TUTORIAL: [], **{name: [] for name in cfgs}}
    for i in range(args.repeats):
        seed = 42 + i
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

    tutorial_rate = median(TUTORIAL, "samples_per_s")
    train_targets, val_targets = (data.parts[s].windows.targets for s in ("train", "val"))
    mean_mse = float(np.mean(np.square(val_targets - train_targets.mean(axis=0))))
    print(
        f"\n{'config':<12}{'samples/s':>11}{'x tutorial':>12}{'epochs':>8}{'fit s':>8}"
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
