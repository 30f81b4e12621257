"""Stream service settings from ``BGCUT_*`` environment variables.

The API client reads its own ``BGCUT_API_*`` variables (see ``client.settings``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bgcut_stream.observability.logging import log_level


class StreamSettings(BaseSettings):
    """Kafka, topics, concurrency, sources, artifact store, observability."""

    model_config = SettingsConfigDict(env_prefix="BGCUT_", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("BGCUT_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    kafka_config: SecretStr = Field(
        default=SecretStr("{}"),
        description="JSON of extra librdkafka settings (security.protocol, sasl.*, ssl.*).",
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="sasl.username (the chart sets it from kafka.existingSecret)."
    )
    kafka_sasl_password: SecretStr | None = Field(default=None, description="sasl.password.")
    kafka_startup_timeout_s: float = Field(
        default=30.0, gt=0, description="How long `run` waits for the brokers before giving up."
    )
    schema_registry_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BGCUT_SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_URL"),
    )
    schema_registry_auto_register: bool = Field(
        default=True, description="Register the results schema on first use (else look it up)."
    )
    schema_registry_use_latest_version: bool = Field(
        default=False,
        description="Write results with the subject's latest version (needs auto_register off).",
    )
    schema_registry_subject_name_strategy: Literal["topic", "record", "topic-record"] = Field(
        default="topic", description="Subject: <topic>-value, <record name>, <topic>-<record>."
    )
    schema_registry_basic_auth_user_info: SecretStr | None = Field(
        default=None, description='Schema Registry basic auth, "user:password".'
    )
    jobs_topic: str = "bgcut.jobs"
    results_topic: str = "bgcut.results"
    uploads_topic: str = "bgcut.uploads"
    done_topic: str | None = Field(
        default=None, description="Compacted job_id table (default: <jobs topic>.done)."
    )
    group_id: str = "bgcut-stream"
    dedupe_window_s: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="How long a SUCCEEDED job_id is remembered (done table retention).",
    )
    restore_timeout_s: float = Field(
        default=300.0, gt=0, description="Longest wait for the upload and done tables at start."
    )
    delivery: Literal["exactly-once", "at-least-once"] = Field(
        default="exactly-once",
        description="exactly-once: results, dead letters and offsets in one transaction.",
    )
    transactional_id: str | None = Field(
        default=None, description="Default: <group>-<hostname>-<pid>; must differ per instance."
    )
    max_in_flight_per_partition: int | None = Field(
        default=None,
        ge=1,
        description="Jobs of one partition calling the API at once. Unset: 1 under partition "
        "order (strict), max_in_flight under key order (any slot may take any key's next job); "
        "read it as per_partition_cap.",
    )
    max_in_flight: int = Field(default=32, ge=1)
    ordering: Literal["partition", "key"] = Field(
        default="key",
        description="key: a key's records run one at a time, in offset order, other keys "
        "alongside (records without a key share one); partition: by offset within the "
        "per-partition cap. Results and offsets are committed in offset order either way.",
    )
    partition_buffer: int = Field(
        default=64,
        ge=1,
        description="Records a partition holds back (waiting, or finished behind a running job) "
        "before it is paused.",
    )
    job_attempts: int = Field(default=3, ge=1, description="Whole-job tries for retriable errors.")
    job_retry_backoff_s: float = 1.0
    drain_timeout_s: float = 30.0
    auth_retry_interval_s: float = 15.0
    commit_interval_s: float = 0.25
    session_timeout_s: float = Field(
        default=15.0,
        ge=6,
        description="Group session timeout: how soon a dead instance's "
        "partitions move to the others.",
    )
    artifact_store: str = "file://./artifacts"
    s3_endpoint_url: str | None = None
    source_schemes: str = "https,s3"
    source_hosts: str = Field(default="", description="Allowed source hosts; empty = any public.")
    allow_private_sources: bool = False
    max_source_bytes: int = 25 * 1024 * 1024
    source_timeout_s: float = 30.0
    max_artifact_bytes: int = 200 * 1024 * 1024
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from inside the pod network
    metrics_port: int = 9400
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("kafka_config")
    @classmethod
    def _json_object(cls, value: SecretStr) -> SecretStr:
        parsed = json.loads(value.get_secret_value() or "{}")
        if not isinstance(parsed, dict):
            raise ValueError("BGCUT_KAFKA_CONFIG must be a JSON object")  # noqa: TRY004 - pydantic
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        log_level(value)  # ValueError naming the valid levels
        return value.strip().upper()

    def kafka(self, **extra: Any) -> dict[str, Any]:
        """Librdkafka config: bootstrap servers, the pass-through settings, then ``extra``."""
        base: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "logger": logging.getLogger("librdkafka"),  # librdkafka logs follow our log level
        }
        base.update(json.loads(self.kafka_config.get_secret_value() or "{}"))
        if self.kafka_sasl_username is not None:
            base["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password is not None:
            base["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        base.update(extra)
        return base

    @property
    def per_partition_cap(self) -> int:
        """Jobs of one partition at once: as set, else what the ordering can use.

        Key order: every slot (a key's records still run one at a time); partition order: 1.
        """
        if self.max_in_flight_per_partition is not None:
            return self.max_in_flight_per_partition
        return self.max_in_flight if self.ordering == "key" else 1

    @property
    def done_table(self) -> str:
        """The compacted topic of finished job_ids."""
        return self.done_topic or f"{self.jobs_topic}.done"

    def transactional(self) -> str:
        """The transactional.id of this instance."""
        return self.transactional_id or f"{self.group_id}-{socket.gethostname()}-{os.getpid()}"

    def dlq_topic(self, reason: str) -> str:
        """``<jobs>.dlq.<reason>``."""
        return f"{self.jobs_topic}.dlq.{reason}"

    @property
    def schemes(self) -> set[str]:
        """Allowed source URI schemes."""
        return {s.strip() for s in self.source_schemes.split(",") if s.strip()}

    @property
    def hosts(self) -> set[str]:
        """Allowed source hosts (empty: any)."""
        return {h.strip().lower() for h in self.source_hosts.split(",") if h.strip()}

    def artifact_root(self) -> Path:
        """Folder of a file:// artifact store."""
        return Path(self.artifact_store.removeprefix("file://")).resolve()
