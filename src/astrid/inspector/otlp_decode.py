"""A small stdlib protobuf reader for OTLP export requests, into plain dicts (field numbers: encoding/otlp_wire)."""

from __future__ import annotations

import base64
import struct
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from ..encoding import otlp_wire as W
from ..encoding.otlp_wire import DecodeError, WireValue, fields

#: Nesting depth of AnyValue arrays/maps we follow; deeper input is refused, not recursed into.
MAX_DEPTH = 32

__all__ = ["MAX_DEPTH", "DecodeError", "decode_proto", "fields"]


# ---------------------------------------------------------------- field values


def _bytes(v: WireValue, what: str) -> bytes:
    if not isinstance(v, bytes):
        raise DecodeError(f"{what}: expected a length-delimited field")
    return v


def _text(v: WireValue, what: str) -> str:
    try:
        return _bytes(v, what).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(f"{what}: string is not valid UTF-8")


def _int(v: WireValue, what: str) -> int:
    """A varint, fixed64 or fixed32 field as an unsigned integer."""
    if isinstance(v, int):
        return v
    if len(v) == 8:
        return int(struct.unpack("<Q", v)[0])
    if len(v) == 4:
        return int(struct.unpack("<I", v)[0])
    raise DecodeError(f"{what}: expected a numeric field")


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _double(v: WireValue, what: str) -> float:
    if isinstance(v, bytes) and len(v) == 8:
        return float(struct.unpack("<d", v)[0])
    raise DecodeError(f"{what}: expected a double")


def _packed(v: WireValue, width: int, fmt: str, what: str) -> List[Any]:
    """A repeated fixed-width field: packed (one LEN blob) or a single unpacked element."""
    raw = _bytes(v, what)
    if len(raw) % width:
        raise DecodeError(f"{what}: packed length {len(raw)} is not a multiple of {width}")
    return list(struct.unpack(f"<{len(raw) // width}{fmt}", raw))


# ---------------------------------------------------------------- common messages


def _any_value(buf: bytes, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise DecodeError(f"attribute values nested deeper than {MAX_DEPTH} levels")
    value: Any = None
    for n, _w, v in fields(buf):
        if n == W.ANY_STRING:
            value = _text(v, "AnyValue.string_value")
        elif n == W.ANY_BOOL:
            value = bool(_int(v, "AnyValue.bool_value"))
        elif n == W.ANY_INT:
            value = _signed64(_int(v, "AnyValue.int_value"))
        elif n == W.ANY_DOUBLE:
            value = _double(v, "AnyValue.double_value")
        elif n == W.ANY_ARRAY:
            value = [
                _any_value(_bytes(x, "ArrayValue"), depth + 1)
                for m, _, x in fields(_bytes(v, "AnyValue.array_value"))
                if m == W.ARRAY_VALUES
            ]
        elif n == W.ANY_KVLIST:
            value = _key_values(
                [x for m, _, x in fields(_bytes(v, "AnyValue.kvlist_value")) if m == W.KVLIST_VALUES], depth + 1
            )
        elif n == W.ANY_BYTES:
            value = base64.b64encode(_bytes(v, "AnyValue.bytes_value")).decode("ascii")
    return value


def _key_values(items: List[WireValue], depth: int = 0) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in items:
        key = ""
        value: Any = None
        for n, _, v in fields(_bytes(item, "KeyValue")):
            if n == W.KV_KEY:
                key = _text(v, "KeyValue.key")
            elif n == W.KV_VALUE:
                value = _any_value(_bytes(v, "KeyValue.value"), depth)
        out[key] = value
    return out


def _message(buf: bytes, repeated: Tuple[int, ...] = ()) -> Dict[int, Any]:
    """Fields by number; numbers in ``repeated`` collect lists, the others keep the last value."""
    out: Dict[int, Any] = {}
    for n, _, v in fields(buf):
        if n in repeated:
            out.setdefault(n, []).append(v)
        else:
            out[n] = v
    return out


def _resource(m: Dict[int, Any]) -> Dict[str, Any]:
    if W.RESOURCE_ITEMS_RESOURCE not in m:
        return {}
    res = _message(_bytes(m[W.RESOURCE_ITEMS_RESOURCE], "Resource"), repeated=(W.RESOURCE_ATTRIBUTES,))
    return _key_values(res.get(W.RESOURCE_ATTRIBUTES, []))


def _scope(m: Dict[int, Any]) -> Dict[str, Any]:
    if W.SCOPE_ITEMS_SCOPE not in m:
        return {}
    sc = _message(_bytes(m[W.SCOPE_ITEMS_SCOPE], "InstrumentationScope"), repeated=(W.SCOPE_ATTRIBUTES,))
    return {
        "name": _text(sc.get(W.SCOPE_NAME, b""), "scope.name"),
        "version": _text(sc.get(W.SCOPE_VERSION, b""), "scope.version"),
    }


def _hex(v: Optional[WireValue]) -> str:
    return _bytes(v, "id").hex() if v is not None else ""


def _walk(
    buf: bytes, item_field: int, convert: Callable[[bytes], Any]
) -> Iterator[Tuple[Dict[str, Any], Dict[str, Any], Any]]:
    """request → Resource* → Scope* → item*: yield (resource attrs, scope, converted item)."""
    for rn, _, rv in fields(buf):
        if rn != W.REQUEST_RESOURCE_ITEMS:
            continue
        rm = _message(_bytes(rv, "Resource*"), repeated=(W.RESOURCE_ITEMS_SCOPES,))
        resource = _resource(rm)
        for sv in rm.get(W.RESOURCE_ITEMS_SCOPES, []):
            sm = _message(_bytes(sv, "Scope*"), repeated=(item_field,))
            scope = _scope(sm)
            for iv in sm.get(item_field, []):
                for item in convert(_bytes(iv, "item")):
                    yield resource, scope, item


# ---------------------------------------------------------------- signals (protobuf)

_STATUS = {0: "unset", 1: "ok", 2: "error"}


def _span(buf: bytes) -> List[Dict[str, Any]]:
    m = _message(buf, repeated=(W.SPAN_ATTRIBUTES, W.SPAN_EVENTS))
    start = _int(m.get(W.SPAN_START_TIME, 0), "Span.start_time_unix_nano")
    end = _int(m.get(W.SPAN_END_TIME, 0), "Span.end_time_unix_nano")
    status = _message(_bytes(m[W.SPAN_STATUS], "Span.status")) if W.SPAN_STATUS in m else {}
    events = []
    for ev in m.get(W.SPAN_EVENTS, []):
        em = _message(_bytes(ev, "Span.Event"), repeated=(W.EVENT_ATTRIBUTES,))
        events.append(
            {
                "name": _text(em.get(W.EVENT_NAME, b""), "Event.name"),
                "time_ns": _int(em.get(W.EVENT_TIME, 0), "Event.time_unix_nano"),
                "attributes": _key_values(em.get(W.EVENT_ATTRIBUTES, [])),
            }
        )
    return [
        {
            "signal": "span",
            "trace_id": _hex(m.get(W.SPAN_TRACE_ID)),
            "span_id": _hex(m.get(W.SPAN_SPAN_ID)),
            "parent_span_id": _hex(m.get(W.SPAN_PARENT_SPAN_ID)),
            "name": _text(m.get(W.SPAN_NAME, b""), "Span.name"),
            "kind": _int(m.get(W.SPAN_KIND, 0), "Span.kind"),
            "start_ns": start,
            "end_ns": end,
            "attributes": _key_values(m.get(W.SPAN_ATTRIBUTES, [])),
            "events": events,
            "status": _STATUS.get(_int(status.get(W.STATUS_CODE, 0), "Status.code"), "unset"),
            "status_message": _text(status.get(W.STATUS_MESSAGE, b""), "Status.message"),
        }
    ]


def _log(buf: bytes) -> List[Dict[str, Any]]:
    m = _message(buf, repeated=(W.LOG_ATTRIBUTES,))
    body = _any_value(_bytes(m[W.LOG_BODY], "LogRecord.body"), 0) if W.LOG_BODY in m else None
    time_ns = _int(m.get(W.LOG_TIME, 0), "LogRecord.time_unix_nano") or _int(
        m.get(W.LOG_OBSERVED_TIME, 0), "observed_time"
    )
    return [
        {
            "signal": "log",
            "time_ns": time_ns,
            "severity_number": _int(m.get(W.LOG_SEVERITY_NUMBER, 0), "LogRecord.severity_number"),
            "severity_text": _text(m.get(W.LOG_SEVERITY_TEXT, b""), "LogRecord.severity_text"),
            "body": body,
            "attributes": _key_values(m.get(W.LOG_ATTRIBUTES, [])),
            "trace_id": _hex(m.get(W.LOG_TRACE_ID)),
            "span_id": _hex(m.get(W.LOG_SPAN_ID)),
            "event_name": _text(m.get(W.LOG_EVENT_NAME, b""), "LogRecord.event_name"),
        }
    ]


def _number_point(buf: bytes) -> Dict[str, Any]:
    m = _message(buf, repeated=(W.NUMBER_ATTRIBUTES,))
    value: Union[int, float] = 0
    if W.NUMBER_AS_DOUBLE in m:
        value = _double(m[W.NUMBER_AS_DOUBLE], "NumberDataPoint.as_double")
    elif W.NUMBER_AS_INT in m:
        value = _signed64(_int(m[W.NUMBER_AS_INT], "NumberDataPoint.as_int"))
    return {
        "attributes": _key_values(m.get(W.NUMBER_ATTRIBUTES, [])),
        "start_ns": _int(m.get(W.NUMBER_START_TIME, 0), "start_time_unix_nano"),
        "time_ns": _int(m.get(W.NUMBER_TIME, 0), "time_unix_nano"),
        "value": value,
    }


def _histogram_point(buf: bytes) -> Dict[str, Any]:
    counts: List[int] = []
    bounds: List[float] = []
    m: Dict[int, Any] = {}
    attrs: List[WireValue] = []
    for n, w, v in fields(buf):
        if n == W.HISTOGRAM_BUCKET_COUNTS:
            counts.extend(
                _packed(v, 8, "Q", "bucket_counts") if w == W.LEN else [_int(v, "bucket_counts")]
            )
        elif n == W.HISTOGRAM_EXPLICIT_BOUNDS:
            bounds.extend(
                _packed(v, 8, "d", "explicit_bounds") if w == W.LEN else [_double(v, "explicit_bounds")]
            )
        elif n == W.HISTOGRAM_ATTRIBUTES:
            attrs.append(v)
        else:
            m[n] = v
    return {
        "attributes": _key_values(attrs),
        "start_ns": _int(m.get(W.HISTOGRAM_START_TIME, 0), "start_time_unix_nano"),
        "time_ns": _int(m.get(W.HISTOGRAM_TIME, 0), "time_unix_nano"),
        "count": _int(m.get(W.HISTOGRAM_COUNT, 0), "HistogramDataPoint.count"),
        "sum": _double(m[W.HISTOGRAM_SUM], "sum") if W.HISTOGRAM_SUM in m else None,
        "min": _double(m[W.HISTOGRAM_MIN], "min") if W.HISTOGRAM_MIN in m else None,
        "max": _double(m[W.HISTOGRAM_MAX], "max") if W.HISTOGRAM_MAX in m else None,
        "bucket_counts": counts,
        "bounds": bounds,
    }


def _metric(buf: bytes) -> List[Dict[str, Any]]:
    m = _message(buf)
    base = {
        "signal": "metric",
        "name": _text(m.get(W.METRIC_NAME, b""), "Metric.name"),
        "description": _text(m.get(W.METRIC_DESCRIPTION, b""), "Metric.description"),
        "unit": _text(m.get(W.METRIC_UNIT, b""), "Metric.unit"),
    }
    kinds = (
        (W.METRIC_GAUGE, "gauge", _number_point),
        (W.METRIC_SUM, "counter", _number_point),
        (W.METRIC_HISTOGRAM, "histogram", _histogram_point),
    )
    out = []
    for field_no, kind, point in kinds:
        if field_no in m:
            data = _message(_bytes(m[field_no], "Metric.data"), repeated=(W.DATA_POINTS,))
            for p in data.get(W.DATA_POINTS, []):
                out.append(dict(base, metric_type=kind, **point(_bytes(p, "data point"))))
    for field_no, kind in ((W.METRIC_EXPONENTIAL_HISTOGRAM, "exponential_histogram"), (W.METRIC_SUMMARY, "summary")):
        if field_no in m:  # shown by name only: the SDK never sends these
            out.append(dict(base, metric_type=kind, attributes={}, time_ns=0, start_ns=0))
    return out


_PROTO = {"traces": (W.SCOPE_ITEMS_ITEMS, _span), "metrics": (W.SCOPE_ITEMS_ITEMS, _metric), "logs": (W.SCOPE_ITEMS_ITEMS, _log)}


def decode_proto(
    signal: str, body: bytes
) -> List[Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]]:
    """Decode an Export{Trace,Metrics,Logs}ServiceRequest into (resource, scope, item) triples."""
    if signal not in _PROTO:
        raise DecodeError(f"unknown signal {signal!r}")
    item_field, convert = _PROTO[signal]
    try:
        return list(_walk(body, item_field, convert))
    except RecursionError:
        raise DecodeError("message nested too deeply")
