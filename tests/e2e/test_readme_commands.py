"""Every concrete command the README shows runs as written, on small settings, from a fresh directory.

A command is concrete when it names no placeholder (``NAME``, ``SPEC``, ``[--flag]``, ``<id>``): those are
synopses, whose command names ``tests/test_readme.py`` checks. Each concrete command gets the flags that
make it small (appended, so the README's words run unchanged), and a new concrete command without an
entry here fails the test until it is given one. The README's test command is CI's own.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_sweeps import REPO_ROOT, weightsearch

sys.path.insert(0, str(REPO_ROOT / "tests" / "tracking"))  # the server helpers of the tracking tests

from mlflow_server import answers, free_port, terminate_group

pytestmark = pytest.mark.e2e

README = (REPO_ROOT / "README.md").read_text()
# README command -> the flags that make it small, in the order they run here.
SMALL = {
    "weightsearch train examples/plugin_trial.yaml": ["--steps", "20"],
    "weightsearch run search_spaces/reference.yaml": [
        "--num-samples", "2", "--set", "trial.steps=20", "--set", "trial.eval_every=10",
        "--set", "trial.options.size=tiny", "--set", "confirm.top=1", "--set", "confirm.seeds=2",
    ],
    "weightsearch best reference": [],
}
# Read-only commands run as written on the session's recorded quickstart, found as ws-runs/quickstart.
ON_THE_QUICKSTART = ["weightsearch status quickstart", "weightsearch best quickstart", "weightsearch show quickstart"]
# The viewers the README starts on the quickstart's stores: the page that must answer once each is up.
VIEWERS = {"optuna-dashboard sqlite:///ws-runs/quickstart/optuna.db": "/api/studies"}
# Commands other e2e tests run as written, on small settings (each needs what a fresh directory lacks, or
# writes into the shared quickstart): the test file, and what in it runs the command.
ELSEWHERE = {
    "weightsearch run quickstart": ("conftest.py", '"run", "quickstart"'),  # the recorded quickstart, by name
    "weightsearch run search_spaces/quickstart.yaml": ("test_postgres.py", '"run", str(QUICKSTART)'),
    "weightsearch confirm quickstart": ("../search/test_confirm.py", 'main(["confirm", sweep.name'),
    "weightsearch submit search_spaces/quickstart.yaml --address http://127.0.0.1:8265 --wait":
        ("test_submit.py", '"submit", str(QUICKSTART), "--address", cluster.address, "--wait"'),
    # `mlflow ui` is `mlflow server` with its defaults: the server the browser test renders MLflow's UI from.
    "mlflow ui --backend-store-uri sqlite:///ws-runs/quickstart/mlflow.db":
        ("../tracking/mlflow_server.py", '"mlflow", "server"'),
}
PLACEHOLDER = re.compile(r"\b[A-Z]{2,}\b|[\[\]|…<>]")


def readme_commands() -> list[str]:
    """The README's commands: inline code and code-block lines (after ``&&`` too), line breaks in inline code joined."""
    inline = re.findall(r"`((?:weightsearch|mlflow ui|optuna-dashboard) [^`]*)`", README.replace("\n", " "))
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)
    lines = [match for block in blocks for match in re.findall(r"(?:^|&& )(weightsearch [^#\n]*)", block, re.MULTILINE)]
    return list(dict.fromkeys(" ".join(command.split()) for command in [*inline, *lines]))


def test_every_concrete_readme_command_runs_on_small_settings(recorded_quickstart, tmp_path: Path) -> None:
    concrete = [command for command in readme_commands() if not PLACEHOLDER.search(command)]
    mentions = [command for command in concrete if re.fullmatch(r"weightsearch [a-z]+", command)]  # in prose
    here = {*SMALL, *ON_THE_QUICKSTART, *VIEWERS, *ELSEWHERE}
    assert set(concrete) - set(mentions) == here, f"not run anywhere: {set(concrete) - set(mentions) - here}"
    for command, (test_file, runs_it) in ELSEWHERE.items():
        assert runs_it in (Path(__file__).parent / test_file).read_text(), (command, test_file)
    for folder in ("search_spaces", "examples"):  # as from the repository root, where the README's commands run
        (tmp_path / folder).symlink_to(REPO_ROOT / folder)
    (tmp_path / "ws-runs").symlink_to(recorded_quickstart.root / "runs")

    for command in [*ON_THE_QUICKSTART, *SMALL]:
        ran = weightsearch(*command.split()[1:], *SMALL.get(command, []), cwd=tmp_path)
        output = ran.stdout + ran.stderr
        assert ran.returncode == 0, f"{command}: {output[-3000:]}"
        assert "Traceback" not in output, f"{command}: {output[-3000:]}"
        assert "quickstart" not in command or "val/action/mse" in ran.stdout, f"{command}: {output[-3000:]}"

    for command, page in VIEWERS.items():
        port = free_port()
        program, *arguments = command.split()
        viewer = subprocess.Popen([str(Path(sys.executable).parent / program), *arguments, "--host", "127.0.0.1",
                                   "--port", str(port)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert answers(f"http://127.0.0.1:{port}{page}", viewer, timeout_s=90), command
        finally:
            terminate_group(viewer, timeout_s=10)
