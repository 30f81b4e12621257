"""The CLI as a person uses it, against our real server: every user error is one line saying
what to do, exit code 2, no traceback, and no credit spent; credits admin on the server's ledger;
presign prints a usable URL; --download-to prints paths and refuses to overwrite; the server's
help and start-up banner name its options and URLs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_cli
from tests.support.images import disc_scene, sample_photo
from tests.support.server import RunningServer

pytestmark = pytest.mark.integration
KEY = "test-key"


def cli(
    *args: str, server: RunningServer | None = None, key: str = KEY, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bgcut_stream`` with the API pointed at ``server``."""
    full = {
        k: v for k, v in os.environ.items() if not k.startswith(("BGCUT_API_", "BGCUT_SERVER_"))
    }
    if server is not None:
        full["BGCUT_API_BASE_URL"] = server.url
    full["BGCUT_API_API_KEY"] = key
    full.update(env)
    return run_cli(*args, env=full)


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, one line on stderr, nothing on stdout, no traceback; returns the line."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def uploaded(server: RunningServer, tmp_path: Path) -> str:
    """A remove-bg upload of the test key."""
    photo = tmp_path / "p.png"
    photo.write_bytes(disc_scene()[0])
    result = cli("api", "upload", str(photo), server=server)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["unique_filename"])


@pytest.mark.parametrize(
    ("variants", "needle"),
    [
        ('[{"variant_name": ', "not valid JSON"),
        ('{"variant_name": "a"}', "must be a JSON list"),
        ('[{"format": "jpg"}]', "set background_color"),
        ("[" * 3000 + "]" * 3000, "--variants"),
    ],
)
def test_bad_variants_cost_nothing(
    server: RunningServer, uploaded: str, variants: str, needle: str
) -> None:
    """Malformed or invalid --variants on process and presign process: refused before calling."""
    before = server.balance(KEY)
    assert_user_error(
        cli("api", "process", uploaded, "--variants", variants, server=server), needle
    )
    assert_user_error(
        cli("presign", "process", uploaded, "--variants", variants, server=server), needle
    )
    assert server.balance(KEY) == before


@pytest.mark.parametrize(
    ("option", "dot", "needle"),
    [
        ("--green", "1;2", "expected x,y"),
        ("--red", "a,b", "expected x,y"),
        ("--green", "-1,5", "expected x,y"),
        ("--green", "5000,5", "outside the 320x240 image"),
    ],
)
def test_bad_dots_cost_nothing(
    server: RunningServer, tmp_path: Path, option: str, dot: str, needle: str
) -> None:
    """`api segment` checks its dots before the AI Cut initialize that would cost 1 credit."""
    scene = tmp_path / "scene.png"
    scene.write_bytes(disc_scene()[0])
    before = server.balance(KEY)
    assert_user_error(cli("api", "segment", str(scene), option, dot, server=server), needle)
    assert server.balance(KEY) == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("api", "upload", "/nonexistent.png"), "does not exist"),
        (("server", "credits", "add", "k"), "Missing argument"),
        (("api", "process", "x", "--bogus"), "No such option"),
        (("bogus",), "No such command"),
    ],
)
def test_usage_errors_are_one_line(args: tuple[str, ...], needle: str) -> None:
    """click's usage errors too: one line naming the --help to read, exit 2."""
    assert_user_error(cli(*args), needle, "--help")


def test_missing_key_names_the_variable(server: RunningServer, tmp_path: Path) -> None:
    """No key: the message names BGCUT_API_API_KEY."""
    photo = tmp_path / "p.png"
    photo.write_bytes(disc_scene()[0])
    assert_user_error(cli("api", "upload", str(photo), server=server, key=""), "BGCUT_API_API_KEY")


def test_default_base_url_failure_says_what_to_set() -> None:
    """Unreachable default API (no network here): the hint names BGCUT_API_BASE_URL."""
    result = cli("presign", "upload", BGCUT_API_MAX_ATTEMPTS="1", BGCUT_API_CONNECT_TIMEOUT_S="3")
    assert_user_error(result, "https://api.backgroundcut.co", "set BGCUT_API_BASE_URL")


def test_download_to_prints_paths_and_refuses_to_overwrite(
    server: RunningServer, uploaded: str, tmp_path: Path
) -> None:
    """Saved paths are printed; a second run into the same folder needs --force."""
    out = tmp_path / "out"
    args = ("api", "process", uploaded, "--download-to", str(out))
    first = cli(*args, server=server)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["downloaded"] == {"default": str(out / "default.png")}
    before = server.balance(KEY)
    assert_user_error(cli(*args, server=server), str(out / "default.png"), "--force")
    assert server.balance(KEY) == before
    forced = cli(*args, "--force", server=server)
    assert forced.returncode == 0, forced.stderr
    assert (out / "default.png").stat().st_size > 0


def test_presign_prints_url_expiry_and_curl(server: RunningServer) -> None:
    """The printed URL works as is for an upload with no key."""
    result = cli("presign", "upload", server=server)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["url"].startswith(
        f"{server.url}/v3/remove-bg/upload-image/presigned/?signed_request="
    )
    assert out["curl"].startswith("curl -F image=@photo.png ")
    assert "300 s" in out["expiry"]
    assert out["minted_at"]
    response = httpx.post(out["url"], files={"image": ("p.png", sample_photo("coffee"))})
    assert response.status_code == 200


def test_credits_admin(tmp_path: Path) -> None:
    """The ledger the server uses (BGCUT_SERVER_DATA_DIR); unknown keys, rounding, negatives."""
    env = {"BGCUT_SERVER_DATA_DIR": str(tmp_path / "data")}
    assert_user_error(cli("server", "credits", "show", "k", **env), "BGCUT_SERVER_DATA_DIR")
    assert not (tmp_path / "data").exists(), "no database is created by a read"
    assert_user_error(cli("server", "credits", "add", "k", "5", **env), "--create")
    created = cli("server", "credits", "add", "k", "10", "--create", **env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "10.0"
    removed = cli("server", "credits", "add", "k", "-5", **env)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "5.0"
    assert_user_error(cli("server", "credits", "add", "k", "--", "-1000", **env), "cannot remove")
    assert_user_error(cli("server", "credits", "add", "k", "0.3", **env), "steps of 0.5")
    assert_user_error(cli("server", "credits", "add", "k", "nan", **env), "finite")
    assert_user_error(cli("server", "credits", "add", "typo", "5", **env), "--create")
    assert_user_error(cli("server", "credits", "show", "typo", **env), "check the key")
    shown = cli("server", "credits", "show", "k", **env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "5.0"
    other = cli("server", "credits", "show", "k", "--data-dir", str(tmp_path / "data"))
    assert other.stdout.strip() == "5.0"


def test_server_help_and_startup_urls(tmp_path: Path) -> None:
    """--help lists the studio and keys options; start-up prints the API, studio, metrics URLs."""
    helped = cli("server", "--help", COLUMNS="200")
    for option in ("--studio-key", "--keys ", "--keys-file", "--cors-origins", "--data-dir"):
        assert option in helped.stdout, option
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGCUT_SERVER_")}
    command = [sys.executable, "-m", "bgcut_stream", "server", "--port", str(port)]
    command += ["--data-dir", str(tmp_path / "d"), "--studio-key", "s"]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        watchdog = threading.Timer(120, proc.kill)  # a server that never prints fails, not hangs
        watchdog.start()
        for line in proc.stdout:
            lines.append(line)
            if "metrics" in line:
                break
        watchdog.cancel()
        proc.terminate()
    banner = "".join(lines)
    base = f"http://127.0.0.1:{port}"
    assert f"{base}/v3/" in banner
    assert f"{base}/studio/" in banner
    assert f"{base}/metrics" in banner
