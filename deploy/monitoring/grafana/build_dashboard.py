"""Writes ``facemesh-dashboard.json``, the Grafana dashboard for the gateway and Triton.

The panels are declared here as (title, unit, queries) rather than edited in 1,000 lines of
JSON; ``tests/deploy`` checks that the committed JSON is what this script writes and that
every ``facemesh_*`` metric it queries is declared in ``service/metrics.py``.

    python deploy/monitoring/grafana/build_dashboard.py      # rewrite the JSON

Import the JSON in Grafana (Dashboards > Import) and pick the Prometheus data source; the
``job`` labels come from deploy/monitoring/prometheus-k8s.yml (facemesh-gateway, facemesh-triton).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("facemesh-dashboard.json")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GW = 'job="facemesh-gateway", namespace=~"$namespace"'
TR = 'job="facemesh-triton", namespace=~"$namespace", model="facemesh"'
TRJ = 'job="facemesh-triton", namespace=~"$namespace"'
V1 = 'endpoint=~"/v1/.*"'

# (title, unit, [(legend, expr)], width) per row.
ROWS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]], int]]]] = [
    (
        "Gateway: traffic and errors",
        [
            (
                "Requests per second by endpoint and status",
                "reqps",
                [
                    (
                        "{{endpoint}} {{status}}",
                        f"sum by (endpoint, status) "
                        f"(rate(facemesh_http_requests_total{{{GW}, {V1}}}[$__rate_interval]))",
                    )
                ],
                12,
            ),
            (
                "5xx ratio (SLO: < 1%)",
                "percentunit",
                [
                    (
                        "5xx / all",
                        f'sum(rate(facemesh_http_requests_total{{{GW}, {V1}, status=~"5.."}}'
                        f"[$__rate_interval])) / "
                        f"sum(rate(facemesh_http_requests_total{{{GW}, {V1}}}[$__rate_interval]))",
                    ),
                    (
                        "4xx / all",
                        f'sum(rate(facemesh_http_requests_total{{{GW}, {V1}, status=~"4.."}}'
                        f"[$__rate_interval])) / "
                        f"sum(rate(facemesh_http_requests_total{{{GW}, {V1}}}[$__rate_interval]))",
                    ),
                ],
                6,
            ),
            (
                "Errors by code",
                "reqps",
                [
                    (
                        "{{code}}",
                        f"sum by (code) (rate(facemesh_errors_total{{{GW}}}[$__rate_interval]))",
                    )
                ],
                6,
            ),
        ],
    ),
    (
        "Gateway: latency",
        [
            (
                "Request latency (p50 / p95 / p99) by endpoint",
                "s",
                [
                    (
                        f"p{q} {{{{endpoint}}}}",
                        f"histogram_quantile(0.{q}, sum by (le, endpoint) "
                        f"(rate(facemesh_http_request_duration_seconds_bucket{{{GW}, {V1}}}"
                        f"[$__rate_interval])))",
                    )
                    for q in ("50", "95", "99")
                ],
                12,
            ),
            (
                "Share of /v1 requests within 250 ms (SLO: 99%)",
                "percentunit",
                [
                    (
                        "<= 250 ms",
                        f"sum(rate(facemesh_http_request_duration_seconds_bucket"
                        f'{{{GW}, {V1}, le="0.25"}}[$__rate_interval])) / '
                        f"sum(rate(facemesh_http_request_duration_seconds_count"
                        f"{{{GW}, {V1}}}[$__rate_interval]))",
                    )
                ],
                12,
            ),
            (
                "Stage latency p95 (decode, preprocess, inference, postprocess, total)",
                "s",
                [
                    (
                        "{{stage}}",
                        f"histogram_quantile(0.95, sum by (le, stage) "
                        f"(rate(facemesh_stage_duration_seconds_bucket{{{GW}}}"
                        f"[$__rate_interval])))",
                    )
                ],
                12,
            ),
            (
                "Mean stage time per request",
                "s",
                [
                    (
                        "{{stage}}",
                        f"sum by (stage) (rate(facemesh_stage_duration_seconds_sum{{{GW}}}"
                        f"[$__rate_interval])) / sum by (stage) "
                        f"(rate(facemesh_stage_duration_seconds_count{{{GW}}}[$__rate_interval]))",
                    )
                ],
                12,
            ),
        ],
    ),
    (
        "Gateway: load and scaling",
        [
            (
                "In-flight /v1 requests per pod (HPA target: 8)",
                "short",
                [
                    (
                        "{{pod}}",
                        f"sum by (pod) (facemesh_http_requests_in_flight{{{GW}, {V1}}})",
                    )
                ],
                8,
            ),
            (
                "Images per crops request (/v1/crop, /v1/crops)",
                "short",
                [
                    (
                        "mean",
                        f"sum(rate(facemesh_request_images_sum{{{GW}}}[$__rate_interval])) / "
                        f"sum(rate(facemesh_request_images_count{{{GW}}}[$__rate_interval]))",
                    ),
                    (
                        "p95",
                        f"histogram_quantile(0.95, sum by (le) "
                        f"(rate(facemesh_request_images_bucket{{{GW}}}[$__rate_interval])))",
                    ),
                ],
                8,
            ),
            (
                "Crops answered per second by outcome",
                "short",
                [
                    (
                        "{{outcome}}",
                        f"sum by (outcome) (rate(facemesh_crops_total{{{GW}}}[$__rate_interval]))",
                    )
                ],
                8,
            ),
            (
                "Gateway replicas (kube-state-metrics)",
                "short",
                [
                    (
                        "available",
                        'sum(kube_deployment_status_replicas_available{namespace=~"$namespace", '
                        'deployment="facemesh-gateway"})',
                    ),
                    (
                        "desired (HPA)",
                        "sum(kube_horizontalpodautoscaler_status_desired_replicas{namespace=~"
                        '"$namespace", horizontalpodautoscaler="facemesh-gateway"})',
                    ),
                ],
                8,
            ),
            (
                "Gateway CPU per pod (cores, cAdvisor)",
                "short",
                [
                    (
                        "{{pod}}",
                        "sum by (pod) (rate(container_cpu_usage_seconds_total{namespace=~"
                        '"$namespace", container="gateway"}[$__rate_interval]))',
                    )
                ],
                8,
            ),
            (
                "Gateway memory per pod (working set)",
                "bytes",
                [
                    (
                        "{{pod}}",
                        "sum by (pod) (container_memory_working_set_bytes{namespace=~"
                        '"$namespace", container="gateway"})',
                    )
                ],
                8,
            ),
        ],
    ),
    (
        "Triton",
        [
            (
                "Triton readiness (ready pods / up)",
                "short",
                [
                    (
                        "ready pods",
                        'sum(kube_pod_status_ready{namespace=~"$namespace", '
                        'pod=~"facemesh-triton-.*", condition="true"})',
                    ),
                    ("scraped (up)", f"sum(up{{{TRJ}}})"),
                ],
                6,
            ),
            (
                "Inferences and executions per second",
                "short",
                [
                    (
                        "inferences (images)",
                        f"sum(rate(nv_inference_count{{{TR}}}[$__rate_interval]))",
                    ),
                    (
                        "executions (model calls)",
                        f"sum(rate(nv_inference_exec_count{{{TR}}}[$__rate_interval]))",
                    ),
                    (
                        "failed requests",
                        f"sum(rate(nv_inference_request_failure{{{TR}}}[$__rate_interval]))",
                    ),
                ],
                9,
            ),
            (
                "Dynamic batching: images per execution",
                "short",
                [
                    (
                        "mean batch",
                        f"sum(rate(nv_inference_count{{{TR}}}[$__rate_interval])) / "
                        f"sum(rate(nv_inference_exec_count{{{TR}}}[$__rate_interval]))",
                    )
                ],
                9,
            ),
            (
                "Time per request in Triton: queue vs compute",
                "s",
                [
                    (
                        name,
                        f"sum(rate({metric}{{{TR}}}[$__rate_interval])) / "
                        f"sum(rate(nv_inference_request_success{{{TR}}}[$__rate_interval])) / 1e6",
                    )
                    for name, metric in (
                        ("queue", "nv_inference_queue_duration_us"),
                        ("compute input", "nv_inference_compute_input_duration_us"),
                        ("compute infer", "nv_inference_compute_infer_duration_us"),
                        ("compute output", "nv_inference_compute_output_duration_us"),
                        ("request total", "nv_inference_request_duration_us"),
                    )
                ],
                12,
            ),
            (
                "Pending requests",
                "short",
                [
                    (
                        "{{pod}}",
                        f"sum by (pod) (nv_inference_pending_request_count{{{TR}}})",
                    )
                ],
                12,
            ),
            (
                "GPU utilisation",
                "percentunit",
                [("{{pod}} {{gpu_uuid}}", f"nv_gpu_utilization{{{TRJ}}}")],
                12,
            ),
            (
                "GPU memory used",
                "bytes",
                [
                    ("{{pod}} used", f"nv_gpu_memory_used_bytes{{{TRJ}}}"),
                    ("{{pod}} total", f"nv_gpu_memory_total_bytes{{{TRJ}}}"),
                ],
                12,
            ),
        ],
    ),
]


def _panel(
    panel_id: int, title: str, unit: str, queries: list[tuple[str, str]], x: int, y: int, w: int
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10}},
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
            }
            for index, (legend, expr) in enumerate(queries)
        ],
    }


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    panel_id = 1
    y = 0
    for row_title, row_panels in ROWS:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        panel_id += 1
        y += 1
        x = 0
        for title, unit, queries, width in row_panels:
            if x + width > 24:
                x = 0
                y += 8
            panels.append(_panel(panel_id, title, unit, queries, x, y, width))
            panel_id += 1
            x += width
        y += 8
    return {
        "title": "Face mesh: gateway and Triton",
        "uid": "facemesh-overview",
        "description": "Gateway (service/metrics.py) and Triton metrics; built by "
        "deploy/monitoring/grafana/build_dashboard.py.",
        "tags": ["facemesh", "triton", "fastapi"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "namespace",
                    "label": "Namespace",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": 'label_values(up{job="facemesh-gateway"}, namespace)',
                    "definition": 'label_values(up{job="facemesh-gateway"}, namespace)',
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                    "current": {},
                    "hide": 0,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
