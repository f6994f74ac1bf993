"""The OTLP protobuf wire format in one place: field numbers, tags and a field reader.

The encoder (``otlp_proto``) writes with these numbers and the inspector's decoder
(``astrid.inspector.otlp_decode``) reads with them, so the two cannot disagree. The numbers are
those of opentelemetry-proto (``common``, ``resource``, ``trace``, ``metrics``, ``logs`` v1).
"""

from __future__ import annotations

from typing import Iterator, Tuple, Union

# ------------------------------------------------------------------ wire types

VARINT = 0
I64 = 1
LEN = 2
I32 = 5


_VARINTS = [bytes([n]) for n in range(128)]


def varint(n: int) -> bytes:
    """A non-negative integer as a protobuf varint (one byte below 128, from a table)."""
    if n < 128:
        return _VARINTS[n]
    out = bytearray()
    while n > 127:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def tag(field: int, wire: int) -> bytes:
    """The key of a field: ``(field << 3) | wire`` as a varint."""
    return varint((field << 3) | wire)


# ------------------------------------------------------------------ field numbers

# Export{Trace,Metrics,Logs}ServiceRequest: repeated Resource{Spans,Metrics,Logs}
REQUEST_RESOURCE_ITEMS = 1
# Resource{Spans,Metrics,Logs}: the resource, then the scopes
RESOURCE_ITEMS_RESOURCE = 1
RESOURCE_ITEMS_SCOPES = 2
# Scope{Spans,Metrics,Logs}: the scope, then the spans / metrics / log records
SCOPE_ITEMS_SCOPE = 1
SCOPE_ITEMS_ITEMS = 2

# Resource
RESOURCE_ATTRIBUTES = 1
# InstrumentationScope
SCOPE_NAME = 1
SCOPE_VERSION = 2
SCOPE_ATTRIBUTES = 3

# KeyValue
KV_KEY = 1
KV_VALUE = 2
# AnyValue (one of)
ANY_STRING = 1
ANY_BOOL = 2
ANY_INT = 3
ANY_DOUBLE = 4
ANY_ARRAY = 5
ANY_KVLIST = 6
ANY_BYTES = 7
# ArrayValue.values, KeyValueList.values
ARRAY_VALUES = 1
KVLIST_VALUES = 1

# Span
SPAN_TRACE_ID = 1
SPAN_SPAN_ID = 2
SPAN_PARENT_SPAN_ID = 4
SPAN_NAME = 5
SPAN_KIND = 6
SPAN_START_TIME = 7
SPAN_END_TIME = 8
SPAN_ATTRIBUTES = 9
SPAN_EVENTS = 11
SPAN_STATUS = 15
# Span.Event
EVENT_TIME = 1
EVENT_NAME = 2
EVENT_ATTRIBUTES = 3
# Status
STATUS_MESSAGE = 2
STATUS_CODE = 3

# Metric
METRIC_NAME = 1
METRIC_DESCRIPTION = 2
METRIC_UNIT = 3
METRIC_GAUGE = 5
METRIC_SUM = 7
METRIC_HISTOGRAM = 9
METRIC_EXPONENTIAL_HISTOGRAM = 10
METRIC_SUMMARY = 11
# Gauge / Sum / Histogram
DATA_POINTS = 1
DATA_AGGREGATION_TEMPORALITY = 2  # Sum and Histogram
SUM_IS_MONOTONIC = 3
AGGREGATION_TEMPORALITY_DELTA = 1
# NumberDataPoint
NUMBER_START_TIME = 2
NUMBER_TIME = 3
NUMBER_AS_DOUBLE = 4
NUMBER_AS_INT = 6
NUMBER_ATTRIBUTES = 7
# HistogramDataPoint
HISTOGRAM_START_TIME = 2
HISTOGRAM_TIME = 3
HISTOGRAM_COUNT = 4
HISTOGRAM_SUM = 5
HISTOGRAM_BUCKET_COUNTS = 6
HISTOGRAM_EXPLICIT_BOUNDS = 7
HISTOGRAM_ATTRIBUTES = 9
HISTOGRAM_MIN = 11
HISTOGRAM_MAX = 12

# LogRecord
LOG_TIME = 1
LOG_SEVERITY_NUMBER = 2
LOG_SEVERITY_TEXT = 3
LOG_BODY = 5
LOG_ATTRIBUTES = 6
LOG_TRACE_ID = 9
LOG_SPAN_ID = 10
LOG_OBSERVED_TIME = 11
LOG_EVENT_NAME = 12

# Export*ServiceResponse.partial_success, Export*PartialSuccess
RESPONSE_PARTIAL_SUCCESS = 1
PARTIAL_REJECTED = 1
PARTIAL_ERROR_MESSAGE = 2


# ------------------------------------------------------------------ reading

WireValue = Union[int, bytes]


class DecodeError(ValueError):
    """The bytes are not a well-formed protobuf message; the message says why."""


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
        if wire == VARINT:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == I64:
            if pos + 8 > end:
                raise DecodeError(f"truncated 64-bit field {number}")
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == LEN:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise DecodeError(f"length of field {number} runs past the end of the message")
            yield number, wire, buf[pos : pos + length]
            pos += length
        elif wire == I32:
            if pos + 4 > end:
                raise DecodeError(f"truncated 32-bit field {number}")
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        else:
            # groups (3, 4) are not used by OTLP; 6 and 7 do not exist
            raise DecodeError(f"unsupported wire type {wire} for field {number}")
