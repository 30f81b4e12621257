"""The service's settings as a default Helm install gives them: the rendered chart's ConfigMap.

``helm template`` (the ``make tools`` binary) renders ``helm/bgcut-stream`` with its default
values; the bench keeps every setting of the ConfigMap except those naming a place (broker,
topics, group, API, store, metrics port, key file), which point at the bench's own instead. So
the row measures what a platform team gets from ``helm install`` without a values file: key
order, 32 slots (the per-partition cap left to the service's default), INFO logs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "bgcut-stream"
KUBE_VERSION = "1.30.0"  # the chart requires >= 1.25; helm's offline default is older
API_KEY = ("--set", "api.key=bench")  # the one value the chart requires
PLACES = {  # set by the bench: where things are here instead of in a cluster
    "BGCUT_KAFKA_BOOTSTRAP_SERVERS",
    "BGCUT_JOBS_TOPIC",
    "BGCUT_RESULTS_TOPIC",
    "BGCUT_UPLOADS_TOPIC",
    "BGCUT_GROUP_ID",
    "BGCUT_API_BASE_URL",
    "BGCUT_ARTIFACT_STORE",
    "BGCUT_METRICS_PORT",
    "BGCUT_API_API_KEY_FILE",
}


def chart_env() -> tuple[dict[str, str] | None, str]:
    """(the default ConfigMap's settings less ``PLACES``, "") or (None, why not)."""
    tools = ROOT / ".bgcut" / "tools" / "bin"
    helm = shutil.which("helm", path=f"{tools}{os.pathsep}{os.environ.get('PATH', '')}")
    if helm is None:
        return None, "helm is not installed (make tools)"
    rendered = subprocess.run(
        [helm, "template", "bench", str(CHART), "--kube-version", KUBE_VERSION, *API_KEY],
        capture_output=True,
        text=True,
        check=False,
    )
    if rendered.returncode != 0:
        return None, f"helm template failed: {rendered.stderr.strip()[:300]}"
    for doc in yaml.safe_load_all(rendered.stdout):
        if doc and doc.get("kind") == "ConfigMap":
            data = doc.get("data") or {}
            return {k: str(v) for k, v in data.items() if k not in PLACES}, ""
    return None, "the rendered chart has no ConfigMap"
