"""Run our real BackgroundCut server with uvicorn on 127.0.0.1 inside the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bgcut_stream.imaging.saliency import SaliencyModel
from bgcut_stream.server.app import create_app
from bgcut_stream.server.runtime import uvicorn_config
from bgcut_stream.server.settings import ServerSettings

ADMIN_TOKEN = "test-admin-token"


@dataclass
class RunningServer:
    """A live server: its base URL and admin helpers."""

    url: str
    settings: ServerSettings

    def admin(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """Call an /_admin/ endpoint."""
        response = httpx.request(
            method, f"{self.url}/_admin{path}", json=json, headers={"X-Admin-Token": ADMIN_TOKEN}
        )
        response.raise_for_status()
        return response

    def set_faults(self, **plan: Any) -> None:
        """Replace the fault plan (no arguments: all faults off)."""
        self.admin("PUT", "/faults", json=plan)

    def expire(self, unique_filename: str) -> None:
        """Expire an upload now."""
        self.admin("POST", f"/uploads/{unique_filename}/expire")

    def balance(self, api_key: str) -> float:
        """A key's credits."""
        return float(self.admin("POST", "/credits", json={"api_key": api_key}).json()["balance"])

    def add_credits(self, api_key: str, credits: float) -> float:
        """Add credits to a key."""
        body = {"api_key": api_key, "credits": credits}
        return float(self.admin("POST", "/credits", json=body).json()["balance"])


@contextmanager
def running_server(
    data_dir: Path, model: SaliencyModel | None = None, **overrides: Any
) -> Iterator[RunningServer]:
    """Start uvicorn on a free port in a thread; stop it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    fields: dict[str, Any] = {
        "data_dir": data_dir,
        "port": port,
        "admin_token": ADMIN_TOKEN,
        "keys": "test-key:1000",
        **overrides,
    }
    settings = ServerSettings(**fields)
    app = create_app(settings, model)
    config = uvicorn_config(app, settings, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
