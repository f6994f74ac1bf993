"""The record → OTLP mapping decisions shared by the protobuf and JSON encoders."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

from .._version import __version__
from ..records import Record

SCOPE_NAME = "astrid"
SCOPE_VERSION = __version__

TRACES, METRICS, LOGS = "traces", "metrics", "logs"
SIGNALS = (TRACES, METRICS, LOGS)
PATHS = {TRACES: "/v1/traces", METRICS: "/v1/metrics", LOGS: "/v1/logs"}

#: Attribute that tells receivers an exported span or log record was an Astrid event.
RECORD_TYPE_KEY = "astrid.record.type"
#: Receivers de-duplicate log records by this attribute (spans by their span id).
LOG_UID_KEY = "log.record.uid"
EVENT_NAME_KEY = "event.name"

STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}
TEMPORALITY_DELTA = 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MASK64 = 2**64 - 1
MASK128 = 2**128 - 1


def signal_of(record: Record, events_as: str = "spans") -> str:
    """Which OTLP signal (and so which URL path) a record goes to."""
    kind = record.type
    if kind == "metric":
        return METRICS
    if kind in ("log", "error"):
        return LOGS
    if kind == "event" and events_as == "logs":
        return LOGS
    return TRACES


def split_by_signal(records: Sequence[Record], events_as: str = "spans") -> Dict[str, List[Record]]:
    """Records grouped by signal, in the order they came, omitting empty signals."""
    out: Dict[str, List[Record]] = {}
    for record in records:
        out.setdefault(signal_of(record, events_as), []).append(record)
    return out


def group_metrics(records: Sequence[Any]) -> List[List[Any]]:
    """Metric points grouped into one OTLP Metric per (name, type, unit, description)."""
    groups: Dict[Tuple[str, str, str, str], List[Any]] = {}
    for m in records:
        key = (m.name, m.metric_type, m.unit or "", m.description or "")
        groups.setdefault(key, []).append(m)
    return list(groups.values())


def is_int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX


def number_is_int(value: Any) -> bool:
    """A counter or gauge value goes out as asInt (else asDouble)."""
    return is_int64(value)


def json_double(value: float) -> Any:
    """proto3 JSON spells non-finite doubles as strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def event_extra_attributes(record: Any, as_log: bool) -> List[Tuple[str, Any]]:
    """Attributes an event gains on the wire (never overriding the caller's own)."""
    attrs = record.attributes
    extra: List[Tuple[str, Any]] = []
    if RECORD_TYPE_KEY not in attrs:
        extra.append((RECORD_TYPE_KEY, "event"))
    if as_log:
        if EVENT_NAME_KEY not in attrs:
            extra.append((EVENT_NAME_KEY, record.name))
        if LOG_UID_KEY not in attrs:
            extra.append((LOG_UID_KEY, "%032x" % (record.id & MASK128)))
    return extra


def log_extra_attributes(record: Any) -> List[Tuple[str, Any]]:
    if LOG_UID_KEY in record.attributes:
        return []
    return [(LOG_UID_KEY, "%032x" % (record.id & MASK128))]


def log_trace_ids(record: Any) -> Tuple[int, int]:
    """(trace id, span id) a log record carries; an event logs under its parent span."""
    if record.type == "event":
        return record.trace_id & MASK128, (record.parent_span_id & MASK64) if record.trace_id else 0
    trace_id = getattr(record, "trace_id", 0) or 0
    return trace_id & MASK128, (getattr(record, "span_id", 0) or 0) & MASK64 if trace_id else 0


def span_ids(record: Any) -> Tuple[int, int, int]:
    """(trace id, span id, parent span id) of a span or of an event exported as a span."""
    if record.type == "event":
        return record.effective_trace_id & MASK128, record.span_id & MASK64, record.parent_span_id & MASK64
    return record.trace_id & MASK128, record.span_id & MASK64, (record.parent_span_id or 0) & MASK64


def span_end(record: Any) -> int:
    return int(getattr(record, "end_ns", record.time_ns))


def span_kind(record: Any) -> int:
    return int(getattr(record, "kind", 1) or 1)
