"""The deploy/ manifests: they parse, credentials come from the Secret, and their commands run through our CLI."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import tomllib
import yaml

from weightsearch.cli import build_parser, main
from weightsearch.config import load_spec, overrides_from_args

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
KUBERAY = DEPLOY / "kuberay"
CREDENTIAL = re.compile(r"TOKEN|PASSWORD|SECRET|URL|URI|KEY", re.IGNORECASE)
# Files the docs tell the user to create from a committed example, never committed themselves.
USER_CREATED = {"deploy/mlflow/.env"}
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def kuberay(kind: str, name: str | None = None) -> dict:
    matches = [
        document for path in KUBERAY.glob("*.yaml") for document in documents(path)
        if document["kind"] == kind and name in (None, document["metadata"]["name"])
    ]
    assert len(matches) == 1, kind
    return matches[0]


def containers(node) -> list[dict]:
    """Every container spec anywhere below ``node``."""
    found = []
    if isinstance(node, dict):
        found += [container for container in node.get("containers", []) if isinstance(container, dict)]
        for value in node.values():
            found += containers(value)
    elif isinstance(node, list):
        for value in node:
            found += containers(value)
    return found


def secret_keys() -> dict[str, set[str]]:
    secrets = [document for path in KUBERAY.glob("*.yaml") for document in documents(path) if document["kind"] == "Secret"]
    return {secret["metadata"]["name"]: set(secret["stringData"]) for secret in secrets}


def test_every_manifest_parses_and_ray_resources_use_ray_io_v1():
    paths = [*DEPLOY.rglob("*.yaml")]
    assert len(paths) >= 7
    kinds = set()
    for path in paths:
        for document in documents(path):
            assert isinstance(document, dict), path
            if path.parent == KUBERAY:
                assert {"apiVersion", "kind", "metadata"} <= set(document), path
                kinds.add(document["kind"])
                if document["kind"] in ("RayCluster", "RayJob"):
                    assert document["apiVersion"] == "ray.io/v1", path
    assert {"RayCluster", "RayJob", "Secret", "ConfigMap", "PersistentVolumeClaim"} <= kinds


@pytest.mark.parametrize("kind", ["RayCluster", "RayJob"])
def test_credentials_reach_the_pods_only_through_secret_key_refs(kind):
    keys = secret_keys()
    pods = containers(kuberay(kind))
    assert len(pods) >= 2
    for container in pods:
        env = {variable["name"]: variable for variable in container.get("env", [])}
        # The Ray token is KubeRay's to inject (authOptions): see test_deploy_kuberay.py.
        assert not {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"} & set(env), container["name"]
        for name, variable in env.items():
            if CREDENTIAL.search(name):
                assert "value" not in variable, f"{container['name']}: {name} is inline"
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference["key"] in keys[reference["name"]], f"{name}: no key {reference['key']!r} in the Secret"


@pytest.mark.parametrize("kind", ["RayCluster", "RayJob"])
def test_gpu_workers_request_gpus_and_every_node_runs_the_weightsearch_image(kind):
    resource = kuberay(kind)
    cluster = resource["spec"].get("rayClusterSpec", resource["spec"])
    assert cluster["rayVersion"] == "2.60.0"
    for group in cluster["workerGroupSpecs"]:
        for container in containers(group):
            assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1
    for container in containers(resource):
        assert container["image"].endswith(f"/weightsearch:{VERSION}"), container["image"]
    assert (DEPLOY / "docker" / "Dockerfile").is_file()


def test_the_launcher_config_keeps_token_auth_and_a_loopback_dashboard():
    config = documents(DEPLOY / "ray" / "cluster.yaml")[0]
    head = " ".join(config["head_start_ray_commands"])
    assert "RAY_AUTH_MODE=token ray start --head" in head
    assert "--dashboard-host=127.0.0.1" in head and "--dashboard-port=8265" in head
    assert "RAY_AUTH_MODE=token ray start --address" in " ".join(config["worker_start_ray_commands"])
    assert config["docker"]["image"].endswith(f"/weightsearch:{VERSION}")
    assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}
    for source in config["file_mounts"].values():
        assert source.startswith("~/"), "secrets are copied from the user's machine, not from the repository"


def rayjob_argv(tmp_path: Path, environment: dict[str, str]) -> list[str]:
    """The arguments `weightsearch` receives when the head's shell runs the RayJob's entrypoint."""
    entrypoint = kuberay("RayJob")["spec"]["entrypoint"]
    # KubeRay's submitter re-quotes the words it passes to `ray job submit` with shlex.join (Ray 2.60).
    entrypoint = shlex.join(shlex.split(entrypoint))
    recorder = tmp_path / "bin" / "weightsearch"
    recorder.parent.mkdir()
    recorder.write_text('#!/bin/sh\nfor argument in "$@"; do printf "%s\\0" "$argument"; done > arguments\n')
    recorder.chmod(0o755)
    env = {**os.environ, **environment, "PATH": f"{recorder.parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["/bin/sh", "-c", entrypoint], cwd=tmp_path, env=env, check=True)
    return (tmp_path / "arguments").read_bytes().decode().split("\0")[:-1]


def test_the_rayjob_runs_the_configmap_spec_with_the_stores_from_the_secret(tmp_path, monkeypatch):
    secret = kuberay("Secret", "weightsearch-credentials")["stringData"]
    argv = rayjob_argv(
        tmp_path, {"WS_OPTUNA_URL": secret["optuna-url"], "WS_TRACKING_URI": secret["mlflow-tracking-uri"]}
    )
    args = build_parser().parse_args(argv)
    assert (args.command, args.ray_address, args.storage_path) == ("run", "auto", "/mnt/ws-runs")
    assert args.tracking_uri == secret["mlflow-tracking-uri"]
    assert f"storage.optuna_url={secret['optuna-url']}" in args.overrides

    head = kuberay("RayJob")["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = {mount["mountPath"]: mount["name"] for mount in head["containers"][0]["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in head["volumes"]}
    spec_folder, spec_name = os.path.split(args.spec)
    config_map = kuberay("ConfigMap")
    assert volumes[mounts[spec_folder]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert "persistentVolumeClaim" in volumes[mounts["/mnt/ws-runs"]]

    spec_file = tmp_path / spec_name
    spec_file.write_text(config_map["data"][spec_name])
    spec = load_spec(spec_file, overrides_from_args(args))
    assert spec.optuna_url == secret["optuna-url"] and spec.tracking_uri == secret["mlflow-tracking-uri"]
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(spec_file), *[f"--set={override}" for override in args.overrides]]) == 0


def test_the_rayjob_entrypoint_stops_when_the_secret_values_are_missing(tmp_path):
    with pytest.raises(subprocess.CalledProcessError):
        rayjob_argv(tmp_path, {"WS_OPTUNA_URL": "", "WS_TRACKING_URI": ""})
    assert not (tmp_path / "arguments").exists()


def test_the_mlflow_compose_file_takes_every_credential_from_the_env_file():
    compose_file = DEPLOY / "mlflow" / "docker-compose.yaml"
    compose = documents(compose_file)[0]
    assert {"postgres", "mlflow"} <= set(compose["services"])
    example = dict(
        line.split("=", 1) for line in (DEPLOY / "mlflow" / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    used = set(re.findall(r"\$\{(\w+)", compose_file.read_text()))
    assert used <= set(example), f"missing from .env.example: {used - set(example)}"
    for service in compose["services"].values():
        for name, value in service.get("environment", {}).items():
            if CREDENTIAL.search(name):
                assert str(value).startswith("${"), f"{name} is inline"
        for port in service.get("ports", []):
            assert port.startswith("${") and ":-127.0.0.1}" in port, port
    command = " ".join(compose["services"]["mlflow"]["command"])
    assert "--backend-store-uri=postgresql+psycopg2://${POSTGRES_USER}@postgres" in command
    assert (DEPLOY / "mlflow" / compose["services"]["mlflow"]["build"] / "Dockerfile").is_file()
    for volume in compose["services"]["postgres"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("."):
            assert (DEPLOY / "mlflow" / source).is_dir()


def documented_commands() -> list[str]:
    """`weightsearch ...` lines of the README's code blocks and of the manifests' comments, continuations joined."""
    readme = (DEPLOY / "README.md").read_text()
    texts = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", readme, re.DOTALL)
    for path in [*DEPLOY.rglob("*.yaml"), DEPLOY / "docker" / "Dockerfile"]:
        comments = [line.strip()[1:] for line in path.read_text().splitlines() if line.strip().startswith("#")]
        texts.append("\n".join(comments))
    lines = "\n".join(texts).replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip().startswith("weightsearch ")]


def test_every_documented_weightsearch_command_parses_and_every_submission_validates(monkeypatch):
    from weightsearch.cluster.submission import prepare_submission

    monkeypatch.chdir(REPO_ROOT)
    commands = documented_commands()
    assert {"submit", "jobs", "best", "show"} <= {shlex.split(command)[1] for command in commands}
    for command in commands:
        words = shlex.split(command.split(" #")[0].replace("$", "X"))
        args = build_parser().parse_args(words[1:])
        if args.command == "submit":
            prepare_submission(args)


def test_every_deploy_path_the_docs_name_exists():
    texts = [path.read_text() for path in [*DEPLOY.rglob("*.md"), *DEPLOY.rglob("*.yaml"), DEPLOY / "docker" / "Dockerfile"]]
    named = set(re.findall(r"\b((?:deploy|search_spaces)/[\w./-]+\w)", "\n".join(texts)))
    assert "deploy/docker/Dockerfile" in named
    for path in named - USER_CREATED:
        assert (REPO_ROOT / path).exists(), path
