"""How the search-efficiency suite runs one search: a seeded replay of a landscape's learning curves, one trial at a time.

Every trial at a point reports the curve the landscape draws for (search seed, point, visit), one
evaluation at a time, and a stopped trial has spent only the steps it reported. A search ends at the
first report past its step budget.

- Product arms, :func:`replay_optuna`: the product's sampler and pruner (``make_sampler`` /
  ``make_pruner`` of a sweep spec, so ``pruner.calibrate`` wraps the pruner in the product's
  ``CalibratedPruner``; a ``curve`` section, which specs do not offer yet, builds the learning-curve
  pruner from its options, an ``oracle`` one the pruner that knows the truth) and the spec's space (``SearchSpace.sample``) on a plain Optuna study, asked
  and told in this process as the Ray bridge does (report each value, ask ``should_prune``, tell
  PRUNED or COMPLETE; the next trial asked when the current one starts, as Ray's controller asks). Ray Tune would cost seconds per search on top; :func:`run_search` with
  ``arm="weightsearch"`` runs the same arm through the real bridge and pruning scheduler (the tests
  check both give the same trials).
- Ray arms, :func:`run_search`: Ray's ``OptunaSearch`` (same TPE settings) alone or with Ray's
  ``ASHAScheduler``, in a local Ray Tune.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ray.tune.stopper import Stopper

from benchmarks.landscapes import Landscape, Point, point_of

METRIC = "val/action/mse"
TPE_OPTIONS = {"n_startup_trials": 5}
CURVE = "curve"  # the learning-curve pruner's section name (benchmarks/curve_pruner.py)
ORACLE = "oracle"  # the pruner that knows the landscape's truth (benchmarks/oracle_pruner.py)
RAY_ARMS = ("OptunaSearch", "OptunaSearch + ASHA (Ray defaults)", "OptunaSearch + ASHA (grace ½)")


def spec_for(landscape: Landscape, seed: int, pruner: dict[str, Any], storage: Path | None = None) -> Any:
    """The sweep spec of a product arm over ``landscape`` (the same one the Ray bridge arm and the plain replay read)."""
    from weightsearch.config import SweepSpec

    data: dict[str, Any] = {
        "name": f"replay_{seed}",
        "objective": {"metric": METRIC, "mode": "min"},
        "trial": {"steps": landscape.steps[-1], "eval_every": landscape.steps[0]},
        "space": {"parameters": landscape.parameters()},
        "sampler": {"name": "tpe", "seed": seed, "options": TPE_OPTIONS},
        "pruner": pruner,
        "budget": {"num_samples": 1},  # unused: the step budget stops the search
    }
    if storage is not None:
        data["storage"] = {"path": str(storage)}
    return SweepSpec.model_validate(data)


def replay_optuna(landscape: Landscape, pruner: dict[str, Any], seed: int, budget: int) -> list[dict[str, Any]]:
    """One product search on a plain Optuna study (see the module docstring); its trials in order: point, observed."""
    import optuna

    from weightsearch.search.optuna_factory import make_pruner, make_sampler

    # The benchmark's own pruners are not spec ones: the spec samples, the section's options build them.
    if pruner["name"] == CURVE:
        from benchmarks.curve_pruner import CurvePruner

        spec = spec_for(landscape, seed, {"name": "none"})
        study_pruner = CurvePruner(**pruner.get("options", {}))
    elif pruner["name"] == ORACLE:
        from benchmarks.oracle_pruner import OraclePruner

        spec = spec_for(landscape, seed, {"name": "none"})
        study_pruner = OraclePruner(landscape, **pruner["options"])
    else:
        spec = spec_for(landscape, seed, pruner)
        study_pruner = make_pruner(spec)
    study = optuna.create_study(direction="minimize", sampler=make_sampler(spec), pruner=study_pruner)
    visits: dict[Point, int] = defaultdict(int)
    trials: list[dict[str, Any]] = []
    spent = 0

    def ask() -> tuple[Any, Point]:
        trial = study.ask()
        return trial, point_of(spec.space.sample(trial))

    current = ask()
    while spent < budget:
        # Ray's controller asks the searcher for the next trial as soon as the current one starts (it
        # then waits for the CPUs): the next point is sampled before the current trial's results.
        following = ask()
        trial, point = current
        curve = landscape.curve(point, f"{seed}/{point}/{visits[point]}")
        visits[point] += 1
        observed: list[float] = []
        state: Any = optuna.trial.TrialState.COMPLETE
        for step, value in zip(landscape.steps, curve):
            observed.append(value)
            spent += landscape.steps[0]
            if spent >= budget and step != landscape.steps[-1]:
                state = None  # the budget ran out mid-trial: it never finishes
                break
            trial.report(value, step)
            if trial.should_prune():  # at every step, the last one too, as the bridge asks
                state = optuna.trial.TrialState.PRUNED
                break
        if state is not None:
            study.tell(trial, observed[-1] if state == optuna.trial.TrialState.COMPLETE else None, state=state)
        trials.append({"cell": list(point), "observed": observed})
        current = following
    return trials


def replay_trainable(config: dict[str, Any], landscape: Landscape, search_seed: int, visits: Any) -> None:
    """Report the landscape's curve for this trial's point, one evaluation at a time (the Ray arms' trainable)."""
    import ray
    from ray import tune

    point = point_of(config)
    visit = ray.get(visits.next.remote(point))
    started = time.time()
    for step, value in zip(landscape.steps, landscape.curve(point, f"{search_seed}/{point}/{visit}")):
        tune.report({METRIC: value, "step": step, "started": started})


class VisitCounter:
    """How many trials of one search have started at each point (a Ray actor shared by its trials)."""

    def __init__(self) -> None:
        self.visits: dict[Point, int] = defaultdict(int)

    def next(self, point: Point) -> int:
        self.visits[point] += 1
        return self.visits[point] - 1


class StepBudget(Stopper):
    """A Ray Tune stopper that ends the search once its trials have reported ``budget`` training steps."""

    def __init__(self, budget: int) -> None:
        self.budget, self.spent = budget, 0
        self.last_step: dict[str, int] = {}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        # Ray also passes a function trainable's closing result (no new step): count steps, not calls.
        step = int(result.get("step", 0))
        self.spent += max(0, step - self.last_step.get(trial_id, 0))
        self.last_step[trial_id] = max(step, self.last_step.get(trial_id, 0))
        return False

    def stop_all(self) -> bool:
        return self.spent >= self.budget


def run_search(
    arm: str, landscape: Landscape, seed: int, budget: int, workdir: Path, pruner: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One search in a local Ray Tune: a :data:`RAY_ARMS` arm, or ``"weightsearch"`` (the bridge with ``pruner``)."""
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    # One trial at a time: each trial asks for every CPU, so each decision sees every earlier trial's full result.
    trainable = tune.with_resources(
        tune.with_parameters(
            replay_trainable,
            landscape=landscape,
            search_seed=seed,
            visits=ray.remote(num_cpus=0)(VisitCounter).remote(),
        ),
        {"cpu": ray.cluster_resources().get("CPU", 1)},
    )
    product = arm == "weightsearch"
    param_space: dict[str, Any] = {}
    if product:
        search_alg, scheduler = _bridge_components(landscape, seed, pruner or {"name": "none"}, workdir)
    elif arm in RAY_ARMS:
        param_space = landscape.ray_space()
        sampler = optuna.samplers.TPESampler(seed=seed, **TPE_OPTIONS)
        search_alg = OptunaSearch(metric=METRIC, mode="min", sampler=sampler)
        reports = len(landscape.steps)
        scheduler = {
            "OptunaSearch": None,
            # Ray's defaults otherwise: grace period 1 report, reduction factor 4.
            "OptunaSearch + ASHA (Ray defaults)": ASHAScheduler(max_t=reports),
            "OptunaSearch + ASHA (grace ½)": ASHAScheduler(max_t=reports, grace_period=reports // 2),
        }[arm]
    else:
        raise ValueError(f"unknown Ray arm {arm!r}; one of {RAY_ARMS} or 'weightsearch'")
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=None if product else METRIC,
            mode=None if product else "min",
            search_alg=search_alg,
            scheduler=scheduler,
            # Enough trials to spend the budget even if every one stops at its first report.
            num_samples=budget // landscape.steps[0] + 1,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"{''.join(c if c.isalnum() else '_' for c in arm)}_{seed}",
            storage_path=str(workdir / "ray"),
            stop=StepBudget(budget),
            verbose=0,
        ),
    )
    trials = []
    for result in tuner.fit():
        frame = result.metrics_dataframe
        if frame is None or frame.empty:
            continue
        trials.append(
            {
                "cell": list(point_of(result.config)),
                "observed": [float(value) for value in frame[METRIC]],
                "started": float(frame["started"].iloc[0]),
            }
        )
    trials.sort(key=lambda trial: trial["started"])
    for trial in trials:
        del trial["started"]
    return trials


def _bridge_components(landscape: Landscape, seed: int, pruner: dict[str, Any], workdir: Path) -> tuple[Any, Any]:
    """The product's searcher and pruning scheduler on a SQLite study, built from the arm's spec like a sweep's."""
    import optuna

    from weightsearch.search.bridge import OptunaBridge
    from weightsearch.search.optuna_factory import make_pruner, make_sampler
    from weightsearch.search.pruning import OptunaPruningScheduler
    from weightsearch.search.searcher import OptunaSearcher
    from weightsearch.search.tuner import study_storage

    spec = spec_for(landscape, seed, pruner, storage=workdir / "studies")
    spec.paths.dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=study_storage(spec.optuna_url),
        study_name=spec.name,
        directions=spec.directions,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
    )
    bridge = OptunaBridge(study, spec.metrics)
    return OptunaSearcher(bridge, spec.space, spec.trial), OptunaPruningScheduler(bridge)
