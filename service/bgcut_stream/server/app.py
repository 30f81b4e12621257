"""The FastAPI application: routes, error envelope, fault injection, metrics, janitor."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from bgcut_stream.imaging.saliency import SaliencyModel
from bgcut_stream.server import errors
from bgcut_stream.server.cors import BrowserCORSMiddleware
from bgcut_stream.server.faults import ENDPOINTS
from bgcut_stream.server.guard import RequestGuard
from bgcut_stream.server.routes import admin, ai_cut, files, health, remove_bg, studio
from bgcut_stream.server.settings import ServerSettings
from bgcut_stream.server.state import ServerState

JANITOR_INTERVAL_S = 60.0
STUDIO_DIR = Path(__file__).parent / "studio"
_FAULT_DETAILS = {
    429: "Rate limit exceeded (injected fault).",
    500: "Internal server error (injected fault).",
    503: "Server is temporarily overloaded (injected fault).",
    504: "Processing took too long (injected fault).",
}


async def _janitor(state: ServerState) -> None:
    while True:
        await asyncio.sleep(JANITOR_INTERVAL_S)
        await asyncio.to_thread(state.uploads.purge_expired)
        await asyncio.to_thread(state.outputs.purge_expired)


def create_app(
    settings: ServerSettings | None = None, model: SaliencyModel | None = None
) -> FastAPI:
    """Build the server app; ``model`` lets tests share one loaded model across apps."""
    settings = settings or ServerSettings()
    state = ServerState.build(settings, model)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_janitor(state))
        try:
            yield
        finally:
            task.cancel()
            state.close()

    app = FastAPI(
        title="BackgroundCut API v3 (self-hosted)",
        version="3",
        description="Remove backgrounds, generate output variants, and segment objects with AI.",
        lifespan=lifespan,
    )
    app.state.bgcut = state
    errors.install(app)
    routers = (
        remove_bg.router,
        ai_cut.router,
        files.router,
        health.router,
        admin.router,
        studio.router,
    )
    for router in routers:
        app.include_router(router)

    @app.middleware("http")
    async def faults_and_metrics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        endpoint = ENDPOINTS.get(request.url.path)
        if endpoint is None:
            return await call_next(request)
        started = time.perf_counter()
        if state.faults.latency_s() > 0:
            await asyncio.sleep(state.faults.latency_s())
        status = state.faults.pick(endpoint)
        if status is not None:
            # An injected fault plays an upstream error: the request arrived whole first, and
            # the connection stays usable (answering mid-body would close it under the client).
            await request.body()
            state.metrics.faults.labels(endpoint, str(status)).inc()
            headers = {"Retry-After": str(state.faults.plan.retry_after_s)} if status == 429 else {}
            detail = _FAULT_DETAILS.get(status, f"Injected fault {status}.")
            response: Response = JSONResponse({"detail": detail}, status, headers=headers)
        else:
            response = await call_next(request)
        state.metrics.requests.labels(endpoint, str(response.status_code)).inc()
        state.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    if settings.studio_key is not None:
        app.mount("/studio", StaticFiles(directory=STUDIO_DIR, html=True), name="studio-page")
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(BrowserCORSMiddleware, origins=origins)
    app.add_middleware(RequestGuard, settings=settings)  # outermost: before any body is read
    return app
