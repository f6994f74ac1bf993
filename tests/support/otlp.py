"""Decode OTLP payloads with the official opentelemetry-proto classes; validate OTLP/JSON strictly.

``decode(signal, body, content_type)`` returns the Export*ServiceRequest message. JSON bodies are
first checked against the proto descriptors the way the OTLP/JSON spec demands: only lowerCamelCase
field names that exist, trace/span ids as lowercase hex of the right length, enums as integers,
64-bit integers as decimal strings. Any violation raises ``JsonViolation`` naming the path.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from typing import Any, Dict, List

import pytest

pb = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
from google.protobuf import json_format  # noqa: E402
from google.protobuf.descriptor import FieldDescriptor as FD  # noqa: E402
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2  # noqa: E402
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402

REQUESTS = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
RESPONSES = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}
PATH_SIGNAL = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}

_ID_FIELDS = {"trace_id": 32, "span_id": 16, "parent_span_id": 16}
_INT64 = {FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64, FD.TYPE_SINT64}
_HEX = re.compile(r"^[0-9a-f]*$")


class JsonViolation(AssertionError):
    pass


def _check(value: Any, descriptor: Any, path: str) -> Any:
    """Validate one JSON message; return it converted to what json_format accepts."""
    if not isinstance(value, dict):
        raise JsonViolation(f"{path}: expected an object")
    by_json = {f.json_name: f for f in descriptor.fields}
    out: Dict[str, Any] = {}
    for key, item in value.items():
        field = by_json.get(key)
        if field is None:
            snake = {f.name for f in descriptor.fields}
            why = "snake_case key" if key in snake else "unknown key"
            raise JsonViolation(f"{path}.{key}: {why} for {descriptor.full_name}")
        if _repeated(field):
            if not isinstance(item, list):
                raise JsonViolation(f"{path}.{key}: expected a list")
            out[key] = [_scalar(v, field, f"{path}.{key}[{i}]") for i, v in enumerate(item)]
        else:
            out[key] = _scalar(item, field, f"{path}.{key}")
    return out


def _repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 6
        return bool(field.is_repeated)
    return bool(field.label == FD.LABEL_REPEATED)


def _scalar(item: Any, field: Any, path: str) -> Any:
    if field.type == FD.TYPE_MESSAGE:
        return _check(item, field.message_type, path)
    if field.type == FD.TYPE_BYTES and field.name in _ID_FIELDS:
        size = _ID_FIELDS[field.name]
        if not isinstance(item, str) or len(item) != size or not _HEX.match(item):
            raise JsonViolation(f"{path}: expected {size} lowercase hex digits, got {item!r}")
        return base64.b64encode(bytes.fromhex(item)).decode()
    if field.type == FD.TYPE_ENUM:
        if not isinstance(item, int) or isinstance(item, bool):
            raise JsonViolation(f"{path}: enums must be integers, got {item!r}")
        return item
    if field.type in _INT64:
        if not isinstance(item, str) or not re.match(r"^-?[0-9]+$", item):
            raise JsonViolation(f"{path}: 64-bit integers must be decimal strings, got {item!r}")
        return item
    if field.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        if isinstance(item, bool) or not (isinstance(item, (int, float)) or item in ("NaN", "Infinity", "-Infinity")):
            raise JsonViolation(f"{path}: expected a number, got {item!r}")
        return item
    if field.type == FD.TYPE_BOOL and not isinstance(item, bool):
        raise JsonViolation(f"{path}: expected true/false, got {item!r}")
    if field.type == FD.TYPE_STRING and not isinstance(item, str):
        raise JsonViolation(f"{path}: expected a string, got {item!r}")
    return item


def decode(signal: str, body: bytes, content_type: str = "application/x-protobuf", gzipped: bool = False) -> Any:
    if gzipped:
        body = gzip.decompress(body)
    cls = REQUESTS[signal]
    if "json" in content_type:
        doc = json.loads(body.decode("utf-8"))
        converted = _check(doc, cls.DESCRIPTOR, signal)
        return json_format.ParseDict(converted, cls(), ignore_unknown_fields=False)
    return cls.FromString(body)


def decode_request(req: Any) -> Any:
    """Decode a support.faultserver Request (body already gunzipped)."""
    return decode(PATH_SIGNAL[req.path], req.body, req.headers.get("content-type", ""))


def attrs(kvs: Any) -> Dict[str, Any]:
    """KeyValue list → plain dict (arrays as lists)."""
    return {kv.key: any_value(kv.value) for kv in kvs}


def any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attrs(v.kvlist_value.values)
    return getattr(v, kind)


def spans(msg: Any) -> List[Any]:
    return [s for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans]


def log_records(msg: Any) -> List[Any]:
    return [r for rl in msg.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def metrics(msg: Any) -> List[Any]:
    return [m for rm in msg.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def record_uids(msg: Any, signal: str) -> List[str]:
    """The record ids on the wire: span ids (hex) for traces, log.record.uid for logs."""
    if signal == "traces":
        return [s.span_id.hex() for s in spans(msg)]
    if signal == "logs":
        return [str(attrs(r.attributes).get("log.record.uid")) for r in log_records(msg)]
    return [m.name for m in metrics(msg)]
