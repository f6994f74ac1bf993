"""A hand-written protobuf wire encoder for OTLP export requests (and partial-success responses)."""

from __future__ import annotations

import struct
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import otlp_common as common

CONTENT_TYPE = "application/x-protobuf"

_pack_q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack
_pack_q2 = struct.Struct("<BQ").pack  # tag byte + fixed64: one call for timestamps
_VARINTS = [bytes([n]) for n in range(128)]


def _varint(n: int) -> bytes:
    if n < 128:
        return _VARINTS[n]
    out = bytearray()
    while n > 127:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


# Precomputed tags: (field << 3) | wire type.
def _tag(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _ld(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field."""
    return tag + _varint(len(payload)) + payload


def _string(tag: bytes, text: str) -> bytes:
    data = text.encode("utf-8", "replace")
    return tag + _varint(len(data)) + data


# ------------------------------------------------------------------ AnyValue / KeyValue

_KV_CACHE: Dict[Tuple[Any, ...], bytes] = {}
_KV_CACHE_SIZE = 8192
_CACHED_VALUE_LENGTH = 64


def any_value(value: Any) -> bytes:
    """An AnyValue message (the payload, without tag)."""
    if isinstance(value, str):
        data = value.encode("utf-8", "replace")
        return b"\x0a" + _varint(len(data)) + data
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if common.is_int64(value):
            return b"\x18" + _varint(int(value) & common.MASK64)
        return _string(b"\x0a", str(int(value)))  # int(): not an IntEnum's own str()
    if isinstance(value, float):
        return b"\x21" + _pack_d(value)
    if isinstance(value, (list, tuple)):
        return _ld(b"\x2a", b"".join([_ld(b"\x0a", any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        return _ld(b"\x32", b"".join([_ld(b"\x0a", _kv(str(k), v)) for k, v in value.items()]))
    if isinstance(value, (bytes, bytearray)):
        return _ld(b"\x3a", bytes(value))
    return _string(b"\x0a", str(value))


def _kv(key: str, value: Any) -> bytes:
    """A KeyValue message (the payload, without tag)."""
    return _string(b"\x0a", key) + _ld(b"\x12", any_value(value))


def _kv_field(key: str, value: Any) -> bytes:
    """A KeyValue as a field body: its length, then the message (the caller adds the tag)."""
    kv = _kv(key, value)
    return _varint(len(kv)) + kv


_KEY_CACHE: Dict[str, bytes] = {}


def _attr(k: str, v: Any) -> bytes:
    """One attribute as a KeyValue field body (length + message); the caller adds the tag."""
    cls = v.__class__
    if cls is str and len(v) <= _CACHED_VALUE_LENGTH:
        # short string attributes repeat across records: encode each pair once
        enc = _KV_CACHE.get((k, v))
        if enc is None:
            if len(_KV_CACHE) >= _KV_CACHE_SIZE:
                _KV_CACHE.clear()
            enc = _KV_CACHE[(k, v)] = _kv_field(k, v)
        return enc
    if cls is bool or (cls is int and -128 <= v < 1024):
        # flags and small counts repeat too; the class is part of the key (True == 1)
        enc = _KV_CACHE.get((k, cls, v))
        if enc is None:
            if len(_KV_CACHE) >= _KV_CACHE_SIZE:
                _KV_CACHE.clear()
            enc = _KV_CACHE[(k, cls, v)] = _kv_field(k, v)
        return enc
    if cls is int or cls is float:
        key = _KEY_CACHE.get(k)
        if key is None:
            if len(_KEY_CACHE) >= _KV_CACHE_SIZE:
                _KEY_CACHE.clear()
            key = _KEY_CACHE[k] = _string(b"\x0a", k)
        if cls is float:
            kv = key + b"\x12\x09\x21" + _pack_d(v)
        elif -0x8000000000000000 <= v <= 0x7FFFFFFFFFFFFFFF:
            n = _varint(v & 0xFFFFFFFFFFFFFFFF)
            kv = key + b"\x12" + _VARINTS[len(n) + 1] + b"\x18" + n
        else:
            return _kv_field(k, v)
        return _varint(len(kv)) + kv
    return _kv_field(str(k), v)


def _attributes(
    out: List[bytes], tag: bytes, attrs: Mapping[str, Any], extra: Sequence[Tuple[str, Any]] = ()
) -> None:
    append = out.append
    for k, v in attrs.items():
        append(tag)
        append(_attr(k, v))
    for k, v in extra:
        append(tag)
        append(_attr(k, v))


# ------------------------------------------------------------------ envelope


def _scope() -> bytes:
    return _string(b"\x0a", common.SCOPE_NAME) + _string(b"\x12", common.SCOPE_VERSION)


_SCOPE = _ld(b"\x0a", _scope())


def _envelope(resource: Mapping[str, Any], items: List[bytes]) -> bytes:
    """Export*ServiceRequest { Resource* { resource=1, Scope* { scope=1, items=2 } = 2 } = 1 }."""
    scoped = _SCOPE + b"".join(items)
    attrs: List[bytes] = []
    _attributes(attrs, b"\x0a", resource)
    res = _ld(b"\x0a", b"".join(attrs))
    return _ld(b"\x0a", res + _ld(b"\x12", scoped))


# ------------------------------------------------------------------ traces


def _span(r: Any) -> bytes:
    if r.type == "event":
        return _event_span(r)
    trace_id, span_id, parent = common.span_ids(r)
    parts = [b"\x0a\x10", trace_id.to_bytes(16, "big"), b"\x12\x08", span_id.to_bytes(8, "big")]
    if parent:
        parts += (b"\x22\x08", parent.to_bytes(8, "big"))
    parts.append(_string(b"\x2a", r.name))
    parts.append(b"\x30" + _varint(common.span_kind(r)))
    parts.append(_pack_q2(0x39, r.time_ns & common.MASK64))
    parts.append(_pack_q2(0x41, common.span_end(r) & common.MASK64))
    _attributes(parts, b"\x4a", r.attributes)
    for ev in r.events:
        body = [_pack_q2(0x09, ev.time_ns & common.MASK64), _string(b"\x12", ev.name)]
        _attributes(body, b"\x1a", ev.attributes)
        parts.append(_ld(b"\x5a", b"".join(body)))
    code = common.STATUS_CODES.get(r.status, 0)
    if code or r.status_message:
        status = _string(b"\x12", r.status_message) if r.status_message else b""
        if code:
            status += b"\x18" + _varint(code)
        parts.append(_ld(b"\x7a", status))
    payload = b"".join(parts)
    return b"\x12" + _varint(len(payload)) + payload


_EVENT_MARK = b"\x4a" + _attr(common.RECORD_TYPE_KEY, "event")


_NAME_CACHE: Dict[str, bytes] = {}
_IDS = struct.Struct(">HQQHQ").pack  # trace id (tag 1, 16 bytes), span id (tag 2, 8 bytes)
_TIMES = struct.Struct("<BQBQ").pack  # start and end time, fixed64


class _Blocks:
    """Encoded attribute blocks of events, by attribute set: one call site tracks the same set
    again and again, so the set is encoded once. Keyed by the items and their classes (True, 1
    and 1.0 are equal keys but different values). Bounded; it switches itself off for a while
    when most sets are new (high-cardinality values), so a miss costs little."""

    __slots__ = ("table", "hits", "lookups", "off")

    SIZE = 4096
    WINDOW = 1024  # lookups between two looks at the hit rate
    PAUSE = 16384  # events encoded without the table after a window of mostly misses

    def __init__(self) -> None:
        self.table: Dict[Any, bytes] = {}
        self.hits = 0
        self.lookups = 0
        self.off = 0


_BLOCKS = _Blocks()


def _encode_event_attributes(attrs: Mapping[str, Any]) -> bytes:
    parts: List[bytes] = []
    append = parts.append
    cache = _KV_CACHE
    for k, v in attrs.items():
        append(b"\x4a")
        if v.__class__ is str:
            enc = cache.get((k, v))
            append(enc if enc is not None else _attr(k, v))
        else:
            append(_attr(k, v))
    if common.RECORD_TYPE_KEY not in attrs:
        append(_EVENT_MARK)
    return b"".join(parts)


def _event_attributes(attrs: Mapping[str, Any]) -> bytes:
    """The attribute fields of an event span (and its type mark), from the block table when it can."""
    blocks = _BLOCKS
    if blocks.off:
        blocks.off -= 1
        return _encode_event_attributes(attrs)
    try:
        key = (tuple(attrs.items()), tuple(map(type, attrs.values())))
        block = blocks.table.get(key)
    except TypeError:  # an unhashable value (a list): encode it as it is
        return _encode_event_attributes(attrs)
    blocks.lookups += 1
    if block is not None:
        blocks.hits += 1
        return block
    if blocks.lookups >= blocks.WINDOW:
        if blocks.hits * 4 < blocks.lookups:
            blocks.off = blocks.PAUSE  # mostly new sets: not worth the keys for a while
            blocks.table.clear()
        blocks.hits = blocks.lookups = 0
    block = _encode_event_attributes(attrs)
    # 0.0 and -0.0 are equal keys with different encodings: sets holding a float zero are not kept
    if not any(v.__class__ is float and v == 0.0 for v in attrs.values()):
        if len(blocks.table) >= blocks.SIZE:
            blocks.table.clear()
        blocks.table[key] = block
    return block


def _event_span(r: Any) -> bytes:
    """An event as a zero-length INTERNAL span (the hot path: kept flat on purpose)."""
    trace_id = (r.trace_id or r.id) & common.MASK128
    t = r.time_ns & common.MASK64
    name = r.name
    head = _NAME_CACHE.get(name)
    if head is None:
        if len(_NAME_CACHE) >= _KV_CACHE_SIZE:
            _NAME_CACHE.clear()
        head = _NAME_CACHE[name] = _string(b"\x2a", name) + b"\x30\x01"  # name, kind INTERNAL
    parts = [_IDS(0x0A10, trace_id >> 64, trace_id & common.MASK64, 0x1208, (r.id & common.MASK64) or 1)]
    if r.parent_span_id:
        parts.append(b"\x22\x08" + (r.parent_span_id & common.MASK64).to_bytes(8, "big"))
    parts += (head, _TIMES(0x39, t, 0x41, t))
    parts.append(_event_attributes(r.attributes))
    payload = b"".join(parts)
    return b"\x12" + _varint(len(payload)) + payload


#: records encoded between two releases of the GIL when pacing is on (see ``pacing``)
PACE_EVERY = 64
_pacing = threading.local()


def pacing(on: bool) -> None:
    """Release the GIL every ``PACE_EVERY`` records in this thread's encodes (``time.sleep(0)``).

    The SDK's export lanes turn it on while the pipeline has room, so an application thread
    never waits a whole switch interval (5 ms) behind an encode; off by default.
    """
    _pacing.on = on


def _each(fn: Callable[[Any], bytes], records: Sequence[Any]) -> List[bytes]:
    if len(records) <= PACE_EVERY or not getattr(_pacing, "on", False):
        return [fn(r) for r in records]
    out: List[bytes] = []
    sleep = time.sleep
    for i in range(0, len(records), PACE_EVERY):
        if i:
            sleep(0)
        out += [fn(r) for r in records[i : i + PACE_EVERY]]
    return out


def encode_traces(records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return _envelope(resource, _each(_span, records))


# ------------------------------------------------------------------ metrics


def _number_point(m: Any) -> bytes:
    body = [
        _pack_q2(0x11, m.start_ns & common.MASK64),
        _pack_q2(0x19, m.time_ns & common.MASK64),
    ]
    if common.number_is_int(m.value):
        body.append(b"\x31" + _pack_q(m.value & common.MASK64))  # as_int: sfixed64
    else:
        body.append(b"\x21" + _pack_d(float(m.value)))
    _attributes(body, b"\x3a", m.attributes)
    return _ld(b"\x0a", b"".join(body))


def _histogram_point(m: Any) -> bytes:
    counts = [int(c) for c in m.bucket_counts]
    bounds = [float(b) for b in m.bounds]
    body = [
        _pack_q2(0x11, m.start_ns & common.MASK64),
        _pack_q2(0x19, m.time_ns & common.MASK64),
        _pack_q2(0x21, int(m.count) & common.MASK64),
        b"\x29" + _pack_d(float(m.sum)),
    ]
    if counts:
        body.append(_ld(b"\x32", struct.pack(f"<{len(counts)}Q", *counts)))
    if bounds:
        body.append(_ld(b"\x3a", struct.pack(f"<{len(bounds)}d", *bounds)))
    _attributes(body, b"\x4a", m.attributes)
    if m.count:
        body.append(b"\x59" + _pack_d(float(m.min)))
        body.append(b"\x61" + _pack_d(float(m.max)))
    return _ld(b"\x0a", b"".join(body))


def _metric(points: List[Any]) -> bytes:
    first = points[0]
    head = _string(b"\x0a", first.name)
    if first.description:
        head += _string(b"\x12", first.description)
    if first.unit:
        head += _string(b"\x1a", first.unit)
    kind = first.metric_type
    if kind == "histogram":
        data = b"".join([_histogram_point(p) for p in points]) + b"\x10\x01"
        head += _ld(b"\x4a", data)
    elif kind == "gauge":
        head += _ld(b"\x2a", b"".join([_number_point(p) for p in points]))
    else:  # counter: a monotonic delta Sum
        data = b"".join([_number_point(p) for p in points]) + b"\x10\x01\x18\x01"
        head += _ld(b"\x3a", data)
    return _ld(b"\x12", head)


def encode_metrics(records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return _envelope(resource, [_metric(group) for group in common.group_metrics(records)])


# ------------------------------------------------------------------ logs


def _log(r: Any) -> bytes:
    t = r.time_ns & common.MASK64
    parts = [_pack_q2(0x09, t)]
    is_event = r.type == "event"
    if is_event:
        extra = common.event_extra_attributes(r, True)
    else:
        extra = common.log_extra_attributes(r)
        if r.severity_number:
            parts.append(b"\x10" + _varint(int(r.severity_number)))
        if r.severity_text:
            parts.append(_string(b"\x1a", r.severity_text))
        if r.body:
            parts.append(_ld(b"\x2a", any_value(r.body)))
    _attributes(parts, b"\x32", r.attributes, extra)
    trace_id, span_id = common.log_trace_ids(r)
    if trace_id:
        parts += (b"\x4a\x10", trace_id.to_bytes(16, "big"))
        if span_id:
            parts += (b"\x52\x08", span_id.to_bytes(8, "big"))
    parts.append(_pack_q2(0x59, t))  # observed time: when the SDK saw it
    if is_event:
        parts.append(_string(b"\x62", r.name))  # event_name (OTLP 1.5+; older receivers skip it)
    payload = b"".join(parts)
    return b"\x12" + _varint(len(payload)) + payload


def encode_logs(records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return _envelope(resource, _each(_log, records))


ENCODERS: Dict[str, Callable[[Sequence[Any], Mapping[str, Any]], bytes]] = {
    common.TRACES: encode_traces,
    common.METRICS: encode_metrics,
    common.LOGS: encode_logs,
}


def encode(signal: str, records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return ENCODERS[signal](records, resource)


# ------------------------------------------------------------------ responses


def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 127) << shift
        if b < 128:
            return result, pos
        shift += 7


def _fields(data: bytes) -> List[Tuple[int, Any]]:
    out: List[Tuple[int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
        out.append((field, value))
    return out


def decode_partial_success(body: bytes) -> Optional[Tuple[int, str]]:
    """(rejected count, error message) from an Export*ServiceResponse, None if absent or garbled."""
    try:
        for field, value in _fields(body):
            if field == 1 and isinstance(value, bytes):
                rejected, message = 0, ""
                for f, v in _fields(value):
                    if f == 1 and isinstance(v, int):
                        rejected = v - (1 << 64) if v >= 1 << 63 else v
                    elif f == 2 and isinstance(v, bytes):
                        message = v.decode("utf-8", "replace")
                return max(0, rejected), message
    except (ValueError, IndexError):
        return None
    return None
