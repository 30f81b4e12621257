"""Errors of the local Schema Registry script; each message is one actionable line."""


class RegistryLocalError(Exception):
    """The local registry could not be resolved, started or stopped."""


class MavenError(RegistryLocalError):
    """``mvn`` is missing or could not resolve the registry application."""


class StartupError(RegistryLocalError):
    """The registry process exited, its port was taken, or it did not answer in time."""
