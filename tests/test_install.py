"""marketcast installed as a library: the wheel in a fresh virtual environment, run from anywhere.

The slow test builds the wheel from a copy of the sources, installs it with
requirements/lock.txt as constraints into a new venv (pip's cache and the configured
indexes make that minutes, not an hour), and runs ``marketcast train`` and
``marketcast predict`` from an empty directory: both must succeed with the packaged
configs and sample alone, and write nothing outside that directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "lock.txt"
SUBCOMMANDS = ("train", "predict", "fetch", "store")

# Start-up lines a user should not see: TensorFlow's C++ logging (glog/absl format
# "W0000 00:00:1700000000.123456 ..."), absl, CUDA probing on a CPU machine, oneDNN notices.
NOISE = re.compile(r"^[IWEF]\d{4} |absl::|cuda|onednn", re.IGNORECASE | re.MULTILINE)


def marketcast_command() -> list[str]:
    """The ``marketcast`` console script of the running environment, else ``python -m``."""
    script = Path(sys.executable).parent / "marketcast"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "marketcast"]


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_help_lists_the_subcommands_and_the_keys(tmp_path):
    top = subprocess.run(
        [*marketcast_command(), "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert top.returncode == 0, top.stderr
    for name in SUBCOMMANDS:
        assert re.search(rf"^\s+{name}\s+\S", top.stdout, re.MULTILINE), top.stdout

    train = subprocess.run(
        [*marketcast_command(), "train", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert train.returncode == 0, train.stderr
    assert "== Configuration groups ==" in train.stdout
    for group in ("data:", "model:", "evaluation:", "logger:"):
        assert re.search(rf"^{group} \w", train.stdout, re.MULTILINE), group
    train_section = train.stdout.split("\ntrain:\n", 1)[1]
    for key in ("epochs:", "learning_rate:", "batch_size:"):
        assert re.search(rf"^  {key} \S", train_section, re.MULTILINE), key
    # the other commands list their own keys only: training's groups do not apply to them
    own_keys = (("predict", "run_dir:"), ("fetch", "universe_file:"), ("store", "action:"))
    for command, key in own_keys:
        helped = subprocess.run(
            [*marketcast_command(), command, "--help"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert helped.returncode == 0, helped.stderr
        assert re.search(rf"^{key} ", helped.stdout, re.MULTILINE), helped.stdout
        assert "Configuration groups" not in helped.stdout and "\nmodel:" not in helped.stdout
        assert "Exit status:" in helped.stdout  # the footer
    assert list(tmp_path.iterdir()) == [], "--help wrote files"


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (relative path -> (mtime in ns, size in bytes))."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in names:
            path = Path(folder, name)
            try:
                stat = path.lstat()
            except FileNotFoundError:  # removed while walking
                continue
            files[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return files


def changed(before: dict, after: dict) -> list[str]:
    """Files that are new or were modified between two snapshots."""
    return sorted(path for path, stat in after.items() if before.get(path) != stat)


def run(command: list[str], cwd: Path, env: dict, timeout: int) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    return result


@pytest.mark.slow
def test_wheel_runs_from_an_empty_directory_and_writes_only_there(tmp_path):
    # Build from a copy so that setuptools' build/ and *.egg-info stay out of the checkout.
    source = tmp_path / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "cache")
    for name in ("src", "conf", "data"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        cwd=tmp_path,
        env=os.environ.copy(),
        timeout=600,
    )
    (wheel,) = wheels.glob("marketcast-*.whl")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=os.environ.copy(), timeout=120)
    python = venv / "bin" / "python"
    run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(LOCK), str(wheel)],
        cwd=tmp_path,
        env=os.environ.copy(),
        timeout=1800,
    )

    # A user's shell: this venv first on PATH, none of the test session's settings (a
    # TF_CPP_MIN_LOG_LEVEL from conftest would hide the start-up noise checked below).
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    dropped = ("PYTHON", "VIRTUAL_ENV", "MARKETCAST_", "TF_", "KERAS_", "HYDRA_", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")

    located = run(
        [
            str(python),
            "-c",
            "import marketcast.config as f;print(f.config_dir()); print(f.sample_dir())",
        ],
        cwd=work,
        env=env,
        timeout=120,
    )
    for folder in located.stdout.split():
        assert Path(folder).is_relative_to(venv), f"not the packaged copy: {folder}"

    repo_before, venv_before = snapshot(REPO, skip=(".git",)), snapshot(venv)
    train = run(["marketcast", "train", "train.epochs=1"], cwd=work, env=env, timeout=900)
    run(["marketcast", "predict"], cwd=work, env=env, timeout=600)

    assert not NOISE.findall(train.stderr), train.stderr
    assert list(work.glob("outputs/train/*/run.json")), sorted(map(str, work.rglob("*")))
    assert list(work.glob("outputs/predict/*/forecast.csv")), sorted(map(str, work.rglob("*")))
    written_in_venv = changed(venv_before, snapshot(venv))
    assert not written_in_venv, f"written inside the installation: {written_in_venv}"
    # Another process editing the checkout at the same time shows here too.
    written_in_repo = changed(repo_before, snapshot(REPO, skip=(".git",)))
    assert not written_in_repo, f"written inside the checkout: {written_in_repo}"


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_help_into_a_closed_pipe_is_quiet(tmp_path):
    """`marketcast train --help | head -1` ended in a BrokenPipeError traceback, exit 1."""
    process = subprocess.Popen(
        [*marketcast_command(), "train", "--help"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader went away before the help was written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, stderr
    assert stderr == ""


def into_a_closed_pipe(*args: str, cwd: Path) -> tuple[int, str]:
    """``marketcast ARGS`` whose stdout's reader went away at once (``| true``): status, stderr."""
    process = subprocess.Popen(
        [*marketcast_command(), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    return process.wait(timeout=300), stderr


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_job_whose_stdout_reader_went_away_runs_to_its_end_quietly(tmp_path, tiny_run):
    """`marketcast train | head -3` printed a "--- Logging error ---" traceback to stderr for
    every later log line; a job's own table into a closed pipe was "unexpected
    BrokenPipeError (a bug ...)", exit 1. Now the job runs to its end without them (its log
    keeps every line) and exits 141, as a shell's tools do."""
    run_dir = tmp_path / "run"
    status, stderr = into_a_closed_pipe(
        "train", *tiny_run, "plots=false", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert status == 141, stderr
    assert stderr == ""
    assert (run_dir / "run.json").is_file()  # whole: the closed pipe cut nothing off
    assert "validation MASE" in (run_dir / "train.log").read_text()

    status, stderr = into_a_closed_pipe(
        "predict", f"run_dir={run_dir}", f"output={tmp_path / 'forecast.csv'}",
        f"store.dir={tmp_path / 'store'}", cwd=tmp_path,
    )  # fmt: skip
    assert status == 141, stderr
    assert stderr == ""
    assert (tmp_path / "forecast.csv").is_file()
    status, stderr = into_a_closed_pipe(
        "store", "history", f"store.dir={tmp_path / 'store'}", cwd=tmp_path
    )
    assert status == 141, stderr
    assert stderr == ""

    # stdout on a full disk: the same, and said once (exit 2), where it was a traceback a line
    with open("/dev/full", "w") as full:
        night = subprocess.run(
            [*marketcast_command(), "predict", f"run_dir={run_dir}", "as_of=2016-02-25",
             f"output={tmp_path / 'full.csv'}", f"hydra.run.dir={tmp_path / 'night'}"],
            cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip
    assert night.returncode == 2, night.stderr
    assert night.stderr == (
        "error: standard output could not be written (No space left on device): what was "
        f"printed there is lost; the job ran to its end, and {tmp_path / 'night' / 'predict.log'}"
        " holds its log lines.\n"
    )
    assert (tmp_path / "full.csv").is_file()


@pytest.mark.slow  # over 2 s on 2 cores: CI's second stage runs it
def test_a_job_runs_with_its_stderr_closed(tmp_path, tiny_run):
    """`marketcast train 2>&-` failed before training: quieting the Keras import duplicated
    file descriptor 2, which was not there ("unexpected AttributeError", exit 1)."""
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [*marketcast_command(), "train", *tiny_run, "plots=false", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, stdout=subprocess.PIPE, text=True, timeout=300,
        preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert (run_dir / "run.json").is_file()
    # fd 2 is /dev/null, not the next file opened: TensorFlow's C++ lines went into train.log
    assert not NOISE.findall((run_dir / "train.log").read_text())
