"""The images as shipped, run the way the chart runs them, without (or with) a Docker engine.

Without an engine: the wheel is built from a copy of the Docker build context (.dockerignore
applied) and installed into a clean venv per image target by docker/image_install.py, the very
script the Dockerfile runs (same extras, same constraints, offline from the built wheels). The
chart is rendered with its default values; the ConfigMap, the Deployment's env and its Secret
volume become the process environment of the container's args. Only where things are differs
from a cluster: the broker, the API URL, the S3 endpoint (moto), ports, topic names.

With an engine (`docker info` answers), the real images are built and run instead.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.jobs import ImageJob, InlineSource
from bgcut_stream.events.results import ImageResult
from bgcut_stream.events.schemas import IMAGE_RESULT, bundled
from bgcut_stream.localstack import ServerProcess, free_port, server_process, wait_http_ok
from bgcut_stream.stream.jobs_producer import JobPublisher
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.topics import ensure_topics
from tests.deploy.conftest import ROOT, by_kind, render
from tests.support.images import disc_scene
from tests.support.kafka import consume_n

pytestmark = [pytest.mark.deploy, pytest.mark.integration, pytest.mark.slow]
INSTALLER = ROOT / "docker" / "image_install.py"
CACHE = ROOT / ".bgcut" / "smoke"
SERVER_KEY = "smoke-key"
TARGETS = ("service", "server")


def docker_engine() -> str | None:
    """None when `docker info` answers, else why not (the skip reason)."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker CLI on PATH"
    probe = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        return f"no Docker engine answers `docker info`: {lines[-1] if lines else probe.returncode}"
    return None


def build_context(dest: Path) -> Path:
    """Copy what .dockerignore lets into the build context (an allow-list) to ``dest``."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    assert "*" in lines, ".dockerignore should exclude everything it does not list"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in allowed:
        source, target = ROOT / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    return dest


def digest(root: Path, names: list[str]) -> str:
    sha = hashlib.sha256()
    for name in names:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            sha.update(str(file.relative_to(root)).encode())
            sha.update(file.read_bytes())
    return sha.hexdigest()[:16]


def step(python: Path | str, *args: str, cwd: Path) -> None:
    out = subprocess.run(
        [str(python), str(INSTALLER), *args], capture_output=True, text=True, cwd=cwd, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_uses_the_shared_install_and_an_allowed_context() -> None:
    """Each target installs through image_install.py; every COPY source passes .dockerignore."""
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for target in TARGETS:
        assert f"image_install.py install {target} " in dockerfile, target
        assert f"AS {target}\n" in dockerfile, target
    copies = re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.MULTILINE)
    sources = {src for line in copies for src in line.split()}
    assert sources, "no COPY found"
    assert sources <= allowed, f"COPY of paths .dockerignore excludes: {sources - allowed}"
    assert "COPY --from=build /wheels" not in dockerfile  # wheels are bind-mounted, not copied
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\}\$\{PYTHON_DIGEST:\+@\}", dockerfile, re.M)


def install_venvs(context: Path) -> dict[str, Path]:
    """A clean venv per image target, installed exactly as the Dockerfile installs the image.

    Cached under .bgcut/smoke: dependency wheels by pyproject+constraints+installer, venvs by the
    whole build context (any source change rebuilds the wheel and reinstalls).
    """
    deps_key = digest(context, ["pyproject.toml", "constraints.txt", "docker/image_install.py"])
    source_key = digest(context, sorted(p.name for p in context.iterdir()))
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = {f"wheels-{deps_key}", f"project-{source_key}"}
    wanted |= {f"venv-{target}-{source_key}" for target in TARGETS}
    for stale in CACHE.iterdir():
        if stale.name not in wanted:
            shutil.rmtree(stale, ignore_errors=True)
    wheels, project = CACHE / f"wheels-{deps_key}", CACHE / f"project-{source_key}"
    if not (wheels / ".complete").exists():
        step(sys.executable, "deps", "--wheels", str(wheels), cwd=context)
        (wheels / ".complete").touch()
    if not (project / ".complete").exists():
        step(sys.executable, "project", "--wheels", str(project), cwd=context)
        (project / ".complete").touch()
    venvs = {}
    for target in TARGETS:
        venv = CACHE / f"venv-{target}-{source_key}"
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            links = ["--wheels", str(wheels), "--wheels", str(project)]
            step(venv / "bin" / "python", "install", target, *links, cwd=context)
            (venv / ".complete").touch()
        venvs[target] = venv
    return venvs


@dataclass
class Runtime:
    """How an image target's entrypoint starts: the real image, or its clean-venv stand-in."""

    venvs: dict[str, Path] | None  # None: Docker images bgcut-stream:<target>-smoke

    def command(
        self,
        target: str,
        *,
        mounts: dict[str, Path],
        read_only: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> list[str]:
        """The ``bgcut-stream`` command line prefix of ``target`` (``env`` only for Docker)."""
        if self.venvs is not None:
            return [str(self.venvs[target] / "bin" / "bgcut-stream")]
        cmd = ["docker", "run", "--rm", "--network", "host", "--user", "10001:10001"]
        cmd += [f"-e{name}={value}" for name, value in (env or {}).items() if name != "PATH"]
        if read_only:  # readOnlyRootFilesystem with emptyDir volumes
            cmd += ["--read-only", *(f"--tmpfs={path}:uid=10001" for path in read_only)]
        for mount_path, local in mounts.items():
            cmd += ["-v", f"{local}:{mount_path}:ro"]
        return [*cmd, "--entrypoint", "bgcut-stream", f"bgcut-stream:{target}-smoke"]

    def environment(self, env: dict[str, str], mounts: dict[str, Path]) -> dict[str, str]:
        """``env`` for the process: paths into mounted volumes point at local copies in a venv."""
        if self.venvs is None:
            return {"PATH": "/usr/bin:/bin", **env}  # passed on with -e below
        out = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", **env}
        for name, value in env.items():
            for mount_path, local in mounts.items():
                if value.startswith(mount_path + "/"):
                    out[name] = str(local) + value.removeprefix(mount_path)
        return out


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """Real images when a Docker engine answers; clean venvs installed the images' way otherwise."""
    if docker_engine() is None:
        for target in TARGETS:
            build = subprocess.run(
                [
                    *("docker", "build", "-f", "docker/Dockerfile", "--target", target),
                    *("-t", f"bgcut-stream:{target}-smoke", "."),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            assert build.returncode == 0, build.stderr[-4000:]
        return Runtime(None)
    return Runtime(install_venvs(build_context(tmp_path_factory.mktemp("context"))))


def render_defaults(helm: str) -> dict[str, dict[str, Any]]:
    """`helm template` with default values (plus the one required value, an API key)."""
    return by_kind(render(helm, f"api.key={SERVER_KEY}"))


@dataclass
class Pod:
    """What the kubelet would give the container: env, args, Secret files, emptyDir paths."""

    env: dict[str, str]
    args: list[str]
    mounts: dict[str, Path]
    empty_dirs: list[str]


def pod_spec(kinds: dict[str, dict[str, Any]], local: Path) -> Pod:
    """The rendered Deployment's container; Secret volumes are written under ``local``."""
    spec = kinds["Deployment"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    secret = {k: base64.b64decode(v).decode() for k, v in kinds["Secret"]["data"].items()}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
        env.update(kinds["ConfigMap"]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == kinds["Secret"]["metadata"]["name"], ref
            env[item["name"]] = secret[ref["key"]]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts: dict[str, Path] = {}
    empty_dirs: list[str] = []
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            empty_dirs.append(mount["mountPath"])
            continue
        assert volume["secret"]["secretName"] == kinds["Secret"]["metadata"]["name"]
        folder = local / mount["name"]
        folder.mkdir(parents=True)
        folder.chmod(0o755)
        for item in volume["secret"]["items"]:
            (folder / item["path"]).write_text(secret[item["key"]])
            (folder / item["path"]).chmod(0o644)
        mounts[mount["mountPath"]] = folder
    return Pod(env, container["args"], mounts, empty_dirs)


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def api_server(
    runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """`bgcut-stream server` of the server target (the image's entrypoint)."""
    data = tmp_path_factory.mktemp("server")
    data.chmod(0o777)
    with server_process(
        data / "data",
        keys=f"{SERVER_KEY}:100",
        command=runtime.command("server", mounts={data: data}),
        env={"PATH": "/usr/bin:/bin", "HOME": str(data)},
        log=data / "server.log",
        timeout_s=120,
    ) as server:
        yield server


def test_server_target_serves_healthz_and_one_process_call(api_server: ServerProcess) -> None:
    """The server image's install answers /healthz and removes a background."""
    assert httpx.get(f"{api_server.url}/healthz").status_code == 200
    auth = {"Authorization": f"Bearer {SERVER_KEY}"}
    photo, _ = disc_scene(96, 72)
    upload = httpx.post(
        f"{api_server.url}/v3/remove-bg/upload-image/",
        headers=auth,
        files={"image": ("d.png", photo)},
    )
    assert upload.status_code == 200, upload.text
    body = {"unique_filename": upload.json()["unique_filename"]}
    processed = httpx.post(
        f"{api_server.url}/v3/remove-bg/process-image/", headers=auth, json=body, timeout=120
    )
    assert processed.status_code == 200, processed.text
    output = httpx.get(processed.json()["output_urls"]["default"])
    assert output.status_code == 200
    assert output.headers["content-type"] == "image/png"


def test_service_target_with_default_chart_values_processes_a_job(
    runtime: Runtime,
    helm: str,
    kafka_bootstrap: str,
    moto_s3: str,
    api_server: ServerProcess,
    tmp_path: Path,
) -> None:
    """The service image, started with the chart's default env and args, finishes a job to S3."""
    pod = pod_spec(render_defaults(helm), tmp_path / "mounts")
    store = pod.env["BGCUT_ARTIFACT_STORE"]
    assert store.startswith("s3://"), "the chart's default store is S3: boto3 must be installed"
    assert "BGCUT_API_API_KEY" not in pod.env  # the key comes from the mounted Secret file
    bucket = store.removeprefix("s3://").split("/", 1)[0]
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=bucket)
    prefix = f"smoke{uuid.uuid4().hex[:8]}"
    where = {  # where things are here instead of in a cluster; every other value is the chart's
        "BGCUT_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "BGCUT_API_BASE_URL": api_server.url,
        "BGCUT_S3_ENDPOINT_URL": moto_s3,
        "BGCUT_METRICS_PORT": str(free_port()),
        "BGCUT_JOBS_TOPIC": f"{prefix}.jobs",
        "BGCUT_RESULTS_TOPIC": f"{prefix}.results",
        "BGCUT_UPLOADS_TOPIC": f"{prefix}.uploads",
        "BGCUT_GROUP_ID": f"{prefix}-group",
        "AWS_ACCESS_KEY_ID": "testing",  # what IRSA / extraEnv give a pod
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    replaced = {k for k in where if k.startswith("BGCUT_") and k != "BGCUT_S3_ENDPOINT_URL"}
    assert replaced <= set(pod.env)  # only values the chart sets are pointed elsewhere
    settings = StreamSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        jobs_topic=where["BGCUT_JOBS_TOPIC"],
        results_topic=where["BGCUT_RESULTS_TOPIC"],
        uploads_topic=where["BGCUT_UPLOADS_TOPIC"],
    )
    ensure_topics(settings, partitions=1)  # the platform team creates the topics
    photo, _ = disc_scene(96, 72)
    publisher = JobPublisher(settings)
    publisher.send(ImageJob(job_id="smoke-1", source=InlineSource(photo, "disc.png")))
    publisher.flush()

    env = runtime.environment({**pod.env, **where}, pod.mounts)
    cmd = runtime.command("service", mounts=pod.mounts, read_only=pod.empty_dirs, env=env)
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, *pod.args],
            env={**env, "HOME": str(tmp_path)},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            ready = f"http://127.0.0.1:{where['BGCUT_METRICS_PORT']}/readyz"
            wait_http_ok(ready, proc, timeout_s=120, what="bgcut-stream run")
            messages = consume_n(kafka_bootstrap, settings.results_topic, 1, timeout_s=120)
        finally:
            proc.terminate()
            code = proc.wait(timeout=90)
    output = log.read_text()
    assert len(messages) == 1, output
    result = ImageResult.from_record(AvroCodec(bundled(IMAGE_RESULT)).decode(messages[0].value()))
    assert result.status == "SUCCEEDED", (result.error, output)
    (artifact,) = result.artifacts
    assert artifact.location.startswith(store + "/")
    key = artifact.location.removeprefix(f"s3://{bucket}/")
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == artifact.bytes
    assert code == 0, output


def test_installed_cli_reports_the_project_version(runtime: Runtime) -> None:
    """`bgcut-stream --version` of each installed target is pyproject's version."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for target in TARGETS:
        cmd = [*runtime.command(target, mounts={}), "--version"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"bgcut-stream {project}"


def test_demo_runs_from_the_server_install_alone(
    runtime: Runtime, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`bgcut-stream demo` from `bgcut-stream[server]` alone: bundled photos, no scikit-image."""
    tmp_path.chmod(0o777)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
    }
    cmd = runtime.command("server", mounts={tmp_path: tmp_path}, env=env)
    args = ["demo", "--state-dir", str(tmp_path / "state"), "--artifacts", str(tmp_path / "out")]
    out = subprocess.run(
        [*cmd, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {
        line.split()[0]: line.split()[1]
        for line in out.stdout.splitlines()
        if line.startswith(("photo-", "unknown-", "garbage"))
    }
    assert rows["photo-astronaut"] == "SUCCEEDED", out.stdout
    assert rows["photo-chelsea"] == "SUCCEEDED", out.stdout
    assert rows["unknown-upload"] == "FAILED", out.stdout
    assert len(list((tmp_path / "out").rglob("*.png"))) >= 3


def test_runtime_is_the_real_image_when_an_engine_answers(runtime: Runtime) -> None:
    """Reports which way the tests above ran: skipped (with the reason) when no engine answers."""
    reason = docker_engine()
    if reason is not None:
        pytest.skip(f"{reason}: the images were installed into clean venvs the Dockerfile's way")
    assert runtime.venvs is None
