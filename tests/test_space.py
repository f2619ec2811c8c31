"""Search spaces: syntax and validation, conditional define-by-run sampling, the unbiased simplex, grids."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from weightsearch.config import SearchSpace, TrialConfig, load_space, simplex_weights
from weightsearch.errors import UserError

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACES_DIR = Path(__file__).resolve().parent.parent / "search_spaces"
TASKS = ["action", "action_token", "align", "recon_patch", "recon_token"]

CONDITIONAL = {
    "strategy": {
        "fixed": {"weights": {"simplex": TASKS, "total": 5}},
        "uncertainty": None,
        "gradnorm": {"alpha": {"float": [0.5, 2.0]}, "lr": {"float": [1e-3, 1e-1], "log": True}},
        "famo": {"lr": {"float": [1e-4, 1e-2], "log": True}},
        "dwa": {"temperature": {"float": [1.0, 4.0]}, "window": {"int": [20, 100], "step": 10}},
    },
    "parameters": {
        "normalization": {"choice": ["none", "initial", "ema"]},
        "lr": {"float": [1e-3, 1e-2], "log": True},
        "options.caption_ratio": {"float": [0.25, 0.75]},
        "weight_decay": 0.0,
    },
}


def _study(sampler: optuna.samplers.BaseSampler | None = None) -> optuna.Study:
    return optuna.create_study(sampler=sampler or optuna.samplers.RandomSampler(seed=0))


@pytest.mark.parametrize("name", ["fixed", "adaptive", "full"])
def test_shipped_spaces_load_and_round_trip(name: str) -> None:
    space = load_space(SPACES_DIR / f"{name}.yaml")
    assert space.strategy_names()
    assert load_space(space.to_mapping()) == space


def test_conditional_sampling_suggests_only_the_chosen_strategys_parameters() -> None:
    space = load_space(CONDITIONAL)
    study = _study()
    seen = set()
    for _ in range(60):
        trial = study.ask()
        params = space.sample(trial)
        strategy = params["strategy"]
        seen.add(strategy)
        own = {name for name in trial.params if ":" in name and not name.endswith(":u")}
        own |= {name.split(":")[0] + ":" for name in trial.params if name.endswith(":u")}
        assert all(name.startswith(f"{strategy}:") for name in own), (strategy, sorted(trial.params))
        unconditional = {"strategy", "normalization", "lr", "options.caption_ratio"}
        assert unconditional <= set(trial.params)
        assert params["weight_decay"] == 0.0 and "weight_decay" not in trial.params
        study.tell(trial, 0.0)
    assert seen == set(CONDITIONAL["strategy"])


def test_strategies_sharing_an_argument_get_distinct_optuna_names() -> None:
    space = load_space(CONDITIONAL)
    ranges = {}
    for strategy in ("gradnorm", "famo"):
        trial = optuna.trial.FixedTrial(
            {
                "strategy": strategy,
                f"{strategy}:strategy_params.lr": 1e-3,
                "gradnorm:strategy_params.alpha": 1.0,
                "normalization": "none",
                "lr": 1e-3,
                "options.caption_ratio": 0.5,
            }
        )
        params = space.sample(trial)
        assert params["strategy_params.lr"] == 1e-3  # the returned dict uses the TrialConfig path
        ranges[strategy] = next(
            leaf.node.bounds for leaf in space.leaves(strategy) if leaf.path == "strategy_params.lr"
        )
    assert ranges["gradnorm"] != ranges["famo"]
    # TPE over the conditional space: distributions never clash across trials.
    study = _study(optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    study.optimize(lambda trial: space.sample(trial)["lr"], n_trials=25)
    assert {"gradnorm:strategy_params.lr", "famo:strategy_params.lr"} <= set(study.trials_dataframe().columns.str[7:])


def test_simplex_weights_sum_to_total_and_are_recorded() -> None:
    space = load_space({"strategy": {"fixed": {"weights": {"simplex": TASKS, "total": 5}}}})
    study = _study()
    for _ in range(200):
        trial = study.ask()
        params = space.sample(trial)
        weights = {path: value for path, value in params.items() if path.startswith("strategy_params.weights.")}
        assert sorted(weights) == sorted(f"strategy_params.weights.{task}" for task in TASKS)
        assert abs(sum(weights.values()) - 5.0) < 1e-9
        assert all(value > 0 for value in weights.values())
        assert {f"fixed:strategy_params.weights.{task}:u" for task in TASKS} <= set(trial.params)
        study.tell(trial, 0.0)


def _uniform_simplex_failures(draws: list[list[float]], total: float) -> list[str]:
    """Moments and marginal of each coordinate against Dirichlet(1,…,1)·total: w_i/total ~ Beta(1, n-1)."""
    count, n = len(draws), len(draws[0])
    mean = total / n
    variance = total**2 * (n - 1) / (n**2 * (n + 1))
    failures = []
    for index in range(n):
        values = sorted(draw[index] for draw in draws)
        sample_mean = sum(values) / count
        sample_variance = sum((value - sample_mean) ** 2 for value in values) / (count - 1)
        if abs(sample_mean - mean) > 0.04 * mean:
            failures.append(f"task {index}: mean {sample_mean:.3f} vs {mean:.3f}")
        if abs(sample_variance - variance) > 0.12 * variance:
            failures.append(f"task {index}: variance {sample_variance:.3f} vs {variance:.3f}")
        # Kolmogorov-Smirnov distance to the Beta(1, n-1) CDF 1-(1-x)^(n-1); 1.63/sqrt(N) is the 1% level.
        distance = max(
            max(abs((rank + 1) / count - cdf), abs(rank / count - cdf))
            for rank, value in enumerate(values)
            for cdf in [1 - (1 - value / total) ** (n - 1)]
        )
        if distance > 1.63 / math.sqrt(count):
            failures.append(f"task {index}: KS distance {distance:.3f}")
    return failures


def test_simplex_is_uniform_on_the_simplex() -> None:
    space = load_space({"parameters": {"strategy_params.weights": {"simplex": TASKS, "total": 5}}})
    study = _study()
    draws = []
    for _ in range(2000):
        params = space.sample(study.ask())
        draws.append([params[f"strategy_params.weights.{task}"] for task in TASKS])
    assert _uniform_simplex_failures(draws, 5.0) == []


def test_deriving_the_last_weight_fails_the_same_check() -> None:
    """The naive scheme (each weight uniform in what is left, the last takes the rest) favours early tasks."""
    study = _study()
    draws = []
    for _ in range(2000):
        trial = study.ask()
        remaining, weights = 5.0, []
        for task in TASKS[:-1]:
            weights.append(trial.suggest_float(task, 0.0, remaining))
            remaining -= weights[-1]
        draws.append([*weights, remaining])
    failures = _uniform_simplex_failures(draws, 5.0)
    assert any(failure.startswith("task 0: mean") for failure in failures)
    assert any(failure.startswith("task 4") for failure in failures)


def test_simplex_weights_formula() -> None:
    weights = simplex_weights({"a": math.exp(-1.0), "b": math.exp(-3.0)}, total=2.0)
    assert weights == pytest.approx({"a": 0.5, "b": 1.5})


def test_simplex_total_defaults_to_the_number_of_tasks() -> None:
    space = load_space({"parameters": {"strategy_params.weights": {"simplex": ["action", "align", "recon_patch"]}}})
    params = space.sample(_study().ask())
    assert sum(params.values()) == pytest.approx(3.0)


def test_resolve_deep_merges_into_the_base() -> None:
    space = load_space(CONDITIONAL)
    base = TrialConfig(options={"size": "tiny", "caption_ratio": 0.5}, strategy="gradnorm", strategy_params={"window": 3})
    same = space.resolve(base, {"strategy": "gradnorm", "strategy_params.alpha": 1.2, "options.caption_ratio": 0.3})
    assert same.options == {"size": "tiny", "caption_ratio": 0.3}
    assert same.strategy_params == {"window": 3, "alpha": 1.2}
    other = space.resolve(base, {"strategy": "fixed", "strategy_params.weights.align": 2.0, "lr": 0.004})
    assert other.strategy == "fixed" and other.strategy_params == {"weights": {"align": 2.0}}
    assert other.lr == 0.004 and base.lr == 3e-3
    with pytest.raises(UserError, match="'steps'"):
        space.resolve(base, {"steps": 0})


def test_examples_cover_every_strategy_and_choice() -> None:
    space = load_space(CONDITIONAL)
    examples = space.examples()
    assert {example["strategy"] for example in examples} == set(CONDITIONAL["strategy"])
    assert {example["normalization"] for example in examples} == {"none", "initial", "ema"}
    gradnorm = [example for example in examples if example["strategy"] == "gradnorm"]
    assert {example["strategy_params.alpha"] for example in gradnorm} == {0.5, 2.0}
    assert all(set(example) - {"strategy"} <= {leaf.path for leaf in space.leaves(example["strategy"])} | {
        f"strategy_params.weights.{task}" for task in TASKS
    } for example in examples)


def test_grid_search_space() -> None:
    space = load_space(
        {
            "strategy": {"dwa": {"window": {"int": [20, 40], "step": 10}}, "rlw": None},
            "parameters": {
                "normalization": {"choice": ["none", "ema"]},
                "lr": {"float": [1e-3, 1e-2], "log": True, "grid": [1e-3, 1e-2]},
                "options.caption_ratio": {"float": [0.25, 0.75], "step": 0.25},
                "seed": 3,
            },
        }
    )
    assert space.grid_search_space() == {
        "strategy": ["dwa", "rlw"],
        "dwa:strategy_params.window": [20, 30, 40],
        "normalization": ["none", "ema"],
        "lr": [1e-3, 1e-2],
        "options.caption_ratio": [0.25, 0.5, 0.75],
    }
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(space.grid_search_space(), seed=0))
    trial = study.ask()
    assert space.sample(trial)["strategy"] in ("dwa", "rlw")


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"lr": {"float": [1e-3, 1e-2]}, "weight_decay": {"float": [0.0, 0.1]}, "gr": {"float": [0, 1]}}, "'parameters.gr'"),
        ({"lr": {"float": [1e-3, 1e-2]}}, None),
        ({"lr": {"float": [1e-3, 1e-2]}, "options.caption_ratio": {"float": [0.2, 0.8]}}, None),
    ],
)
def test_unconditional_paths(parameters: dict, field: str | None) -> None:
    if field is None:
        load_space({"parameters": parameters})
    else:
        with pytest.raises(UserError, match=field):
            load_space({"parameters": parameters})


def test_grid_needs_finite_values() -> None:
    with pytest.raises(UserError, match=r"space field 'parameters\.lr'.*grid"):
        load_space({"parameters": {"lr": {"float": [1e-3, 1e-2]}}}).grid_search_space()
    with pytest.raises(UserError, match=r"space field 'strategy\.fixed\.weights'.*simplex"):
        load_space({"strategy": {"fixed": {"weights": {"simplex": TASKS}}}}).grid_search_space()


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"parameters": {"lr": {"float": [1e-2, 1e-3]}}}, "'parameters.lr.float': low (0.01) must be < high (0.001)"),
        ({"parameters": {"lr": {"float": [0.1, 0.1]}}}, "'parameters.lr.float': low (0.1) must be < high (0.1)"),
        ({"parameters": {"lr": {"float": [0.0, 1e-3], "log": True}}}, "'parameters.lr.float': a log range must be positive"),
        ({"parameters": {"steps": {"int": [-5, 10], "log": True}}}, "'parameters.steps.int': a log range must be positive"),
        ({"parameters": {"lr": {"float": [0.1, 1.0], "log": True, "step": 0.1}}}, "'parameters.lr.step': log and step"),
        ({"parameters": {"lr": {"float": [0.1, 1.0], "step": 0.4}}}, "'parameters.lr.step': high - low"),
        ({"parameters": {"lr": {"float": [0.1, 1.0], "grid": [0.05]}}}, "'parameters.lr.grid': grid values [0.05]"),
        ({"parameters": {"normalization": {"choice": []}}}, "'parameters.normalization.choice': needs at least 1"),
        ({"parameters": {"normalization": {"choice": ["ema", "ema"]}}}, "'parameters.normalization.choice': choices repeat"),
        ({"parameters": {"lr": {"float": [0.1, 1.0], "int": [1, 2]}}}, "'parameters.lr': a parameter has exactly one"),
        ({"parameters": {"lr": {"float": [0.1, 1.0], "lg": True}}}, "'parameters.lr.lg': unknown field; valid: float, log, step, grid"),
        ({"parameters": {"learning_rate": {"float": [0.1, 1.0]}}}, "'parameters.learning_rate': not a trial setting"),
        ({"parameters": {"lr.inner": 1.0}}, "'parameters.lr.inner': 'lr' is a single value"),
        ({"parameters": {"strategy": {"choice": ["fixed", "dwa"]}}}, "'parameters.strategy': sample strategies in the `strategy:`"),
        ({"parameters": {"options.ratio": 0.1, "options": {"ratio": 0.2}}}, "'options.ratio' is set twice"),
        ({"strategy": {"fixed": {"weights": {"simplex": TASKS, "total": 0}}}}, "'strategy.fixed.weights.total': must be > 0"),
        ({"strategy": {"fixed": {"weights": {"simplex": ["action"]}}}}, "'strategy.fixed.weights.simplex': needs at least 2"),
        ({"strategy": {"fixed; rm -rf": None}}, "'strategy.fixed; rm -rf': not a strategy name"),
        ({"parameters": {"lr": {"float": [1e-3, float("inf")]}}}, "'parameters.lr.float': bounds must be finite"),
        ({"parameters": {"lr": {"float": [float("nan"), 1.0]}}}, "'parameters.lr.float': bounds must be finite"),
        ({"strategy": {}}, "'strategy': name at least one strategy"),
        ({"strategy": {"dwa": None}, "parameters": {"strategy_params.window": 20}}, "'parameters.strategy_params.window': with a `strategy:` section"),
        ({"paramters": {}}, "'paramters': unknown field; valid: strategy, parameters"),
    ],
)
def test_validation_errors_are_one_line_naming_the_field(space: dict, expected: str) -> None:
    with pytest.raises(UserError) as raised:
        load_space(space)
    message = str(raised.value)
    assert message.startswith("space field '") and "\n" not in message
    assert expected in message


def test_space_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("parameters:\n  lr: {float: [0.1, 0.01]}\n")
    with pytest.raises(UserError, match=rf"space file '{path}' field 'parameters.lr.float'"):
        load_space(path)
    path.write_text("parameters: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_space(path)
    with pytest.raises(UserError, match="cannot read it"):
        load_space(tmp_path / "missing.yaml")


def test_space_is_a_pydantic_model() -> None:
    assert isinstance(load_space(CONDITIONAL), SearchSpace)
    described = "\n".join(load_space(CONDITIONAL).describe())
    assert "strategy gradnorm:" in described and "strategy uncertainty: (no sampled arguments)" in described
