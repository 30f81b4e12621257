"""Errors of the local Kafka broker script; each message is one actionable line."""


class KafkaLocalError(Exception):
    """The local broker could not be resolved, started or stopped."""


class JavaMissingError(KafkaLocalError):
    """No ``java`` executable on PATH."""


class MavenError(KafkaLocalError):
    """``mvn`` is missing or could not resolve the Kafka jars."""


class PortInUseError(KafkaLocalError):
    """The broker or controller port is already bound by another process."""


class StartupError(KafkaLocalError):
    """The broker process exited or did not answer a metadata request in time."""
