"""The deploy README as a platform engineer follows it: client tools installed before use, every image built
is pushed, secrets made from files and matching what the manifests read, no token ever printed."""

from __future__ import annotations

import re
import shlex

from deploy_files import DEPLOY, DOCKERFILE, README, bash_blocks, find, objects, ray_cluster_spec

# Keys whose values are credentials: created from files, never typed as literals (shell history, `ps`).
CREDENTIAL_KEYS = {"auth_token", "pg-password", "password", "mlflow-password"}


def commented_commands() -> list[str]:
    """Shell commands in the manifests' and the Dockerfile's comments."""
    lines = []
    for path in [*DEPLOY.rglob("*.yaml"), DOCKERFILE]:
        lines += [line.strip().lstrip("#").strip() for line in path.read_text().splitlines() if line.strip().startswith("#")]
    return lines


def test_no_documented_command_prints_the_ray_token():
    for line in [*bash_blocks(), *commented_commands()]:
        if re.search(r"\bray get-auth-token\b", line):
            # It writes the token to stdout (ray/scripts/scripts.py, get_auth_token).
            assert re.search(r"ray get-auth-token[^|;&#]*>\s*/dev/null", line), f"prints the token: {line}"


def secrets_the_readme_creates() -> dict[str, dict[str, str]]:
    """{Secret name: {key: "file" | "literal"}} of the README's `kubectl create secret generic` lines."""
    created = {}
    for line in bash_blocks():
        match = re.search(r"create secret generic (\S+)", line)
        if match:
            keys = {key: source for source, key in re.findall(r"--from-(file|literal)=([\w-]+)=", line)}
            created.setdefault(match.group(1), {}).update(keys)
    return created


def test_secrets_are_made_from_files_and_hold_every_key_the_pods_and_kuberay_read():
    created = secrets_the_readme_creates()
    for name, keys in created.items():
        for key, source in keys.items():
            if key in CREDENTIAL_KEYS:
                assert source == "file", f"secret {name}: {key} typed on the command line"
    for kind in ("RayCluster", "RayJob"):
        cluster = ray_cluster_spec(find(kind))
        assert "auth_token" in created[cluster["authOptions"]["secretName"]]
    references = re.findall(r"secretKeyRef: \{name: ([\w-]+), key: ([\w-]+)\}", "\n".join(p.read_text() for p in (DEPLOY / "kuberay").glob("*.yaml")))
    optional = re.findall(r"secretKeyRef: \{name: ([\w-]+), key: ([\w-]+), optional: true\}", "\n".join(p.read_text() for p in (DEPLOY / "kuberay").glob("*.yaml")))
    for name, key in references:
        assert key in created[name], f"the README's secret {name} has no key {key}"
    examples = {o["metadata"]["name"]: set(o["stringData"]) for o in objects() if o["kind"] == "Secret"}
    for name, key in [*references, *optional]:
        assert key in examples[name], f"secret.example.yaml lacks {name}/{key}"


def test_every_image_built_is_pushed_and_both_torch_tags_are_built():
    lines = bash_blocks()
    built = [shlex.split(line)[shlex.split(line).index("-t") + 1] for line in lines if line.startswith("docker build")]
    for tag in built:
        assert f"docker push {tag}" in lines, f"{tag} is built but never pushed"
    weightsearch = {tag.rsplit(":", 1)[1] for tag in built if tag.rsplit(":", 1)[0].endswith("/weightsearch")}
    assert weightsearch == {"0.1.0", "0.1.0-cpu"}


def test_client_tools_are_installed_before_they_are_used():
    text = README
    for tool, install in [
        ("optuna-dashboard ", "pip install optuna-dashboard"),
        ("helm install", "helm repo add kuberay"),
        ("ray up", 'pip install torch==2.13.0 ".[aws'),
    ]:
        assert install in text and text.index(install) < text.index(tool), f"{tool.strip()}: no install step before it"
    assert "kubectl" in text.split("## 1.")[0], "the client tools section names kubectl"
