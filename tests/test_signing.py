"""Request signatures: sign, verify, replays, tampering and secret rotation."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from astrid.signing import SIGNATURE_HEADER, parse_signature, sign, verify_signature

BODY = b'{"sdk":{},"resource":{},"records":[]}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign("s3cret", BODY, timestamp=1_800_000_000)
    expected = hmac.new(b"s3cret", b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1800000000,v1={expected}"
    assert SIGNATURE_HEADER == "X-Astrid-Signature"


def test_verify_accepts_a_fresh_signature() -> None:
    header = sign("s3cret", BODY, timestamp=1000)
    assert verify_signature("s3cret", BODY, header, now=1010)
    assert verify_signature(b"s3cret", BODY, header, now=1010)


def test_verify_rejects_replays_outside_the_tolerance() -> None:
    header = sign("s3cret", BODY, timestamp=1000)
    assert not verify_signature("s3cret", BODY, header, now=1000 + 301)
    assert not verify_signature("s3cret", BODY, header, now=1000 - 301)
    assert verify_signature("s3cret", BODY, header, tolerance=600, now=1000 + 400)


def test_verify_rejects_wrong_secret_tampered_body_and_shifted_time() -> None:
    header = sign("s3cret", BODY, timestamp=1000)
    assert not verify_signature("other", BODY, header, now=1000)
    assert not verify_signature("s3cret", BODY + b" ", header, now=1000)
    moved = header.replace("t=1000", "t=1001")
    assert not verify_signature("s3cret", BODY, moved, now=1000)


def test_verify_accepts_any_of_several_v1_values_for_secret_rotation() -> None:
    old = sign("old", BODY, timestamp=1000)
    new = sign("new", BODY, timestamp=1000)
    both = old + ",v1=" + new.split("v1=")[1]
    assert verify_signature("new", BODY, both, now=1000)
    assert verify_signature("old", BODY, both, now=1000)


def test_verify_never_raises_on_garbage() -> None:
    for header in (None, "", "t=abc,v1=00", "v1=00", "t=1000", "nonsense", "t=1000,v1="):
        assert not verify_signature("s3cret", BODY, header, now=1000)
    assert not verify_signature("", BODY, sign("x", BODY, 1000), now=1000)
    assert parse_signature("t=5,v1=AB, v1=cd") == (5, ["ab", "cd"])


@given(st.binary(max_size=2048), st.text(min_size=1, max_size=40), st.integers(0, 2**33))
def test_sign_then_verify_round_trips(body: bytes, secret: str, t: int) -> None:
    header = sign(secret, body, timestamp=t)
    assert verify_signature(secret, body, header, now=t)
    assert not verify_signature(secret, body + b"x", header, now=t)
