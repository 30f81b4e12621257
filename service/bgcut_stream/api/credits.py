"""Credit rules of BackgroundCut API v3: what a process request costs."""

from __future__ import annotations

from collections.abc import Iterable

from bgcut_stream.api.models import OutputVariant

BASE_PROCESS_CREDITS = 1.0
AUTOCROP_CREDITS = 0.5


def process_cost(variants: Iterable[OutputVariant]) -> float:
    """Credits one process request costs: 1 whatever the variants, plus 0.5 per autocrop variant."""
    return BASE_PROCESS_CREDITS + AUTOCROP_CREDITS * sum(1 for v in variants if v.autocrop)
