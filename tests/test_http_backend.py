"""Generic HTTP backend: document format against its JSON Schema, signatures, options and faults."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any, List

import pytest

from astrid.backends.http import HttpBackend, encode_document
from astrid.config import TelemetryConfig
from astrid.export import Batch, ExportResult
from astrid.records import ErrorRecord, Event, Log, Metric, Resource, Span
from astrid.signing import verify_signature
from support.faultserver import Close, FaultServer, Hang, Reset, Respond, refused_port

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "http-format.schema.json").read_text())


def config(**kw: Any) -> TelemetryConfig:
    kw.setdefault("headers", {})
    kw.setdefault("resource_attributes", {})
    return TelemetryConfig.from_options(project_name="shop", env={}, **kw)


def sample_records() -> List[Any]:
    now = time.time_ns()
    span = Span("checkout", {"items": 3, "tags": ["a", "b"]}, now, 0xABC, 0xDEF, parent_span_id=7)
    span.end_ns = now + 2_500_000
    span.status = "error"
    try:
        raise KeyError("sku")
    except KeyError as exc:
        err = ErrorRecord(exc, {"where": "cart"}, now)
    return [
        Event("user.login", {"method": "sso", "ok": True}, now),
        Event("in.trace", {}, now, trace_id=0xABC, parent_span_id=0xDEF),
        span,
        Metric("jobs.done", "counter", {"queue": "a"}, now - 10**9, now, value=4),
        Metric("temp", "gauge", {}, now, now, value=float("nan")),
        Metric(
            "lat",
            "histogram",
            {},
            now,
            now,
            count=3,
            sum=7.5,
            min=1.0,
            max=4.0,
            bounds=(1.0, 5.0),
            bucket_counts=[1, 2, 0],
            unit="ms",
        ),
        Log("cache warmed", 9, {"n": 1.5}, now),
        err,
    ]


def batch() -> Batch:
    return Batch(sample_records(), Resource({"service.name": "shop", "service.version": "1.2.0"}))


def deliver(backend: HttpBackend, b: Batch, attempts: int = 6) -> ExportResult:
    """What the pipeline does, minus the waiting: retry while the result says so."""
    result = ExportResult.failure("not tried")
    for _ in range(attempts):
        result = backend.export(b, 2.0)
        if result.ok or not result.retryable:
            break
    return result


def test_document_matches_the_published_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads(encode_document(batch()))
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert doc["sdk"]["name"] == "astrid" and doc["sdk"]["language"] == "python"
    assert doc["resource"]["service.name"] == "shop"
    types = [r["type"] for r in doc["records"]]
    assert types == ["event", "event", "span", "metric", "metric", "metric", "log", "error"]
    assert doc["records"][4]["value"] is None  # NaN is not JSON
    assert doc["records"][7]["attributes"]["exception.type"] == "KeyError"


def test_schema_rejects_what_a_receiver_must_not_accept() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads(encode_document(batch()))
    bad = json.loads(json.dumps(doc))
    bad["records"][0]["timestamp"] = "2026-11-22T10:00:00Z"  # no nanoseconds
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA, cls=jsonschema.Draft202012Validator)
    bad = json.loads(json.dumps(doc))
    del bad["records"][2]["span_id"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA, cls=jsonschema.Draft202012Validator)


def test_posts_one_signed_gzipped_document_per_batch() -> None:
    with FaultServer() as server:
        backend = HttpBackend(
            config(),
            endpoint=server.url + "/collect",
            headers={"Authorization": "Bearer tok"},
            signing_secret="s3cret",
        )
        big = batch()
        big.extend(Event("bulk", {"i": i, "pad": "x" * 40}, time.time_ns()) for i in range(50))
        assert backend.export(big, 5.0).ok
        (req,) = server.requests
        assert req.path == "/collect" and req.method == "POST"
        assert req.headers["content-encoding"] == "gzip"
        assert req.headers["authorization"] == "Bearer tok"
        assert req.headers["content-type"] == "application/json"
        # the signature covers the bytes on the wire, so it is checked before gunzip
        assert verify_signature("s3cret", req.raw, req.headers["x-astrid-signature"])
        assert not verify_signature("s3cret", req.body, req.headers["x-astrid-signature"])
        doc = json.loads(gzip.decompress(req.raw))
        assert len(doc["records"]) == len(big)
        assert {r["id"] for r in doc["records"]} == {f"{r.id:032x}" for r in big}
        backend.shutdown(1.0)


def test_small_bodies_and_compression_none_go_uncompressed_and_unsigned() -> None:
    with FaultServer() as server:
        backend = HttpBackend(config(), endpoint=server.url, compression="none")
        b = batch()
        b.extend(Event("bulk", {"pad": "x" * 100}, time.time_ns()) for _ in range(20))
        assert backend.export(b, 5.0).ok
        req = server.requests[0]
        assert "content-encoding" not in req.headers
        assert "x-astrid-signature" not in req.headers
        assert len(req.json()["records"]) == len(b)


@pytest.mark.parametrize(
    ("faults", "ok", "tries"),
    [
        ([Respond(503), Respond(502), Respond(200)], True, 3),
        ([Respond(429, headers={"Retry-After": "0"}), Respond(200)], True, 2),
        ([Reset(), Respond(200)], True, 2),
        ([Close(), Respond(200)], True, 2),
        ([Respond(400)], False, 1),
        ([Respond(401)], False, 1),
    ],
)
def test_fault_suite_retries_transient_and_stops_on_permanent(
    faults: List[Any], ok: bool, tries: int
) -> None:
    with FaultServer() as server:
        server.script(*faults)
        backend = HttpBackend(config(), endpoint=server.url + "/collect")
        b = batch()
        result = deliver(backend, b)
        assert result.ok is ok
        assert len(server.requests) == tries
        ids = {json.loads(r.body)["records"][0]["id"] for r in server.requests}
        assert (
            len(ids) == 1
        )  # every retry resends the same records: the receiver de-duplicates by id
        backend.shutdown(1.0)


def test_retry_after_is_passed_to_the_pipeline_and_413_asks_for_a_split() -> None:
    with FaultServer() as server:
        server.script(Respond(503, headers={"Retry-After": "7"}), Respond(413))
        backend = HttpBackend(config(), endpoint=server.url)
        first = backend.export(batch(), 2.0)
        assert first.retryable and first.retry_after == 7
        second = backend.export(batch(), 2.0)
        assert second.split and second.status == 413


def test_a_hanging_server_costs_no_more_than_the_timeout() -> None:
    with FaultServer() as server:
        server.script(Hang(10))
        backend = HttpBackend(config(), endpoint=server.url, timeout=0.3)
        result = backend.export(batch(), 5.0)
        # the server hangs for 10 s, then closes: "timeout" can only come from our own deadline
        assert result.retryable and result.reason == "timeout"


def test_connection_refused_is_retryable() -> None:
    backend = HttpBackend(config(), endpoint=f"http://127.0.0.1:{refused_port()}/collect")
    result = backend.export(batch(), 2.0)
    assert result.retryable and result.reason == "connection_refused"


def test_bad_options_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        HttpBackend(config())
    with pytest.raises(ValueError, match="unencrypted"):
        HttpBackend(config(), endpoint="http://ingest.example.com/collect")
    with pytest.raises(ValueError, match="compression"):
        HttpBackend(config(), endpoint="https://ingest.example.com", compression="br")
    with pytest.raises(ValueError, match="signing_secret"):
        HttpBackend(config(), endpoint="https://ingest.example.com", signing_secret="")
    with pytest.raises(TypeError, match="headers"):
        HttpBackend(config(), endpoint="https://ingest.example.com", headers={"a": 1})  # type: ignore[dict-item]
    assert HttpBackend(config(endpoint="https://ingest.example.com/c")).endpoint.endswith("/c")


def test_export_never_raises() -> None:
    backend = HttpBackend(config(), endpoint=f"http://127.0.0.1:{refused_port()}")
    b = batch()
    b.append(object())  # type: ignore[arg-type]
    result = backend.export(b, 1.0)
    assert not result.ok and not result.retryable


def test_client_to_http_backend_through_faults_end_to_end() -> None:
    import astrid

    with FaultServer() as server:
        server.script(Respond(503), Reset(), Respond(500))
        c = astrid.TelemetryClient(
            project_name="shop",
            backend="http",
            endpoint=server.url + "/collect",
            signing_secret="s3cret",
            enabled=True,
            flush_interval=0.05,
            backoff_base=0.05,
            backoff_max=0.2,
            install_atexit=False,
            env={},
        )
        for i in range(20):
            c.track_event("page.view", {"i": i})
        assert c.flush(timeout=10.0)
        assert c.shutdown(timeout=5.0)
        delivered = [r for r in server.requests if r.fault is not None and "200" in repr(r.fault)]
        ids = set()
        for req in delivered:
            assert verify_signature("s3cret", req.raw, req.headers["x-astrid-signature"])
            ids.update(rec["id"] for rec in req.json()["records"] if rec["name"] == "page.view")
        assert len(ids) == 20
