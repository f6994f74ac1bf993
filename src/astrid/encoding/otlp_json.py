"""The OTLP/JSON encoder: lowerCamelCase keys, hex ids, integer enums, 64-bit integers as strings."""

from __future__ import annotations

import base64
import json
import json.encoder
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import otlp_common as common

CONTENT_TYPE = "application/json"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_quote = json.encoder.encode_basestring  # a JSON string literal, quotes included (C-accelerated)


def any_value(value: Any) -> Dict[str, Any]:
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        # int(): an IntEnum's own str() is "Color.RED" on Python 3.9/3.10 (a 400 from the receiver)
        if common.is_int64(value):
            return {"intValue": str(int(value))}
        return {"stringValue": str(int(value))}
    if isinstance(value, float):
        return {"doubleValue": common.json_double(float(value))}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": attributes(value)}}
    if isinstance(value, (bytes, bytearray)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    return {"stringValue": str(value)}


def attributes(attrs: Mapping[str, Any], extra: Sequence[Tuple[str, Any]] = ()) -> List[Dict[str, Any]]:
    out = [{"key": str(k), "value": any_value(v)} for k, v in attrs.items()]
    for k, v in extra:
        out.append({"key": k, "value": any_value(v)})
    return out


_SCOPE = {"name": common.SCOPE_NAME, "version": common.SCOPE_VERSION}
_SCOPE_TEXT = _dumps(_SCOPE)


def _envelope(outer: str, scoped: str, items: str, resource: Mapping[str, Any], rows: List[Any]) -> bytes:
    doc = {
        outer: [
            {
                "resource": {"attributes": attributes(resource)},
                scoped: [{"scope": _SCOPE, items: rows}],
            }
        ]
    }
    return _dumps(doc).encode("utf-8", "replace")


# ------------------------------------------------------------------ traces
#
# Spans and log records are written as JSON text directly (no dicts): they are the volume.

_FRAGMENTS: Dict[Tuple[str, str], str] = {}
_CACHE_SIZE = 8192
_CACHED_VALUE_LENGTH = 64


def _value_text(v: Any) -> str:
    cls = v.__class__
    if cls is str:
        return '{"stringValue":' + _quote(v) + "}"
    if cls is bool:
        return '{"boolValue":true}' if v else '{"boolValue":false}'
    if cls is int and common.INT64_MIN <= v <= common.INT64_MAX:
        return f'{{"intValue":"{v}"}}'
    if cls is float and math.isfinite(v):
        return f'{{"doubleValue":{v!r}}}'
    return _dumps(any_value(v))


def _attr_text(k: str, v: Any) -> str:
    if v.__class__ is str and len(v) <= _CACHED_VALUE_LENGTH:
        # short string attributes repeat across records: write each pair once
        frag = _FRAGMENTS.get((k, v))
        if frag is None:
            if len(_FRAGMENTS) >= _CACHE_SIZE:
                _FRAGMENTS.clear()
            frag = _FRAGMENTS[(k, v)] = f'{{"key":{_quote(k)},"value":{_value_text(v)}}}'
        return frag
    return f'{{"key":{_quote(str(k))},"value":{_value_text(v)}}}'


def _attrs_text(attrs: Mapping[str, Any], extra: Sequence[Tuple[str, Any]] = ()) -> str:
    out = [_attr_text(k, v) for k, v in attrs.items()]
    for k, v in extra:
        out.append(_attr_text(k, v))
    return ",".join(out)


def _text_envelope(outer: str, scoped: str, items: str, resource: Mapping[str, Any], rows: List[str]) -> bytes:
    text = (
        f'{{"{outer}":[{{"resource":{{"attributes":[{_attrs_text(resource)}]}},'
        f'"{scoped}":[{{"scope":{_SCOPE_TEXT},"{items}":[{",".join(rows)}]}}]}}]}}'
    )
    return text.encode("utf-8", "replace")


def _span(r: Any) -> str:
    trace_id, span_id, parent = common.span_ids(r)
    is_event = r.type == "event"
    head = f'{{"traceId":"{trace_id:032x}","spanId":"{span_id:016x}"'
    if parent:
        head += f',"parentSpanId":"{parent:016x}"'
    extra = common.event_extra_attributes(r, False) if is_event else ()
    text = (
        f'{head},"name":{_quote(r.name)},"kind":{common.span_kind(r)},'
        f'"startTimeUnixNano":"{int(r.time_ns)}","endTimeUnixNano":"{common.span_end(r)}",'
        f'"attributes":[{_attrs_text(r.attributes, extra)}]'
    )
    if not is_event:
        if r.events:
            events = [
                f'{{"timeUnixNano":"{int(e.time_ns)}","name":{_quote(e.name)},'
                f'"attributes":[{_attrs_text(e.attributes)}]}}'
                for e in r.events
            ]
            text += ',"events":[' + ",".join(events) + "]"
        code = common.STATUS_CODES.get(r.status, 0)
        if code or r.status_message:
            status: Dict[str, Any] = {}
            if r.status_message:
                status["message"] = r.status_message
            if code:
                status["code"] = code
            text += ',"status":' + _dumps(status)
    return text + "}"


def encode_traces(records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return _text_envelope("resourceSpans", "scopeSpans", "spans", resource, [_span(r) for r in records])


# ------------------------------------------------------------------ metrics


def _number_point(m: Any) -> Dict[str, Any]:
    d: Dict[str, Any] = {
        "attributes": attributes(m.attributes),
        "startTimeUnixNano": str(m.start_ns),
        "timeUnixNano": str(m.time_ns),
    }
    if common.number_is_int(m.value):
        d["asInt"] = str(m.value)
    else:
        d["asDouble"] = common.json_double(float(m.value))
    return d


def _histogram_point(m: Any) -> Dict[str, Any]:
    d: Dict[str, Any] = {
        "attributes": attributes(m.attributes),
        "startTimeUnixNano": str(m.start_ns),
        "timeUnixNano": str(m.time_ns),
        "count": str(int(m.count)),
        "sum": common.json_double(float(m.sum)),
    }
    if m.bucket_counts:
        d["bucketCounts"] = [str(int(c)) for c in m.bucket_counts]
    if m.bounds:
        d["explicitBounds"] = [common.json_double(float(b)) for b in m.bounds]
    if m.count:
        d["min"] = common.json_double(float(m.min))
        d["max"] = common.json_double(float(m.max))
    return d


def _metric(points: List[Any]) -> Dict[str, Any]:
    first = points[0]
    d: Dict[str, Any] = {"name": first.name}
    if first.description:
        d["description"] = first.description
    if first.unit:
        d["unit"] = first.unit
    kind = first.metric_type
    if kind == "histogram":
        d["histogram"] = {
            "dataPoints": [_histogram_point(p) for p in points],
            "aggregationTemporality": common.TEMPORALITY_DELTA,
        }
    elif kind == "gauge":
        d["gauge"] = {"dataPoints": [_number_point(p) for p in points]}
    else:
        d["sum"] = {
            "dataPoints": [_number_point(p) for p in points],
            "aggregationTemporality": common.TEMPORALITY_DELTA,
            "isMonotonic": True,
        }
    return d


def encode_metrics(records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    rows = [_metric(group) for group in common.group_metrics(records)]
    return _envelope("resourceMetrics", "scopeMetrics", "metrics", resource, rows)


# ------------------------------------------------------------------ logs


def _log(r: Any) -> str:
    t = int(r.time_ns)
    parts = [f'{{"timeUnixNano":"{t}","observedTimeUnixNano":"{t}"']
    if r.type == "event":
        extra = common.event_extra_attributes(r, True)
        parts.append(',"eventName":' + _quote(r.name))
    else:
        extra = common.log_extra_attributes(r)
        if r.severity_number:
            parts.append(f',"severityNumber":{int(r.severity_number)}')
        if r.severity_text:
            parts.append(',"severityText":' + _quote(r.severity_text))
        if r.body:
            parts.append(',"body":' + _value_text(r.body))
    parts.append(',"attributes":[' + _attrs_text(r.attributes, extra) + "]")
    trace_id, span_id = common.log_trace_ids(r)
    if trace_id:
        parts.append(f',"traceId":"{trace_id:032x}"')
        if span_id:
            parts.append(f',"spanId":"{span_id:016x}"')
    parts.append("}")
    return "".join(parts)


def encode_logs(records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return _text_envelope("resourceLogs", "scopeLogs", "logRecords", resource, [_log(r) for r in records])


ENCODERS: Dict[str, Callable[[Sequence[Any], Mapping[str, Any]], bytes]] = {
    common.TRACES: encode_traces,
    common.METRICS: encode_metrics,
    common.LOGS: encode_logs,
}


def encode(signal: str, records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return ENCODERS[signal](records, resource)


_REJECTED_KEYS = ("rejectedSpans", "rejectedDataPoints", "rejectedLogRecords")


def decode_partial_success(body: bytes) -> Optional[Tuple[int, str]]:
    """(rejected count, error message) from an OTLP/JSON response, None if absent or garbled."""
    try:
        doc = json.loads(body.decode("utf-8")) if body.strip() else {}
        partial = doc.get("partialSuccess") or doc.get("partial_success")
        if not isinstance(partial, dict):
            return None
        rejected = 0
        for key in _REJECTED_KEYS + ("rejected_spans", "rejected_data_points", "rejected_log_records"):
            if key in partial:
                rejected = int(partial[key])
                break
        message = partial.get("errorMessage") or partial.get("error_message") or ""
        return max(0, rejected), str(message)
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        return None
