"""Which finished run forecasts each symbol: predict's runs, loaded and ranked.

``run_dir`` names one finished run or a directory holding several (a sweep); by
default the newest finished run under ``paths.output_root``. Each symbol gets the
run of it that ranks best (``rank``); a sweep's run damaged since it finished is
skipped with a warning and its symbols reported (a global run may forecast them
still), and a label that runs trained on two CSV files share is forecast by neither.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from marketcast.data.symbols import canonical_symbol
from marketcast.errors import MarketcastError, log_to_files
from marketcast.evaluation.combination import Weights
from marketcast.progress import counted, listed
from marketcast.runfiles import (
    CONFIG_FILE,
    DONE_FILE,
    FAILED_FILE,
    METRICS_FILE,
    PREPROCESSING_FILE,
    is_finished_run,
    latest_run,
    marked_runs,
    no_run_in_sweep,
    run_score,
    sweep_jobs,
    was_pruned,
)
from marketcast.storage import artifacts

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per run directory
class Run:
    """A finished training run, loaded."""

    run_dir: Path
    model: object
    prep: artifacts.Preprocessing

    @property
    def symbols(self) -> list[str]:
        """The symbols the run was trained on (``run_symbols``)."""
        return run_symbols(self.prep.data)

    @property
    def source(self) -> str | None:
        """A CSV run's file (links resolved), else None: two files may give runs one label."""
        data = self.prep.data
        if data.get("symbols") or data.get("source") == "fdr" or not data.get("path"):
            return None
        return os.path.realpath(Path(str(data["path"])).expanduser())

    @property
    def weights(self) -> Weights | None:
        """The published combination; None: the raw LSTM."""
        state = self.prep.combination
        return Weights.from_dict(state) if state else None

    @property
    def peer_states(self) -> dict[str, dict]:
        """Each symbol's peers as the run fitted them, for predict to go on from
        (``peers.ets_state``); empty for a run saved before they were kept."""
        return (self.prep.combination or {}).get("peers", {})

    @property
    def is_global(self) -> bool:
        return bool(self.prep.data.get("symbols"))


def run_symbols(data: dict) -> list[str]:
    """The symbols a run with the saved data config ``data`` was trained on (a global
    model's whole universe): a FinanceDataReader symbol in its canonical spelling (whatever
    was typed at training), a CSV run's label as it was named (the store's key is its
    canonical spelling: ``predict.requested_symbols``)."""
    if data.get("symbols"):
        return [canonical_symbol(s) for s in data["symbols"]]
    if data.get("source") == "fdr" and data.get("symbol"):
        return [canonical_symbol(data["symbol"])]
    return [str(data.get("symbol") or Path(data.get("path") or "").stem)]


@dataclass
class Runs:
    """What predict forecasts with: symbol (canonical) -> its run; symbol (as its run names
    it) -> why it has none: its run is damaged (``damaged``; a global run may forecast it
    still), or two CSV files give runs its label (``clashes``); and the damaged runs whose
    symbols cannot be read (``unreadable``: run directory -> why)."""

    by_symbol: dict[str, Run]
    damaged: dict[str, str] = field(default_factory=dict)
    clashes: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def resolve_runs(cfg: DictConfig) -> Runs:
    """Which run forecasts each symbol.

    ``run_dir`` is a finished run, or a directory holding several (a sweep):
    then each symbol gets its own run, the best by ``rank`` (the published forecast's
    validation MASE, then the network's) where a sweep trained several for it. Default:
    the newest finished run.
    A run of a sweep damaged since it finished is skipped with a warning (``Runs.damaged``),
    and a label that runs trained on two CSV files share is forecast by neither
    (``Runs.clashes``).
    """
    unfinished: list[str] = []
    if cfg.run_dir is None:
        paths = [latest_run(Path(cfg.paths.output_root).resolve())]
    else:
        root = Path(cfg.run_dir).resolve()  # the store records it: absolute, not as typed
        paths = [root] if is_finished_run(root) else marked_runs(root)
        if not paths:
            if (refused := no_run_in_sweep(root)) is not None:  # every job failed or cut off
                raise refused
            artifacts.load_run(root)  # raises the "no finished run" message
        unfinished = unfinished_jobs(root) if paths != [root] else []
    by_symbol: dict[str, tuple[tuple[float, float], Run]] = {}
    rivals: dict[str, int] = defaultdict(int)  # symbol -> how many runs trained it
    runs = Runs({})
    sources: dict[str, dict[str, tuple[Path, str]]] = defaultdict(dict)  # key -> file -> run
    damaged = []
    for path in paths:
        try:
            model, prep = artifacts.load_run(path)
        except MarketcastError as exc:
            if len(paths) == 1:
                raise
            # one damaged run of a sweep must not stop the night: its symbols fall to the
            # others, or are reported as not forecast
            log.warning("%s: skipped: %s", path, exc)
            damaged.append(exc)
            symbols = saved_symbols(path)
            for symbol in symbols:
                runs.damaged.setdefault(symbol, f"its run {path} is damaged: {exc}")
            if not symbols:
                runs.unreadable[str(path)] = f"a damaged run whose symbols cannot be read: {exc}"
            continue
        run = Run(path, model, prep)
        score = rank(path)
        for name in run.symbols:
            symbol = canonical_symbol(name)  # the store's key
            if run.source is not None:
                sources[symbol].setdefault(run.source, (path, name))
            rivals[symbol] += 1
            if symbol not in by_symbol or score < by_symbol[symbol][0]:
                by_symbol[symbol] = (score, run)
    if damaged and not by_symbol:
        raise damaged[0]
    if unfinished:  # (run_dir is a sweep) taken as if the sweep were whole, unsaid
        log.warning(
            "run_dir=%s: %s did not finish (%s %s: interrupted, killed, not run, or still "
            "running); forecasting with the best of the %s",
            root, counted(len(unfinished), "sweep job"),
            "folder" if len(unfinished) == 1 else "folders", listed(unfinished),
            counted(len(paths) - len(damaged), "finished run"),
        )  # fmt: skip
    for symbol, files in sources.items():
        if len(files) > 1:  # one store key for two series: neither may be published under it
            by_symbol.pop(symbol, None)
            name = next(iter(files.values()))[1]
            runs.clashes[name] = (
                "runs trained on different files share this label: "
                + "; ".join(f"{file} ({run})" for file, (run, _) in files.items())
                + ". Name each at training: data.symbol=NAME."
            )
    runs.by_symbol = {symbol: run for symbol, (_, run) in by_symbol.items()}
    if len(paths) > 1:
        _say_choices(root, by_symbol, rivals)
    runs.damaged = {
        s: why for s, why in runs.damaged.items() if canonical_symbol(s) not in runs.by_symbol
    }
    return runs


SAID_CHOICES = 10  # runs of a sweep named on the console, one line each; more: in one line


def _say_choices(
    root: Path, by_symbol: dict[str, tuple[tuple[float, float], Run]], rivals: dict[str, int]
) -> None:
    """Which run of a sweep forecasts which symbols, and why: one line per chosen run, in
    the job's log file alone past ``SAID_CHOICES`` of them (a sweep of a run per symbol of
    a universe), with one line for all."""
    chosen: dict[Path, list[str]] = defaultdict(list)
    for symbol, (_, run) in by_symbol.items():
        chosen[run.run_dir].append(symbol)
    many = len(chosen) > SAID_CHOICES
    if many:
        log.info(
            "run_dir=%s: %s of its runs forecast the %s, each the best of the runs that "
            "trained it by the published forecast's validation MASE, then the network's "
            "(which forecasts which: the job's log file)",
            root, len(chosen), counted(len(by_symbol), "symbol"),
        )  # fmt: skip
    for path, symbols in chosen.items():
        published, network = by_symbol[symbols[0]][0]
        counts = {rivals[s] for s in symbols}
        most = max(counts)
        if most == 1:
            why = f"the only run that trained {'it' if len(symbols) == 1 else 'them'}"
        elif not math.isfinite(published):
            why = f"the first of {most} runs, none of whose metrics could be read"
        else:
            best = f"the best of {'up to ' if len(counts) > 1 else ''}{most} runs"
            why = (
                f"{best} by the published forecast's validation MASE, {published:.4f}, "
                f"then the network's, {network:.4f}"
            )
        job = path.relative_to(root).as_posix()
        said = f"run_dir={root}: {job} forecasts {listed(symbols)}: {why}"
        if many:
            log_to_files(log, said)
        else:
            log.info("%s", said)


def unfinished_jobs(root: Path) -> list[str]:
    """The jobs of the sweeps under ``root`` (folders of Hydra's multirun, beside its
    ``multirun.yaml``) that hold neither a run nor a failure or pruning record: interrupted,
    killed, not run (``sweep.fail_fast``), or still running."""
    return [
        job.relative_to(root).as_posix()
        for job in sweep_jobs(root)
        if not any((job / name).exists() for name in (DONE_FILE, FAILED_FILE))
        and not was_pruned(job)
    ]


def saved_symbols(run_dir: Path) -> list[str]:
    """The symbols of a damaged run, where its preprocessing file or its config says them."""
    try:
        return run_symbols(json.loads((run_dir / PREPROCESSING_FILE).read_text())["data"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    try:
        return run_symbols(dict(OmegaConf.load(run_dir / CONFIG_FILE)["data"]))
    except Exception:  # a damaged file may fail to parse in any way
        return []


def distinct(runs: Runs) -> list[Run]:
    return list(dict.fromkeys(runs.by_symbol.values()))


def run_for(symbol: str, runs: Runs) -> Run:
    key = canonical_symbol(symbol)
    if key in runs.by_symbol:
        return runs.by_symbol[key]
    clashes = {canonical_symbol(s): why for s, why in runs.clashes.items()}
    if key in clashes:
        raise MarketcastError(clashes[key])
    global_runs = [run for run in distinct(runs) if run.is_global]
    if global_runs:  # a global model forecasts symbols it was not trained on, too
        return global_runs[0]
    damaged = {canonical_symbol(s): why for s, why in runs.damaged.items()}
    if key in damaged:
        raise MarketcastError(damaged[key])
    covered = sorted(s for run in distinct(runs) for s in run.symbols)
    raise MarketcastError(
        f"no run forecasts {symbol}: the runs cover {', '.join(covered) or 'nothing'}. "
        "Train one (marketcast train data=fdr data.symbol=SYMBOL, or data=csv "
        "data.path=FILE) or a global model."
    )


def rank(run_dir: Path) -> tuple[float, float]:
    """How a sweep's runs of one symbol rank for publishing: the published forecast's
    validation MASE, then (where those tie: persistence in both) the network's
    (``run_score``); +inf where the metrics cannot be read."""
    try:
        metrics = json.loads((run_dir / METRICS_FILE).read_text())
        return float(metrics["val"]["model"]["mase"]), run_score(metrics)
    except (OSError, KeyError, TypeError, ValueError):
        return float("inf"), float("inf")
