"""A hand-written protobuf wire encoder for OTLP export requests (and partial-success responses)."""

from __future__ import annotations

import struct
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import otlp_common as common
from . import otlp_wire as W
from .otlp_wire import _VARINTS, I64, LEN, VARINT, tag
from .otlp_wire import varint as _varint

CONTENT_TYPE = "application/x-protobuf"

_pack_q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack
_pack_q2 = struct.Struct("<BQ").pack  # tag byte + fixed64: one call for timestamps
# Tags, precomputed from the field numbers in otlp_wire (shared with the inspector's decoder).
_ANY_STRING = tag(W.ANY_STRING, LEN)
_ANY_BOOL = tag(W.ANY_BOOL, VARINT)
_ANY_TRUE = _ANY_BOOL + b"\x01"
_ANY_FALSE = _ANY_BOOL + b"\x00"
_ANY_INT = tag(W.ANY_INT, VARINT)
_ANY_DOUBLE = tag(W.ANY_DOUBLE, I64)
_ANY_ARRAY = tag(W.ANY_ARRAY, LEN)
_ANY_KVLIST = tag(W.ANY_KVLIST, LEN)
_ANY_BYTES = tag(W.ANY_BYTES, LEN)
_ARRAY_VALUE = tag(W.ARRAY_VALUES, LEN)
_KVLIST_VALUE = tag(W.KVLIST_VALUES, LEN)
_KV_KEY = tag(W.KV_KEY, LEN)
_KV_VALUE = tag(W.KV_VALUE, LEN)
#: a KeyValue's value that is a double: the AnyValue is 9 bytes (tag + fixed64)
_KV_DOUBLE = _KV_VALUE + b"\x09" + _ANY_DOUBLE

_SCOPE_NAME = tag(W.SCOPE_NAME, LEN)
_SCOPE_VERSION = tag(W.SCOPE_VERSION, LEN)
_SCOPE_ITEMS_SCOPE = tag(W.SCOPE_ITEMS_SCOPE, LEN)
#: a span, a metric or a log record inside its Scope{Spans,Metrics,Logs}
_ITEM = tag(W.SCOPE_ITEMS_ITEMS, LEN)
_RESOURCE_ATTRIBUTE = tag(W.RESOURCE_ATTRIBUTES, LEN)
_RESOURCE_ITEMS_RESOURCE = tag(W.RESOURCE_ITEMS_RESOURCE, LEN)
_RESOURCE_ITEMS_SCOPES = tag(W.RESOURCE_ITEMS_SCOPES, LEN)
_REQUEST_RESOURCE_ITEMS = tag(W.REQUEST_RESOURCE_ITEMS, LEN)

_SPAN_TRACE_ID = tag(W.SPAN_TRACE_ID, LEN) + b"\x10"  # 16 bytes follow
_SPAN_SPAN_ID = tag(W.SPAN_SPAN_ID, LEN) + b"\x08"  # 8 bytes follow
_SPAN_PARENT_SPAN_ID = tag(W.SPAN_PARENT_SPAN_ID, LEN) + b"\x08"
_SPAN_NAME = tag(W.SPAN_NAME, LEN)
_SPAN_KIND = tag(W.SPAN_KIND, VARINT)
_SPAN_START_TIME = tag(W.SPAN_START_TIME, I64)[0]  # an int: packed with its fixed64 by struct
_SPAN_END_TIME = tag(W.SPAN_END_TIME, I64)[0]
_SPAN_ATTRIBUTE = tag(W.SPAN_ATTRIBUTES, LEN)
_SPAN_EVENT = tag(W.SPAN_EVENTS, LEN)
_SPAN_STATUS = tag(W.SPAN_STATUS, LEN)
_EVENT_TIME = tag(W.EVENT_TIME, I64)[0]
_EVENT_NAME = tag(W.EVENT_NAME, LEN)
_EVENT_ATTRIBUTE = tag(W.EVENT_ATTRIBUTES, LEN)
_STATUS_MESSAGE = tag(W.STATUS_MESSAGE, LEN)
_STATUS_CODE = tag(W.STATUS_CODE, VARINT)

_METRIC_NAME = tag(W.METRIC_NAME, LEN)
_METRIC_DESCRIPTION = tag(W.METRIC_DESCRIPTION, LEN)
_METRIC_UNIT = tag(W.METRIC_UNIT, LEN)
_METRIC_GAUGE = tag(W.METRIC_GAUGE, LEN)
_METRIC_SUM = tag(W.METRIC_SUM, LEN)
_METRIC_HISTOGRAM = tag(W.METRIC_HISTOGRAM, LEN)
_DATA_POINT = tag(W.DATA_POINTS, LEN)
_DELTA = tag(W.DATA_AGGREGATION_TEMPORALITY, VARINT) + bytes([W.AGGREGATION_TEMPORALITY_DELTA])
_MONOTONIC = tag(W.SUM_IS_MONOTONIC, VARINT) + b"\x01"
_NUMBER_START_TIME = tag(W.NUMBER_START_TIME, I64)[0]
_NUMBER_TIME = tag(W.NUMBER_TIME, I64)[0]
_NUMBER_AS_DOUBLE = tag(W.NUMBER_AS_DOUBLE, I64)
_NUMBER_AS_INT = tag(W.NUMBER_AS_INT, I64)  # sfixed64
_NUMBER_ATTRIBUTE = tag(W.NUMBER_ATTRIBUTES, LEN)
_HISTOGRAM_START_TIME = tag(W.HISTOGRAM_START_TIME, I64)[0]
_HISTOGRAM_TIME = tag(W.HISTOGRAM_TIME, I64)[0]
_HISTOGRAM_COUNT = tag(W.HISTOGRAM_COUNT, I64)[0]  # fixed64
_HISTOGRAM_SUM = tag(W.HISTOGRAM_SUM, I64)
_HISTOGRAM_BUCKET_COUNTS = tag(W.HISTOGRAM_BUCKET_COUNTS, LEN)  # packed fixed64
_HISTOGRAM_EXPLICIT_BOUNDS = tag(W.HISTOGRAM_EXPLICIT_BOUNDS, LEN)  # packed double
_HISTOGRAM_ATTRIBUTE = tag(W.HISTOGRAM_ATTRIBUTES, LEN)
_HISTOGRAM_MIN = tag(W.HISTOGRAM_MIN, I64)
_HISTOGRAM_MAX = tag(W.HISTOGRAM_MAX, I64)

_LOG_TIME = tag(W.LOG_TIME, I64)[0]
_LOG_SEVERITY_NUMBER = tag(W.LOG_SEVERITY_NUMBER, VARINT)
_LOG_SEVERITY_TEXT = tag(W.LOG_SEVERITY_TEXT, LEN)
_LOG_BODY = tag(W.LOG_BODY, LEN)
_LOG_ATTRIBUTE = tag(W.LOG_ATTRIBUTES, LEN)
_LOG_TRACE_ID = tag(W.LOG_TRACE_ID, LEN) + b"\x10"
_LOG_SPAN_ID = tag(W.LOG_SPAN_ID, LEN) + b"\x08"
_LOG_OBSERVED_TIME = tag(W.LOG_OBSERVED_TIME, I64)[0]
_LOG_EVENT_NAME = tag(W.LOG_EVENT_NAME, LEN)


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
        return _ANY_STRING + _varint(len(data)) + data
    if isinstance(value, bool):
        return _ANY_TRUE if value else _ANY_FALSE
    if isinstance(value, int):
        if common.is_int64(value):
            return _ANY_INT + _varint(int(value) & common.MASK64)
        return _string(_ANY_STRING, str(int(value)))  # int(): not an IntEnum's own str()
    if isinstance(value, float):
        return _ANY_DOUBLE + _pack_d(value)
    if isinstance(value, (list, tuple)):
        return _ld(_ANY_ARRAY, b"".join([_ld(_ARRAY_VALUE, any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        return _ld(_ANY_KVLIST, b"".join([_ld(_KVLIST_VALUE, _kv(str(k), v)) for k, v in value.items()]))
    if isinstance(value, (bytes, bytearray)):
        return _ld(_ANY_BYTES, bytes(value))
    return _string(_ANY_STRING, str(value))


def _kv(key: str, value: Any) -> bytes:
    """A KeyValue message (the payload, without tag)."""
    return _string(_KV_KEY, key) + _ld(_KV_VALUE, any_value(value))


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
            key = _KEY_CACHE[k] = _string(_KV_KEY, k)
        if cls is float:
            kv = key + _KV_DOUBLE + _pack_d(v)
        elif -0x8000000000000000 <= v <= 0x7FFFFFFFFFFFFFFF:
            n = _varint(v & 0xFFFFFFFFFFFFFFFF)
            kv = key + _KV_VALUE + _VARINTS[len(n) + 1] + _ANY_INT + n
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
    return _string(_SCOPE_NAME, common.SCOPE_NAME) + _string(_SCOPE_VERSION, common.SCOPE_VERSION)


_SCOPE = _ld(_SCOPE_ITEMS_SCOPE, _scope())


def _envelope(resource: Mapping[str, Any], items: List[bytes]) -> bytes:
    """Export*ServiceRequest { Resource* { resource=1, Scope* { scope=1, items=2 } = 2 } = 1 }."""
    scoped = _SCOPE + b"".join(items)
    attrs: List[bytes] = []
    _attributes(attrs, _RESOURCE_ATTRIBUTE, resource)
    res = _ld(_RESOURCE_ITEMS_RESOURCE, b"".join(attrs))
    return _ld(_REQUEST_RESOURCE_ITEMS, res + _ld(_RESOURCE_ITEMS_SCOPES, scoped))


# ------------------------------------------------------------------ traces


def _span(r: Any) -> bytes:
    if r.type == "event":
        return _event_span(r)
    trace_id, span_id, parent = common.span_ids(r)
    parts = [_SPAN_TRACE_ID, trace_id.to_bytes(16, "big"), _SPAN_SPAN_ID, span_id.to_bytes(8, "big")]
    if parent:
        parts += (_SPAN_PARENT_SPAN_ID, parent.to_bytes(8, "big"))
    parts.append(_string(_SPAN_NAME, r.name))
    parts.append(_SPAN_KIND + _varint(common.span_kind(r)))
    parts.append(_pack_q2(_SPAN_START_TIME, r.time_ns & common.MASK64))
    parts.append(_pack_q2(_SPAN_END_TIME, common.span_end(r) & common.MASK64))
    _attributes(parts, _SPAN_ATTRIBUTE, r.attributes)
    for ev in r.events:
        body = [_pack_q2(_EVENT_TIME, ev.time_ns & common.MASK64), _string(_EVENT_NAME, ev.name)]
        _attributes(body, _EVENT_ATTRIBUTE, ev.attributes)
        parts.append(_ld(_SPAN_EVENT, b"".join(body)))
    code = common.STATUS_CODES.get(r.status, 0)
    if code or r.status_message:
        status = _string(_STATUS_MESSAGE, r.status_message) if r.status_message else b""
        if code:
            status += _STATUS_CODE + _varint(code)
        parts.append(_ld(_SPAN_STATUS, status))
    payload = b"".join(parts)
    return _ITEM + _varint(len(payload)) + payload


_EVENT_MARK = _SPAN_ATTRIBUTE + _attr(common.RECORD_TYPE_KEY, "event")


_NAME_CACHE: Dict[str, bytes] = {}
_IDS = struct.Struct(">HQQHQ").pack  # trace id (tag and length 16, 16 bytes), span id (tag and length 8, 8 bytes)
_IDS_TRACE = int.from_bytes(_SPAN_TRACE_ID, "big")
_IDS_SPAN = int.from_bytes(_SPAN_SPAN_ID, "big")
_TIMES = struct.Struct("<BQBQ").pack  # start and end time, fixed64
_SPAN_KIND_INTERNAL = _SPAN_KIND + b"\x01"


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
    attr_tag = _SPAN_ATTRIBUTE
    for k, v in attrs.items():
        append(attr_tag)
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
        head = _NAME_CACHE[name] = _string(_SPAN_NAME, name) + _SPAN_KIND_INTERNAL
    parts = [_IDS(_IDS_TRACE, trace_id >> 64, trace_id & common.MASK64, _IDS_SPAN, (r.id & common.MASK64) or 1)]
    if r.parent_span_id:
        parts.append(_SPAN_PARENT_SPAN_ID + (r.parent_span_id & common.MASK64).to_bytes(8, "big"))
    parts += (head, _TIMES(_SPAN_START_TIME, t, _SPAN_END_TIME, t))
    parts.append(_event_attributes(r.attributes))
    payload = b"".join(parts)
    return _ITEM + _varint(len(payload)) + payload


#: records encoded between two releases of the GIL when pacing is on (see ``pacing``)
PACE_EVERY = 64
_pacing = threading.local()


def pacing(pace: Optional[Callable[[], bool]]) -> None:
    """Every ``PACE_EVERY`` records of this thread's encodes, release the GIL (``time.sleep(0)``)
    when ``pace()`` says so; None: never (the default).

    The SDK's export lanes set it while the pipeline has room and a caller is tracking, so an
    application thread never waits a whole switch interval (5 ms) behind an encode.
    """
    _pacing.fn = pace


def _each(fn: Callable[[Any], bytes], records: Sequence[Any]) -> List[bytes]:
    pace = getattr(_pacing, "fn", None)
    if len(records) <= PACE_EVERY or pace is None:
        return [fn(r) for r in records]
    out: List[bytes] = []
    sleep = time.sleep
    for i in range(0, len(records), PACE_EVERY):
        if i and pace():
            sleep(0)
        out += [fn(r) for r in records[i : i + PACE_EVERY]]
    return out


def encode_traces(records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return _envelope(resource, _each(_span, records))


# ------------------------------------------------------------------ metrics


def _number_point(m: Any) -> bytes:
    body = [
        _pack_q2(_NUMBER_START_TIME, m.start_ns & common.MASK64),
        _pack_q2(_NUMBER_TIME, m.time_ns & common.MASK64),
    ]
    if common.number_is_int(m.value):
        body.append(_NUMBER_AS_INT + _pack_q(m.value & common.MASK64))
    else:
        body.append(_NUMBER_AS_DOUBLE + _pack_d(float(m.value)))
    _attributes(body, _NUMBER_ATTRIBUTE, m.attributes)
    return _ld(_DATA_POINT, b"".join(body))


def _histogram_point(m: Any) -> bytes:
    counts = [int(c) for c in m.bucket_counts]
    bounds = [float(b) for b in m.bounds]
    body = [
        _pack_q2(_HISTOGRAM_START_TIME, m.start_ns & common.MASK64),
        _pack_q2(_HISTOGRAM_TIME, m.time_ns & common.MASK64),
        _pack_q2(_HISTOGRAM_COUNT, int(m.count) & common.MASK64),
        _HISTOGRAM_SUM + _pack_d(float(m.sum)),
    ]
    if counts:
        body.append(_ld(_HISTOGRAM_BUCKET_COUNTS, struct.pack(f"<{len(counts)}Q", *counts)))
    if bounds:
        body.append(_ld(_HISTOGRAM_EXPLICIT_BOUNDS, struct.pack(f"<{len(bounds)}d", *bounds)))
    _attributes(body, _HISTOGRAM_ATTRIBUTE, m.attributes)
    if m.count:
        body.append(_HISTOGRAM_MIN + _pack_d(float(m.min)))
        body.append(_HISTOGRAM_MAX + _pack_d(float(m.max)))
    return _ld(_DATA_POINT, b"".join(body))


def _metric(points: List[Any]) -> bytes:
    first = points[0]
    head = _string(_METRIC_NAME, first.name)
    if first.description:
        head += _string(_METRIC_DESCRIPTION, first.description)
    if first.unit:
        head += _string(_METRIC_UNIT, first.unit)
    kind = first.metric_type
    if kind == "histogram":
        data = b"".join([_histogram_point(p) for p in points]) + _DELTA
        head += _ld(_METRIC_HISTOGRAM, data)
    elif kind == "gauge":
        head += _ld(_METRIC_GAUGE, b"".join([_number_point(p) for p in points]))
    else:  # counter: a monotonic delta Sum
        data = b"".join([_number_point(p) for p in points]) + _DELTA + _MONOTONIC
        head += _ld(_METRIC_SUM, data)
    return _ld(_ITEM, head)


def encode_metrics(records: Sequence[Any], resource: Mapping[str, Any]) -> bytes:
    return _envelope(resource, [_metric(group) for group in common.group_metrics(records)])


# ------------------------------------------------------------------ logs


def _log(r: Any) -> bytes:
    t = r.time_ns & common.MASK64
    parts = [_pack_q2(_LOG_TIME, t)]
    is_event = r.type == "event"
    if is_event:
        extra = common.event_extra_attributes(r, True)
    else:
        extra = common.log_extra_attributes(r)
        if r.severity_number:
            parts.append(_LOG_SEVERITY_NUMBER + _varint(int(r.severity_number)))
        if r.severity_text:
            parts.append(_string(_LOG_SEVERITY_TEXT, r.severity_text))
        if r.body:
            parts.append(_ld(_LOG_BODY, any_value(r.body)))
    _attributes(parts, _LOG_ATTRIBUTE, r.attributes, extra)
    trace_id, span_id = common.log_trace_ids(r)
    if trace_id:
        parts += (_LOG_TRACE_ID, trace_id.to_bytes(16, "big"))
        if span_id:
            parts += (_LOG_SPAN_ID, span_id.to_bytes(8, "big"))
    parts.append(_pack_q2(_LOG_OBSERVED_TIME, t))  # observed time: when the SDK saw it
    if is_event:
        parts.append(_string(_LOG_EVENT_NAME, r.name))  # event_name (OTLP 1.5+; older receivers skip it)
    payload = b"".join(parts)
    return _ITEM + _varint(len(payload)) + payload


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


def decode_partial_success(body: bytes) -> Optional[Tuple[int, str]]:
    """(rejected count, error message) from an Export*ServiceResponse, None if absent or garbled."""
    try:
        for field, _wire, value in W.fields(body):
            if field == W.RESPONSE_PARTIAL_SUCCESS and isinstance(value, bytes):
                rejected, message = 0, ""
                for f, _w, v in W.fields(value):
                    if f == W.PARTIAL_REJECTED and isinstance(v, int):
                        rejected = v - (1 << 64) if v >= 1 << 63 else v
                    elif f == W.PARTIAL_ERROR_MESSAGE and isinstance(v, bytes):
                        message = v.decode("utf-8", "replace")
                return max(0, rejected), message
    except (ValueError, IndexError):
        return None
    return None
