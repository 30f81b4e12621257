"""Turn pydantic validation errors into the one-line ``detail`` strings the API uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

_CONTEXT_FIELDS = ("body", "query", "form", "header", "path")


def describe_errors(errors: Sequence[Any]) -> str:
    """One line from pydantic errors: 'Missing required field: x' or 'a.0.b: message'."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in _CONTEXT_FIELDS]
        where = ".".join(loc)
        kind = error.get("type", "")
        if kind == "json_invalid":
            return "Malformed JSON body."
        if kind == "missing":
            parts.append(f"Missing required field: {where}")
            continue
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "Invalid request."


def describe(exc: ValidationError) -> str:
    """``describe_errors`` for a raised ValidationError."""
    return describe_errors(exc.errors())
