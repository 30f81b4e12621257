"""Everything a request handler needs, built once per app from the settings."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from bgcut_stream.imaging.saliency import SaliencyModel
from bgcut_stream.server.db import Database
from bgcut_stream.server.engine import Engine
from bgcut_stream.server.exceptions import BadRequest, Unauthorized
from bgcut_stream.server.faults import FaultInjector, FaultPlan
from bgcut_stream.server.ledger import Ledger, key_hash, load_keys
from bgcut_stream.server.metrics import ServerMetrics
from bgcut_stream.server.presign import Presigner, load_or_create_secret
from bgcut_stream.server.ratelimit import RateLimiter
from bgcut_stream.server.settings import ServerSettings
from bgcut_stream.server.storage import OutputStore, UploadStore


@dataclass
class ServerState:
    """The server's collaborators (one instance per app)."""

    settings: ServerSettings
    db: Database
    ledger: Ledger
    uploads: UploadStore
    outputs: OutputStore
    presigner: Presigner
    limiter: RateLimiter
    faults: FaultInjector
    engine: Engine
    metrics: ServerMetrics

    @classmethod
    def build(cls, settings: ServerSettings, model: SaliencyModel | None = None) -> ServerState:
        """Open the data dir, seed accounts, load the model."""
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(data_dir / "server.sqlite3")
        ledger = Ledger(db)
        ledger.seed(load_keys(settings.keys.get_secret_value(), settings.keys_file))
        secret = (
            settings.presign_secret.get_secret_value().encode()
            if settings.presign_secret
            else load_or_create_secret(data_dir)
        )
        plan = FaultPlan(latency_ms=settings.fault_latency_ms)
        if settings.fault_rates:
            plan = FaultPlan.model_validate_json(
                f'{{"latency_ms": {settings.fault_latency_ms}, "rates": {settings.fault_rates}}}'
            )
        metrics = ServerMetrics()
        metrics.track_balances(db)
        return cls(
            settings=settings,
            db=db,
            ledger=ledger,
            uploads=UploadStore(db, data_dir, settings.upload_ttl_s),
            outputs=OutputStore(data_dir, settings.output_ttl_s),
            presigner=Presigner(secret, db, settings.presign_ttl_s),
            limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
            faults=FaultInjector(plan),
            engine=Engine(
                model or SaliencyModel(threads=settings.model_threads),
                workers=settings.workers,
                max_queue=settings.max_queue,
                timeout_s=settings.process_timeout_s,
                max_pixels=settings.max_image_pixels,
                pixel_budget=settings.decode_budget_pixels,
                retry_after_s=settings.retry_after_s,
                on_inference=metrics.inferences.inc,
            ),
            metrics=metrics,
        )

    def authenticate(self, request: Request) -> str:
        """The hashed API key of a Bearer request, rate limited; 401 or 429 otherwise."""
        header = request.headers.get("authorization")
        if header is None:
            raise Unauthorized("Missing Authorization header. Use 'Authorization: Bearer <key>'.")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise Unauthorized("Malformed Authorization header. Use 'Authorization: Bearer <key>'.")
        hashed = key_hash(token)
        if not self.ledger.exists(hashed):
            raise Unauthorized("Invalid API key.")
        self.limiter.acquire(hashed)
        return hashed

    def admin_allowed(self, request: Request) -> bool:
        """Whether admin endpoints are on and the request carries the admin token."""
        if self.settings.admin_token is None:
            return False
        given = request.headers.get("x-admin-token", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.settings.admin_token.get_secret_value().encode())

    def base_url(self, request: Request) -> str:
        """Base of file URLs: the configured public URL, or the request's own.

        The request's own only when its Host is in ``allowed_hosts``; 400 otherwise, so a forged
        Host never ends up in links.
        """
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        check_host(request.headers.get("host", ""), self.settings.host_allow_list)
        return str(request.base_url).rstrip("/")

    def close(self) -> None:
        """Release threads and the database."""
        self.engine.shutdown()
        self.db.close()


def host_name(host_header: str) -> str:
    """The host of a Host header, lower case, without port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def check_host(host_header: str, allowed: frozenset[str]) -> None:
    """400 unless the Host header names an allowed host."""
    if host_name(host_header) not in allowed:
        raise BadRequest(
            "Host header is not an allowed host; set BGCUT_SERVER_PUBLIC_URL or add it to "
            "BGCUT_SERVER_ALLOWED_HOSTS."
        )


def state_of(request: Request) -> ServerState:
    """The ServerState of the app serving ``request``."""
    state: ServerState = request.app.state.bgcut
    return state
