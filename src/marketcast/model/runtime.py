"""The compute a training job may use: CPU threads per job and the device strategy.

The only module that calls TensorFlow directly, always behind a check of the Keras
backend, so that the model and training code stay on the public Keras API and run
on any backend (``KERAS_BACKEND``).

Threads: jobs that a launcher runs side by side (joblib, Ray) each get their share
of the cores for TensorFlow's intra-/inter-op pools and the BLAS/OpenMP pools of
NumPy and scikit-learn; otherwise every job would start one thread per core and
the jobs would fight over them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from threadpoolctl import threadpool_info, threadpool_limits

from marketcast.config import TrainConfig
from marketcast.errors import MarketcastError
from marketcast.model.backend import keras
from marketcast.progress import counted

log = logging.getLogger(__name__)


def check(cfg: TrainConfig) -> None:
    """Refuse what this Keras backend cannot do (``train.distribute`` needs TensorFlow)."""
    if keras.backend.backend() == "jax" and cfg.jit_compile is False:
        log.warning(
            "KERAS_BACKEND=jax with train.jit_compile=false runs every operation eagerly, "
            "one at a time (minutes per epoch): set train.jit_compile=null (the default) or true"
        )
    if cfg.distribute is None:
        return
    if keras.backend.backend() != "tensorflow":
        raise MarketcastError(
            f"train.distribute={cfg.distribute} uses tf.distribute and needs the TensorFlow "
            f"backend, but KERAS_BACKEND is {keras.backend.backend()!r}: unset KERAS_BACKEND "
            "or set train.distribute=null."
        )


def configure(cfg: TrainConfig) -> None:
    """Check ``cfg``; limit this process to ``train.threads`` or its launcher's share."""
    check(cfg)
    threads = cfg.threads or launcher_share(current_launcher(), available_cpus())
    if threads is not None:
        limit_threads(threads)


# Training samples (windows x epochs) before XLA's compile pays for itself on a CPU: XLA
# costs a few seconds more in the first epoch and then saves ~5e-5 s a sample for the
# default LSTM(64) over 60 days (README, Speed); a rough, conservative threshold.
XLA_MIN_SAMPLES = 100_000


def keras_jit_compile(cfg: TrainConfig, train_windows: int) -> bool | str:
    """The ``jit_compile`` to give ``model.compile`` for ``train.jit_compile``; logged.

    ``null`` (the default) compiles the train step with XLA on a CPU-only TensorFlow,
    where Keras' own "auto" would not, when the fit is long enough for the compile to pay
    off: ``train_windows`` times the fewest epochs a fit can run (``fewest_epochs``)
    reaches ``XLA_MIN_SAMPLES`` (at the default patience about 11,000 windows: a universe
    of several symbols, not one daily history). Never in a process that trains job after
    job: TensorFlow never evicts XLA's compiled programs (about 25 MB per model;
    tensorflow#64170), so there memory would grow with every job. Elsewhere it is Keras'
    "auto": cuDNN's LSTM on a GPU, jax.jit on JAX, no XLA under ``tf.distribute`` (which
    XLA fails in). ``true`` is XLA except under ``tf.distribute``; ``false`` never.
    """
    setting = _jit_compile(cfg, train_windows)
    chosen = {None: "null", True: "true", False: "false"}[cfg.jit_compile]
    log.info("train.jit_compile=%s: compiling with jit_compile=%s", chosen, setting)
    return setting


def _jit_compile(cfg: TrainConfig, train_windows: int) -> bool | str:
    if cfg.jit_compile is False:
        return False
    if cfg.distribute is not None:
        if cfg.jit_compile:
            log.warning("train.distribute=%s: no XLA (it fails there)", cfg.distribute)
        return "auto"
    tensorflow = keras.backend.backend() == "tensorflow"
    many_jobs = tensorflow and shares_process_with_other_jobs(*_hydra_mode_and_launcher())
    if cfg.jit_compile is True:
        if many_jobs:
            log.warning(
                "train.jit_compile=true in a process that runs several jobs: TensorFlow keeps "
                "every job's XLA programs (about 25 MB each); use null to leave XLA off here"
            )
        return True
    if many_jobs:  # also on a GPU, where Keras' auto may choose XLA if cuDNN cannot run
        log.info("several jobs share this process: no XLA (TensorFlow never frees its programs)")
        return False
    if not tensorflow or tensorflow_sees_a_gpu():
        return "auto"
    epochs = fewest_epochs(cfg)
    samples = train_windows * epochs
    if samples < XLA_MIN_SAMPLES:
        log.info(
            "%s training windows x at least %s = %s samples < %s: no XLA, its compile "
            "would take longer than it saves (train.jit_compile=true forces it)",
            f"{train_windows:,}",
            counted(epochs, "epoch"),
            f"{samples:,}",
            f"{XLA_MIN_SAMPLES:,}",
        )
        return False
    log.info("%s training windows: XLA repays its compile", f"{train_windows:,}")
    return True


def fewest_epochs(cfg: TrainConfig) -> int:
    """The fewest epochs a fit can run: EarlyStopping stops no sooner than patience + 1
    (and never after the first epoch), train.epochs caps it."""
    return min(cfg.epochs, max(cfg.patience, 1) + 1)


def shares_process_with_other_jobs(mode: Any, launcher: Mapping[str, Any] | None) -> bool:
    """Whether a Hydra ``mode`` / ``hydra.launcher`` may run several jobs in this process.

    A multirun on the basic launcher runs every job in one process; joblib and Ray
    reuse each worker process for job after job. Submitit starts a process per job.
    """
    if getattr(mode, "name", mode) != "MULTIRUN" or launcher is None:
        return False
    return "submitit" not in str(launcher.get("_target_") or "")


def _hydra_mode_and_launcher() -> tuple[Any, Mapping[str, Any] | None]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None, None
    hydra = HydraConfig.get()
    return hydra.mode, hydra.launcher


def tensorflow_sees_a_gpu() -> bool:
    """Whether TensorFlow has a GPU here (call only on the TensorFlow backend)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def available_cpus() -> int:
    """Cores this process may run on (respects CPU affinity and cpusets, e.g. under SLURM)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def launcher_share(launcher: Mapping[str, Any] | None, cpus: int) -> int | None:
    """Threads for one job of ``launcher`` (the ``hydra.launcher`` node) on ``cpus`` cores.

    joblib: the cores divided among ``n_jobs`` (``-1``: one job per core, as joblib
    counts); Ray: the cores each task reserves (``ray.remote.num_cpus``, Ray's default
    1); submitit: ``cpus_per_task`` where set. ``None`` (the backend's default, all
    cores) for a launcher that runs one job at a time, or for no launcher.
    """
    if launcher is None:
        return None
    target = str(launcher.get("_target_") or "")
    if target.endswith("JoblibLauncher"):
        n_jobs = int(launcher.get("n_jobs") or 1)
        parallel = n_jobs if n_jobs > 0 else max(1, cpus + 1 + n_jobs)
        return max(1, cpus // parallel)
    if target.endswith("RayLauncher"):
        remote = (launcher.get("ray") or {}).get("remote") or {}
        return max(1, int(remote.get("num_cpus") or 1))
    if "submitit" in target:
        per_task = launcher.get("cpus_per_task")
        return int(per_task) if per_task else None
    return None


def current_launcher() -> Mapping[str, Any] | None:
    """This job's ``hydra.launcher`` node; ``None`` outside a Hydra job (tests, scripts)."""
    return _hydra_mode_and_launcher()[1]


def limit_threads(threads: int) -> dict[str, Any]:
    """Limit the BLAS/OpenMP pools and, on TensorFlow, its intra-/inter-op pools.

    TensorFlow fixes its pools when it starts (the first operation); a process that
    already ran one keeps them, with a warning. Returns what the libraries report.
    """
    threadpool_limits(limits=threads)  # NumPy, SciPy, scikit-learn (OpenBLAS, MKL, OpenMP)
    if keras.backend.backend() == "tensorflow":
        _limit_tensorflow(threads)
    else:
        log.info("backend %s: only BLAS/OpenMP pools are limited", keras.backend.backend())
    settings = thread_settings()
    log.info("threads: %s", settings)
    return settings


def thread_settings() -> dict[str, Any]:
    """The thread counts in force: TensorFlow's pools (0: its default, one per core), BLAS."""
    settings: dict[str, Any] = {"blas": sorted({p["num_threads"] for p in threadpool_info()})}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        settings["intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        settings["inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    return settings


def _limit_tensorflow(threads: int) -> None:
    import tensorflow as tf

    threading = tf.config.threading
    current = (
        threading.get_intra_op_parallelism_threads(),
        threading.get_inter_op_parallelism_threads(),
    )
    if current == (threads, threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow has started in this process: its pools are fixed
        log.warning(
            "TensorFlow already runs with intra/inter-op threads %s in this process; "
            "train.threads=%d applies to BLAS/OpenMP only",
            current,
            threads,
        )


def clear_session() -> None:
    """``keras.backend.clear_session()``, and on TensorFlow the traced graphs it leaves behind.

    Keras' TensorFlow optimizer sums gradients through ``tf.distribute``'s replica
    context, which wraps them in ``tf.custom_gradient``. Inside a traced function that
    registers a gradient function in TensorFlow's global gradient registry, under a
    new name at every trace, and never removes it; the entry holds the whole traced
    train step. A process that trains model after model (a sweep on Hydra's basic
    launcher, a backtest) grew by about 11 MB per model, even for an LSTM(4), until
    these entries were dropped (TensorFlow 2.21, Keras 3.15). They are needed only
    while a gradient is being traced, so dropping them before the next model is built
    is safe; a fitted model still predicts.
    """
    if keras.backend.backend() == "tensorflow":
        _drop_custom_gradients()
    keras.backend.clear_session()  # also collects the garbage that frees the graphs


def _drop_custom_gradients() -> None:
    from tensorflow.python.framework import ops  # no public API reaches this registry

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):  # another TensorFlow layout: nothing to drop
        log.debug("TensorFlow's gradient registry not found; custom gradients kept")
        return
    for name in [k for k in registry if k.startswith("CustomGradient-")]:
        del registry[name]


@contextlib.contextmanager
def strategy_scope(distribute: str | None) -> Iterator[None]:
    """Where the model is built and compiled: one device (``None``), or a strategy's scope.

    A model created in a ``tf.distribute`` scope trains and predicts with it.
    """
    if distribute is None:
        yield
        return
    with make_strategy(distribute).scope():
        yield


def make_strategy(distribute: str) -> Any:
    """A ``tf.distribute.MirroredStrategy`` over every GPU, or every logical CPU without GPUs.

    Each step splits the batch among the devices (``train.batch_size`` is the global
    batch) and averages their gradients.
    """
    check(TrainConfig(distribute=distribute))
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    if strategy.num_replicas_in_sync == 1:
        log.warning("train.distribute=mirrored with one device: training runs unreplicated")
    log.info(
        "MirroredStrategy over %s: %s",
        counted(strategy.num_replicas_in_sync, "device"),
        [d.name for d in devices],
    )
    return strategy
