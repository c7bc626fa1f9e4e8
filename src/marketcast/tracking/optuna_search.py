"""Optuna hyperparameter search: each job of a Hydra multirun is one trial of one study.

``hparams_search=optuna`` makes a multirun of ``search.n_trials`` jobs (Hydra's basic
sweeper over ``search.trial=range(n)``), run by whichever launcher is configured (in
process, joblib, Ray, SLURM). Each job asks the shared study for a trial (Optuna's
ask-and-tell), sets the sampled values in its config, trains with an ``OptunaPruning``
callback, and tells the study the validation MASE, or that the trial was pruned or
failed. The job holds its own ``Trial``, so pruning needs nothing from the launching
process, and parallel jobs on any number of machines fill one study through its storage
(an Optuna journal file, or any RDB URL). Running the search again with the same study
name and storage adds trials to it. ``StudyReport``, a Hydra callback in the launching
process, creates the study before the first job and prints and saves the best
parameters and the parameter importances after the last.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marketcast.errors import EXIT_USER_ERROR, MarketcastError, install_command

try:
    import optuna
except ImportError:  # the CLI finds this message under Hydra's, which cannot load StudyReport
    raise MarketcastError(
        f"hparams_search=optuna needs Optuna, which is not installed: {install_command('sweep')}."
    ) from None
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, read_write
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from marketcast.atomic import atomic_write
from marketcast.config import check_search_keys, search_keys
from marketcast.runfiles import TRIAL_FILE, finished_here, run_score, saved_whole

log = logging.getLogger(__name__)

BEST_FILE = "optuna_best.yaml"  # in the sweep directory: best trial, importances, counts

Objective = Callable[[DictConfig, list], float]  # (config, Keras callbacks) -> score


@dataclass(frozen=True)
class Dimension:
    """One searched config key: its Optuna distribution, and the values behind its labels.

    Optuna's categorical choices must be None, bool, int, float or str; a choice that is
    a list (``features.columns``) is stored as its label (``[Close,Open]``) and mapped back.
    """

    distribution: BaseDistribution
    labels: Mapping[Any, Any] | None = None  # label -> config value; None: the value itself

    def value(self, sampled: Any) -> Any:
        return sampled if self.labels is None else self.labels[sampled]


def search_space(space: Mapping[str, Any]) -> dict[str, Dimension]:
    """``search.space`` (``config.search_keys``: {config key: Hydra sweep text}) ->
    ``{config key: Dimension}``.

    ``choice(a, b)`` is categorical; ``interval(lo, hi)`` a float range, an int range with
    ``tag(int, ...)``, log-scaled with ``tag(log, ...)``; ``range(start, stop[, step])``
    integers (or floats) on a grid, ``stop`` excluded as in Hydra.
    """
    space = search_keys(space)
    if not space:
        raise MarketcastError(
            "search.space is empty: give at least one key, e.g. "
            "search.space.model.units='choice(16, 32, 64)'."
        )
    parser = OverridesParser.create()
    dims = {}
    for key, text in space.items():
        try:
            override = parser.parse_override(f"{key}={text}")
        except HydraException as exc:
            raise MarketcastError(
                f"search.space.{key}={text!r} is not Hydra sweep syntax: {exc}"
            ) from None
        try:
            dims[key] = _dimension(key, text, override.value())
        except ValueError as exc:  # Optuna's own check: interval(1, 0), a log range from 0
            raise MarketcastError(f"search.space.{key}={text!r}: {exc}") from None
    return dims


def _dimension(key: str, text: str, sweep: Any) -> Dimension:
    tags = getattr(sweep, "tags", set())
    if isinstance(sweep, ChoiceSweep):
        values = list(sweep.list)
        labels = {_label(v): v for v in values}
        plain = all(_label(v) is v for v in values)
        return Dimension(CategoricalDistribution(list(labels)), None if plain else labels)
    if isinstance(sweep, IntervalSweep):
        log_scale = "log" in tags
        if "int" in tags:
            return Dimension(IntDistribution(int(sweep.start), int(sweep.end), log=log_scale))
        return Dimension(FloatDistribution(float(sweep.start), float(sweep.end), log=log_scale))
    if isinstance(sweep, RangeSweep):
        start, stop, step = sweep.start, sweep.stop, sweep.step
        if all(isinstance(v, int) for v in (start, stop, step)):
            last = start + step * ((stop - 1 - start) // step)  # Hydra's range excludes stop
            return Dimension(IntDistribution(start, last, step=step))
        last = start + step * math.floor((stop - start) / step - 1e-9)
        return Dimension(FloatDistribution(float(start), float(last), step=float(step)))
    raise MarketcastError(
        f"search.space.{key}={text!r} is one value, not a range: use choice(...), "
        "interval(lo, hi) or range(start, stop), or set the key as a plain override."
    )


def _label(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return override_text(value)


def override_text(value: Any) -> str:
    """A config value as Hydra override text: ``[Close,Open]``, ``0.001``, ``null``."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_text(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def open_storage(storage: str) -> optuna.storages.BaseStorage:
    """An RDB URL (``sqlite:///F``, ``postgresql://...``) as it is; a path: a journal file.

    The journal file (``JournalFileBackend``) takes a lock for each write, so parallel
    jobs on one machine, or on several sharing it over NFS, append to one study.
    """
    if "://" in storage:
        return optuna.storages.RDBStorage(storage)
    from optuna.storages.journal import JournalFileBackend

    path = Path(storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def make_sampler(sampler: Any, stream: int = 0) -> optuna.samplers.BaseSampler:
    """``sampler`` (``SamplerConfig``); ``stream`` makes each job's random draws its own.

    Every job builds a fresh sampler and asks it once: with one seed for all, each job
    would draw the same random start-up trial.
    """
    seed = None
    if sampler.seed is not None:
        seed = int(np.random.SeedSequence([sampler.seed, stream]).generate_state(1)[0])
    if sampler.name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=sampler.n_startup_trials, constant_liar=True
        )
    if sampler.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise MarketcastError(f"search.sampler.name={sampler.name!r} is not known: use tpe or random.")


def make_pruner(pruner: Any) -> optuna.pruners.BasePruner:
    if pruner.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=pruner.n_startup_trials, n_warmup_steps=pruner.n_warmup_steps
        )
    if pruner.name == "percentile":
        return optuna.pruners.PercentilePruner(
            pruner.percentile,
            n_startup_trials=pruner.n_startup_trials,
            n_warmup_steps=pruner.n_warmup_steps,
        )
    if pruner.name == "threshold":
        if pruner.upper is None:
            raise MarketcastError(
                "search.pruner.name=threshold needs search.pruner.upper (prune above it)."
            )
        return optuna.pruners.ThresholdPruner(
            upper=pruner.upper, n_warmup_steps=pruner.n_warmup_steps
        )
    if pruner.name == "none":
        return optuna.pruners.NopPruner()
    raise MarketcastError(
        f"search.pruner.name={pruner.name!r} is not known: use median, percentile, "
        "threshold or none."
    )


def open_study(search: Any, stream: int = 0) -> optuna.Study:
    """The study ``search.study_name`` in ``search.storage``, created if it is new."""
    if search.direction not in ("minimize", "maximize"):
        raise MarketcastError(f"search.direction={search.direction!r}: use minimize or maximize.")
    return optuna.create_study(
        study_name=search.study_name,
        storage=open_storage(search.storage),
        direction=search.direction,
        sampler=make_sampler(search.sampler, stream),
        pruner=make_pruner(search.pruner),
        load_if_exists=True,  # parallel jobs and later searches join the same study
    )


def run_trial(cfg: DictConfig, objective: Objective, run_dir: Path) -> float:
    """Run this job as one trial of ``cfg.search``'s study; return its score (the network's
    validation MASE, ``runfiles.run_score``).

    ``objective(cfg, callbacks)`` trains with the sampled values in ``cfg`` and
    ``callbacks`` passed to every fit, and returns the value to minimise. A pruned trial
    returns +inf (the sweep goes on); a failed one is told to the study and re-raised.
    ``run_dir/optuna_trial.json`` records the trial either way.
    """
    search = cfg.search
    dims = search_space(search.space)
    study = open_study(search, stream=_stream(study_size(search), search.trial))
    _check_same_scoring(study, search, scored_on(cfg, dims))
    _check_same_choices(study, search, dims)
    trial = study.ask({key: dim.distribution for key, dim in dims.items()})
    values = {key: dim.value(trial.params[key]) for key, dim in dims.items()}
    with read_write(cfg):
        for key, value in values.items():
            if OmegaConf.select(cfg, key, default=_MISSING) is _MISSING:
                study.tell(trial, state=TrialState.FAIL)
                raise MarketcastError(
                    f"search.space.{key} is not a key of the training config: "
                    "correct it (marketcast train --cfg job lists the keys)."
                )
            OmegaConf.update(cfg, key, value, merge=False)
    trial.set_user_attr("run_dir", str(run_dir))
    log.info("trial %d of study %s: %s", trial.number, study.study_name, _overrides(values))
    began = len(finished_here)
    try:
        from marketcast.tracking.pruning import OptunaPruning  # Keras: only in a job

        value = float(objective(cfg, [OptunaPruning(trial, str(search.monitor))]))
    except optuna.TrialPruned as exc:
        log.info("%s", exc)
        study.tell(trial, state=TrialState.PRUNED)
        _record(run_dir, study, trial.number, "PRUNED", None, values)
        return math.inf
    except BaseException:
        if (saved := saved_whole(run_dir, began)) is not None:  # cut off after it was saved
            _told(run_dir, study, trial, run_score(saved), values)
        else:
            study.tell(trial, state=TrialState.FAIL)
            _record(run_dir, study, trial.number, "FAIL", None, values)
        raise
    return _told(run_dir, study, trial, value, values)


def _told(run_dir: Path, study, trial, value: float, values: dict) -> float:
    """Tell the study a trial's ``value`` (NaN: failed) and record it with the run."""
    state = TrialState.FAIL if math.isnan(value) else TrialState.COMPLETE
    study.tell(trial, None if state == TrialState.FAIL else value, state=state)
    _record(run_dir, study, trial.number, state.name, value, values)
    return value


_MISSING = object()

# What a trial's value depends on besides the searched keys: the series, the horizon, the
# target, the segments it is validated on and how. A study's trials must agree on these.
SCORED_ON = (
    "data.source",
    "data.path",
    "data.symbol",
    "data.symbols",
    "data.universe_file",
    "data.start",
    "data.end",
    "window.horizon",
    "features.target",
    "split",
    "evaluation.mode",
    "evaluation.backtest",
)
# What a trial's value is (runfiles.run_score). Studies made before it was recorded hold
# the published forecast's validation MASE, which does not compare.
OBJECTIVE = "the network's validation MASE"
_SCORED_ON_ATTR = "marketcast.scored_on"


def scored_on(cfg: DictConfig, dims: Mapping[str, Dimension]) -> dict[str, Any]:
    """What ``cfg``'s trials are scored on: ``OBJECTIVE`` and the ``SCORED_ON`` keys that
    are set and not searched (a CSV path made absolute), as plain values."""
    found: dict[str, Any] = {"objective": OBJECTIVE}
    for key in SCORED_ON:
        value = OmegaConf.select(cfg, key, default=None)
        if value is None or any(k == key or k.startswith(f"{key}.") for k in dims):
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True, enum_to_str=True)
            if isinstance(value, dict):  # data.symbols is a list: nothing under it to search
                value = {k: v for k, v in value.items() if f"{key}.{k}" not in dims}
        elif key in ("data.path", "data.universe_file"):
            value = str(Path(str(value)).expanduser().resolve())
        found[key] = value if isinstance(value, dict | list) else str(value)
    return found


def check_space(cfg: DictConfig, dims: Mapping[str, Dimension]) -> None:
    """That every searched key is a key of ``cfg`` and takes each value the space may give
    it (a choice of text for a number failed every job of the search, one after another)."""
    check_search_keys(cfg, dims)
    trial = copy.deepcopy(cfg)  # the config itself keeps its values
    for key, dim in dims.items():
        for value in _extremes(dim):
            try:
                with read_write(trial):
                    OmegaConf.update(trial, key, value, merge=False)
            except Exception as exc:  # OmegaConf's ValidationError: the type does not fit
                said = str(exc).splitlines()[0]
                raise MarketcastError(
                    f"search.space.{key} gives {override_text(value)}, which {key} cannot "
                    f"take: {said}"
                ) from None


def check_overrides(overrides: list[str], space: Any, dims: Mapping[str, Dimension]) -> None:
    """That the command line neither sets a key the search sets in every trial (the value
    was dropped without a word; a sweep of it ran the search once per value, dropping each)
    nor gives a ``search.space`` key unquoted sweep grammar (Hydra swept it: a search per
    value, each job failing on a single value)."""
    parser = OverridesParser.create()
    for override in parser.parse_overrides(overrides):
        key = override.key_or_group
        typed, _, value = override.input_line.partition("=")  # "+search.space.x" as typed
        if key.startswith("search.space.") and override.is_sweep_override():
            quoted = f"'{typed}=\"{value}\"'" if "'" in value else f"\"{typed}='{value}'\""
            raise MarketcastError(
                f"{override.input_line}: Hydra reads the unquoted {value} as a sweep, and would "
                f"run the search once for each value: quote it, {quoted}."
            )
        if key in dims:
            shown = OmegaConf.select(space, key)
            raise MarketcastError(
                f"{override.input_line}: {key} is searched (search.space.{key}: {shown}), so "
                f"each trial would set its own value instead: leave it out, narrow the space "
                f"(\"search.space.{key}='choice(...)'\"), or take {key} out of the search "
                f"(search.space.{key}=null)."
            )


def _extremes(dim: Dimension) -> list[Any]:
    """The config values a dimension may give: every choice, or a range's two ends."""
    dist = dim.distribution
    if isinstance(dist, CategoricalDistribution):
        return [dim.value(choice) for choice in dist.choices]
    return [dist.low, dist.high]


def _check_same_choices(study: optuna.Study, search: Any, dims: Mapping[str, Dimension]) -> None:
    """A key the study searched over other choices is refused before a trial is asked for:
    Optuna cannot change a categorical key's values within a study ("CategoricalDistribution
    does not support dynamic value space", every job failed, exit 1)."""
    for trial in study.get_trials(deepcopy=False):
        for key, theirs in trial.distributions.items():
            mine = dims[key].distribution if key in dims else None
            if isinstance(theirs, CategoricalDistribution) and mine is not None and mine != theirs:
                raise MarketcastError(
                    f"the Optuna study {search.study_name!r} in {search.storage} searched "
                    f"{key} over {list(theirs.choices)}; this search gives it "
                    f"{list(getattr(mine, 'choices', [mine]))}, and a study cannot change a "
                    "choice's values: name another study (search.study_name=...), or keep "
                    "the choices."
                )


def _check_same_scoring(study: optuna.Study, search: Any, mine: dict[str, Any]) -> None:
    """The study records what its trials are scored on; a search on other data or another
    horizon, or a study of trials made before the record, is refused before it asks for a
    trial (TPE would model them as one). While every trial of the study failed the record
    follows the latest search: a search whose every trial failed (a mistyped data.path)
    scored nothing, and refused the corrected search. A trial still running counts as
    scored (two searches started together must not share a study)."""
    theirs = study.user_attrs.get(_SCORED_ON_ATTR)
    where = f"the Optuna study {search.study_name!r} in {search.storage}"
    # a trial still running counts: another search's trial under way is scored on its data
    scored = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.FAIL]
    if not scored and theirs != mine:  # failed trials only (a typo'd path): none scored
        if theirs is not None:
            log.info("%s: no trial of it was scored; it is scored as this search is now", where)
        study.set_user_attr(_SCORED_ON_ATTR, mine)
        return
    if theirs is None:
        raise MarketcastError(
            f"{where} holds trials from before marketcast recorded what a trial is scored "
            f"on (they scored the published forecast; trials now score {OBJECTIVE}): name "
            "a new study (search.study_name=...)."
        )
    differ = [k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)]
    if differ:
        key = sorted(differ)[0]

        def said(value):
            return "(searched or unset)" if value is None else repr(value)

        raise MarketcastError(
            f"{where} holds trials scored with {key}={said(theirs.get(key))}; this search "
            f"has {key}={said(mine.get(key))}, so their values do not compare. Name another "
            "study (search.study_name=...) or search the same setting."
        )


def load_study(search: Any) -> optuna.Study:
    """The existing study ``search.study_name`` (``KeyError`` if there is none)."""
    return optuna.load_study(study_name=search.study_name, storage=open_storage(search.storage))


def study_size(search: Any) -> int:
    """Trials already in the study (0 if it does not exist yet)."""
    try:
        study = load_study(search)
    except KeyError:
        return 0
    return len(study.get_trials(deepcopy=False))


def _stream(existing: int, job: int | None) -> int:
    # (existing trials, job index) differs between any two jobs of one search, and
    # between searches that resume a study: every job gets its own random stream.
    return existing * 1_000_003 + (job or 0)


def _record(run_dir: Path, study: optuna.Study, number: int, state: str, value, params) -> None:
    record = {
        "study": study.study_name,
        "number": number,
        "state": state,
        "value": value,
        "params": {k: override_text(v) for k, v in params.items()},
    }
    text = json.dumps(record, indent=2) + "\n"
    atomic_write(Path(run_dir) / TRIAL_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _overrides(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={override_text(v)}" for k, v in values.items())


def study_summary(study: optuna.Study, dims: Mapping[str, Dimension] | None = None) -> dict:
    """Trial counts by state, the best trial (values, and as overrides), the importances.

    Importances (``optuna.importance.get_param_importances``, fANOVA) need two or more
    finished trials whose values differ; otherwise ``importances`` is empty and
    ``importance_note`` says why.
    """
    trials = study.get_trials(deepcopy=False)
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    summary: dict[str, Any] = {
        "study": study.study_name,
        "direction": study.direction.name.lower(),
        "trials": {k: v for k, v in counts.items() if v},
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        summary["best"] = None
        return summary
    best = study.best_trial
    params = {k: dims[k].value(v) if dims and k in dims else v for k, v in best.params.items()}
    summary["best"] = {
        "number": best.number,
        "value": float(best.value),
        "params": params,
        "overrides": [f"{k}={override_text(v)}" for k, v in params.items()],  # full precision
        "run_dir": best.user_attrs.get("run_dir"),
    }
    values = np.array([t.value for t in complete], dtype=float)
    flat = np.ptp(values) <= 1e-6 * max(1.0, float(np.abs(values).max()))  # thread-order noise
    if len(complete) < 2 or flat:  # importances of a flat objective are noise
        summary["importances"] = {}
        summary["importance_note"] = (
            "fewer than two finished trials"
            if len(complete) < 2
            else "every finished trial has the same value"
        )
        return summary
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # Optuna 5: PED-ANOVA
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
        summary["importances"] = {k: float(v) for k, v in importances.items()}
    except (RuntimeError, ValueError) as exc:
        summary["importances"] = {}
        summary["importance_note"] = str(exc)
    return summary


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as plain text (no colour codes), numbers to 4 significant digits."""
    counts = ", ".join(f"{n} {s.lower()}" for s, n in summary["trials"].items())
    lines = [f"optuna study {summary['study']}: {counts or 'no trials'}"]
    best = summary.get("best")
    if best is None:
        lines.append("no finished trial yet")
        return "\n".join(lines)
    lines.append(f"best trial {best['number']}: the network's validation MASE {best['value']:.4g}")
    lines.append("  " + " ".join(f"{k}={_short(v)}" for k, v in best["params"].items()))
    if best.get("run_dir"):
        lines.append(f"  run directory: {best['run_dir']}")
    importances = summary.get("importances") or {}
    if importances:
        width = max(len(k) for k in importances)
        lines.append("parameter importances (fANOVA):")
        lines.extend(f"  {k:<{width}}  {v:.4g}" for k, v in importances.items())
    elif summary.get("importance_note"):
        lines.append(f"parameter importances: none ({summary['importance_note']})")
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else override_text(value)


def write_summary(summary: Mapping[str, Any], path: Path) -> None:
    text = OmegaConf.to_yaml(OmegaConf.create(dict(summary)))
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class StudyReport(Callback):
    """Hydra callback (``conf/hparams_search/optuna.yaml``) around an Optuna multirun.

    ``on_multirun_start`` checks the search space and creates the study, so a bad space
    or storage stops the search before any job; ``on_multirun_end`` prints the best
    trial and the importances and writes them to ``<sweep dir>/optuna_best.yaml``.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:  # Hydra only warns of a callback's exception: every job would fail alike
            if config.search.n_trials < 1:  # range(0): a search of no job, exit 0
                raise MarketcastError(
                    f"search.n_trials={config.search.n_trials} must be at least 1: it is the "
                    "number of trials this search adds to the study."
                )
            dims = search_space(config.search.space)
            check_overrides(list(config.hydra.overrides.task), config.search.space, dims)
            check_space(config, dims)
            study = open_study(config.search)
            _check_same_choices(study, config.search, dims)
        except MarketcastError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        log.info(
            "optuna study %s in %s: %d trials so far",
            study.study_name,
            config.search.storage,
            len(study.get_trials(deepcopy=False)),
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        search = config.search
        study = load_study(search)
        summary = study_summary(study, search_space(search.space))
        path = Path(config.hydra.sweep.dir) / BEST_FILE
        write_summary(summary, path)
        print(format_summary(summary))
        print(f"optuna summary: {path}")
