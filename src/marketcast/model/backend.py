"""Keras, started without TensorFlow's start-up noise: ``from marketcast.model.backend import
keras`` is the package's one import of Keras.

TensorFlow's C++ side logs through absl straight to file descriptor 2 while it is
imported and while it first looks for devices: oneDNN notices, "could not find cuda
drivers", ``E0000 ... failed call to cuInit`` on a CPU-only machine. None of it is
under Python's logging, and ``TF_CPP_MIN_LOG_LEVEL`` does not silence all of it, so
``load_quietly`` sends descriptor 2 to a temporary file for that time. What was
written there is shown again if the import fails, and always with
``MARKETCAST_VERBOSE=1`` (or ``marketcast -v``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

VERBOSE_ENV = "MARKETCAST_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def _load():
    """Import Keras (and TensorFlow, where it is the backend) and let it find its devices."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA's probe (cuInit) logs here, once
            logging.getLogger("tensorflow").setLevel(logging.ERROR)  # "retracing" warnings
    return keras


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    if verbose() or sys.stderr is None:  # None: stderr closed (2>&-), nothing to keep quiet
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # fd 2 closed under a Python that still has a sys.stderr
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except Exception:  # a failed import: its output explains it (not Ctrl-C, SIGTERM)
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


keras = _load()
