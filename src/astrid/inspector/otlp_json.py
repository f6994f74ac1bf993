"""Reading OTLP/JSON export requests into the same (resource, scope, item) triples as the protobuf reader."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Callable, Dict, List, Optional, Tuple

from .otlp_decode import MAX_DEPTH, DecodeError

Triple = Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]

_STATUS = {
    0: "unset",
    1: "ok",
    2: "error",
    "STATUS_CODE_UNSET": "unset",
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
}


def _get(obj: Dict[str, Any], camel: str, default: Any = None) -> Any:
    """OTLP/JSON keys are lowerCamelCase; the spec lets receivers accept snake_case too."""
    if camel in obj:
        return obj[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(snake, default)


def _obj(value: Any, what: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"{what} must be a JSON object")
    return value


def _list(value: Any, what: str) -> List[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{what} must be a JSON array")
    return value


def _num(value: Any, what: str) -> int:
    """64-bit integers arrive as decimal strings (or plain numbers from lenient senders)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise DecodeError(f"{what} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise DecodeError(f"{what} must be an integer or a decimal string; got {value!r}")


def _float(value: Any, what: str) -> float:
    if isinstance(value, bool) or value is None:
        raise DecodeError(f"{what} must be a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    raise DecodeError(f"{what} must be a number; got {value!r}")


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{what} must be a string")
    return value


def _id(value: Any, what: str) -> str:
    """Trace and span ids are hex in OTLP/JSON (not base64 as in generic proto JSON)."""
    text = _text(value, what)
    try:
        return bytes.fromhex(text).hex() if text else ""
    except ValueError:
        raise DecodeError(f"{what} must be a hex string")


def any_value(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise DecodeError(f"attribute values nested deeper than {MAX_DEPTH} levels")
    v = _obj(value, "AnyValue")
    if "stringValue" in v or "string_value" in v:
        return _text(_get(v, "stringValue"), "stringValue")
    if "boolValue" in v or "bool_value" in v:
        b = _get(v, "boolValue")
        if not isinstance(b, bool):
            raise DecodeError("boolValue must be true or false")
        return b
    if "intValue" in v or "int_value" in v:
        return _num(_get(v, "intValue"), "intValue")
    if "doubleValue" in v or "double_value" in v:
        return _float(_get(v, "doubleValue"), "doubleValue")
    if "arrayValue" in v or "array_value" in v:
        arr = _obj(_get(v, "arrayValue"), "arrayValue")
        return [any_value(x, depth + 1) for x in _list(arr.get("values"), "arrayValue.values")]
    if "kvlistValue" in v or "kvlist_value" in v:
        kv = _obj(_get(v, "kvlistValue"), "kvlistValue")
        return attributes(kv.get("values"), depth + 1)
    if "bytesValue" in v or "bytes_value" in v:
        raw = _text(_get(v, "bytesValue"), "bytesValue")
        try:
            base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise DecodeError("bytesValue must be base64")
        return raw
    return None


def attributes(items: Any, depth: int = 0) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for kv in _list(items, "attributes"):
        kv = _obj(kv, "KeyValue")
        out[_text(kv.get("key"), "KeyValue.key")] = any_value(kv.get("value"), depth)
    return out


def _span(s: Dict[str, Any]) -> List[Dict[str, Any]]:
    status = _obj(s.get("status"), "status")
    code = status.get("code", 0)
    events = []
    for ev in _list(s.get("events"), "events"):
        ev = _obj(ev, "event")
        events.append(
            {
                "name": _text(ev.get("name"), "event.name"),
                "time_ns": _num(_get(ev, "timeUnixNano"), "timeUnixNano"),
                "attributes": attributes(ev.get("attributes")),
            }
        )
    return [
        {
            "signal": "span",
            "trace_id": _id(_get(s, "traceId"), "traceId"),
            "span_id": _id(_get(s, "spanId"), "spanId"),
            "parent_span_id": _id(_get(s, "parentSpanId"), "parentSpanId"),
            "name": _text(s.get("name"), "span.name"),
            "kind": s.get("kind", 0) if isinstance(s.get("kind", 0), int) else 0,
            "start_ns": _num(_get(s, "startTimeUnixNano"), "startTimeUnixNano"),
            "end_ns": _num(_get(s, "endTimeUnixNano"), "endTimeUnixNano"),
            "attributes": attributes(s.get("attributes")),
            "events": events,
            "status": _STATUS.get(code, "unset") if isinstance(code, (int, str)) else "unset",
            "status_message": _text(status.get("message"), "status.message"),
        }
    ]


def _log(r: Dict[str, Any]) -> List[Dict[str, Any]]:
    sev = _get(r, "severityNumber", 0)
    return [
        {
            "signal": "log",
            "time_ns": _num(_get(r, "timeUnixNano"), "timeUnixNano")
            or _num(_get(r, "observedTimeUnixNano"), "observedTimeUnixNano"),
            "severity_number": sev if isinstance(sev, int) and not isinstance(sev, bool) else 0,
            "severity_text": _text(_get(r, "severityText"), "severityText"),
            "body": any_value(r.get("body")) if r.get("body") is not None else None,
            "attributes": attributes(r.get("attributes")),
            "trace_id": _id(_get(r, "traceId"), "traceId"),
            "span_id": _id(_get(r, "spanId"), "spanId"),
            "event_name": _text(_get(r, "eventName"), "eventName"),
        }
    ]


def _point(p: Dict[str, Any], kind: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        "attributes": attributes(p.get("attributes")),
        "start_ns": _num(_get(p, "startTimeUnixNano"), "startTimeUnixNano"),
        "time_ns": _num(_get(p, "timeUnixNano"), "timeUnixNano"),
    }
    if kind == "histogram":
        out["count"] = _num(p.get("count"), "count")
        for key in ("sum", "min", "max"):
            out[key] = _float(p[key], key) if p.get(key) is not None else None
        out["bucket_counts"] = [
            _num(c, "bucketCounts") for c in _list(_get(p, "bucketCounts"), "bucketCounts")
        ]
        out["bounds"] = [
            _float(b, "explicitBounds") for b in _list(_get(p, "explicitBounds"), "explicitBounds")
        ]
    elif _get(p, "asDouble") is not None:
        out["value"] = _float(_get(p, "asDouble"), "asDouble")
    else:
        out["value"] = _num(_get(p, "asInt"), "asInt")
    return out


def _metric(m: Dict[str, Any]) -> List[Dict[str, Any]]:
    base = {
        "signal": "metric",
        "name": _text(m.get("name"), "metric.name"),
        "description": _text(m.get("description"), "metric.description"),
        "unit": _text(m.get("unit"), "metric.unit"),
    }
    out = []
    for key, kind in (("gauge", "gauge"), ("sum", "counter"), ("histogram", "histogram")):
        if m.get(key) is not None:
            data = _obj(m[key], key)
            for p in _list(_get(data, "dataPoints"), "dataPoints"):
                out.append(dict(base, metric_type=kind, **_point(_obj(p, "data point"), kind)))
    return out


_JSON: Dict[str, Tuple[str, str, str, Callable[[Dict[str, Any]], List[Dict[str, Any]]]]] = {
    "traces": ("resourceSpans", "scopeSpans", "spans", _span),
    "metrics": ("resourceMetrics", "scopeMetrics", "metrics", _metric),
    "logs": ("resourceLogs", "scopeLogs", "logRecords", _log),
}


def decode_json(signal: str, doc: Any) -> List[Triple]:
    """Read a parsed OTLP/JSON Export*ServiceRequest into (resource, scope, item) triples."""
    if signal not in _JSON:
        raise DecodeError(f"unknown signal {signal!r}")
    top, middle, leaf, convert = _JSON[signal]
    root = _obj(doc, "request body")
    out: List[Triple] = []
    try:
        for rs in _list(_get(root, top), top):
            rs = _obj(rs, top)
            resource = attributes(_obj(rs.get("resource"), "resource").get("attributes"))
            for ss in _list(_get(rs, middle), middle):
                ss = _obj(ss, middle)
                sc = _obj(ss.get("scope"), "scope")
                scope: Optional[Dict[str, Any]] = {
                    "name": _text(sc.get("name"), "scope.name"),
                    "version": _text(sc.get("version"), "scope.version"),
                }
                for item in _list(_get(ss, leaf), leaf):
                    for converted in convert(_obj(item, leaf)):
                        out.append((resource, scope or {}, converted))
    except RecursionError:
        raise DecodeError("request nested too deeply")
    return out
