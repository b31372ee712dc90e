"""deploy/: every manifest parses, and probes, ports, labels and metric names agree with each
other and with the service (Settings defaults, routes, service/metrics.py).

Kustomize is resolved here in Python (resources + strategic-merge patches, enough for our
overlays); when ``kubectl`` is on PATH the overlays are also rendered by the real kustomize.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from service import metrics as service_metrics
from service.core.config import ENV_PREFIX, Settings
from service.core.memory import MIB, memory_budget_mib
from service.main import create_app
from tools.servers.gateway import settings_from_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
MONITORING = DEPLOY / "monitoring"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
GATEWAY = "facemesh-gateway"
TRITON = "facemesh-triton"

# Metrics that come from outside the gateway: Triton's /metrics, kube-state-metrics,
# cAdvisor (kubelet) and Prometheus itself.
TRITON_METRICS = {
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
    "nv_inference_pending_request_count",
    "nv_gpu_utilization",
    "nv_gpu_memory_total_bytes",
    "nv_gpu_memory_used_bytes",
}
CLUSTER_METRICS = {
    "up",
    "kube_pod_status_ready",
    "kube_deployment_status_replicas_available",
    "kube_horizontalpodautoscaler_status_desired_replicas",
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
}


# --- loading -----------------------------------------------------------------------------


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})


def load_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def merge(base: Any, patch: Any) -> Any:
    """Strategic-merge subset: maps merge; lists of named maps merge by name; others replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out_list = [copy.deepcopy(i) for i in base]
        index = {item["name"]: n for n, item in enumerate(out_list)}
        for item in patch:
            if item["name"] in index:
                out_list[index[item["name"]]] = merge(out_list[index[item["name"]]], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def build(directory: Path) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, str]]:
    """Resolve a kustomization: resources by (kind, name) and the gateway ConfigMap literals."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    config: dict[str, str] = {}
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            sub_resources, sub_config = build(target)
            resources.update(sub_resources)
            config.update(sub_config)
        else:
            for doc in load_docs(target):
                resources[_key(doc)] = doc
    for generator in kustomization.get("configMapGenerator", []):
        literals = dict(item.split("=", 1) for item in generator.get("literals", []))
        files = {
            name: directory / path
            for name, _, path in (item.partition("=") for item in generator.get("files", []))
        }
        for path in files.values():
            assert path.resolve().is_relative_to(directory.resolve()), path
            assert path.exists(), path
        key = ("ConfigMap", generator["name"])
        if generator.get("behavior", "create") == "create":
            assert key not in resources, f"ConfigMap {generator['name']} generated twice"
        data = dict(resources.get(key, {}).get("data", {}))
        data.update(literals)
        data.update({name: path.read_text() for name, path in files.items()})
        resources[key] = {
            "kind": "ConfigMap",
            "metadata": {"name": generator["name"]},
            "data": data,
        }
        if generator["name"] == "facemesh-gateway-config":
            config.update(literals)
    for patch in kustomization.get("patches", []):
        doc = (
            yaml.safe_load(patch["patch"])
            if "patch" in patch
            else yaml.safe_load((directory / patch["path"]).read_text())
        )
        key = _key(doc)
        assert key in resources, f"{directory}: patch targets missing {key}"
        if doc.get("$patch") == "delete":
            del resources[key]
        else:
            resources[key] = merge(resources[key], doc)
    return resources, config


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def declared_metric_samples() -> dict[str, str]:
    """Every sample name the gateway can export (``_bucket``, ``_total``, ...) -> its type."""
    samples: dict[str, str] = {}
    for value in vars(service_metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            suffixes = {
                "counter": ("_total", "_created"),
                "histogram": ("_bucket", "_count", "_sum", "_created"),
                "gauge": ("",),
                "summary": ("_count", "_sum", "_created"),
            }[family.type]
            for suffix in suffixes:
                samples[family.name + suffix] = family.type
    return samples


PROMQL_WORDS = {
    "sum", "by", "rate", "histogram_quantile", "avg_over_time", "absent", "and", "or",
    "le", "without", "on", "ignoring", "max", "min", "avg", "count", "irate", "increase",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (identifiers followed by ``{`` or ``[``, or
    standing alone outside label matchers), minus functions and keywords."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_matchers = re.sub(r"\{[^}]*\}", "{}", without_strings)
    without_templates = re.sub(r"\$\w+", "", without_matchers)
    without_templates = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_templates
    )
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", without_templates))
    return {n for n in names if n not in PROMQL_WORDS and not re.fullmatch(r"[0-9e.]+|[smhd]", n)}


def check_metric_known(name: str, declared: dict[str, str]) -> None:
    if name.startswith("facemesh_"):
        assert name in declared, f"{name} is not declared in service/metrics.py"
    else:
        assert name in TRITON_METRICS | CLUSTER_METRICS, f"unknown metric {name}"


# --- every file parses ----------------------------------------------------------------------


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path} is empty"


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.json")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_every_json_file_is_a_grafana_dashboard(path: Path) -> None:
    """The only JSON deploy/ ships is Grafana dashboards: an object Grafana imports, with a
    uid, a schema version and panels that each have a unique id, a type and a title."""
    dashboard = json.loads(path.read_text())
    assert isinstance(dashboard, dict), path
    assert isinstance(dashboard["uid"], str) and dashboard["uid"]
    assert isinstance(dashboard["title"], str) and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    assert isinstance(panels, list) and panels
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        assert panel["type"] and panel["title"], panel


def test_there_is_a_base_and_a_gpu_overlay() -> None:
    assert (K8S / "base" / "kustomization.yaml").exists()
    assert K8S / "overlays" / "gpu" in OVERLAYS


# --- kustomize: the base and every overlay ------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_resolves_with_a_gateway_and_its_objects(overlay: Path) -> None:
    resources, config = build(overlay)
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert (kind, GATEWAY) in resources, f"{overlay.name}: no {kind} {GATEWAY}"
    assert config["FACEMESH_BACKEND"] in {"embedded", "triton"}
    if config["FACEMESH_BACKEND"] == "triton":
        for kind in ("Deployment", "Service", "PodDisruptionBudget"):
            assert (kind, TRITON) in resources, f"{overlay.name}: triton backend, no {kind}"


def test_gpu_overlay_puts_triton_on_a_gpu() -> None:
    resources, config = build(K8S / "overlays" / "gpu")
    assert config["FACEMESH_BACKEND"] == "triton"
    (triton,) = containers(resources[("Deployment", TRITON)])
    for section in ("requests", "limits"):
        assert triton["resources"][section]["nvidia.com/gpu"] == "1"
    # The probes of the base survive the patch.
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_cpu_overlay_runs_the_models_in_the_gateway_on_openvino() -> None:
    resources, config = build(K8S / "overlays" / "cpu")
    assert (config["FACEMESH_BACKEND"], config["FACEMESH_RUNTIME"]) == ("embedded", "openvino")
    assert ("Deployment", TRITON) not in resources


def test_gateway_settings_in_the_configmap_are_real_settings() -> None:
    fields = set(Settings.model_fields)
    for overlay in OVERLAYS:
        _, config = build(overlay)
        for name, value in config.items():
            assert name.startswith(ENV_PREFIX), name
            field = name.removeprefix(ENV_PREFIX).lower()
            assert field in fields, f"{overlay.name}: {name} is not a Settings field"
            Settings(**{field: value})  # the value validates


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_real_kustomize_renders_the_overlay(overlay: Path) -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    # Generated ConfigMaps carry a content-hash suffix.
    kinds = {
        (d["kind"], re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"]))
        if d["kind"] == "ConfigMap"
        else (d["kind"], d["metadata"]["name"])
        for d in docs
    }
    expected, _ = build(overlay)
    assert set(expected) == kinds


# --- deployments, services, probes, ports ---------------------------------------------------


def all_resources() -> dict[tuple[str, str], dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for overlay in OVERLAYS:
        merged.update(build(overlay)[0])
    return merged


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_deployments_have_probes_resources_and_matching_selectors(overlay: Path) -> None:
    resources, _ = build(overlay)
    for (kind, name), deployment in resources.items():
        if kind != "Deployment":
            continue
        template = deployment["spec"]["template"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items(), name
        pod_spec = template["spec"]
        for container in pod_spec["containers"] + pod_spec.get("initContainers", []):
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resource in container["resources"][section], (name, section, resource)
        for container in pod_spec["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe"):
                assert probe in container, (name, probe)
                port = container[probe]["httpGet"]["port"]
                assert port in ports or port in ports.values(), (name, probe, port)


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1000 / MIB, "M": 1e6 / MIB, "G": 1e9 / MIB}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return float(number) * (units[unit] if unit else 1 / MIB)


@pytest.mark.parametrize("overlay", [K8S / "base", *OVERLAYS], ids=lambda p: p.name)
def test_gateway_memory_matches_the_memory_budget(overlay: Path) -> None:
    """docs/operations.md "Memory budget" for the pod's own settings: the limit holds the
    peak with at most 25 % to spare; the request holds RSS at ready plus decoded images."""
    resources, config = build(overlay)
    settings = settings_from_env(config)
    (gateway,) = containers(resources[("Deployment", GATEWAY)])
    limit = _mebibytes(gateway["resources"]["limits"]["memory"])
    request = _mebibytes(gateway["resources"]["requests"]["memory"])
    budget = memory_budget_mib(settings)
    assert budget <= limit <= 1.25 * budget, (overlay.name, budget, limit)
    ready = memory_budget_mib(settings) - memory_budget_mib(settings, ready_mib=0)
    assert ready + settings.decode_memory_bytes / MIB <= request <= limit, (overlay.name, request)


def test_gateway_probes_and_port_match_the_service() -> None:
    resources = all_resources()
    (gateway,) = containers(resources[("Deployment", GATEWAY)])
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    default_port = Settings.model_fields["port"].default
    assert ports == {"http": default_port} == {"http": 8000}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # The routes exist in the app the image runs.
    app = create_app(Settings())
    paths = set(app.openapi()["paths"]) | {getattr(r, "path", None) for r in app.routes}
    assert {"/readyz", "/healthz", "/metrics"} <= paths
    _, config = build(K8S / "overlays" / "gpu")
    assert int(config["FACEMESH_PORT"]) == ports["http"]


# What the triton backend asks Triton for: the mesh, the detector, FaceLandmarker's landmark
# model (?model=landmarker) and its blendshape model (?blendshapes=true).
TRITON_MODELS = ("facemesh", "face_detector", "face_landmarker", "face_blendshapes")


def test_triton_serves_the_repository_configs_and_the_gateway_image_models() -> None:
    resources, _ = build(K8S / "overlays" / "gpu")
    config_map = resources[("ConfigMap", "facemesh-triton-model-config")]
    pod = resources[("Deployment", TRITON)]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model-config"]["configMap"]["name"] == "facemesh-triton-model-config"
    (init,) = pod["initContainers"]
    assert init["image"] == "facemesh-gateway"
    script = " ".join(init["command"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    # Every model Triton must serve for the gateway's Triton backend is laid out.
    settings = Settings()
    assert {
        settings.model_name,
        settings.detector_model_name,
        settings.landmarker_model_name,
        settings.blendshapes_model_name,
    } == set(TRITON_MODELS)
    for model in TRITON_MODELS:
        production = (ROOT / "model_repository" / model / "config.pbtxt").read_text()
        copy_name = f"deploy/k8s/base/{model}-config.pbtxt"
        assert config_map["data"][f"{model}.pbtxt"] == production, (
            f"{copy_name} is out of date: cp model_repository/{model}/config.pbtxt {copy_name}"
        )
        # The Dockerfile builds the model where the init container copies it from.
        assert f"model_repository/{model}/1/model.onnx" in dockerfile
    assert f"for m in {' '.join(TRITON_MODELS)}" in script
    assert "/app/model_repository/$m/1/model.onnx /models/$m/1/model.onnx" in script
    assert "/model-config/$m.pbtxt /models/$m/config.pbtxt" in script
    assert "COPY --from=build /src/model_repository/ /app/model_repository/" in dockerfile
    (triton,) = containers(resources[("Deployment", TRITON)])
    assert "--model-repository=/models" in triton["args"]
    # The image's user (Dockerfile) is the one the manifests run as.
    assert "--uid 10001" in dockerfile
    gateway_pod = resources[("Deployment", GATEWAY)]["spec"]["template"]["spec"]
    assert gateway_pod["securityContext"]["runAsUser"] == 10001


def test_termination_grace_covers_prestop_and_drain() -> None:
    """SIGKILL must not come before the gateway has drained: grace > preStop + drain."""
    resources, config = build(K8S / "overlays" / "gpu")
    pod = resources[("Deployment", GATEWAY)]["spec"]["template"]["spec"]
    (gateway,) = pod["containers"]
    command = gateway["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    drain = float(config.get("FACEMESH_SHUTDOWN_TIMEOUT_S", Settings().shutdown_timeout_s))
    assert pod["terminationGracePeriodSeconds"] > float(command[1]) + drain
    # The HPA's in-flight target is below the point where the pod starts shedding load.
    hpa = resources[("HorizontalPodAutoscaler", GATEWAY)]["spec"]
    pods_metric = next(m for m in hpa["metrics"] if m["type"] == "Pods")
    target = float(pods_metric["pods"]["target"]["averageValue"])
    max_in_flight = int(config.get("FACEMESH_MAX_IN_FLIGHT", Settings().max_in_flight))
    assert target < max_in_flight


def test_triton_url_points_at_the_triton_service_grpc_port() -> None:
    resources, config = build(K8S / "overlays" / "gpu")
    host, port = config["FACEMESH_TRITON_URL"].rsplit(":", 1)
    assert config["FACEMESH_TRITON_PROTOCOL"] == "grpc"
    service = resources[("Service", host)]
    grpc = next(p for p in service["spec"]["ports"] if p["port"] == int(port))
    (triton,) = containers(resources[("Deployment", TRITON)])
    container_ports = {p["name"]: p["containerPort"] for p in triton["ports"]}
    assert grpc["targetPort"] == "grpc" and container_ports["grpc"] == 8001
    assert f"--grpc-port={container_ports['grpc']}" in triton["args"]
    assert f"--http-port={container_ports['http']}" in triton["args"]
    assert f"--metrics-port={container_ports['metrics']}" in triton["args"]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_services_select_their_deployment_and_target_named_ports(overlay: Path) -> None:
    resources, _ = build(overlay)
    for (kind, name), service in resources.items():
        if kind != "Service":
            continue
        deployment = resources[("Deployment", name)]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        port_names = {p["name"] for c in containers(deployment) for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, (name, port)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_pdbs_select_existing_deployments(overlay: Path) -> None:
    resources, _ = build(overlay)
    for (kind, name), pdb in resources.items():
        if kind != "PodDisruptionBudget":
            continue
        labels = resources[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert ("minAvailable" in pdb["spec"]) != ("maxUnavailable" in pdb["spec"])


def test_prometheus_annotations_point_at_the_metrics_ports() -> None:
    resources = all_resources()
    expected = {GATEWAY: "http", TRITON: "metrics"}
    for name, port_name in expected.items():
        deployment = resources[("Deployment", name)]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        ports = {p["name"]: p["containerPort"] for c in containers(deployment) for p in c["ports"]}
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) == ports[port_name]


# --- autoscaling ----------------------------------------------------------------------------


def adapter_rules() -> list[dict[str, Any]]:
    values = yaml.safe_load((MONITORING / "prometheus-adapter-values.yaml").read_text())
    return list(values["rules"]["custom"])


def test_hpa_scales_the_gateway_on_cpu_and_an_adapter_metric() -> None:
    resources = all_resources()
    hpa = resources[("HorizontalPodAutoscaler", GATEWAY)]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": GATEWAY}
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    by_type = {m["type"]: m for m in hpa["metrics"]}
    assert by_type["Resource"]["resource"]["name"] == "cpu"
    custom = by_type["Pods"]["pods"]["metric"]["name"]
    exposed = {rule["name"]["as"] for rule in adapter_rules()}
    assert custom in exposed, f"HPA metric {custom} is not served by prometheus-adapter"
    # HPA on CPU utilisation needs CPU requests on every container.
    (gateway,) = containers(resources[("Deployment", GATEWAY)])
    assert "cpu" in gateway["resources"]["requests"]


def test_adapter_rules_query_declared_gauges_and_histograms() -> None:
    declared = declared_metric_samples()
    for rule in adapter_rules():
        series = re.match(r"([a-z_:]+)\{", rule["seriesQuery"])
        assert series, rule["seriesQuery"]
        assert series.group(1) in declared, series.group(1)
        assert re.fullmatch(rule["name"]["matches"].strip("^$"), series.group(1))
        assert {"namespace", "pod"} <= set(rule["resources"]["overrides"])
        assert "<<.Series>>" in rule["metricsQuery"]
        assert "<<.LabelMatchers>>" in rule["metricsQuery"]


# --- Prometheus config, alert rules, dashboard ----------------------------------------------


def test_prometheus_config_loads_the_rules_and_keeps_our_pods() -> None:
    config = yaml.safe_load((MONITORING / "prometheus-k8s.yml").read_text())
    for rule_file in config["rule_files"]:
        assert (MONITORING / rule_file).exists(), rule_file
    (job,) = config["scrape_configs"]
    relabels = job["relabel_configs"]
    targets = {r.get("target_label") for r in relabels}
    assert {"job", "namespace", "pod", "__address__", "__metrics_path__"} <= targets
    assert any(
        r["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
        for r in relabels
    )
    # The address rewrite turns the pod IP and the port annotation into host:port.
    address = next(r for r in relabels if r.get("target_label") == "__address__")
    match = re.fullmatch(address["regex"], "10.1.2.3:8080;8000")
    assert match and match.expand(address["replacement"].replace("$", "\\")) == "10.1.2.3:8000"


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_rules_cover_errors_latency_and_triton_readiness() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for required in (
        "FacemeshGatewayHighErrorRate",
        "FacemeshLatencySLOFastBurn",
        "FacemeshTritonNotReady",
    ):
        assert required in names
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")"), rule["alert"]
        assert expr.count("{") == expr.count("}"), rule["alert"]


def test_every_metric_in_rules_and_dashboard_exists() -> None:
    declared = declared_metric_samples()
    expressions = [rule["expr"] for rule in alert_rules()]
    dashboard = json.loads((MONITORING / "grafana" / "facemesh-dashboard.json").read_text())
    expressions += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    seen: set[str] = set()
    for expr in expressions:
        for name in metric_names(expr):
            check_metric_known(name, declared)
            seen.add(name)
    # The dashboard and rules do use the gateway's request, latency and in-flight metrics.
    assert {
        "facemesh_http_requests_total",
        "facemesh_http_request_duration_seconds_bucket",
        "facemesh_http_requests_in_flight",
        "facemesh_stage_duration_seconds_bucket",
    } <= seen


def test_label_names_used_on_gateway_metrics_exist() -> None:
    labels = {
        "facemesh_http_requests_total": set(service_metrics.REQUESTS._labelnames),
        "facemesh_http_request_duration_seconds": set(service_metrics.REQUEST_SECONDS._labelnames),
        "facemesh_http_requests_in_flight": set(service_metrics.IN_FLIGHT._labelnames),
        "facemesh_stage_duration_seconds": set(service_metrics.STAGE_SECONDS._labelnames),
    }
    # Labels Prometheus adds at scrape time (prometheus.yml) or that histograms carry.
    scrape_labels = {"job", "namespace", "pod", "node", "instance", "le"}
    texts = [(MONITORING / "alerts.yml").read_text()]
    texts.append((MONITORING / "grafana" / "facemesh-dashboard.json").read_text())
    for text in texts:
        for metric, names in labels.items():
            for matchers in re.findall(rf"{metric}(?:_bucket|_count|_sum)?\{{([^}}]*)\}}", text):
                used = set(re.findall(r"(\w+)\s*=~?", matchers.replace('\\"', '"')))
                assert used <= names | scrape_labels, (metric, used)


def test_latency_slo_threshold_is_a_histogram_bucket() -> None:
    """The SLO alerts read the le="0.25" bucket: it must exist in the gateway's buckets."""
    text = (MONITORING / "alerts.yml").read_text()
    thresholds = {float(v) for v in re.findall(r'le="([0-9.]+)"', text)}
    assert thresholds
    assert thresholds <= set(service_metrics.STAGE_BUCKETS_S)


def test_dashboard_is_what_the_builder_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_dashboard", MONITORING / "grafana" / "build_dashboard.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (MONITORING / "grafana" / "facemesh-dashboard.json").read_text()
    assert committed == module.render(), "run python deploy/monitoring/grafana/build_dashboard.py"
    dashboard = json.loads(committed)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_metric_name_parser() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(foo_bucket{job="a", le="0.25"}[5m]))) '
        "/ sum by (endpoint, status) (rate(bar_total[5m])) > 0.01 and absent(up == 1)"
    )
    assert metric_names(expr) == {"foo_bucket", "bar_total", "up"}


def test_compose_and_kubernetes_run_the_same_images() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    compose_images = {s["image"] for s in compose["services"].values() if "image" in s}
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    k8s_images = {f"{i['newName']}:{i['newTag']}" for i in kustomization["images"]}
    assert k8s_images <= compose_images, k8s_images - compose_images


def test_triton_init_script_lays_out_the_repository(tmp_path: Path) -> None:
    """Run the init container's shell script against a fake image filesystem."""
    resources, _ = build(K8S / "overlays" / "gpu")
    (init,) = resources[("Deployment", TRITON)]["spec"]["template"]["spec"]["initContainers"]
    shell, flag, script = init["command"]
    for model in TRITON_MODELS:
        (tmp_path / "app" / "model_repository" / model / "1").mkdir(parents=True)
        (tmp_path / "app" / "model_repository" / model / "1" / "model.onnx").write_text(model)
        (tmp_path / "model-config").mkdir(exist_ok=True)
        (tmp_path / "model-config" / f"{model}.pbtxt").write_text(f"name: {model}")
    for path in ("/app/", "/model-config/", "/models/"):
        script = script.replace(path, f"{tmp_path}{path}")
    subprocess.run([shell, flag, script], check=True)
    for model in TRITON_MODELS:
        assert (tmp_path / "models" / model / "1" / "model.onnx").read_text() == model
        assert (tmp_path / "models" / model / "config.pbtxt").read_text() == f"name: {model}"
    # A missing model fails the init container (and so the pod), not Triton later.
    (tmp_path / "app" / "model_repository" / "face_detector" / "1" / "model.onnx").unlink()
    assert subprocess.run([shell, flag, script], capture_output=True).returncode != 0
