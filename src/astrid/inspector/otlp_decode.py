"""A small stdlib protobuf reader for OTLP export requests, and OTLP/JSON reading, into plain dicts."""

from __future__ import annotations

import base64
import struct
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

#: Nesting depth of AnyValue arrays/maps we follow; deeper input is refused, not recursed into.
MAX_DEPTH = 32

WireValue = Union[int, bytes]


class DecodeError(ValueError):
    """The body is not a well-formed OTLP message; the message says why (sent back as a 400)."""


# ---------------------------------------------------------------- wire format


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError(f"truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError(f"varint longer than 10 bytes at byte {pos}")


def fields(buf: bytes) -> Iterator[Tuple[int, int, WireValue]]:
    """Yield (field number, wire type, value): int for varints, raw bytes for everything else."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError(f"field number 0 at byte {pos}")
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 1:
            if pos + 8 > end:
                raise DecodeError(f"truncated 64-bit field {number}")
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise DecodeError(f"length of field {number} runs past the end of the message")
            yield number, wire, buf[pos : pos + length]
            pos += length
        elif wire == 5:
            if pos + 4 > end:
                raise DecodeError(f"truncated 32-bit field {number}")
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        else:
            # groups (3, 4) are not used by OTLP; 6 and 7 do not exist
            raise DecodeError(f"unsupported wire type {wire} for field {number}")


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
        if n == 1:
            value = _text(v, "AnyValue.string_value")
        elif n == 2:
            value = bool(_int(v, "AnyValue.bool_value"))
        elif n == 3:
            value = _signed64(_int(v, "AnyValue.int_value"))
        elif n == 4:
            value = _double(v, "AnyValue.double_value")
        elif n == 5:
            value = [
                _any_value(_bytes(x, "ArrayValue"), depth + 1)
                for m, _, x in fields(_bytes(v, "AnyValue.array_value"))
                if m == 1
            ]
        elif n == 6:
            value = _key_values(
                [x for m, _, x in fields(_bytes(v, "AnyValue.kvlist_value")) if m == 1], depth + 1
            )
        elif n == 7:
            value = base64.b64encode(_bytes(v, "AnyValue.bytes_value")).decode("ascii")
    return value


def _key_values(items: List[WireValue], depth: int = 0) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in items:
        key = ""
        value: Any = None
        for n, _, v in fields(_bytes(item, "KeyValue")):
            if n == 1:
                key = _text(v, "KeyValue.key")
            elif n == 2:
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
    if 1 not in m:
        return {}
    res = _message(_bytes(m[1], "Resource"), repeated=(1,))
    return _key_values(res.get(1, []))


def _scope(m: Dict[int, Any]) -> Dict[str, Any]:
    if 1 not in m:
        return {}
    sc = _message(_bytes(m[1], "InstrumentationScope"), repeated=(3,))
    return {
        "name": _text(sc.get(1, b""), "scope.name"),
        "version": _text(sc.get(2, b""), "scope.version"),
    }


def _hex(v: Optional[WireValue]) -> str:
    return _bytes(v, "id").hex() if v is not None else ""


def _walk(
    buf: bytes, item_field: int, convert: Callable[[bytes], Any]
) -> Iterator[Tuple[Dict[str, Any], Dict[str, Any], Any]]:
    """request → Resource* → Scope* → item*: yield (resource attrs, scope, converted item)."""
    for rn, _, rv in fields(buf):
        if rn != 1:
            continue
        rm = _message(_bytes(rv, "Resource*"), repeated=(2,))
        resource = _resource(rm)
        for sv in rm.get(2, []):
            sm = _message(_bytes(sv, "Scope*"), repeated=(item_field,))
            scope = _scope(sm)
            for iv in sm.get(item_field, []):
                for item in convert(_bytes(iv, "item")):
                    yield resource, scope, item


# ---------------------------------------------------------------- signals (protobuf)

_STATUS = {0: "unset", 1: "ok", 2: "error"}


def _span(buf: bytes) -> List[Dict[str, Any]]:
    m = _message(buf, repeated=(9, 11))
    start = _int(m.get(7, 0), "Span.start_time_unix_nano")
    end = _int(m.get(8, 0), "Span.end_time_unix_nano")
    status = _message(_bytes(m[15], "Span.status")) if 15 in m else {}
    events = []
    for ev in m.get(11, []):
        em = _message(_bytes(ev, "Span.Event"), repeated=(3,))
        events.append(
            {
                "name": _text(em.get(2, b""), "Event.name"),
                "time_ns": _int(em.get(1, 0), "Event.time_unix_nano"),
                "attributes": _key_values(em.get(3, [])),
            }
        )
    return [
        {
            "signal": "span",
            "trace_id": _hex(m.get(1)),
            "span_id": _hex(m.get(2)),
            "parent_span_id": _hex(m.get(4)),
            "name": _text(m.get(5, b""), "Span.name"),
            "kind": _int(m.get(6, 0), "Span.kind"),
            "start_ns": start,
            "end_ns": end,
            "attributes": _key_values(m.get(9, [])),
            "events": events,
            "status": _STATUS.get(_int(status.get(3, 0), "Status.code"), "unset"),
            "status_message": _text(status.get(2, b""), "Status.message"),
        }
    ]


def _log(buf: bytes) -> List[Dict[str, Any]]:
    m = _message(buf, repeated=(6,))
    body = _any_value(_bytes(m[5], "LogRecord.body"), 0) if 5 in m else None
    time_ns = _int(m.get(1, 0), "LogRecord.time_unix_nano") or _int(m.get(11, 0), "observed_time")
    return [
        {
            "signal": "log",
            "time_ns": time_ns,
            "severity_number": _int(m.get(2, 0), "LogRecord.severity_number"),
            "severity_text": _text(m.get(3, b""), "LogRecord.severity_text"),
            "body": body,
            "attributes": _key_values(m.get(6, [])),
            "trace_id": _hex(m.get(9)),
            "span_id": _hex(m.get(10)),
            "event_name": _text(m.get(12, b""), "LogRecord.event_name"),
        }
    ]


def _number_point(buf: bytes) -> Dict[str, Any]:
    m = _message(buf, repeated=(7,))
    value: Union[int, float] = 0
    if 4 in m:
        value = _double(m[4], "NumberDataPoint.as_double")
    elif 6 in m:
        value = _signed64(_int(m[6], "NumberDataPoint.as_int"))
    return {
        "attributes": _key_values(m.get(7, [])),
        "start_ns": _int(m.get(2, 0), "start_time_unix_nano"),
        "time_ns": _int(m.get(3, 0), "time_unix_nano"),
        "value": value,
    }


def _histogram_point(buf: bytes) -> Dict[str, Any]:
    counts: List[int] = []
    bounds: List[float] = []
    m: Dict[int, Any] = {}
    attrs: List[WireValue] = []
    for n, w, v in fields(buf):
        if n == 6:
            counts.extend(
                _packed(v, 8, "Q", "bucket_counts") if w == 2 else [_int(v, "bucket_counts")]
            )
        elif n == 7:
            bounds.extend(
                _packed(v, 8, "d", "explicit_bounds") if w == 2 else [_double(v, "explicit_bounds")]
            )
        elif n == 9:
            attrs.append(v)
        else:
            m[n] = v
    return {
        "attributes": _key_values(attrs),
        "start_ns": _int(m.get(2, 0), "start_time_unix_nano"),
        "time_ns": _int(m.get(3, 0), "time_unix_nano"),
        "count": _int(m.get(4, 0), "HistogramDataPoint.count"),
        "sum": _double(m[5], "sum") if 5 in m else None,
        "min": _double(m[11], "min") if 11 in m else None,
        "max": _double(m[12], "max") if 12 in m else None,
        "bucket_counts": counts,
        "bounds": bounds,
    }


def _metric(buf: bytes) -> List[Dict[str, Any]]:
    m = _message(buf)
    base = {
        "signal": "metric",
        "name": _text(m.get(1, b""), "Metric.name"),
        "description": _text(m.get(2, b""), "Metric.description"),
        "unit": _text(m.get(3, b""), "Metric.unit"),
    }
    kinds = (
        (5, "gauge", _number_point),
        (7, "counter", _number_point),
        (9, "histogram", _histogram_point),
    )
    out = []
    for field_no, kind, point in kinds:
        if field_no in m:
            data = _message(_bytes(m[field_no], "Metric.data"), repeated=(1,))
            for p in data.get(1, []):
                out.append(dict(base, metric_type=kind, **point(_bytes(p, "data point"))))
    for field_no, kind in ((10, "exponential_histogram"), (11, "summary")):
        if field_no in m:  # shown by name only: the SDK never sends these
            out.append(dict(base, metric_type=kind, attributes={}, time_ns=0, start_ns=0))
    return out


_PROTO = {"traces": (2, _span), "metrics": (2, _metric), "logs": (2, _log)}


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
