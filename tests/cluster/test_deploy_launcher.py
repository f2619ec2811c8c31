"""The cluster launcher config as Ray 2.60's `ray up` reads it: valid, its file mounts where the container's
user finds them, its cloud provider's client installed, GPUs in the workers, one shared run directory."""

from __future__ import annotations

import importlib.util
import math
import re
import shlex
from pathlib import Path

import tomllib
import yaml
from deploy_files import LAUNCHER, README, REPO_ROOT, dockerfile_env, dockerfile_user, find
from packaging.requirements import Requirement

STORAGE_PATH = "/mnt/ws-runs"  # where every config and doc puts the run directories
# Published sizes (vCPU) of the instance types the launcher config names.
INSTANCE_VCPUS = {"m6i.xlarge": 4, "m6i.2xlarge": 8, "g5.xlarge": 4, "g5.2xlarge": 8}
# The Python package each launcher provider needs besides Ray, and the extra of ours that installs it.
PROVIDER_CLIENTS = {"aws": ("boto3", "aws")}


def ray_launcher(home_directory: str) -> tuple[dict, str]:
    """What Ray's cluster launcher makes of cluster.yaml: the config `ray up` uses, and a worker's `docker run`.

    Ray's private launcher functions (ray.autoscaler._private), isolated here: they are what `ray up` runs
    (prepare_config + validate_config check ray-schema.json and fill defaults; docker_start_cmds builds the
    container's command line with its bind mounts) and no public API exposes them. A Ray upgrade that moves
    them changes this function only.
    """
    from ray.autoscaler._private.docker import docker_start_cmds
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load(LAUNCHER.read_text()))
    validate_config(config)
    docker = config["docker"]
    options = [*docker.get("run_options", []), *docker.get("worker_run_options", [])]
    command = docker_start_cmds(
        config["auth"]["ssh_user"], docker["image"], config["file_mounts"], docker["container_name"], options,
        config["cluster_name"], home_directory, "docker",
    )
    return config, command


def image_home_as_the_launcher_sees_it() -> str:
    # DockerCommandRunner.run_init: HOME from `docker inspect -f '{{json .Config.Env}}'`, else "/root".
    return dockerfile_env().get("HOME", "/root")


def container_home() -> str:
    """The HOME a shell in the running container has (what `~` means in the start commands)."""
    return dockerfile_env().get("HOME") or "/home/ray"  # without ENV HOME, /etc/passwd's home of user `ray`


def bind_mounts(docker_run: str) -> dict[str, str]:
    words = shlex.split(docker_run)
    pairs = [words[i + 1] for i, word in enumerate(words) if word in ("-v", "--volume")]
    pairs += [option.split(None, 1)[1] for option in words if option.startswith("--volume ")]
    return {target: source for source, target, *_ in (pair.split(":") for pair in pairs)}


def test_the_launcher_config_passes_rays_own_validation():
    config, _ = ray_launcher(image_home_as_the_launcher_sees_it())
    assert config["available_node_types"][config["head_node_type"]]["max_workers"] == 0


def test_the_file_mounts_land_in_the_home_of_the_containers_user():
    _, docker_run = ray_launcher(image_home_as_the_launcher_sees_it())
    mounted = bind_mounts(docker_run)
    config = yaml.safe_load(LAUNCHER.read_text())
    home = container_home()
    for target in config["file_mounts"]:
        assert target.startswith("~/")
        assert target.replace("~", home, 1) in mounted, f"{target}: the launcher mounts it elsewhere than {home}"
    # The start commands source the env file from the container user's home.
    sourced = re.findall(r"\. (~/\S+)", " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"]))
    assert sourced and all(path.replace("~", home, 1) in mounted for path in sourced)


def test_the_cloud_provider_client_is_installed_on_your_machine_and_in_the_image():
    config = yaml.safe_load(LAUNCHER.read_text())
    package, extra = PROVIDER_CLIENTS[config["provider"]["type"]]
    # Ray's AWS node provider imports it (ray[default] does not install it).
    provider = importlib.util.find_spec("ray.autoscaler._private.aws.config")
    assert f"import {package}" in Path(provider.origin).read_text()
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert package in {Requirement(requirement).name for requirement in extras[extra]}
    installs = [line for line in README.splitlines() if "pip install" in line]
    assert any(re.search(rf"\.\[[\w,]*\b{extra}\b", line) for line in installs), f"the deploy README installs .[{extra}]"
    lock = (REPO_ROOT / "deploy" / "docker" / "requirements.lock").read_text()
    assert re.search(rf"^{package}==", lock, re.MULTILINE), f"the image's lock has no {package}"


def test_gpu_workers_get_the_hosts_gpus_and_the_head_none():
    config = yaml.safe_load(LAUNCHER.read_text())
    docker = config["docker"]
    assert "--gpus all" in docker.get("worker_run_options", [])
    assert not any("--gpus" in option for option in [*docker.get("run_options", []), *docker.get("head_run_options", [])])
    _, docker_run = ray_launcher(image_home_as_the_launcher_sees_it())
    assert "--gpus all" in docker_run


def test_every_node_mounts_one_shared_export_at_the_run_directory_before_its_container_starts():
    config = yaml.safe_load(LAUNCHER.read_text())
    _, docker_run = ray_launcher(image_home_as_the_launcher_sees_it())
    host_path = bind_mounts(docker_run)[STORAGE_PATH]
    # initialization_commands run on each host before `docker run` (ray/autoscaler/_private/updater.py).
    init = config.get("initialization_commands", [])
    fstab = [line for command in init for line in re.findall(r"'([^']+)'", command) if f" {host_path} nfs" in line]
    assert fstab, f"no NFS export is mounted at {host_path} on the hosts: every node would write its own"
    export, _, filesystem, options, *_ = fstab[0].split()
    assert filesystem.startswith("nfs") and "_netdev" in options and ":" in export
    assert any(re.search(rf"\bmount {re.escape(host_path)}\b", command) for command in init)
    uid, gid = dockerfile_user()
    assert any(f"chown {uid}:{gid} {host_path}" in command for command in init), "the export must belong to the container's user"
    efs_region = re.search(r"\.efs\.([a-z0-9-]+)\.amazonaws\.com", export)
    if efs_region:
        assert efs_region.group(1) == config["provider"]["region"]


def test_the_gpu_worker_instance_holds_the_trials_the_spec_packs_on_its_gpu():
    config = yaml.safe_load(LAUNCHER.read_text())
    spec = yaml.safe_load(find("ConfigMap", "weightsearch-spec")["data"]["sweep.yaml"])["resources"]
    for name, node_type in config["available_node_types"].items():
        if name == config["head_node_type"]:
            continue
        vcpus = INSTANCE_VCPUS[node_type["node_config"]["InstanceType"]]
        assert math.floor(1 / spec["gpu"]) * spec["cpu"] <= vcpus, name
