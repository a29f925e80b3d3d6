"""The API key: one check for the raw ASGI prediction routes and the FastAPI ones alike.

When `RETAIL_API_KEY` (or `RETAIL_API_KEY_FILE`) is set, every /v1 request must send it in the
`X-API-Key` header; probes and /metrics stay open. The comparison takes constant time.
"""

from __future__ import annotations

import hmac

API_KEY_HEADER = "X-API-Key"
UNAUTHORIZED_MESSAGE = f"missing or wrong {API_KEY_HEADER} header"


def key_is_accepted(expected: bytes | None, presented: bytes | str | None) -> bool:
    """True when the API has no key, or `presented` is exactly it."""
    if expected is None:
        return True
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode() if isinstance(presented, str) else presented, expected)
