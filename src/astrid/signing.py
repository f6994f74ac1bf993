"""Request signatures of the generic HTTP backend: sign on the way out, verify at a receiver."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import List, Optional, Tuple, Union

#: The header that carries ``t=<unix seconds>,v1=<hex HMAC-SHA256>``.
SIGNATURE_HEADER = "X-Astrid-Signature"
#: How far (seconds) a signature's time may be from the receiver's clock by default.
DEFAULT_TOLERANCE = 300

Secret = Union[str, bytes]


def _key(secret: Secret) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("signing secret must be a non-empty string or bytes")
    return secret


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return mac.hexdigest()


def sign(secret: Secret, body: bytes, timestamp: Optional[int] = None) -> str:
    """The ``X-Astrid-Signature`` value for a request body: ``t=<unix seconds>,v1=<hex>``.

    The MAC covers ``"<t>."`` followed by the body bytes exactly as sent (after gzip, if the
    request is compressed), so a receiver checks it before decompressing or parsing anything.
    """
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={_digest(_key(secret), t, body)}"


#: The name the package exports (``astrid.sign_payload``).
sign_payload = sign


def parse_signature(header: str) -> Tuple[Optional[int], List[str]]:
    """``t=…,v1=…[,v1=…]`` → (timestamp, [v1 signatures]); (None, []) when malformed."""
    t: Optional[int] = None
    sigs: List[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                t = int(value)
            except ValueError:
                return None, []
        elif key == "v1" and value:
            sigs.append(value.strip().lower())
    return t, sigs


def verify_signature(
    secret: Secret,
    body: bytes,
    header: Optional[str],
    tolerance: float = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> bool:
    """True when ``header`` (the ``X-Astrid-Signature`` value) signs ``body`` with ``secret``
    and its time is within ``tolerance`` seconds of ``now`` (replays of old requests fail).

    ``body`` is the raw request body as received, still gzip-compressed if it came so.
    Several ``v1=`` values are accepted, so a sender can sign with an old and a new secret
    while a secret is rotated. Comparison is constant-time. Never raises for bad input.
    """
    if not header or not isinstance(body, (bytes, bytearray)):
        return False
    t, sigs = parse_signature(header)
    if t is None or not sigs:
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        return False
    try:
        expected = _digest(_key(secret), t, bytes(body))
    except ValueError:
        return False
    # compare every candidate so timing does not reveal which one matched
    ok = False
    for sig in sigs:
        ok |= hmac.compare_digest(expected, sig)
    return ok


__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "parse_signature",
    "sign",
    "sign_payload",
    "verify_signature",
]
