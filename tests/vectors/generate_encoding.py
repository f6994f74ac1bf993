"""Writes tests/vectors/encoding.json: records in, OTLP/HTTP JSON and the generic HTTP document out.

Both SDKs read the file: the records are language-neutral JSON (snake_case names as in Python's
records, times as nanosecond strings, ids as hex), and the expected documents are what the Python
encoders write for them, with a fixed clock and fixed ids. The SDK's own version and language are
written as the placeholders ``{sdk_version}`` and ``{sdk_language}``; each suite puts in its own.
Run ``python tests/vectors/generate_encoding.py`` after changing an encoder; a test fails when the
JSON file and this script disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List

OUT = Path(__file__).with_name("encoding.json")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from astrid import records as R  # noqa: E402
from astrid.backends.http import encode_document  # noqa: E402
from astrid.encoding import otlp_common, otlp_json  # noqa: E402
from astrid.export import Batch  # noqa: E402

VERSION = "{sdk_version}"
LANGUAGE = "{sdk_language}"

T0 = 1764720000123456789  # a fixed clock: 2025-12-03T00:00:00.123456789Z
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
CHILD = "b7ad6b7169203331"

RESOURCE = {
    "service.name": "vector-app",
    "service.version": "1.2.3",
    "telemetry.sdk.name": "astrid",
    "deployment.environment": "test",
}


def ns(offset_ns: int) -> str:
    return str(T0 + offset_ns)


def rid(n: int) -> str:
    """A fixed record id (the low 64 bits become an event's span id)."""
    return "%016x%016x" % (0x1000 + n, 0xABCDEF0000 + n)


ATTRS = {
    "text": "caf\u00e9 \u2713",
    "flag": True,
    "count": 42,
    "negative": -7,
    "big": 9007199254740991,
    "ratio": 0.25,
    "tiny": 1.5e-07,
    "tags": ["a", "b"],
    "numbers": [1, 2.5, True],
    "empty": "",
}

EVENT = {"type": "event", "id": rid(1), "name": "user.signup", "time_ns": ns(0), "attributes": ATTRS}
EVENT_IN_SPAN = {
    "type": "event",
    "id": rid(2),
    "name": "cart.add",
    "time_ns": ns(1500),
    "attributes": {"items": 3},
    "trace_id": TRACE,
    "parent_span_id": SPAN,
}
EVENT_OWN_KEYS = {
    "type": "event",
    "id": rid(3),
    "name": "custom",
    "time_ns": ns(2000),
    "attributes": {"astrid.record.type": "mine", "event.name": "kept", "log.record.uid": "u-1"},
}
EVENT_TRACE_NO_PARENT = {
    "type": "event",
    "id": rid(4),
    "name": "trace.only",
    "time_ns": ns(2500),
    "attributes": {"list": [-1, 0.5, "x", False]},
    "trace_id": TRACE,
}
SPAN_ERROR = {
    "type": "span",
    "id": rid(10),
    "name": "checkout",
    "time_ns": ns(0),
    "end_ns": ns(1234567),
    "trace_id": TRACE,
    "span_id": CHILD,
    "parent_span_id": SPAN,
    "status": "error",
    "status_message": "payment declined",
    "kind": 2,
    "attributes": {"items": 3, "http.route": "/checkout"},
    "events": [
        {
            "name": "exception",
            "time_ns": ns(1000000),
            "attributes": {"exception.type": "ValueError", "exception.message": "bad card"},
        }
    ],
}
SPAN_OK = {
    "type": "span",
    "id": rid(11),
    "name": "root",
    "time_ns": ns(0),
    "end_ns": ns(2000000000),
    "trace_id": TRACE,
    "span_id": SPAN,
    "status": "ok",
    "attributes": {},
}
SPAN_MESSAGE_ONLY = {
    "type": "span",
    "id": rid(12),
    "name": "unset with message",
    "time_ns": ns(5),
    "end_ns": ns(5),
    "trace_id": TRACE,
    "span_id": "0000000000000abc",
    "status": "unset",
    "status_message": "note",
    "attributes": {"n": 1},
}


def metric(n: int, name: str, metric_type: str, **kw: Any) -> Dict[str, Any]:
    d = {
        "type": "metric",
        "id": rid(100 + n),
        "name": name,
        "metric_type": metric_type,
        "start_ns": ns(0),
        "time_ns": ns(60_000_000_000),
        "attributes": {},
    }
    d.update(kw)
    return d


METRICS = [
    metric(1, "jobs.done", "counter", value=12, attributes={"queue": "a"}),
    metric(2, "jobs.done", "counter", value=3, attributes={"queue": "b"}),
    metric(3, "bytes.sent", "counter", value=1.5, unit="By", description="Bytes written"),
    metric(4, "queue.depth", "gauge", value=-4, attributes={"queue": "a"}),
    metric(5, "cpu.load", "gauge", value=0.75, unit="1"),
    metric(
        6,
        "http.duration",
        "histogram",
        unit="ms",
        count=4,
        sum=187.5,
        min=2.5,
        max=120.0,
        bounds=[0.0, 5.0, 10.0, 100.0],
        bucket_counts=[0, 1, 1, 1, 1],
        attributes={"route": "/a"},
    ),
    metric(7, "http.duration", "histogram", unit="ms", count=0, sum=0.0, min=0.0, max=0.0, bounds=[], bucket_counts=[]),
    metric(8, "jobs.done", "counter", value=1, unit="1"),
    metric(9, "jobs.done", "counter", value=2, unit="1", description="another description"),
    metric(10, "temperature", "gauge", value=-273.15, unit="Cel", attributes={"zone": ["a", "b"]}),
]

LOGS = [
    {
        "type": "log",
        "id": rid(200),
        "name": "log",
        "time_ns": ns(10),
        "body": "cache warmed",
        "severity_number": 9,
        "attributes": {"cache": "users"},
    },
    {
        "type": "log",
        "id": rid(201),
        "name": "log",
        "time_ns": ns(20),
        "body": "slow query",
        "severity_number": 14,
        "attributes": {"ms": 812},
        "trace_id": TRACE,
        "span_id": CHILD,
    },
    {
        "type": "log",
        "id": rid(202),
        "name": "log",
        "time_ns": ns(30),
        "body": "",
        "severity_number": 5,
        "attributes": {"log.record.uid": "given"},
    },
    {
        "type": "error",
        "id": rid(203),
        "name": "ValueError",
        "time_ns": ns(40),
        "body": "ValueError: bad input",
        "severity_number": 17,
        "attributes": {
            "where": "import",
            "exception.type": "ValueError",
            "exception.message": "bad input",
            "exception.stacktrace": "Traceback (most recent call last):\n  ...\nValueError: bad input",
        },
        "trace_id": TRACE,
        "span_id": SPAN,
    },
    {
        "type": "log",
        "id": rid(204),
        "name": "log",
        "time_ns": ns(50),
        "body": "trace without a span",
        "severity_number": 24,
        "attributes": {},
        "trace_id": TRACE,
    },
]

CASES: List[Dict[str, Any]] = [
    {"id": "event-as-span", "records": [EVENT]},
    {"id": "event-in-span-as-span", "records": [EVENT_IN_SPAN]},
    {"id": "event-keeps-own-keys-as-span", "records": [EVENT_OWN_KEYS]},
    {"id": "event-as-log", "events_as": "logs", "records": [EVENT]},
    {"id": "event-in-span-as-log", "events_as": "logs", "records": [EVENT_IN_SPAN]},
    {"id": "event-keeps-own-keys-as-log", "events_as": "logs", "records": [EVENT_OWN_KEYS]},
    {"id": "event-trace-without-parent-as-span", "records": [EVENT_TRACE_NO_PARENT]},
    {"id": "event-trace-without-parent-as-log", "events_as": "logs", "records": [EVENT_TRACE_NO_PARENT]},
    {"id": "span-error-with-events", "records": [SPAN_ERROR]},
    {"id": "span-ok-root", "records": [SPAN_OK]},
    {"id": "span-status-message-only", "records": [SPAN_MESSAGE_ONLY]},
    {"id": "metrics-grouped", "records": METRICS},
    {"id": "logs-and-errors", "records": LOGS},
    {
        "id": "mixed-batch",
        "records": [EVENT, SPAN_OK, METRICS[0], LOGS[0], EVENT_IN_SPAN, LOGS[3], METRICS[5]],
    },
    {
        "id": "mixed-batch-events-as-logs",
        "events_as": "logs",
        "records": [EVENT, SPAN_OK, LOGS[0], EVENT_IN_SPAN, METRICS[3]],
    },
]


def _int(hex_id: Any) -> int:
    return int(hex_id, 16) if hex_id else 0


def to_record(d: Dict[str, Any]) -> R.Record:
    """A Python record from the vector's language-neutral form."""
    kind = d["type"]
    attrs = dict(d.get("attributes", {}))
    rid_ = _int(d["id"])
    t = int(d["time_ns"])
    if kind == "event":
        return R.Event(d["name"], attrs, t, _int(d.get("trace_id")), _int(d.get("parent_span_id")), id=rid_)
    if kind == "span":
        s = R.Span(
            d["name"], attrs, t, _int(d["trace_id"]), _int(d["span_id"]), _int(d.get("parent_span_id")), id=rid_
        )
        s.end_ns = int(d["end_ns"])
        s.status = d.get("status", "unset")
        s.status_message = d.get("status_message", "")
        s.kind = d.get("kind", 1)
        s.events = [R.SpanEvent(e["name"], int(e["time_ns"]), dict(e["attributes"])) for e in d.get("events", [])]
        return s
    if kind == "metric":
        return R.Metric(
            d["name"],
            d["metric_type"],
            attrs,
            int(d["start_ns"]),
            t,
            value=d.get("value", 0),
            count=d.get("count", 0),
            sum=d.get("sum", 0.0),
            min=d.get("min", 0.0),
            max=d.get("max", 0.0),
            bounds=tuple(d.get("bounds", ())),
            bucket_counts=list(d.get("bucket_counts", [])),
            unit=d.get("unit", ""),
            description=d.get("description", ""),
            id=rid_,
        )
    if kind == "log":
        return R.Log(
            d["body"], d["severity_number"], attrs, t, _int(d.get("trace_id")), _int(d.get("span_id")), d["name"], id=rid_
        )
    if kind == "error":
        e = R.ErrorRecord(None, attrs, t, _int(d.get("trace_id")), _int(d.get("span_id")), d["severity_number"], id=rid_)
        e.name = d["name"]
        e.body = d["body"]
        return e
    raise ValueError("unknown record type %r" % kind)


def _placeholders(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The SDK's own version and language as placeholders, so both SDKs can share the document."""
    for outer in doc.values():
        for resource in outer:
            for scoped in resource[next(k for k in resource if k.startswith("scope"))]:
                assert scoped["scope"]["name"] == "astrid"
                scoped["scope"]["version"] = VERSION
    return doc


def expected(case: Dict[str, Any]) -> Dict[str, Any]:
    """What the Python encoders write for one case (placeholders in place of version and language)."""
    records = [to_record(d) for d in case["records"]]
    out: Dict[str, Any] = {}
    for signal, group in otlp_common.split_by_signal(records, case.get("events_as", "spans")).items():
        out[signal] = _placeholders(json.loads(otlp_json.encode(signal, group, RESOURCE)))
    doc = json.loads(encode_document(Batch([to_record(d) for d in case["records"]], R.Resource(RESOURCE))))
    doc["sdk"]["version"] = VERSION
    doc["sdk"]["language"] = LANGUAGE
    out["http"] = doc
    return out


def render() -> str:
    cases = []
    for case in CASES:
        c = {"id": case["id"], "events_as": case.get("events_as", "spans"), "records": case["records"]}
        c["expected"] = expected(case)
        cases.append(c)
    data = {
        "description": "Records in, wire documents out: OTLP/HTTP JSON per signal (traces, metrics, logs) "
        "and the generic HTTP document (docs/http-format.schema.json). Written by the Python encoders; "
        "both SDKs must produce equal JSON. Placeholders: {sdk_version}, {sdk_language}.",
        "generated_by": "tests/vectors/generate_encoding.py",
        "resource": RESOURCE,
        "cases": cases,
    }
    return json.dumps(data, indent=1, ensure_ascii=True) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print("wrote %s (%d cases)" % (OUT.name, len(CASES)))
