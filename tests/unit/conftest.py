"""Fixtures shared by the unit tests."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture
def no_concurrency_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the ambient BGCUT_* concurrency settings leak into the test's StreamSettings."""
    for name in (
        "BGCUT_ORDERING",
        "BGCUT_MAX_IN_FLIGHT",
        "BGCUT_MAX_IN_FLIGHT_PER_PARTITION",
        "BGCUT_PARTITION_BUFFER",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees objects while the test runs."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
