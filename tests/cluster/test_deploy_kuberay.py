"""The KubeRay manifests as KubeRay 1.6 and Kubernetes read them: token auth through authOptions, fields
KubeRay knows, core objects valid, pods that fit their nodes and can write the shared volume."""

from __future__ import annotations

import math
import re

import pytest
import yaml
from deploy_files import DEPLOY, README, REPO_ROOT, dockerfile_user, find, objects, ray_cluster_spec, ray_pod_templates
from packaging.version import Version

kubernetes_validate = pytest.importorskip("kubernetes_validate")

RAY_RESOURCES = ["RayCluster", "RayJob"]
# The Kubernetes release the core objects are validated against (the oldest the deploy README supports).
KUBERNETES_VERSION = "1.30.0"
# KubeRay's token auth (v1.6.0, ray-operator/controllers/ray/common/pod.go, SetContainerTokenAuthEnvVars):
# it injects these only into containers that do not set them already, and reads the token from this key
# (utils.RAY_AUTH_TOKEN_SECRET_KEY) of the Secret named by authOptions.secretName.
KUBERAY_AUTH_VARIABLES = {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}
KUBERAY_TOKEN_KEY = "auth_token"
MINIMUM_KUBERAY = Version("1.6.0")  # authOptions.secretName arrived in v1.6.0 (kuberay PR #4554)
# The JSON fields of the KubeRay v1.6.0 Go types we write (ray-operator/apis/ray/v1/*_types.go): KubeRay's
# CRDs reject anything else. Our own check, in place of the 2 MB CRDs.
KUBERAY_FIELDS = {
    "RayClusterSpec": {
        "upgradeStrategy", "authOptions", "suspend", "managedBy", "autoscalerOptions", "headServiceAnnotations",
        "enableInTreeAutoscaling", "gcsFaultToleranceOptions", "headGroupSpec", "rayVersion", "workerGroupSpecs",
    },
    "HeadGroupSpec": {"template", "headService", "enableIngress", "resources", "labels", "rayStartParams", "serviceType"},
    "WorkerGroupSpec": {
        "suspend", "groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds", "resources", "labels",
        "rayStartParams", "template", "scaleStrategy", "numOfHosts",
    },
    "AuthOptions": {"enableK8sTokenAuth", "secretName", "mode"},
    "RayJobSpec": {
        "activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate", "metadata", "clusterSelector",
        "submitterConfig", "managedBy", "deletionStrategy", "entrypoint", "runtimeEnvYAML", "jobId", "submissionMode",
        "entrypointResources", "entrypointNumCpus", "entrypointNumGpus", "ttlSecondsAfterFinished",
        "preRunningDeadlineSeconds", "shutdownAfterJobFinishes", "suspend",
    },
}
# Published sizes of the node types the manifests select (vCPU, GiB). A pod fits when its requests stay
# below what the kubelet, system reserve and node daemons leave: one vCPU and 15 % of the memory held back.
NODE_TYPES = {"m6i.xlarge": (4, 16), "m6i.2xlarge": (8, 32), "g5.xlarge": (4, 16), "g5.2xlarge": (8, 32)}
# KubeRay's autoscaler sidecar on the head (v1.6.0 BuildAutoscalerContainer): requests = limits.
AUTOSCALER_SIDECAR = {"cpu": 0.5, "memory": 0.5}


def quantity(value) -> float:
    """A Kubernetes CPU (cores) or memory (GiB) quantity as a float."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**-20, "Mi": 2**-10, "Gi": 1.0, "Ti": 2**10}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def all_containers(pod_spec: dict) -> list[dict]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def ray_pods(resource: dict) -> list[tuple[str, dict]]:
    pods = list(ray_pod_templates(resource))
    if "submitterPodTemplate" in resource["spec"]:
        pods.append(("submitter", resource["spec"]["submitterPodTemplate"]))
    return pods


@pytest.mark.parametrize("kind", RAY_RESOURCES)
def test_token_auth_is_kuberays_auth_options_with_a_secret_holding_its_key(kind):
    resource = find(kind)
    cluster = ray_cluster_spec(resource)
    auth = cluster.get("authOptions")
    assert auth is not None, f"{kind}: token auth must be spec.authOptions (KubeRay >= 1.6), not env set by hand"
    assert auth["mode"] == "token" and not auth.get("enableK8sTokenAuth", False)
    secret = find("Secret", auth["secretName"])
    assert KUBERAY_TOKEN_KEY in secret["stringData"], f"KubeRay reads the token from key {KUBERAY_TOKEN_KEY!r}"
    # KubeRay refuses token mode below Ray 2.52.0 (utils/validation.go).
    assert Version(cluster["rayVersion"]) >= Version("2.52.0")
    for role, template in ray_pods(resource):
        for container in all_containers(template["spec"]):
            names = {variable["name"] for variable in container.get("env", [])}
            assert not names & KUBERAY_AUTH_VARIABLES, (
                f"{kind} {role}/{container['name']} sets {names & KUBERAY_AUTH_VARIABLES}: KubeRay then skips its own"
            )
        # KubeRay puts the token on the container at index 0 (utils.RayContainerIndex): the Ray container.
        assert template["spec"]["containers"][0]["name"].startswith(("ray-", "ray-job-"))


def test_the_docs_require_a_kuberay_that_has_auth_options_secret_name():
    texts = [README, (REPO_ROOT / "README.md").read_text(), *(path.read_text() for path in (DEPLOY / "kuberay").glob("*.yaml"))]
    mentions = re.findall(r"KubeRay(?: operator)?[\s(|*]*(?:>=|≥)?[\s*]*(\d+\.\d+(?:\.\d+)?)", "\n".join(texts))
    assert mentions, "the deploy docs must name the minimum KubeRay version"
    assert all(Version(version) >= MINIMUM_KUBERAY for version in mentions), mentions
    helm = [line for line in README.splitlines() if "helm install" in line and "kuberay-operator" in line]
    assert helm and all(Version(re.search(r"--version (\S+)", line).group(1)) >= MINIMUM_KUBERAY for line in helm)


def unknown_fields(node: dict, type_name: str) -> set[str]:
    return set(node) - KUBERAY_FIELDS[type_name]


@pytest.mark.parametrize("kind", RAY_RESOURCES)
def test_every_kuberay_field_written_is_one_kuberay_1_6_knows(kind):
    resource = find(kind)
    assert resource["apiVersion"] == "ray.io/v1"
    if kind == "RayJob":
        assert not unknown_fields(resource["spec"], "RayJobSpec")
    cluster = ray_cluster_spec(resource)
    assert not unknown_fields(cluster, "RayClusterSpec")
    assert not unknown_fields(cluster["authOptions"], "AuthOptions")
    assert cluster["authOptions"]["mode"] in ("disabled", "token")
    head = cluster["headGroupSpec"]
    assert not unknown_fields(head, "HeadGroupSpec")
    assert head["serviceType"] == "ClusterIP"
    for group in cluster["workerGroupSpecs"]:
        assert not unknown_fields(group, "WorkerGroupSpec")
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    for params in [head["rayStartParams"], *(group["rayStartParams"] for group in cluster["workerGroupSpecs"])]:
        assert all(isinstance(value, str) for value in params.values()), "rayStartParams values are strings"


def core_objects() -> list[dict]:
    """Every core Kubernetes object, plus each Ray pod template as the v1 PodTemplate it is."""
    found = [o for o in objects() if o["apiVersion"] in ("v1", "apps/v1")]
    for kind in RAY_RESOURCES:
        for role, template in ray_pods(find(kind)):
            name = f"{kind.lower()}-{role.replace(' ', '-')}"
            found.append({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}, "template": template})
    return found


def test_core_objects_and_the_ray_pod_templates_pass_kubernetes_validate_strict():
    found = core_objects()
    kinds = {o["kind"] for o in found}
    assert {"Secret", "ConfigMap", "PersistentVolumeClaim", "Namespace", "Service", "StatefulSet", "Deployment", "PodTemplate"} <= kinds
    for document in found:
        # Anchors and merges are resolved by the YAML loader; a round trip drops Python-only types.
        document = yaml.safe_load(yaml.safe_dump(document))
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{document['kind']} {document['metadata']['name']}: {error.message} at {list(error.path)}")


@pytest.mark.parametrize("kind", RAY_RESOURCES)
def test_every_pod_that_mounts_the_shared_volume_runs_as_the_image_user_and_can_write_it(kind):
    uid, gid = dockerfile_user()
    claims = {o["metadata"]["name"] for o in objects() if o["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" in o["spec"]["accessModes"]}
    checked = 0
    for role, template in ray_pod_templates(find(kind)):
        spec = template["spec"]
        shared = {v["name"] for v in spec.get("volumes", []) if v.get("persistentVolumeClaim", {}).get("claimName") in claims}
        if not shared:
            continue
        checked += 1
        security = spec.get("securityContext", {})
        assert (security.get("runAsUser"), security.get("runAsGroup")) == (uid, gid), f"{kind} {role}: run as the image's user"
        assert security.get("runAsNonRoot") is True
        assert security.get("fsGroup") == gid, f"{kind} {role}: fsGroup {gid} makes the RWX volume writable by the pods"
        ray_mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"] if m["name"] in shared}
        # An init step checks, before Ray starts, that the same path is writable, and says what to do if not.
        checks = [c for c in spec.get("initContainers", []) if {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])} == ray_mounts]
        assert checks, f"{kind} {role}: no init container checks {sorted(ray_mounts.values())}"
        command = " ".join(checks[0]["command"])
        assert all(path in command for path in ray_mounts.values()) and "exit 1" in command and "chown" in command
    assert checked == 1 + len(ray_cluster_spec(find(kind))["workerGroupSpecs"])


@pytest.mark.parametrize("kind", RAY_RESOURCES)
def test_ray_pods_fit_the_node_types_they_select_and_tell_ray_what_they_are_guaranteed(kind):
    cluster = ray_cluster_spec(find(kind))
    for role, template in ray_pod_templates(find(kind)):
        spec = template["spec"]
        node_type = spec.get("nodeSelector", {}).get("node.kubernetes.io/instance-type")
        assert node_type in NODE_TYPES, f"{kind} {role}: select a node type whose size is known ({sorted(NODE_TYPES)})"
        vcpus, memory = NODE_TYPES[node_type]
        ray = spec["containers"][0]["resources"]
        # KubeRay passes the limits to `ray start` (num-cpus, memory): equal requests keep Ray within the guarantee.
        for resource in ("cpu", "memory"):
            assert quantity(ray["requests"][resource]) == quantity(ray["limits"][resource]), f"{kind} {role} {resource}"
        cpu = sum(quantity(c["resources"]["requests"]["cpu"]) for c in spec["containers"])
        gib = sum(quantity(c["resources"]["requests"]["memory"]) for c in spec["containers"])
        if role == "head" and cluster.get("enableInTreeAutoscaling"):
            cpu, gib = cpu + AUTOSCALER_SIDECAR["cpu"], gib + AUTOSCALER_SIDECAR["memory"]
        assert cpu <= vcpus - 1 and gib <= 0.85 * memory, f"{kind} {role}: {cpu} CPU / {gib} GiB on {node_type}"
    head_params = cluster["headGroupSpec"]["rayStartParams"]
    assert head_params.get("num-cpus") == "0" and head_params.get("num-gpus") == "0", "trials never run on the head"


def test_the_rayjob_spec_packs_its_trials_into_one_gpu_pod():
    spec = yaml.safe_load(find("ConfigMap", "weightsearch-spec")["data"]["sweep.yaml"])
    per_trial = spec["resources"]
    for kind in RAY_RESOURCES:
        for group in ray_cluster_spec(find(kind))["workerGroupSpecs"]:
            limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
            trials_per_pod = math.floor(limits["nvidia.com/gpu"] / per_trial["gpu"])
            assert trials_per_pod >= 1 and trials_per_pod * per_trial["cpu"] <= quantity(limits["cpu"]), kind
