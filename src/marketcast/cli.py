"""The ``marketcast`` command: ``marketcast train|predict|fetch [Hydra overrides]``.

Each subcommand is a Hydra application over its own config (``conf/train.yaml``,
``conf/predict.yaml``, ``conf/fetch.yaml``) and takes exactly the overrides, ``-m``,
``--help`` and ``--cfg`` that Hydra gives it (not ``--shell-completion``: Hydra's script
completes one program, not a subcommand, and is refused). ``python train.py`` and
``python predict.py`` in a checkout are wrappers of the same.

Before a job starts, its config is range-checked (``marketcast.config``) and only then
is the job's module imported, so a bad value is reported before TensorFlow loads. A
``MarketcastError`` becomes one message on stderr and exit status 2, and a run
directory that holds nothing but Hydra's own files is removed.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import importlib
import logging
import math
import os
import re
import shutil
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from marketcast import __version__
from marketcast.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_TERMINATED,
    EXIT_USER_ERROR,
    MarketcastError,
    SweepStopped,
    Terminated,
    first_line,
    install_command,
    log_bug,
)
from marketcast.runfiles import finished_here  # light: it imports marketcast.errors only

if TYPE_CHECKING:
    from argparse import ArgumentParser

    from hydra._internal.config_loader_impl import ConfigLoaderImpl

log = logging.getLogger("marketcast")

# subcommand -> (config name, config check, job function, what it does)
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "train": (
        "train",
        "marketcast.config:check_train_job",
        "marketcast.jobs.train:command",
        "train and evaluate",
    ),
    "predict": (
        "predict",
        "marketcast.storage.stores:check_predict_start",
        "marketcast.jobs.predict:forecast",
        "forecast the next trading days from trained runs",
    ),
    "fetch": (
        "fetch",
        "marketcast.config:check_fetch_job",
        "marketcast.jobs.fetch:fetch",
        "warm or refresh the price cache for a universe",
    ),
    "store": (
        "store",
        "marketcast.config:check_store_job",
        "marketcast.jobs.store:store",
        "the forecast store: history | show | maintain",
    ),
}
USAGE = (
    "usage: marketcast [-v] {train,predict,fetch,store} [OVERRIDES ...]\n"
    "\n" + "\n".join(f"  {name:<8} {spec[3]}" for name, spec in COMMANDS.items()) + "\n\n"
    "  marketcast train                    # the bundled S&P 500 sample, offline\n"
    "  marketcast predict                  # forecast from the newest run\n"
    "  marketcast COMMAND --help           # every option of a command, with its value\n"
    "  -v, --verbose                       # also TensorFlow's own start-up lines\n"
)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``marketcast`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    _standard_fds()
    if args and args[0] in ("-v", "--verbose"):
        os.environ["MARKETCAST_VERBOSE"] = "1"
        args = args[1:]
    if not args or args[0] in ("-h", "--help") or args[0] == "--version":
        console = _Stdout.install()
        try:
            version = bool(args) and args[0] == "--version"
            print(f"marketcast {__version__}\n" if version else USAGE, end="", flush=True)
        finally:
            _Stdout.uninstall(console)
        code = 0 if args else EXIT_USER_ERROR
        _said_unwritten(console, code)
        sys.exit(code)
    command, rest = args[0], args[1:]
    if any(_asks_completion(a) for a in rest):
        # Hydra's script registers completion for `marketcast` and for a program named after
        # the subcommand, and each TAB then printed "'-sc' is not a marketcast command"
        print(
            "error: shell completion is not available: Hydra's completion script completes "
            "one program, and marketcast's commands are subcommands of one. "
            f"marketcast {command} --help lists every key and group.",
            file=sys.stderr,
        )
        sys.exit(EXIT_USER_ERROR)
    if command == "store" and rest and not rest[0].startswith("-") and "=" not in rest[0]:
        rest = [f"action={rest[0]}", *rest[1:]]  # marketcast store history ...
    if command not in COMMANDS:
        print(
            f"error: {command!r} is not a marketcast command: use one of "
            f"{', '.join(COMMANDS)} (marketcast --help).",
            file=sys.stderr,
        )
        sys.exit(EXIT_USER_ERROR)
    signal.signal(signal.SIGTERM, _terminate)  # cron's timeout, systemd: cleaned up, said
    finished_here.clear()  # this command's: commands run in one process (the tests) too
    console = _Stdout.install()
    try:
        try:
            run_command(command, rest)
        except SystemExit as stop:
            _said_unwritten(console, stop.code)
            raise
        _said_unwritten(console, 0)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: one line, not TensorFlow's traceback
        from marketcast.new_folders import restore_recorded

        terminated = isinstance(exc, Terminated)
        why = "terminated (SIGTERM)" if terminated else "interrupted"
        if finished_here:  # after the run was whole: the report, a logger's upload cut off
            why += f" after the run was saved whole in {finished_here[-1]}"
        else:  # an earlier run's folder (overwrite=true): its .hydra/ as it was
            restore_recorded()
        if command == "train" and (summary := _summarise_stopped_sweep()):
            why += f"; the jobs the sweep left are summarised in {summary}"
        if logging.getLogger().handlers:  # the job's log (train.log, ...) ends with why; before
            logging.getLogger("marketcast").error(why)  # it is set up, stderr's line says it
        print(f"marketcast {command}: {why}", file=sys.stderr)
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    except BrokenPipeError:
        _pipe_closed()
    finally:
        _Stdout.uninstall(console)
        _ignore_signals_at_exit()


def _pipe_closed() -> NoReturn:
    """stdout's reader went away (``| head``): no traceback, exit 141, as a shell's tools."""
    _quiet_stdout()
    sys.exit(EXIT_PIPE_CLOSED)


def _quiet_stdout(stream=None) -> None:
    """``stream`` (stdout's) to /dev/null: what is still written there (the final flush too)
    goes nowhere."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # closed (>&-): none
        os.dup2(os.open(os.devnull, os.O_WRONLY), (stream or sys.__stdout__).fileno())


def _standard_fds() -> None:
    """/dev/null on a standard file descriptor that is closed (``2>&-``): else the next file
    opened (the job's log) takes its number, and TensorFlow's C++ lines meant for stderr
    went into train.log."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)


class _Stdout:
    """``sys.stdout`` while a command runs: the first write that fails (the reader gone,
    ``| head``; a full disk, ``> /dev/full``) sends the rest to /dev/null and is kept, so that
    the job runs to its end (a night's store write is not cut off by its console) and main()
    says it once, where Hydra's console log handler printed a traceback for every line and
    the job's own table ended it as a bug. Everything else is the stream's own."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.error: OSError | None = None
        self.log = "the log"

    @classmethod
    def install(cls) -> _Stdout | None:
        if sys.stdout is None:  # stdout closed (>&-): print() writes nothing already
            return None
        sys.stdout = cls(sys.stdout)
        return sys.stdout

    @staticmethod
    def uninstall(console: _Stdout | None) -> None:
        if console is not None and sys.stdout is console:
            sys.stdout = console.stream

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return self.stream.write(text)
            except OSError as exc:
                self._failed(exc)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.error = exc
        self.log = _job_log()  # while the job's Hydra config is set
        _quiet_stdout(self.stream)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _said_unwritten(console: _Stdout | None, code: object) -> None:
    """Where stdout could not be written, say so once; a job that went well then exits 141
    (the reader went away) or 2 (stdout cannot take it: a full disk); another status stands."""
    if console is None or console.error is None:
        return
    if isinstance(console.error, BrokenPipeError):
        if code in (None, 0):
            _pipe_closed()
        return
    said = (
        f"error: standard output could not be written ({console.error.strerror or console.error})"
    )
    if code in (None, 0):  # the job went well: where its log lines are, if anywhere
        kept = Path(console.log).is_file() and Path(console.log).stat().st_size
        said += ": what was printed there is lost" + (
            f"; the job ran to its end, and {console.log} holds its log lines" if kept else ""
        )
    print(said + ".", file=sys.stderr)
    if code in (None, 0):
        sys.exit(EXIT_USER_ERROR)


@functools.cache  # once a process: in-process callers (tests) call main many times
def _ignore_signals_at_exit() -> None:
    """Once the command has ended and said how, SIGTERM and Ctrl-C are ignored through the
    interpreter's teardown, which takes about a second more (TensorFlow's). There Python's
    handlers are gone and a signal's default action applies: a timeout or a systemd stop in
    that second made a complete night exit 143 with nothing said. An ignored signal stays
    ignored to the end (SIGKILL still ends a teardown that hangs). At exit, so that a caller
    of ``main`` in its own process keeps its handlers; registered once the command has ended,
    so that it runs before the atexit hooks the command's imports added (TensorFlow's,
    deltalake's), which a signal would otherwise cut short with a traceback."""

    def ignore() -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, signal.SIG_IGN)

    atexit.register(ignore)


def _asks_completion(arg: str) -> bool:
    """``-sc``, ``--shell-completion`` or an abbreviation argparse takes (``--shell``)."""
    flag = arg.split("=", 1)[0]
    return flag == "-sc" or (len(flag) > 3 and "--shell-completion".startswith(flag))


def _terminate(signum: int, frame: object) -> None:
    # a second SIGTERM during the cleanup would interrupt it: the first one is being obeyed
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def run_command(command: str, overrides: list[str]) -> None:
    """Run one subcommand as a Hydra application over ``overrides``."""
    import hydra
    from hydra.errors import HydraException

    import marketcast.config  # registers the schemas and the run_id resolver
    from marketcast.atomic import LOCATION_FIXABLE, Unwritable
    from marketcast.config import check_environment, config_dir

    try:
        check_environment()  # the run folder's own location: before Hydra makes it
    except MarketcastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    config_name, check, job, _ = COMMANDS[command]
    _stopped_at.clear()  # commands run in one process (the tests)
    app = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=config_name)(
        user_errors(check, job)
    )
    sys.argv = [f"marketcast {command}", *overrides]
    if {"--help", "-h", "--hydra-help"} & set(overrides):
        _help_as_shown()
    # Hydra reports a config that does not compose in several lines and exits 1; with
    # HYDRA_FULL_ERROR it raises instead, and the error becomes one line and exit 2 here.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        app()
    except SystemExit as stop:  # a callback's refusal at the sweep's start: no bare folder
        if stop.code not in (None, 0):
            _remove_bare_sweep()
        raise
    except SweepStopped as stopped:
        print(f"error: {stopped}", file=sys.stderr)
        user_error = isinstance(stopped.error, MarketcastError)
        sys.exit(EXIT_USER_ERROR if user_error else EXIT_ERROR)
    except Exception as exc:
        if _worker_died(exc):  # loky's TerminatedWorkerError: 50 lines of traceback, exit 1
            summary = _summarise_stopped_sweep()
            codes = re.search(r"exit codes of the workers are \{(.*?)\}", str(exc))
            print(
                "error: a worker process of the joblib launcher died while it ran a job"
                + (f" (exit code {codes.group(1)})" if codes else "")
                + ": the system killed it (out of memory?) or it crashed, and joblib then "
                "stops every job, so the sweep stopped. "
                + (f"The jobs it left are summarised in {summary}; " if summary else "")
                + "run the jobs that did not finish in a new sweep, with fewer at once "
                "(hydra.launcher.n_jobs) if memory ran out.",
                file=sys.stderr,
            )
            sys.exit(EXIT_ERROR)
        if isinstance(exc, HydraException) and (ours := own_error(exc)) is not None:
            print(f"error: {ours}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        if isinstance(exc, HydraException):  # a missing group option is an OSError too
            schema = marketcast.config.JOB_SCHEMAS[f"{config_name}_schema"]
            message = _unknown_override(exc, schema) or composition_message(exc)
            if hint := _launcher_hint(message) or _package_hint(message) or _renamed(message):
                message = message.rstrip(".") + hint
        elif isinstance(exc, OSError):  # Hydra making the run directory (jobs say their own)
            if exc.errno not in LOCATION_FIXABLE:
                raise
            from marketcast.new_folders import recorded

            folder = recorded()  # Hydra's own files (a full disk) name no path
            refused = Unwritable(Path(exc.filename or folder or "."), exc)
            print(f"error: {refused} Runs go under paths.output_root.", file=sys.stderr)
            if folder is not None:  # what Hydra made of it: empty files, no run
                _remove_if_only(folder, (".hydra", "multirun.yaml"))
            sys.exit(EXIT_USER_ERROR)
        elif _no_slurm(exc):  # submitit's RuntimeError off a cluster: a traceback, exit 1
            launcher = next(
                (o for o in overrides if o.startswith("hydra/launcher=")), "hydra/launcher=slurm"
            )
            message = (
                f"{launcher} submits each job with SLURM, and this machine has no "
                "srun: run the sweep on the cluster's login node, or here with "
                "hydra/launcher=joblib or submitit_local"
            )
        elif (message := _unappliable_override(exc)) is None:
            raise
        print(
            f"error: {message} (marketcast {command} --help lists every key and group)",
            file=sys.stderr,
        )
        _remove_bare_sweep()
        sys.exit(EXIT_USER_ERROR)


def _help_as_shown() -> None:
    """Make Hydra's ``--help`` fill in only the placeholders its template shows. Hydra lists
    every config group twice (its own and the app's), copying the config repository some 90
    times, whatever the template: 2-4 s of predict's help, whose template shows neither
    list, and half of train's, which shows the app's only. Hydra 1.3's ``get_help``
    (hydra-core is pinned below 1.4); left as it is where that method is not there."""
    import string

    from hydra._internal.hydra import Hydra
    from omegaconf import OmegaConf

    if not hasattr(Hydra, "get_help"):
        return

    def get_help(self, help_cfg, cfg, args_parser, resolve: bool) -> str:
        template = string.Template(help_cfg.template)
        shown = set(template.get_identifiers())
        if shown & {"HYDRA_CONFIG_GROUPS", "APP_CONFIG_GROUPS"}:
            _one_repository(self.config_loader)
        fills = {
            "FLAGS_HELP": lambda: self.format_args_help(_without_completion(args_parser)),
            "HYDRA_CONFIG_GROUPS": lambda: self.format_config_groups(_is_hydra_group),
            "APP_CONFIG_GROUPS": lambda: self.format_config_groups(
                lambda group: not _is_hydra_group(group)
            ),
            "CONFIG": lambda: OmegaConf.to_yaml(cfg, resolve=resolve),
        }
        return template.substitute({name: fill() for name, fill in fills.items() if name in shown})

    Hydra.get_help = get_help


def _one_repository(loader: ConfigLoaderImpl) -> None:
    """Make ``loader`` answer the group listings of ``--help`` from one copy of the config
    repository: Hydra copies the whole repository for each of the 40-odd groups it lists
    (about 1 s of train's help). Built as Hydra builds each copy (no config name, no
    overrides: the search path, ``--config-dir`` included); any other question goes to
    Hydra's own method."""
    from hydra.core.object_type import ObjectType

    own = loader.get_group_options
    _, repository = loader._parse_overrides_and_create_caching_repo(None, [])

    def get_group_options(
        group_name: str,
        results_filter: ObjectType | None = ObjectType.CONFIG,
        config_name: str | None = None,
        overrides: list[str] | None = None,
    ) -> list[str]:
        if config_name is None and not overrides:
            return repository.get_group_options(group_name, results_filter)
        return own(group_name, results_filter, config_name, overrides)

    loader.get_group_options = get_group_options  # this process only prints the help


def _without_completion(parser: ArgumentParser) -> ArgumentParser:
    """Hydra's parser for its flags' help, less ``--shell-completion``: marketcast refuses it
    (``_asks_completion``), and --hydra-help told how to install it."""
    shown = copy.copy(parser)
    shown._actions = [a for a in parser._actions if "--shell-completion" not in a.option_strings]
    return shown


def _is_hydra_group(group: str) -> bool:
    return group.startswith("hydra/") or group == "hydra"


def _unappliable_override(exc: Exception) -> str | None:
    """An override that OmegaConf failed on while Hydra applied it, with an error Hydra does
    not wrap (a key below a section that is not chosen, or below a list): which, and why;
    None for an error raised anywhere else."""
    from omegaconf import ListConfig, OmegaConf

    frames = [f for f, _ in traceback.walk_tb(exc.__traceback__)]
    where = [f for f in frames if f.f_code.co_name == "_apply_overrides_to_config"]
    if not where or "override" not in where[-1].f_locals:
        return None
    override, cfg = where[-1].f_locals["override"], where[-1].f_locals.get("cfg")
    key = str(override.key_or_group)
    parent = key.rpartition(".")[0]
    if cfg is not None and parent:
        above = OmegaConf.select(cfg, parent, default=None)
        if above is None:
            group = f" (e.g. {parent.replace('.', '=')})" if parent.count(".") == 1 else ""
            return (
                f"cannot set {override.input_line}: {parent} is not set (null); choose it "
                f"first{group} or drop the override"
            )
        if isinstance(above, ListConfig):
            return (
                f"cannot set {override.input_line}: {parent} is a list; set it whole, "
                f"{parent}=[...]"
            )
    return f"cannot set {override.input_line} ({type(exc).__name__}: {exc})"


def _unknown_override(exc: Exception, schema: type) -> str | None:
    """Where Hydra could not override a key the schema lacks: which, and the key it is
    likely to be. (Hydra's own advice, to add it with ``+``, is refused by the checks.)"""
    import re

    from marketcast.config import unknown_key_message

    key = re.match(r"Could not override '([^']+)'", str(exc))
    if key is None or "not in" not in str(exc.__cause__ or ""):
        return None
    if key.group(1).startswith("search.space."):  # a search space's keys are free
        return (
            f"{key.group(1)} is not in the search space yet: add it with a leading +, "
            f"'+{key.group(1)}=...' (an override changes a key that is there)"
        )
    if key.group(1).startswith("hydra."):  # Hydra's own keys, under its schema
        from dataclasses import field, make_dataclass

        from hydra.conf import HydraConf

        schema = make_dataclass("Job", [("hydra", HydraConf, field(default_factory=HydraConf))])
    return unknown_key_message(key.group(1), schema)


def own_error(exc: BaseException) -> MarketcastError | None:
    """Our own message where one lies under Hydra's error (a callback's module refused to
    load: Optuna missing), as Hydra's "Error locating target" says nothing of why."""
    seen = set()
    chained = _chained(exc)
    while chained is not None and id(chained) not in seen:
        if isinstance(chained, MarketcastError):
            return chained
        seen.add(id(chained))
        chained = _chained(chained)
    return None


def _chained(exc: BaseException) -> BaseException | None:
    """The exception ``exc`` was raised from, or during (unless ``from None`` hid it)."""
    return exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


# hydra/launcher=NAME -> the extra whose plugin provides it
LAUNCHER_EXTRAS = {
    "joblib": "sweep",
    "ray": "ray",
    "ray_cluster": "ray",
    "slurm": "slurm",
    "submitit_slurm": "slurm",
    "submitit_local": "slurm",
}


def _launcher_hint(message: str) -> str:
    """'; install the ray launcher: pip install ...' where ``message`` says a launcher's
    config is missing (its plugin is not installed), else ''."""
    missing = re.search(r"Could not (?:find|load) 'hydra/launcher/(\w+)'", message)
    if not missing or missing.group(1) not in LAUNCHER_EXTRAS:
        return ""
    name = missing.group(1)
    return f"; the {name} launcher is a plugin: {install_command(LAUNCHER_EXTRAS[name])}"


# What a key or value of an earlier version is now (a user's crontab or notes keep the old)
_RENAMED = (
    (
        re.compile(r"Invalid value 'parquet'.*\(key store\.format\)"),
        "; the Parquet store of earlier versions became a Delta table: store.format=delta, "
        "the default",
    ),
    (
        re.compile(r"^hydra\.sweeper\.(n_trials|n_jobs|direction|study_name|storage) is not"),
        "; the Optuna search's settings are search.* (search.{0}=...): it runs one trial a "
        "job under Hydra's basic sweeper",
    ),
)


def _renamed(message: str) -> str:
    """'; it is now ...' where ``message`` refuses a key or value an earlier version took."""
    for pattern, hint in _RENAMED:
        if found := pattern.search(message):
            return hint.format(*found.groups())
    return ""


def _package_hint(message: str) -> str:
    """Where a group's file (one of ``--config-dir``) set keys of the whole config without
    saying so, Hydra placed them under the group ("Key 'hparams_search' not in ..."): the
    header it lacks, else ''."""
    group = re.search(r"In '(\w+)/[^']+': ConfigKeyError.*Key '(\w+)' not in", message)
    if not group or group.group(1) != group.group(2):
        return ""
    return (
        f"; a {group.group(1)}/ file that sets keys of the whole config (search.*, model.*) "
        "starts with the line '# @package _global_', as the shipped ones do"
    )


def _no_slurm(exc: Exception) -> bool:
    return isinstance(exc, RuntimeError) and 'Could not detect "srun"' in str(exc)


def composition_message(exc: Exception) -> str:
    """A Hydra / OmegaConf composition error in one line: what was wrong, and where."""
    parts = [" ".join(str(exc).split("Config search path")[0].split())]
    cause = exc.__cause__
    if cause is not None:
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        detail = lines[0] if lines else type(cause).__name__
        key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), "")
        parts.append(detail + (f" (key {key})" if key and key not in detail else ""))
        override = re.fullmatch(r"Error merging override ([\w.]+)=(\w+)", parts[0])
        if override and "is not a ListConfig, list or tuple" in detail:  # symbols=005380
            name, value = override.groups()  # one plain value: quoted ones are left alone
            parts[-1] = f"{parts[-1]}; a list is written in brackets, {name}=[{value}]"
    return ": ".join(parts)


def user_errors(check: str, job: str) -> Callable:
    """The Hydra task: check the config, import and run ``job``; turn user errors into exit 2.

    In a multirun any failed job is logged, recorded in its directory and scored +inf,
    and the sweep goes on (``marketcast.jobs.sweep``); with ``sweep.fail_fast=true`` the
    error is raised and stops the sweep. A job that returns a non-zero int (predict,
    fetch) exits with it.
    """

    def task(cfg):
        from marketcast import config

        finished_here.clear()  # this job's, not an earlier job's of the sweep or the process
        if _stopped_at and config.in_multirun():  # the basic launcher runs its batch on
            log.warning("not run: sweep.fail_fast stopped the sweep at %s", _stopped_at[0])
            return math.inf
        try:
            _named(check)(cfg)  # before the job's module (and Keras) is imported
            result = _named(job)(cfg)
        except Exception as exc:
            if config.in_multirun():
                from marketcast.jobs.sweep import record_failure

                score = record_failure(Path(cfg.paths.run_dir), exc)  # failed.json, the log
                if not _fail_fast(cfg):
                    finished_here.clear()  # a stop after this job is the sweep's, not its
                    return score
                _stopped_at.append(str(cfg.paths.run_dir))
                raise SweepStopped(str(cfg.paths.run_dir), exc) from exc
            if not isinstance(exc, MarketcastError):  # a bug: its traceback goes to the log
                log_bug(log, "unexpected error", exc)
                from marketcast.new_folders import restore

                if not finished_here:  # a folder that was there, unless the run is whole
                    restore(Path(cfg.paths.run_dir), logs=False)
                print(
                    f"error: unexpected {type(exc).__name__}: {first_line(exc)} (a bug, not "
                    f"your input: the traceback is in {_job_log()}; please report it)",
                    file=sys.stderr,
                )
                sys.exit(EXIT_ERROR)
            print(f"error: {exc}", file=sys.stderr)
            _remove_if_empty(Path(cfg.paths.run_dir))
            sys.exit(EXIT_USER_ERROR)
        if isinstance(result, int) and not isinstance(result, bool) and result:
            sys.exit(result)
        if config.in_multirun():  # a stop between jobs: "after the run was saved whole in
            finished_here.clear()  # job 0" named a run that was not the one stopped
        return result

    return task


# The job folder at which sweep.fail_fast stopped this process' sweep: Hydra's basic launcher
# runs the rest of its batch (every job, by default) before its sweeper hears of the stop, so
# those jobs return at once instead of training.
_stopped_at: list[str] = []


def _named(spec: str) -> Callable:
    """The function ``module:name`` names."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _job_log() -> str:
    """The job's log file (Hydra's job logging writes it in the run's output directory)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf.errors import MissingMandatoryValue

    if not HydraConfig.initialized():
        return "the log"
    hydra_cfg = HydraConfig.get()
    try:
        return str(Path(hydra_cfg.runtime.output_dir) / f"{hydra_cfg.job.name}.log")
    except MissingMandatoryValue:  # --help: no run, no log
        return "the log"


def _fail_fast(cfg) -> bool:
    """``sweep.fail_fast``; configs without a ``sweep`` section (predict) always raise."""
    return "sweep" not in cfg or cfg.sweep.fail_fast


def _worker_died(exc: BaseException) -> bool:
    """A process pool's worker died under the sweep (joblib's loky: TerminatedWorkerError,
    a BrokenProcessPool), found by name: joblib is imported only where it launches."""
    return any(t.__name__ == "TerminatedWorkerError" for t in type(exc).__mro__)


def _summarise_stopped_sweep() -> Path | None:
    """The summary of the sweep this command started, where it stopped before its end."""
    from marketcast.new_folders import started_sweep

    folder = started_sweep()
    if folder is None:
        return None
    from marketcast.jobs.sweep import summarise_stopped

    return summarise_stopped(folder)


def _remove_bare_sweep() -> None:
    """A sweep whose first job's config did not compose (``-m model=lstm,lsmt``) leaves its
    folder holding only Hydra's multirun.yaml: removed, as a failed run's folder is."""
    from marketcast.new_folders import started_sweep

    folder = started_sweep()
    if folder is not None:
        _remove_if_only(folder, ("multirun.yaml", ".hydra"))


def _remove_if_empty(run_dir: Path) -> None:
    """Remove ``run_dir`` if it holds only Hydra's ``.hydra/`` folder and log files."""
    _remove_if_only(run_dir, (".hydra",))


def _remove_if_only(folder: Path, names: tuple[str, ...]) -> None:
    """Remove ``folder`` if this command made it and it holds only ``names`` and log files,
    then its parent and grandparent (outputs/train/, outputs/) if this command made them and
    that left them empty (``new_folders``: a folder of the user's own is never removed)."""
    from marketcast.new_folders import made, restore

    if not folder.is_dir():
        return
    if not made(folder):
        restore(folder)  # a folder that was there: Hydra's files in it as they were
        return
    if all(p.name in names or p.suffix == ".log" for p in folder.iterdir()):
        logging.shutdown()  # release the log file before removing it
        shutil.rmtree(folder, ignore_errors=True)
        for parent in list(folder.absolute().parents)[:2]:
            if not made(parent):
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (other runs)
                break
