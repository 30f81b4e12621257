"""A real single-node Apache Kafka (KRaft) broker for development, tests and the demo.

The broker's jars come from Maven Central through ``mvn``; the broker runs with ``java -cp``.
"""

from bgcut_stream.kafka_local.broker import BrokerConfig, LocalBroker
from bgcut_stream.kafka_local.exceptions import KafkaLocalError

__all__ = ["BrokerConfig", "KafkaLocalError", "LocalBroker"]
