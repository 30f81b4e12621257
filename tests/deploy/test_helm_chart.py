"""The Helm chart lints, renders with defaults and every feature, and validates offline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.stream.settings import StreamSettings
from tests.deploy.conftest import CHART, KUBE_VERSION, by_kind, render

pytestmark = pytest.mark.deploy
ALL_ON = [
    "api.key=sk-test",
    "metrics.serviceMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.dashboard.enabled=true",
    "networkPolicy.enabled=true",
    "keda.enabled=true",
    "podDisruptionBudget.enabled=true",
    "kafka.existingSecret=kafka-sasl",
    "kafka.sasl.enabled=true",
    "kafka.tls.enabled=true",
    "kafka.tls.caKey=ca.crt",
    "kafka.schemaRegistryUrl=https://registry:8081",
    "kafka.schemaRegistry.existingSecret=registry-auth",
    "processing.maxInFlightPerPartition=4",
]
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}


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
    # The API key is a mounted file (rotated without a restart), never an env var.
    assert "env" not in container
    config = kinds["ConfigMap"]["data"]
    assert config["BGCUT_API_API_KEY_FILE"] == "/var/run/secrets/bgcut/api/api-key"
    assert "BGCUT_KAFKA_CONFIG" not in config
    mount = next(m for m in container["volumeMounts"] if m["name"] == "api-key")
    assert mount["mountPath"] == "/var/run/secrets/bgcut/api"
    assert "subPath" not in mount  # a subPath mount would never see the Secret change
    volume = next(v for v in pod["volumes"] if v["name"] == "api-key")
    assert volume["secret"]["secretName"] == kinds["Secret"]["metadata"]["name"]


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
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"] for e in container["env"]}
    assert {"BGCUT_KAFKA_SASL_USERNAME", "BGCUT_KAFKA_SASL_PASSWORD"} <= env
    assert "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO" in env
    assert "replicas" not in kinds["Deployment"]["spec"]  # KEDA owns the replica count
    # Every BGCUT_ variable the chart sets is a real setting of the service.
    known = {f"BGCUT_{name.upper()}" for name in StreamSettings.model_fields}
    known |= {f"BGCUT_API_{name.upper()}" for name in ClientSettings.model_fields}
    (source,) = container["envFrom"]
    (config,) = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == source["configMapRef"]["name"]
    ]
    assert env | set(config["data"]) <= known


def test_a_default_install_lets_keys_fill_every_slot(helm: str) -> None:
    """Key order and no per-partition cap by default (the service derives it from the ordering:
    every slot under key order); a cap set in values reaches the ConfigMap as given."""
    defaults = by_kind(render(helm, "api.key=x"))["ConfigMap"]["data"]
    assert defaults["BGCUT_ORDERING"] == "key"
    assert "BGCUT_MAX_IN_FLIGHT_PER_PARTITION" not in defaults
    strict = by_kind(
        render(
            helm,
            "api.key=x",
            "processing.ordering=partition",
            "processing.maxInFlightPerPartition=4",
        )
    )["ConfigMap"]["data"]
    assert strict["BGCUT_ORDERING"] == "partition"
    assert strict["BGCUT_MAX_IN_FLIGHT_PER_PARTITION"] == "4"


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


def test_kafka_security_settings_pass_through_with_defaults_off(helm: str, tmp_path: Path) -> None:
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
    """With api.existingSecret no Secret is rendered and the pod mounts the named one."""
    kinds = by_kind(render(helm, "api.existingSecret=prod-bgcut"))
    assert "Secret" not in kinds
    volumes = kinds["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert (
        next(v for v in volumes if v["name"] == "api-key")["secret"]["secretName"] == "prod-bgcut"
    )


def pod_of(kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return kinds["Deployment"]["spec"]["template"]


def secret_refs(kinds: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    container = pod_of(kinds)["spec"]["containers"][0]
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container.get("env") or []
        if "valueFrom" in e
    }


def test_kafka_config_is_merged_with_secret_credentials(helm: str, tmp_path: Path) -> None:
    """kafka.config survives existingSecret; SASL/TLS are implied; credentials stay in Secrets."""
    values = {
        "api": {"key": "x"},
        "kafka": {
            "config": {"socket.timeout.ms": 30000, "ssl.endpoint.identification.algorithm": "none"},
            "existingSecret": "kafka-creds",
            "sasl": {"enabled": True, "mechanism": "SCRAM-SHA-256"},
            "tls": {"enabled": True, "caKey": "ca.pem"},
        },
    }
    kinds = by_kind(render(helm, values=values, tmp=tmp_path))
    config = json.loads(kinds["ConfigMap"]["data"]["BGCUT_KAFKA_CONFIG"])
    assert config == {
        "socket.timeout.ms": 30000,
        "ssl.endpoint.identification.algorithm": "none",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "ssl.ca.location": "/etc/bgcut/kafka-tls/ca.crt",
    }
    assert secret_refs(kinds) == {
        "BGCUT_KAFKA_SASL_USERNAME": ("kafka-creds", "sasl-username"),
        "BGCUT_KAFKA_SASL_PASSWORD": ("kafka-creds", "sasl-password"),
    }
    spec = pod_of(kinds)["spec"]
    tls = next(v for v in spec["volumes"] if v["name"] == "kafka-tls")
    assert tls["secret"] == {
        "secretName": "kafka-creds",
        "items": [{"key": "ca.pem", "path": "ca.crt"}],
    }
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "kafka-tls")
    assert mount["mountPath"] == "/etc/bgcut/kafka-tls"
    error = helm_fails(helm, "api.key=x", "kafka.sasl.enabled=true")
    assert "kafka.existingSecret is required with kafka.sasl.enabled" in error


def test_schema_registry_credentials_come_from_a_secret(helm: str) -> None:
    """basic.auth.user.info is a secretKeyRef; credentials in the URL (a ConfigMap) are refused."""
    kinds = by_kind(
        render(
            helm,
            "api.key=x",
            "kafka.schemaRegistryUrl=https://registry.example:8081",
            "kafka.schemaRegistry.existingSecret=sr-auth",
        )
    )
    assert (
        kinds["ConfigMap"]["data"]["BGCUT_SCHEMA_REGISTRY_URL"] == "https://registry.example:8081"
    )
    assert secret_refs(kinds) == {
        "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": ("sr-auth", "basic-auth-user-info")
    }
    error = helm_fails(helm, "api.key=x", "kafka.schemaRegistryUrl=https://user:pw@registry:8081")
    assert "schemaRegistryUrl" in error


def test_a_changed_secret_restarts_pods(helm: str) -> None:
    """The pod template's checksum/secret follows the Secret; the config checksum does not."""
    first = pod_of(by_kind(render(helm, "api.key=old")))["metadata"]["annotations"]
    second = pod_of(by_kind(render(helm, "api.key=new")))["metadata"]["annotations"]
    assert first["checksum/secret"] != second["checksum/secret"]
    assert first["checksum/config"] == second["checksum/config"]
    other = pod_of(by_kind(render(helm, "api.existingSecret=a", "kafka.existingSecret=k")))
    assert other["metadata"]["annotations"]["checksum/secret"] != first["checksum/secret"]


def test_keda_reads_lag_with_the_pods_credentials(helm: str) -> None:
    """TriggerAuthentication uses the same Secret and keys as the pods; lag policy matches."""
    kinds = by_kind(
        render(
            helm,
            "api.key=x",
            "keda.enabled=true",
            "keda.minReplicaCount=0",
            "keda.activationLagThreshold=5",
            "keda.limitToPartitionsWithLag=true",
            "kafka.existingSecret=kafka-creds",
            "kafka.sasl.enabled=true",
            "kafka.tls.enabled=true",
            "kafka.tls.caKey=ca.pem",
        )
    )
    auth = kinds["TriggerAuthentication"]
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    pod_refs = secret_refs(kinds)
    assert refs == {
        "username": pod_refs["BGCUT_KAFKA_SASL_USERNAME"],
        "password": pod_refs["BGCUT_KAFKA_SASL_PASSWORD"],
        "ca": ("kafka-creds", "ca.pem"),
    }
    scaled = kinds["ScaledObject"]["spec"]
    (trigger,) = scaled["triggers"]
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert scaled["minReplicaCount"] == 0
    meta = trigger["metadata"]
    assert meta["offsetResetPolicy"] == "earliest"  # the service starts new groups at earliest
    assert meta["activationLagThreshold"] == "5"
    assert meta["limitToPartitionsWithLag"] == "true"
    assert meta["sasl"] == "scram_sha512"
    assert meta["tls"] == "enable"


def test_keda_without_kafka_auth_has_no_trigger_authentication(helm: str) -> None:
    """A plaintext cluster needs no TriggerAuthentication; defaults are KEDA-valid strings."""
    kinds = by_kind(render(helm, "api.key=x", "keda.enabled=true"))
    assert "TriggerAuthentication" not in kinds
    (trigger,) = kinds["ScaledObject"]["spec"]["triggers"]
    assert "authenticationRef" not in trigger
    assert trigger["metadata"]["activationLagThreshold"] == "0"
    assert trigger["metadata"]["limitToPartitionsWithLag"] == "false"
    assert "sasl" not in trigger["metadata"]


def test_chart_readme_lists_every_value_with_its_default() -> None:
    """helm/bgcut-stream/README.md's values table has every leaf of values.yaml and its default."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    table = {}
    for line in (CHART / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            table[cells[0].strip("`")] = json.loads(cells[1].strip("`").replace("\\|", "|"))
    whole = {"resources", "podSecurityContext", "securityContext"}

    def leaves(node: Any, path: str) -> dict[str, Any]:
        if isinstance(node, dict) and node and path not in whole and not path.endswith("labels"):
            out: dict[str, Any] = {}
            for key, value in node.items():
                out |= leaves(value, f"{path}.{key}" if path else key)
            return out
        return {path: node}

    assert table == leaves(values, "")
