"""What `weightsearch submit` ships and runs: the entrypoint's quoting, the staged files, the storage path."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from weightsearch.cli import build_parser
from weightsearch.cluster.submission import prepare_submission
from weightsearch.config import load_spec
from weightsearch.errors import UserError
from weightsearch.redact import without_password

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "search_spaces" / "quickstart.yaml"
SPACE = "strategy: {uncertainty: null, rlw: null}\nparameters: {lr: {float: [1.0e-3, 1.0e-2], log: true}}\n"


def submit_args(*argv: str):
    return build_parser().parse_args(["submit", *argv, "--address", "http://127.0.0.1:8265"])


def write_spec(folder: Path, space: str) -> Path:
    text = QUICKSTART.read_text()
    start = text.index("\nspace:")
    end = text.index("\nsampler:")
    spec = folder / "sweep.yaml"
    spec.write_text(text[:start] + f"\nspace: {space}" + text[end:])
    return spec


def test_entrypoint_is_weightsearch_run_with_the_overrides_quoted():
    hostile = "trial.options.note=$(touch pwned); `id` && echo 'x' | cat"
    submission = prepare_submission(
        submit_args(str(QUICKSTART), "--num-samples", "3", "--name", "qs-2", "--set", hostile, "--set", "trial.steps=400")
    )
    assert submission.argv[:7] == [
        "weightsearch", "run", "./quickstart.yaml", "--ray-address", "auto", "--storage-path=~/ws-runs", "--name=qs-2"
    ]
    assert "--num-samples=3" in submission.argv
    assert submission.argv[-2:] == [f"--set={hostile}", "--set=trial.steps=400"]
    assert shlex.split(submission.entrypoint) == submission.argv
    assert submission.spec.name == "qs-2" and submission.spec.budget.num_samples == 3


def test_a_shell_runs_the_entrypoint_as_one_command_with_exactly_these_arguments(tmp_path):
    """Ray runs entrypoints with `shell=True`: metacharacters in a value must reach weightsearch as text."""
    hostile = "trial.options.note=$(touch pwned); `touch pwned2` && touch pwned3 > x | cat; 'q' \"d\" *"
    submission = prepare_submission(submit_args(str(QUICKSTART), "--set", hostile))
    recorder = tmp_path / "bin" / "weightsearch"
    recorder.parent.mkdir()
    recorder.write_text('#!/bin/sh\nfor argument in "$@"; do printf "%s\\0" "$argument"; done > arguments\n')
    recorder.chmod(0o755)
    env = {**os.environ, "PATH": f"{recorder.parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["/bin/sh", "-c", submission.entrypoint], cwd=tmp_path, env=env, check=True)
    received = (tmp_path / "arguments").read_bytes().decode().split("\0")[:-1]
    assert received == submission.argv[1:]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["arguments", "bin"]


def test_a_name_with_shell_metacharacters_is_rejected_before_anything_is_sent():
    with pytest.raises(UserError, match="'name'"):
        prepare_submission(submit_args(str(QUICKSTART), "--name", "qs; rm -rf ~"))


def test_the_working_dir_holds_the_spec_and_its_space_file_and_validates_alone(tmp_path, monkeypatch):
    spaces = tmp_path / "spaces"
    spaces.mkdir()
    (spaces / "mine.yaml").write_text(SPACE)
    spec = write_spec(tmp_path, "spaces/mine.yaml")
    submission = prepare_submission(submit_args(str(spec)))
    with submission.working_dir() as folder:
        assert sorted(str(path.relative_to(folder)) for path in folder.rglob("*.yaml")) == [
            "spaces/mine.yaml", "sweep.yaml"
        ]
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        shipped = load_spec(folder / "sweep.yaml")
    assert shipped.space.strategy_names() == ["uncertainty", "rlw"]
    assert not folder.exists()


def test_a_space_swapped_in_by_override_is_shipped_under_the_name_the_override_uses():
    submission = prepare_submission(submit_args(str(QUICKSTART), "--set", "space=adaptive.yaml"))
    assert submission.space_files == {"adaptive.yaml": REPO_ROOT / "search_spaces" / "adaptive.yaml"}
    with submission.working_dir() as folder:
        assert (folder / "adaptive.yaml").read_text() == (REPO_ROOT / "search_spaces" / "adaptive.yaml").read_text()
    assert prepare_submission(submit_args(str(QUICKSTART))).space_files == {}


def test_a_space_outside_the_spec_folder_is_refused(tmp_path):
    (tmp_path / "mine.yaml").write_text(SPACE)
    (tmp_path / "specs").mkdir()
    spec = write_spec(tmp_path / "specs", "../mine.yaml")
    with pytest.raises(UserError, match="'space'.*without '..'"):
        prepare_submission(submit_args(str(spec)))


def test_storage_path_absolute_is_kept_relative_default_goes_home_relative_flag_is_refused():
    absolute = prepare_submission(submit_args(str(QUICKSTART), "--storage-path", "/mnt/ws-runs"))
    assert "--storage-path=/mnt/ws-runs" in absolute.argv
    assert absolute.result_lines()[0].startswith("run dir  /mnt/ws-runs/quickstart ")
    assert prepare_submission(submit_args(str(QUICKSTART))).storage_path == "~/ws-runs"
    with pytest.raises(UserError, match="--storage-path: 'runs' is relative"):
        prepare_submission(submit_args(str(QUICKSTART), "--storage-path", "runs"))


def test_result_lines_name_the_stores_without_their_passwords():
    submission = prepare_submission(
        submit_args(
            str(QUICKSTART),
            "--storage-path", "/mnt/ws-runs",
            "--tracking-uri", "http://mlflow.internal:5000",
            "--set", "storage.optuna_url=postgresql+psycopg2://optuna:s3cret@db.internal:5432/optuna",
        )
    )
    text = "\n".join(submission.result_lines())
    assert "s3cret" not in text
    assert "postgresql+psycopg2://optuna:***@db.internal:5432/optuna" in text
    assert "http://mlflow.internal:5000" in text
    assert "s3cret" in submission.entrypoint and "s3cret" not in without_password(submission.entrypoint)
