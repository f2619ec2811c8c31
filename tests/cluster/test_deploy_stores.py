"""MLflow and PostgreSQL, on one host (compose) and on Kubernetes, agree with the Secret the Ray head reads:
the same role, databases, service names and ports; MLflow's own parser accepts the server commands; the
servers run unprivileged and are health-checked."""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit

import pytest
from deploy_files import MLFLOW, README, bash_blocks, dockerfile_instructions, documents, find, objects

COMPOSE = documents(MLFLOW / "docker-compose.yaml")[0]
ENV_EXAMPLE = dict(
    line.split("=", 1) for line in (MLFLOW / ".env.example").read_text().splitlines() if line and not line.startswith("#")
)
INITDB = MLFLOW / "initdb" / "10-optuna.sql"


def ray_secret() -> dict[str, str]:
    return find("Secret", "weightsearch-credentials")["stringData"]


def created_databases(sql: str) -> set[str]:
    return set(re.findall(r"^CREATE DATABASE (\w+);", sql, re.MULTILINE))


def env_of(container: dict) -> dict[str, dict]:
    return {variable["name"]: variable for variable in container.get("env", [])}


def test_the_compose_role_and_databases_are_the_ones_the_secret_names():
    optuna = urlsplit(ray_secret()["optuna-url"])
    assert optuna.password is None, "the password goes in PGPASSWORD, never in the URL"
    assert optuna.username == ENV_EXAMPLE["POSTGRES_USER"], "the Optuna URL's role must be the one compose creates"
    assert optuna.path.lstrip("/") in created_databases(INITDB.read_text())
    postgres = COMPOSE["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_USER"].startswith("${POSTGRES_USER")
    command = " ".join(COMPOSE["services"]["mlflow"]["command"])
    backend = urlsplit(re.search(r"--backend-store-uri=(\S+)", command).group(1))
    assert backend.username == "${POSTGRES_USER}" and backend.hostname == "postgres" and backend.port == 5432
    assert backend.path.lstrip("/") == postgres["environment"]["POSTGRES_DB"]
    assert set(COMPOSE["services"]) == {"postgres", "mlflow"}
    assert COMPOSE["services"]["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def service_for(url: str) -> tuple[dict, int]:
    """The Service a cluster-internal URL (NAME.NAMESPACE.svc:PORT) points at, and the port."""
    parts = urlsplit(url)
    name, namespace, suffix = parts.hostname.split(".", 2)
    assert suffix.startswith("svc"), url
    service = find("Service", name)
    assert service["metadata"]["namespace"] == namespace, url
    return service, parts.port


def workload_behind(service: dict) -> dict:
    selector = service["spec"]["selector"]
    matches = [
        o for o in objects()
        if o["kind"] in ("Deployment", "StatefulSet")
        and o["metadata"]["namespace"] == service["metadata"]["namespace"]
        and selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert len(matches) == 1, service["metadata"]["name"]
    return matches[0]


def test_the_secret_urls_reach_the_kubernetes_postgres_and_mlflow():
    secret = ray_secret()
    for key in ("optuna-url", "mlflow-tracking-uri"):
        service, port = service_for(secret[key])
        assert service["spec"]["type"] == "ClusterIP"
        (service_port,) = [p for p in service["spec"]["ports"] if p["port"] == port]
        container = workload_behind(service)["spec"]["template"]["spec"]["containers"][0]
        assert service_port["targetPort"] in {p["name"] for p in container["ports"]}

    postgres = workload_behind(service_for(secret["optuna-url"])[0])["spec"]["template"]["spec"]
    environment = env_of(postgres["containers"][0])
    optuna = urlsplit(secret["optuna-url"])
    assert environment["POSTGRES_USER"]["value"] == optuna.username == ENV_EXAMPLE["POSTGRES_USER"]
    (initdb,) = [v for v in postgres["volumes"] if "configMap" in v]
    scripts = find("ConfigMap", initdb["configMap"]["name"])["data"]
    assert scripts == {INITDB.name: INITDB.read_text()}, "the Kubernetes init script is the compose one"
    assert optuna.path.lstrip("/") in created_databases(scripts[INITDB.name])

    mlflow = workload_behind(service_for(secret["mlflow-tracking-uri"])[0])["spec"]["template"]["spec"]["containers"][0]
    backend = urlsplit(re.search(r"--backend-store-uri=(\S+)", " ".join(mlflow["command"])).group(1))
    assert (backend.username, backend.hostname, backend.port) == (optuna.username, optuna.hostname, optuna.port)
    assert backend.path.lstrip("/") == environment["POSTGRES_DB"]["value"]
    allowed = env_of(mlflow)["MLFLOW_SERVER_ALLOWED_HOSTS"]["value"].split(",")
    assert f"{urlsplit(secret['mlflow-tracking-uri']).hostname}:*" in allowed and "127.0.0.1:*" in allowed


def test_the_database_password_reaches_both_servers_from_a_secret_the_readme_creates():
    created = {}
    for line in bash_blocks():
        if "create secret generic" in line:
            name = re.search(r"create secret generic (\S+)", line).group(1)
            created[name] = set(re.findall(r"--from-(?:file|literal)=([\w-]+)=", line))
    for kind in ("StatefulSet", "Deployment"):
        for o in objects():
            if o["kind"] != kind:
                continue
            for variable in env_of(o["spec"]["template"]["spec"]["containers"][0]).values():
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    assert reference["key"] in created.get(reference["name"], set()), f"{kind}: {reference}"


@pytest.mark.parametrize("where", ["compose", "kubernetes"])
def test_mlflows_own_parser_accepts_the_server_command(where):
    click = pytest.importorskip("click")
    from mlflow.cli import server

    if where == "compose":
        words = [word.replace("${POSTGRES_USER}", ENV_EXAMPLE["POSTGRES_USER"]) for word in COMPOSE["services"]["mlflow"]["command"]]
    else:
        words = find("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert words[:2] == ["mlflow", "server"]
    context = server.make_context("server", list(words[2:]))
    assert isinstance(context, click.Context)
    assert context.params["serve_artifacts"] and context.params["artifacts_destination"] == "/mlartifacts"
    assert context.params["port"] == 5000


def test_the_mlflow_image_runs_unprivileged_with_a_health_check_and_its_volumes_are_writable():
    dockerfile = MLFLOW / "Dockerfile"
    instructions = dockerfile_instructions(dockerfile)
    user = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"
    uid, gid = (int(part) for part in user[-1].split(":"))
    healthcheck = " ".join(arguments for instruction, arguments in instructions if instruction == "HEALTHCHECK")
    assert "127.0.0.1:5000/health" in healthcheck
    setup = " ".join(arguments for instruction, arguments in instructions if instruction == "RUN")
    assert "chown mlflow:mlflow /mlartifacts" in setup and f"--uid {uid}" in setup
    assert "/health" in " ".join(COMPOSE["services"]["mlflow"]["healthcheck"]["test"])

    pod = find("Deployment", "mlflow")["spec"]["template"]["spec"]
    security = pod["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (uid, gid, gid)
    assert security["runAsNonRoot"] is True
    container = pod["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    assert container["image"].endswith("/weightsearch-mlflow:3.17.2") and "FROM ghcr.io/mlflow/mlflow:v3.17.2" in dockerfile.read_text()

    postgres = find("StatefulSet", "postgres")["spec"]["template"]["spec"]
    assert postgres["securityContext"]["runAsNonRoot"] is True and postgres["securityContext"]["runAsUser"] != 0
    assert "pg_isready" in postgres["containers"][0]["readinessProbe"]["exec"]["command"]


def test_the_mlflow_image_the_manifests_use_is_built_and_pushed_by_the_readme():
    image = find("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["image"]
    lines = bash_blocks()
    assert any(line.startswith("docker build") and f"-t {image}" in line and "deploy/mlflow" in shlex.split(line) for line in lines)
    assert f"docker push {image}" in lines
    assert "never commit .env" in README
