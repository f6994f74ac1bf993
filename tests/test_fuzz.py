"""Fuzzing what reads untrusted bytes: the inspector's OTLP and generic decoders, the privacy engine.

Inputs are valid messages our own encoders produced, then mutated (flipped bytes, cuts,
insertions, JSON values swapped for other types), plus arbitrary bytes. The contract: a decoder
answers with records or with ``BadRequest`` (a 400 for the sender), never another exception;
the privacy engine returns a record or None, never raises. Every crash found becomes a case here.
"""

from __future__ import annotations

import json
from typing import Any, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrid.encoding import otlp_json, otlp_proto
from astrid.inspector.ingest import BadRequest, decompress, generic_records, otlp_records
from astrid.privacy import PrivacyEngine
from astrid.records import ErrorRecord, Event, Log, Metric, Span, SpanEvent

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _records() -> List[Any]:
    span = Span("GET /users/{id}", {"http.status_code": 200, "tags": ["a", "b"]}, 10, 0xAB, 0xCD, 0)
    span.end_ns = 20
    span.events = [SpanEvent("exception", 15, {"exception.type": "ValueError"})]
    err = ErrorRecord(None, {"exception.type": "KeyError", "exception.message": "x"}, 5)
    err.name, err.body = "KeyError", "KeyError: x"
    hist = Metric("latency", "histogram", {"route": "/a"}, 1, 2, count=3, sum=4.5, min=0.5, max=2.0,
                  bounds=(1.0, 2.0), bucket_counts=[1, 1, 1], unit="ms")
    return [
        Event("signup", {"plan": "pro", "n": 3, "f": 1.5, "ok": True}, 42),
        span,
        err,
        Log("hello", 9, {"a": 1}, 6),
        Metric("jobs", "counter", {"q": "a"}, 1, 2, value=7),
        hist,
    ]


RES = {"service.name": "fuzz", "service.version": "1.0"}
TYPES = {"traces": ("event", "span"), "logs": ("log", "error"), "metrics": ("metric",)}


def _of(signal: str) -> List[Any]:
    return [r for r in _records() if r.type in TYPES[signal]]


VALID = {(signal, "proto"): otlp_proto.encode(signal, _of(signal), RES) for signal in TYPES}
VALID.update({(signal, "json"): otlp_json.encode(signal, _of(signal), RES) for signal in TYPES})
CTYPE = {"proto": "application/x-protobuf", "json": "application/json"}


def _decode(signal: str, kind: str, body: bytes) -> None:
    try:
        out = otlp_records(signal, body, CTYPE[kind], 1)
    except BadRequest:
        return
    assert isinstance(out, list)


def test_valid_messages_decode():
    for (signal, kind), body in VALID.items():
        assert otlp_records(signal, body, CTYPE[kind], 1), (signal, kind)


@FUZZ
@given(
    st.sampled_from(sorted(VALID)),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    st.integers(0, 64),
    st.binary(max_size=16),
)
def test_mutated_otlp_messages_never_crash_the_decoder(key, flips, cut, insert):
    body = bytearray(VALID[key])
    for pos, value in flips:
        body[pos % len(body)] = value
    if cut:
        body = body[: max(0, len(body) - cut)]
    if insert:
        at = len(body) // 2
        body[at:at] = insert
    _decode(key[0], key[1], bytes(body))


@FUZZ
@given(st.sampled_from(["traces", "logs", "metrics"]), st.sampled_from(["proto", "json"]), st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_decoder(signal, kind, body):
    _decode(signal, kind, body)


_JSON_ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.text(max_size=20), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(doc: Any, prefix=()):  # every (path, value) of a JSON document
    yield prefix, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


@FUZZ
@given(st.sampled_from(["traces", "logs", "metrics"]), st.data())
def test_json_messages_with_values_of_the_wrong_type_never_crash(signal, data):
    doc = json.loads(VALID[(signal, "json")])
    paths = [p for p, _ in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(paths))
        target = doc
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = data.draw(_JSON_ATOMS)
        except (KeyError, IndexError, TypeError):
            continue
    _decode(signal, "json", json.dumps(doc).encode())


@FUZZ
@given(st.binary(max_size=300))
def test_generic_format_and_decompression_never_crash(body):
    for fn in (lambda: generic_records(body), lambda: decompress(body, "gzip", 10_000), lambda: decompress(body, "deflate", 10_000)):
        try:
            fn()
        except BadRequest:
            pass


def test_a_decompression_bomb_is_refused_not_inflated():
    import gzip

    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    with pytest.raises(BadRequest):
        decompress(bomb, "gzip", 8 * 1024 * 1024)


_HOSTILE = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=5),
    st.text(alphabet="@.:/?&=#%+- 0123456789abcdefABCDEF\n\t\x00\u202e", max_size=200),
    st.builds(lambda a, b: a * 50 + b, st.text(max_size=8), st.text(max_size=8)),
)
_VALUES = st.recursive(
    st.one_of(_HOSTILE, st.integers(), st.floats(), st.booleans(), st.none(), st.binary(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_HOSTILE, inner, max_size=4)),
    max_leaves=12,
)


@FUZZ
@given(_HOSTILE, st.dictionaries(_HOSTILE, _VALUES, max_size=6), _HOSTILE)
def test_the_privacy_engine_never_raises_on_hostile_input(name, attrs, body):
    engine = PrivacyEngine()
    for rec in (Event(name, dict(attrs), 1), Log(body, 9, dict(attrs), 1), Span(name, dict(attrs), 1, 1, 1)):
        out = engine.sanitize(rec)
        assert out is None or out.type == rec.type
