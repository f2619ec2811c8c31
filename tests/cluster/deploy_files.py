"""Readers of the deploy/ files shared by the tests/cluster/test_deploy_*.py tests (no cluster, no Docker engine)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
KUBERAY = DEPLOY / "kuberay"
MLFLOW = DEPLOY / "mlflow"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
LAUNCHER = DEPLOY / "ray" / "cluster.yaml"
README = (DEPLOY / "README.md").read_text()

# The Kubernetes objects: every YAML document under deploy/ with a `kind`, except the compose file's.
MANIFESTS = [*KUBERAY.glob("*.yaml"), *(MLFLOW / "kubernetes").glob("*.yaml")]


def documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def objects() -> list[dict]:
    return [document for path in MANIFESTS for document in documents(path)]


def find(kind: str, name: str | None = None) -> dict:
    matches = [o for o in objects() if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"{kind} {name or ''}: {len(matches)} found"
    return matches[0]


def ray_cluster_spec(resource: dict) -> dict:
    """The RayClusterSpec of a RayCluster, or the one a RayJob creates."""
    return resource["spec"]["rayClusterSpec"] if resource["kind"] == "RayJob" else resource["spec"]


def ray_pod_templates(resource: dict) -> Iterator[tuple[str, dict]]:
    """(role, PodTemplateSpec) of the Ray head and every worker group of a RayCluster or RayJob."""
    cluster = ray_cluster_spec(resource)
    yield "head", cluster["headGroupSpec"]["template"]
    for group in cluster["workerGroupSpecs"]:
        yield f"worker group {group['groupName']}", group["template"]


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split()[0].upper(), line.partition(" ")[2].strip()) for line in lines if line and not line.startswith("#")]


def dockerfile_env(path: Path = DOCKERFILE) -> dict[str, str]:
    """The ENV of the final image as `docker inspect .Config.Env` lists it (from this Dockerfile's ENV lines)."""
    env = {}
    for instruction, arguments in dockerfile_instructions(path):
        if instruction == "ENV":
            env.update(pair.split("=", 1) for pair in arguments.split())
    return env


def dockerfile_args(path: Path = DOCKERFILE) -> dict[str, str]:
    return dict(arguments.split("=", 1) for instruction, arguments in dockerfile_instructions(path) if instruction == "ARG")


def dockerfile_user(path: Path = DOCKERFILE) -> tuple[int, int]:
    """The numeric uid:gid the image runs as (its last USER)."""
    users = [arguments for instruction, arguments in dockerfile_instructions(path) if instruction == "USER"]
    uid, _, gid = users[-1].partition(":")
    # Numeric, so that Kubernetes can verify runAsNonRoot against the image.
    assert uid.isdigit() and gid.isdigit(), f"{path.name}: USER {users[-1]} must be numeric uid:gid"
    return int(uid), int(gid)


def bash_blocks(text: str = README) -> list[str]:
    """Command lines of a Markdown text's code blocks, continuation lines joined."""
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.DOTALL)
    return [line.strip() for line in "\n".join(blocks).replace("\\\n", " ").splitlines() if line.strip()]
