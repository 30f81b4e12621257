"""Strip credentials from text that leaves the process.

Used by the stream service (error details in results, dead-letter headers, logs) and the server
(request lines in uvicorn's logs). URLs can carry ``user:pass@``, presigned signatures
(``X-Amz-Signature``, ``sig=``, ``signature=``), tokens or API keys in the query, and headers
``Bearer``/``Basic`` values; each is replaced by the placeholder (``***`` by default).
"""

from __future__ import annotations

import re

REDACTED = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_SENSITIVE_NAMES = (
    r"x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential"
    r"|sig|signature|token|access_token|id_token|api_key|apikey|key|secret|password|pwd"
    r"|signed_request|awsaccesskeyid|se|sv|skoid|sktid|skt|ske|sks|skv"
)
_QUERY = re.compile(rf"(?P<name>(?:^|[?&;])(?:{_SENSITIVE_NAMES}))=[^&#\s\"]*", re.IGNORECASE)
_BEARER = re.compile(r"(?P<name>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact(text: str, placeholder: str = REDACTED) -> str:
    """``text`` with URL credentials, signatures and tokens replaced by ``placeholder``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{placeholder}@", text)
    text = _QUERY.sub(lambda m: f"{m['name']}={placeholder}", text)
    return _BEARER.sub(lambda m: f"{m['name']}{placeholder}", text)
