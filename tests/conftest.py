"""Session fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kafka import kafka_cluster
from tests.support.registry import RegistryEndpoint, schema_registry


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real Kafka cluster shared by the whole test session."""
    with kafka_cluster(Path(tmp_path_factory.mktemp("kafka"))) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryEndpoint]:
    """A real Confluent-API Schema Registry shared by the session ($SCHEMA_REGISTRY_URL or ours)."""
    with schema_registry(Path(tmp_path_factory.mktemp("registry"))) as endpoint:
        yield endpoint
