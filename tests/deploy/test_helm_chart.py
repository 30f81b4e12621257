"""The Helm chart lints, renders with defaults and every feature, and validates offline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import CHART

pytestmark = pytest.mark.deploy
KUBE_VERSION = "1.30.0"
ALL_ON = [
    "api.key=sk-test",
    "metrics.serviceMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.dashboard.enabled=true",
    "networkPolicy.enabled=true",
    "keda.enabled=true",
    "podDisruptionBudget.enabled=true",
    "kafka.existingSecret=kafka-sasl",
    "kafka.schemaRegistryUrl=http://registry:8081",
]
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}


def render(
    helm: str, *sets: str, values: dict[str, Any] | None = None, tmp: Path | None = None
) -> list[dict[str, Any]]:
    args = [helm, "template", "rel", str(CHART), "--kube-version", KUBE_VERSION]
    for item in sets:
        args += ["--set", item]
    if values is not None and tmp is not None:
        path = tmp / "values.json"
        path.write_text(json.dumps(values))
        args += ["-f", str(path)]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def helm_fails(helm: str, *sets: str) -> str:
    args = [helm, "template", "rel", str(CHART), "--kube-version", KUBE_VERSION]
    for item in sets:
        args += ["--set", item]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    assert out.returncode != 0, "helm accepted values it should reject"
    return out.stderr


def validate(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue  # CRDs have no built-in schema; their fields are asserted below
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs}


def test_helm_lint(helm: str) -> None:
    """`helm lint --strict` passes with defaults plus a key, and with every feature on."""
    for sets in (["api.key=x"], ALL_ON):
        args = [helm, "lint", "--strict", str(CHART)]
        for item in sets:
            args += ["--set", item]
        out = subprocess.run(args, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout + out.stderr


def test_default_render_is_valid_and_hardened(helm: str) -> None:
    """Defaults render a valid Deployment with the security and probe settings ops expect."""
    docs = render(helm, "api.key=sk-test")
    validate(docs)
    kinds = by_kind(docs)
    assert set(kinds) == {
        "Deployment",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Service",
        "PodDisruptionBudget",
    }
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    drain = int(kinds["ConfigMap"]["data"]["BGCUT_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > drain
    assert kinds["Deployment"]["spec"]["strategy"]["type"] == "RollingUpdate"
    env = {e["name"]: e for e in container["env"]}
    assert env["BGCUT_API_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "api-key"


def test_every_feature_renders_valid(helm: str) -> None:
    """All optional objects render; built-in kinds validate; CRDs carry the fields that matter."""
    docs = render(helm, *ALL_ON)
    validate(docs)
    kinds = by_kind(docs)
    assert {"ServiceMonitor", "PrometheusRule", "ScaledObject", "NetworkPolicy"} <= set(kinds)
    trigger = kinds["ScaledObject"]["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    assert set(trigger["metadata"]) >= {
        "bootstrapServers",
        "consumerGroup",
        "topic",
        "lagThreshold",
    }
    rules = kinds["PrometheusRule"]["spec"]["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {"BgcutCreditsExhausted", "BgcutNotReady"}
    dashboard = next(
        d for d in docs if d["kind"] == "ConfigMap" and "dashboard" in d["metadata"]["name"]
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["bgcut-stream.json"])["uid"] == "bgcut-stream"
    env = {
        e["name"] for e in kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "BGCUT_KAFKA_CONFIG" in env  # from kafka.existingSecret
    assert "replicas" not in kinds["Deployment"]["spec"]  # KEDA owns the replica count


def test_replicas_never_exceed_partitions(helm: str) -> None:
    """KEDA and HPA maxima are capped at the partition count; a bigger fixed count is refused."""
    keda = by_kind(
        render(
            helm,
            "api.key=x",
            "keda.enabled=true",
            "keda.maxReplicaCount=50",
            "kafka.jobsPartitions=6",
        )
    )
    assert keda["ScaledObject"]["spec"]["maxReplicaCount"] == 6
    hpa = by_kind(
        render(
            helm,
            "api.key=x",
            "autoscaling.enabled=true",
            "autoscaling.maxReplicas=40",
            "kafka.jobsPartitions=8",
        )
    )
    assert hpa["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 8
    error = helm_fails(helm, "api.key=x", "replicaCount=7", "kafka.jobsPartitions=6")
    assert "replicaCount must not exceed kafka.jobsPartitions" in error


def test_kafka_security_settings_pass_through(helm: str, tmp_path: Path) -> None:
    """kafka.config reaches the pod as BGCUT_KAFKA_CONFIG JSON for librdkafka."""
    docs = render(
        helm,
        "api.key=x",
        tmp=tmp_path,
        values={
            "kafka": {
                "config": {"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512"}
            }
        },
    )
    config = json.loads(by_kind(docs)["ConfigMap"]["data"]["BGCUT_KAFKA_CONFIG"])
    assert config == {"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512"}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["api.key=x", "replicaCont=3"], "replicaCont"),
        (["api.key=x", "processing.ordering=random"], "ordering"),
        (["api.key=x", "metrics.port=http"], "port"),
        (["api.key=x", "artifacts.store=ftp://x"], "store"),
        ([], "api.key or api.existingSecret is required"),
    ],
)
def test_bad_values_are_rejected(helm: str, sets: list[str], message: str) -> None:
    """Typos, bad enums, wrong types and a missing key fail the render with a pointer."""
    assert message in helm_fails(helm, *sets)


def test_existing_secret_skips_the_chart_secret(helm: str) -> None:
    """With api.existingSecret no Secret is rendered and the pod reads the named one."""
    kinds = by_kind(render(helm, "api.existingSecret=prod-bgcut"))
    assert "Secret" not in kinds
    env = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["secretKeyRef"]["name"] == "prod-bgcut"
