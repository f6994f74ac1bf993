"""The OTLP backend against real receivers: 3 signals × protobuf/JSON × plain/gzip, each printed back."""

from __future__ import annotations

import time
import uuid
from typing import Any, List, Tuple

import pytest

from astrid.backends.otlp import OTLPBackend
from astrid.config import TelemetryConfig
from astrid.export import Batch
from astrid.records import ErrorRecord, Event, Log, Metric, Resource, Span, SpanEvent
from astrid.transport import GZIP_MIN_BYTES
from support import collectors

rotel = collectors.rotel  # pytest fixtures
otelcol = collectors.otelcol

SIGNALS = ["traces", "metrics", "logs"]
PROTOCOLS = ["http/protobuf", "http/json"]
COMPRESSIONS = ["none", "gzip"]
CASES = [(s, p, c) for s in SIGNALS for p in PROTOCOLS for c in COMPRESSIONS]


def records_for(signal: str, marker: str, padding: int) -> Tuple[List[Any], List[str]]:
    """Records of one signal and strings the receiver's debug output must then contain."""
    now = time.time_ns()
    pad = {"padding": "p" * padding}
    if signal == "traces":
        ev = Event(marker, {"plan": "conformance", "count": 42, **pad}, now)
        span = Span(marker + ".span", {"ok": True}, now, trace_id=0x1234, span_id=0x5678, parent_span_id=0x9A)
        span.end_ns = now + 1000
        span.status = "error"
        span.events.append(SpanEvent("retry", now + 10, {"attempt": 2}))
        expect = [marker, "Str(conformance)", "Int(42)", "astrid.record.type", marker + ".span", "Bool(true)"]
        return [ev, span], expect
    if signal == "metrics":
        return [
            Metric(marker + ".count", "counter", {"queue": "conformance", **pad}, now - 10**9, now, value=7),
            Metric(marker + ".temp", "gauge", {}, now - 10**9, now, value=21.5),
            Metric(
                marker + ".latency", "histogram", {}, now - 10**9, now, count=3, sum=60.0, min=5.0,
                max=40.0, bounds=(10.0, 50.0), bucket_counts=[1, 2, 0],
            ),  # fmt: skip
        ], [marker + ".count", marker + ".temp", marker + ".latency", "Str(conformance)", "21.5", "Histogram"]
    try:
        raise ValueError("conformance failure")
    except ValueError as exc:
        err = ErrorRecord(exc, dict(pad), now)
    err.finalize()
    log = Log(marker, 13, {"component": "conformance"}, now)
    return [log, err], [marker, "Str(conformance)", "WARN", "ValueError: conformance failure", "log.record.uid"]


def run_case(collector: Any, signal: str, protocol: str, compression: str) -> None:
    marker = f"astrid.conformance.{signal}.{protocol[5:]}.{compression}.{uuid.uuid4().hex[:8]}"
    records, expect = records_for(signal, marker, 2000 if compression == "gzip" else 10)
    cfg = TelemetryConfig(project_name="conformance", env={})
    backend = OTLPBackend(cfg, endpoint=collector.url, protocol=protocol, compression=compression)
    target = backend.signals[signal]
    if compression == "gzip":  # the body must be big enough to be compressed at all
        assert len(target.encoder.encode(signal, records, {"service.name": "conformance"})) > GZIP_MIN_BYTES
    batch = Batch(records, Resource({"service.name": "conformance", "service.version": "9.9"}))
    try:
        result = backend.export(batch, 10)
    finally:
        backend.shutdown(1)
    assert result.ok and result.status == 200, result
    assert collector.wait_for_text(marker, 15), f"{collector.kind} never printed {marker}"
    deadline = time.monotonic() + 10
    while True:  # the debug exporter prints one request in several writes
        out = collector.output()
        missing = [text for text in expect if text not in out[max(0, out.index(marker) - 3000) :]]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not missing, f"{collector.kind} output lacks {missing}"


@pytest.mark.parametrize("signal,protocol,compression", CASES)
def test_rotel_accepts_and_prints(rotel: Any, signal: str, protocol: str, compression: str) -> None:
    run_case(rotel, signal, protocol, compression)


@pytest.mark.parametrize("signal,protocol,compression", CASES)
def test_otel_collector_accepts_and_prints(otelcol: Any, signal: str, protocol: str, compression: str) -> None:
    run_case(otelcol, signal, protocol, compression)


def test_rotel_prints_counter_values_sent_as_protobuf(rotel: Any) -> None:
    # rotel (0.0.1a15) drops a JSON "asInt" given as a string, which the OTLP/JSON spec requires;
    # the protobuf path carries the value and is the default.
    marker = f"astrid.conformance.value.{uuid.uuid4().hex[:8]}"
    cfg = TelemetryConfig(project_name="conformance", env={})
    backend = OTLPBackend(cfg, endpoint=rotel.url)
    now = time.time_ns()
    batch = Batch([Metric(marker, "counter", {}, now - 1, now, value=987654)], Resource({}))
    assert backend.export(batch, 10).ok
    assert rotel.wait_for_text(marker, 15)
    assert rotel.wait_for_text("Value: 987654", 5)
