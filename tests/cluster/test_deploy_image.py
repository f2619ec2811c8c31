"""The weightsearch image as the cluster launcher, KubeRay and the NVIDIA runtime read it: its HOME, its user,
its CUDA, its GPU access, and the cloud and database clients in its lock."""

from __future__ import annotations

import re
import shlex

import tomllib
import yaml
from deploy_files import (
    DEPLOY,
    DOCKERFILE,
    README,
    REPO_ROOT,
    bash_blocks,
    dockerfile_args,
    dockerfile_env,
    dockerfile_instructions,
    dockerfile_user,
    find,
)
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# The CUDA version PyPI's Linux x86_64 wheel of each torch release is built for, read from the wheel's
# metadata (torch 2.13.0 requires cuda-toolkit==13.0.3, nvidia-cudnn-cu13, nvidia-nccl-cu13). Extend it
# when the Dockerfile moves to another torch.
PYPI_LINUX_TORCH_CUDA = {"2.13.0": "13.0"}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def useradd() -> dict[str, str]:
    """The options of the Dockerfile's `useradd` for the image's user."""
    run = next(arguments for instruction, arguments in dockerfile_instructions() if instruction == "RUN" and "useradd" in arguments)
    words = shlex.split(run.split("useradd", 1)[1].split("&&")[0])
    name, options, index = words[-1], {}, 0
    while index < len(words) - 1:
        if words[index] in ("--uid", "--gid", "--home-dir", "--shell"):
            options[words[index]] = words[index + 1]
            index += 1
        index += 1
    return {
        "uid": options.get("--uid"),
        "gid": options.get("--gid", options.get("--uid")),  # useradd's own group gets the uid when free
        "home": options.get("--home-dir", f"/home/{name}"),
        "name": name,
    }


def test_the_image_sets_home_to_the_home_of_the_user_it_runs_as():
    user = useradd()
    env = dockerfile_env()
    # Ray's cluster launcher takes HOME from the image's environment and falls back to /root; /etc/passwd
    # does not count (ray/autoscaler/_private/command_runner.py, DockerCommandRunner.run_init).
    assert env.get("HOME") == user["home"], "ENV HOME must be the home of the image's user"
    assert dockerfile_user() == (int(user["uid"]), int(user["gid"]))
    workdirs = [arguments for instruction, arguments in dockerfile_instructions() if instruction == "WORKDIR"]
    assert workdirs[-1] == user["home"]


def test_the_gpu_tag_is_built_for_the_cuda_of_its_torch_and_the_cpu_tag_for_none():
    arguments = dockerfile_args()
    assert arguments["TORCH_INDEX_URL"] == "https://pypi.org/simple"
    assert arguments["TORCH_CUDA"] == PYPI_LINUX_TORCH_CUDA[arguments["TORCH_VERSION"]]
    # The build compares the installed torch with TORCH_CUDA ("cpu" for a CPU-only build).
    install = next(a for i, a in dockerfile_instructions() if i == "RUN" and "torch==${TORCH_VERSION}" in a)
    assert "torch.version.cuda or 'cpu'" in install and '"${TORCH_CUDA}"' in install
    cpu_builds = [line for line in [*bash_blocks(), *DOCKERFILE.read_text().replace("\\\n", " ").splitlines()] if CPU_INDEX in line]
    assert cpu_builds and all("TORCH_CUDA=cpu" in line for line in cpu_builds)
    major = arguments["TORCH_CUDA"].split(".")[0]
    for path in [DOCKERFILE, DEPLOY / "README.md", REPO_ROOT / "README.md"]:
        claimed = set(re.findall(r"CUDA (\d+)(?:\.\d+)? (?:runtime|build)", path.read_text()))
        assert claimed <= {major}, f"{path.name} claims CUDA {claimed}, torch {arguments['TORCH_VERSION']} is CUDA {major}"
    assert "R580" in README, "the deploy README names the driver CUDA 13 needs"


def test_the_image_sets_what_the_nvidia_container_runtime_needs():
    env = dockerfile_env()
    assert env.get("NVIDIA_VISIBLE_DEVICES") == "all"
    assert {"compute", "utility"} <= set(env.get("NVIDIA_DRIVER_CAPABILITIES", "").split(","))


def test_gpu_specs_ask_for_cuda():
    specs = [yaml.safe_load(text) for text in find("ConfigMap", "weightsearch-spec")["data"].values()]
    gpu_specs = [spec for spec in specs if spec.get("resources", {}).get("gpu", 0) > 0]
    assert gpu_specs
    for spec in gpu_specs:
        assert re.fullmatch(r"cuda(:\d+)?", spec["trial"]["device"]), f"{spec['name']}: device must be cuda, not auto"


def lock() -> dict[str, str]:
    pins = {}
    for line in (DEPLOY / "docker" / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_the_lock_holds_the_aws_and_postgres_extras_the_nodes_use():
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(Requirement(requirement).name == "boto3" for requirement in extras["aws"])
    pins = lock()
    for extra in ("aws", "postgres"):
        for requirement in map(Requirement, extras[extra]):
            name = canonicalize_name(requirement.name)
            assert name in pins and pins[name] in requirement.specifier, f"[{extra}] {requirement} not pinned in the lock"
    assert "botocore" in pins
    # The build imports them, so a tag that lacks one is never pushed.
    checks = " ".join(a for i, a in dockerfile_instructions() if i == "RUN" and "python -c" in a)
    assert "boto3" in checks and "psycopg2" in checks
