"""The CPU overlay (``deploy/k8s/overlays/cpu``) with real tools:

- rendered by ``kubectl kustomize`` (when kubectl is installed; else by the resolver of
  ``tests/deploy/test_manifests.py``, which CI uses: Debian's kubectl is too old for the
  overlay's ``patches``);
- every object validated against the Kubernetes JSON schemas (strict: unknown fields fail) by
  ``kubernetes-validate``, with its bundled schemas, offline: this is the only check of the kinds
  podman cannot play (Namespace, Service, PodDisruptionBudget, HorizontalPodAutoscaler);
- its gateway Deployment and ConfigMap played with ``podman kube play`` on the built image:
  the pod starts, every probe the Deployment declares (startup, liveness, readiness) answers
  200 on the container port, the pod's security context (uid 10001, read-only root) holds,
  its ``/tmp`` emptyDir is writable and ``/v1/crop`` answers.

For the play the image name is the built one, ``imagePullPolicy: Never`` (no registry here), and
the http port gets a ``hostPort`` so the host reaches it, and one replica (podman would start
every replica on that one host port); nothing else is changed.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from tests.deploy.test_manifests import build
from tests.system.image.conftest import IMAGE, REPO, engine, free_port

OVERLAY = REPO / "deploy" / "k8s" / "overlays" / "cpu"
KUBERNETES_VERSION = "1.30.0"
PLAYABLE = {"Deployment", "ConfigMap"}
WAIT_S = 90.0


def render() -> tuple[list[dict[str, Any]], str]:
    """The overlay's objects, and what rendered them."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run(
            [kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, check=False
        )
        if out.returncode == 0:
            return list(yaml.safe_load_all(out.stdout)), "kubectl kustomize"
    resources, _ = build(OVERLAY)
    docs = []
    for doc in resources.values():
        doc = copy.deepcopy(doc)
        if doc["kind"] == "ConfigMap":
            doc.setdefault("apiVersion", "v1")  # the resolver writes only kind/metadata/data
        docs.append(doc)
    return docs, "tests/deploy resolver"


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    docs, tool = render()
    print(f"rendered by {tool}: {sorted(d['kind'] for d in docs)}")
    return docs


def test_every_object_matches_the_kubernetes_schemas(rendered: list[dict[str, Any]]) -> None:
    kinds = {doc["kind"] for doc in rendered}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds
    for doc in rendered:
        # Raises ValidationError (with the path) on a wrong or unknown field.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_object(rendered: list[dict[str, Any]]) -> None:
    hpa = copy.deepcopy(next(d for d in rendered if d["kind"] == "HorizontalPodAutoscaler"))
    hpa["spec"]["maxReplicas"] = "twenty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)


def playable(rendered: list[dict[str, Any]], host_port: int) -> list[dict[str, Any]]:
    docs = [copy.deepcopy(doc) for doc in rendered if doc["kind"] in PLAYABLE]
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = 1  # podman plays every replica on the one hostPort
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            container["image"] = IMAGE if "/" in IMAGE else f"localhost/{IMAGE}"
            container["imagePullPolicy"] = "Never"
            (port,) = container["ports"]
            port["hostPort"] = host_port
            port["hostIP"] = "127.0.0.1"
    return docs


def probe_url(probe: dict[str, Any], host_port: int) -> str:
    get = probe["httpGet"]
    assert get["port"] in ("http", 8000), get
    return f"http://127.0.0.1:{host_port}{get['path']}"


def test_the_gateway_deployment_plays_and_passes_its_probes(
    rendered: list[dict[str, Any]], tmp_path: Path, image: str
) -> None:
    host_port = free_port()
    docs = playable(rendered, host_port)
    manifest = tmp_path / "gateway.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    probes = {kind: container[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    played = engine("kube", "play", str(manifest), check=False, timeout=WAIT_S)
    try:
        assert played.returncode == 0, played.stdout + played.stderr
        deadline = time.monotonic() + WAIT_S
        answers: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                answers = {
                    kind: httpx.get(probe_url(probe, host_port), timeout=3).status_code
                    for kind, probe in probes.items()
                }
            except httpx.HTTPError:
                answers = {}
            if answers and all(status == 200 for status in answers.values()):
                break
            time.sleep(0.2)
        pods = json.loads(engine("pod", "ps", "--format", "json").stdout)
        pod = next(p for p in pods if p["Name"].startswith(deployment["metadata"]["name"]))
        (app,) = [c for c in pod["Containers"] if c["Names"].endswith(f"-{container['name']}")]
        inspected = json.loads(engine("container", "inspect", app["Id"]).stdout)[0]
        logs = engine("logs", app["Id"], check=False)
        assert answers == dict.fromkeys(probes, 200), logs.stdout + logs.stderr
        assert inspected["State"]["Running"], inspected["State"]
        assert inspected["Config"]["User"].split(":")[0] == "10001"
        assert inspected["HostConfig"]["ReadonlyRootfs"] is True
        tmp = engine("exec", app["Id"], "python", "-c", "open('/tmp/probe', 'w')", check=False)
        assert tmp.returncode == 0, tmp.stderr  # the emptyDir on /tmp
        crop = httpx.post(
            f"http://127.0.0.1:{host_port}/v1/crop",
            files={"image": ("c.png", (REPO / "tests/data/crops/lenna_face0.png").read_bytes())},
            timeout=30,
        )
        assert crop.status_code == 200 and len(crop.json()["faces"][0]["landmarks"]) == 478
    finally:
        engine("kube", "down", str(manifest), check=False, timeout=WAIT_S)
