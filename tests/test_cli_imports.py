"""What `status`, `best` and `show` import: their own command module and the store they read, nothing else.

torch, Ray, the store a command does not read and the other command modules each cost these commands
time on a small machine (issue 18); here each command runs to its answer in a fresh process, which
then lists what it imported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import optuna
import pytest

from weightsearch.cli import COMMAND_MODULES, build_parser
from weightsearch.config import load_spec, spec_to_yaml
from weightsearch.contracts import ATTR_PARAMS

CLI_MODULES = {f"weightsearch.cli.{module}" for module in COMMAND_MODULES.values()}
NEVER = {"torch", "ray", "weightsearch.search.tuner", "weightsearch.tracking.recorder"}


def loaded_after(commands: list[list[str]], watched: set[str]) -> list[str]:
    """Run ``commands`` through the CLI's ``main`` in one fresh process; the ``watched`` modules it then holds."""
    code = (
        "import json, sys\n"
        "from weightsearch.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    assert main(argv) == 0, argv\n"
        f"print(json.dumps(sorted(m for m in {sorted(watched)!r} if m in sys.modules)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def test_the_command_table_names_the_module_of_every_command() -> None:
    defined = {}
    for module in dict.fromkeys(COMMAND_MODULES.values()):
        commands = argparse.ArgumentParser().add_subparsers()
        import_module(f"weightsearch.cli.{module}").add_parsers(commands)
        defined.update(dict.fromkeys(commands.choices, module))
    assert defined == COMMAND_MODULES
    assert build_parser("best").parse_args(["best", "tiny"]).handler.__module__ == "weightsearch.cli.results"


def test_status_reads_a_sqlite_study_without_optuna(tmp_path: Path) -> None:
    spec = load_spec("quickstart", [f"storage.path={tmp_path}"])
    spec.paths.dir.mkdir(parents=True)
    spec.paths.spec_file.write_text(spec_to_yaml(spec))
    study = optuna.create_study(study_name=spec.name, storage=spec.optuna_url, directions=spec.directions)
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={ATTR_PARAMS: {"lr": 0.003}}))

    watched = NEVER | CLI_MODULES | {"mlflow", "optuna", "sqlalchemy"}
    assert loaded_after([["status", spec.name, "--storage-path", str(tmp_path)]], watched) == ["weightsearch.cli.sweep"]


@pytest.fixture
def recorded_sweep(tmp_path: Path) -> str:
    """An MLflow store holding one sweep, ``tiny``, as the recorder leaves it: a parent run and one COMPLETE trial."""
    from mlflow.tracking import MlflowClient

    from weightsearch.tracking import names

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("tiny")
    objectives = json.dumps([{"metric": "val/loss", "direction": "minimize"}])
    parent = client.create_run(experiment, tags={names.KIND: names.KIND_SWEEP, names.SWEEP: "tiny",
                                                 names.OBJECTIVES: objectives}).info.run_id
    trial = client.create_run(experiment, tags={
        names.KIND: names.KIND_TRIAL, names.PARENT_RUN_ID: parent, names.TRIAL_NUMBER: "0",
        names.TRIAL_STATE: "COMPLETE", names.SEARCHED: json.dumps(["lr"]), names.TRIAL_CONFIG: json.dumps({"lr": 0.1}),
    }).info.run_id
    client.log_metric(trial, "val/loss", 0.25)
    client.log_param(trial, "strategy", "fixed")
    return uri


def test_best_and_show_read_a_sqlite_store_without_mlflow(recorded_sweep: str) -> None:
    commands = [["best", "tiny", "--tracking-uri", recorded_sweep, "--format", fmt] for fmt in ("table", "json", "yaml")]
    commands.append(["show", "tiny", "--tracking-uri", recorded_sweep])
    watched = NEVER | CLI_MODULES | {"optuna", "mlflow", "sqlalchemy"}
    assert loaded_after(commands, watched) == ["weightsearch.cli.results"]


def test_a_filter_needs_mlflow_and_imports_only_it(recorded_sweep: str) -> None:
    command = ["best", "tiny", "--tracking-uri", recorded_sweep, "--filter", "params.strategy = 'fixed'"]
    watched = NEVER | CLI_MODULES | {"optuna", "mlflow"}
    assert loaded_after([command], watched) == ["mlflow", "weightsearch.cli.results"]


def test_a_sweep_driver_starts_without_what_only_its_end_needs() -> None:
    """matplotlib, scikit-learn (optuna.importance) and scipy.stats cost a driver ~3 s of its start; the figures
    import them on a thread once the sweep runs, the statistics when first used."""
    code = (
        "import json, sys\n"
        "import weightsearch.cli.sweep, weightsearch.search.tuner, weightsearch.tracking.recorder\n"
        "print(json.dumps(sorted(m for m in ('matplotlib', 'sklearn', 'scipy.stats') if m in sys.modules)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.splitlines()[-1]) == []
