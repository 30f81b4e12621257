"""A real Confluent-API-compatible Schema Registry (Apicurio Registry) for development and tests.

The registry's Quarkus application comes from Maven Central through ``mvn`` (the released
``io.apicurio:apicurio-registry-app`` assembly); it runs with ``java -jar`` and serves the
Confluent API at ``/apis/ccompat/v7``.
"""

from bgcut_stream.registry_local.exceptions import RegistryLocalError
from bgcut_stream.registry_local.server import LocalRegistry, RegistryConfig

__all__ = ["LocalRegistry", "RegistryConfig", "RegistryLocalError"]
