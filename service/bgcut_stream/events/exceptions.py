"""Errors of event encoding and decoding."""


class EventError(Exception):
    """An event could not be encoded or decoded."""


class UndecodableEventError(EventError):
    """Bytes on a topic that are not a record we can read; routed to the invalid DLQ."""


class InvalidJobError(EventError):
    """A decoded job whose fields break the API's rules (caught before any credit is spent)."""
