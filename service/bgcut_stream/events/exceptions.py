"""Errors of event encoding and decoding."""


class EventError(Exception):
    """An event could not be encoded or decoded."""


class UndecodableEventError(EventError):
    """Bytes on a topic that are not a record we can read; routed to the invalid DLQ."""


class InvalidJobError(EventError):
    """A decoded job whose fields break the API's rules (caught before any credit is spent)."""


class RegistryUnavailableError(Exception):
    """The Schema Registry, not the record, is the problem: retry or pause, never dead-letter.

    Raised when the registry cannot be reached, answers 5xx, refuses our credentials or refuses
    the schema we write. Deliberately not an ``EventError``: the record may be perfectly valid.
    """


class RegistryAuthError(RegistryUnavailableError):
    """The registry answered 401 or 403: BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO is wrong."""


class RegistrySchemaRejectedError(RegistryUnavailableError):
    """The registry refused to register (or does not hold) the schema this service writes."""


class RegistryConfigError(ValueError):
    """The registry settings cannot work (credentials in the URL, conflicting options)."""
