"""Errors of the stream pipeline; each maps to a dead-letter reason.

JobFailure (reason, code, detail)
  ├── reason "invalid"           bad event, bad variants, bad image, 400/413, bad source
  ├── reason "payment-required"  402
  ├── reason "not-found"         404 with no source to re-upload from
  ├── reason "exhausted"         retriable errors past the job's retry budget
  └── reason "internal"          an unexpected exception, past the job's retry budget
"""

from __future__ import annotations

INVALID = "invalid"
PAYMENT_REQUIRED = "payment-required"
NOT_FOUND = "not-found"
EXHAUSTED = "exhausted"
INTERNAL = "internal"
DLQ_REASONS = (INVALID, PAYMENT_REQUIRED, NOT_FOUND, EXHAUSTED, INTERNAL)


class StreamError(Exception):
    """Base of stream pipeline errors."""


class JobFailure(StreamError):
    """A job ended in failure: it is dead-lettered and a FAILED result is published."""

    def __init__(self, reason: str, detail: str, code: int = 0) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.code = code
        self.credits = 0.0
        self.attempts = 0


class SourceError(StreamError):
    """The job's image source could not be fetched."""

    def __init__(self, detail: str, *, retriable: bool) -> None:
        super().__init__(detail)
        self.retriable = retriable
