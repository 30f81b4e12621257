"""Settings come from env vars with one prefix; secrets stay hidden."""

from __future__ import annotations

import pytest

from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.stream.settings import StreamSettings


def test_stream_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """BGCUT_* vars configure the service; KAFKA_BOOTSTRAP_SERVERS is honoured as an alias."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9093")
    monkeypatch.setenv("BGCUT_JOBS_TOPIC", "images.jobs")
    monkeypatch.setenv(
        "BGCUT_KAFKA_CONFIG", '{"security.protocol": "SASL_SSL", "sasl.password": "pw"}'
    )
    settings = StreamSettings()
    assert settings.kafka_bootstrap_servers == "broker:9093"
    assert settings.dlq_topic("invalid") == "images.jobs.dlq.invalid"
    config = settings.kafka(**{"group.id": "g"})
    assert config["security.protocol"] == "SASL_SSL"
    assert config["group.id"] == "g"
    assert "pw" not in repr(settings)


def test_kafka_config_must_be_an_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JSON list for BGCUT_KAFKA_CONFIG is refused with a clear message."""
    monkeypatch.setenv("BGCUT_KAFKA_CONFIG", "[1]")
    with pytest.raises(ValueError, match="BGCUT_KAFKA_CONFIG must be a JSON object"):
        StreamSettings()


def test_client_key_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """BGCUT_API_API_KEY is read but never shown."""
    monkeypatch.setenv("BGCUT_API_API_KEY", "sk-secret-123")
    settings = ClientSettings()
    assert settings.api_key.get_secret_value() == "sk-secret-123"
    assert "sk-secret-123" not in repr(settings)
    assert "sk-secret-123" not in str(settings.model_dump())


@pytest.mark.usefixtures("no_concurrency_env")
@pytest.mark.parametrize(
    ("env", "ordering", "per_partition"),
    [
        ({}, "key", 32),  # distinct keys may fill every slot, whatever the partition count
        ({"BGCUT_MAX_IN_FLIGHT": "64"}, "key", 64),
        ({"BGCUT_ORDERING": "partition"}, "partition", 1),  # strict, as partition order means
        ({"BGCUT_ORDERING": "partition", "BGCUT_MAX_IN_FLIGHT_PER_PARTITION": "4"}, "partition", 4),
        ({"BGCUT_MAX_IN_FLIGHT_PER_PARTITION": "2"}, "key", 2),
    ],
)
def test_per_partition_cap_defaults_to_what_the_ordering_can_fill(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], ordering: str, per_partition: int
) -> None:
    """Unset, the per-partition cap agrees with the ordering and the global cap: key order may
    use every slot (a key's records still run one at a time), partition order runs strictly."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = StreamSettings()
    assert (settings.ordering, settings.per_partition_cap) == (ordering, per_partition)


@pytest.mark.usefixtures("no_concurrency_env")
def test_an_unset_per_partition_cap_follows_later_changes() -> None:
    """Derived when read, not frozen at construction: a copy with another ordering or cap (or
    settings rebuilt from a dump) gets that one's default."""
    settings = StreamSettings()
    assert settings.max_in_flight_per_partition is None
    assert settings.model_copy(update={"ordering": "partition"}).per_partition_cap == 1
    assert settings.model_copy(update={"max_in_flight": 4}).per_partition_cap == 4
    assert StreamSettings(**settings.model_dump()).per_partition_cap == 32


def test_per_partition_cap_below_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGCUT_MAX_IN_FLIGHT_PER_PARTITION", "0")
    with pytest.raises(ValueError, match="max_in_flight_per_partition"):
        StreamSettings()
