"""Fault injection for testing clients: latency, error probabilities and scripted errors.

Off by default. Configured from settings at start and changed at run time through
``PUT /_admin/faults``. Endpoint names are those of ``ENDPOINTS`` (or ``*`` for all).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from typing import Annotated

from pydantic import BaseModel, Field

from bgcut_stream.api import paths

ENDPOINTS: dict[str, str] = {
    paths.UPLOAD: "upload",
    paths.UPLOAD_PRESIGN: "upload_presign",
    paths.UPLOAD_PRESIGNED: "upload_presigned",
    paths.PROCESS: "process",
    paths.PROCESS_PRESIGN: "process_presign",
    paths.PROCESS_PRESIGNED: "process_presigned",
    paths.AI_CUT_INITIALIZE: "ai_cut_initialize",
    paths.AI_CUT_INITIALIZE_PRESIGN: "ai_cut_initialize_presign",
    paths.AI_CUT_INITIALIZE_PRESIGNED: "ai_cut_initialize_presigned",
    paths.AI_CUT_SEGMENT: "ai_cut_segment",
}
INJECTABLE = (429, 500, 503, 504)

StatusCode = Annotated[int, Field(ge=400, le=599)]


class FaultPlan(BaseModel):
    """What to inject: latency for every API call, random errors, and one-shot scripted errors."""

    latency_ms: Annotated[float, Field(ge=0)] = 0.0
    rates: dict[str, dict[StatusCode, Annotated[float, Field(ge=0, le=1)]]] = {}
    script: dict[str, list[StatusCode]] = {}
    retry_after_s: Annotated[int, Field(ge=0)] = 1


class FaultInjector:
    """Decides per request whether to fail it and how long to delay it."""

    def __init__(self, plan: FaultPlan | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - fault dice, not cryptography
        self._plan = FaultPlan()
        self._scripts: dict[str, deque[int]] = {}
        self.configure(plan or FaultPlan())

    def configure(self, plan: FaultPlan) -> None:
        """Replace the whole plan (scripts restart)."""
        with self._lock:
            self._plan = plan
            self._scripts = {name: deque(codes) for name, codes in plan.script.items()}

    @property
    def plan(self) -> FaultPlan:
        """The plan in force."""
        return self._plan

    def latency_s(self) -> float:
        """Delay to add to an API call."""
        return self._plan.latency_ms / 1000

    def pick(self, endpoint: str) -> int | None:
        """An error status to answer ``endpoint`` with, or None to serve it normally."""
        with self._lock:
            for name in (endpoint, "*"):
                queue = self._scripts.get(name)
                if queue:
                    return queue.popleft()
            for name in (endpoint, "*"):
                for status, probability in self._plan.rates.get(name, {}).items():
                    if self._random.random() < probability:
                        return status
        return None
