"""CORS for the browser-facing endpoints only: presigned calls, AI Cut segment, output files.

The Bearer-auth endpoints stay server-to-server: no CORS headers, preflights refused.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from bgcut_stream.api import paths

BROWSER_PATHS = frozenset(
    {
        paths.UPLOAD_PRESIGNED,
        paths.PROCESS_PRESIGNED,
        paths.AI_CUT_INITIALIZE_PRESIGNED,
        paths.AI_CUT_SEGMENT,
    }
)


class BrowserCORSMiddleware:
    """Starlette's CORSMiddleware, applied to ``BROWSER_PATHS`` and ``/files/`` alone."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route browser paths through CORS, everything else straight to the app."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path in BROWSER_PATHS or path.startswith("/files/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
