"""ClickHouse rows: records mapped to the otel tables' columns and to the portable events table."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Mapping, Optional

from .._version import __version__
from ..records import ErrorRecord, Event, Log, Metric, Record, Span, finite_or, hex64, hex128

SCOPE_NAME = "astrid"

Row = Dict[str, Any]


def attr_str(value: Any) -> str:
    """An attribute value as the string ClickHouse stores (the collector's AsString convention)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), default=str, separators=(",", ":"))
    return str(value)


def str_map(attrs: Mapping[str, Any]) -> Dict[str, str]:
    return {str(k): attr_str(v) for k, v in attrs.items()}


def dt64(time_ns: int) -> str:
    """A DateTime64(9) value: unix seconds with nanoseconds, as a quoted string.

    A bare JSON number is read as seconds or as ticks depending on the server version; the
    quoted unix form is read the same by every version and, unlike ``YYYY-MM-DD hh:mm:ss``,
    does not depend on the server's time zone.
    """
    seconds, nanos = divmod(int(time_ns), 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


def dt(time_ns: int) -> str:
    """A DateTime value (seconds), quoted for the same reasons as :func:`dt64`."""
    return str(int(time_ns) // 1_000_000_000)


def finite(value: Any) -> float:
    """ClickHouse's JSON reader takes no NaN/Infinity tokens; a non-finite point becomes 0."""
    return finite_or(value, 0.0)


_SPAN_KINDS = {
    0: "SPAN_KIND_UNSPECIFIED",
    1: "SPAN_KIND_INTERNAL",
    2: "SPAN_KIND_SERVER",
    3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER",
    5: "SPAN_KIND_CONSUMER",
}
_STATUS = {"unset": "STATUS_CODE_UNSET", "ok": "STATUS_CODE_OK", "error": "STATUS_CODE_ERROR"}


class RowContext:
    """What every row of one batch shares: the resource, as maps and columns."""

    __slots__ = ("resource", "service", "service_version", "res_keys", "res_values")

    def __init__(self, resource_attributes: Mapping[str, Any]) -> None:
        self.resource = str_map(resource_attributes)
        self.service = self.resource.get("service.name", "")
        self.service_version = self.resource.get("service.version", "")
        self.res_keys = list(self.resource)
        self.res_values = [self.resource[k] for k in self.res_keys]


def _scope() -> Row:
    return {"ScopeName": SCOPE_NAME, "ScopeVersion": __version__}


def otel_trace_row(record: Record, ctx: RowContext) -> Row:
    row: Row = {"Timestamp": dt64(record.time_ns)}
    attrs = str_map(record.attributes)
    if isinstance(record, Span):
        row.update(
            TraceId=hex128(record.trace_id),
            SpanId=hex64(record.span_id),
            ParentSpanId=hex64(record.parent_span_id) if record.parent_span_id else "",
            SpanKind=_SPAN_KINDS.get(record.kind, "SPAN_KIND_INTERNAL"),
            Duration=record.duration_ns,
            StatusCode=_STATUS.get(record.status, "STATUS_CODE_UNSET"),
            StatusMessage=record.status_message or "",
        )
        events = record.events
    else:
        ev: Event = record  # type: ignore[assignment]
        attrs["astrid.record.type"] = "event"
        row.update(
            TraceId=hex128(ev.effective_trace_id),
            SpanId=hex64(ev.span_id),
            ParentSpanId=hex64(ev.parent_span_id) if ev.parent_span_id else "",
            SpanKind="SPAN_KIND_INTERNAL",
            Duration=0,
            StatusCode="STATUS_CODE_UNSET",
            StatusMessage="",
        )
        events = []
    row.update(
        TraceState="",
        SpanName=record.name,
        ServiceName=ctx.service,
        ResourceAttributes=ctx.resource,
        SpanAttributes=attrs,
        **_scope(),
    )
    row["Events.Timestamp"] = [dt64(e.time_ns) for e in events]
    row["Events.Name"] = [e.name for e in events]
    row["Events.Attributes"] = [str_map(e.attributes) for e in events]
    for col in ("Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Attributes"):
        row[col] = []
    return row


def otel_log_row(record: Record, ctx: RowContext) -> Row:
    log: Log = record  # type: ignore[assignment]
    if isinstance(log, ErrorRecord):
        log.finalize()  # normally done upstream; harmless when it was
    attrs = str_map(log.attributes)
    return {
        "Timestamp": dt64(log.time_ns),
        "TimestampTime": dt(log.time_ns),
        "TraceId": hex128(log.trace_id) if log.trace_id else "",
        "SpanId": hex64(log.span_id) if log.span_id else "",
        "TraceFlags": 1 if log.trace_id else 0,
        "SeverityText": log.severity_text,
        "SeverityNumber": int(log.severity_number),
        "ServiceName": ctx.service,
        "Body": log.body,
        "ResourceSchemaUrl": "",
        "ResourceAttributes": ctx.resource,
        "ScopeSchemaUrl": "",
        "ScopeAttributes": {},
        "LogAttributes": attrs,
        **_scope(),
    }


def otel_metric_row(record: Record, ctx: RowContext) -> Row:
    m: Metric = record  # type: ignore[assignment]
    row: Row = {
        "ResourceAttributes": ctx.resource,
        "ResourceSchemaUrl": "",
        "ScopeAttributes": {},
        "ScopeDroppedAttrCount": 0,
        "ScopeSchemaUrl": "",
        "ServiceName": ctx.service,
        "MetricName": m.name,
        "MetricDescription": m.description or "",
        "MetricUnit": m.unit or "",
        "Attributes": str_map(m.attributes),
        "StartTimeUnix": dt64(m.start_ns or m.time_ns),
        "TimeUnix": dt64(m.time_ns),
        "Flags": 0,
        "Exemplars.FilteredAttributes": [],
        "Exemplars.TimeUnix": [],
        "Exemplars.Value": [],
        "Exemplars.SpanId": [],
        "Exemplars.TraceId": [],
        **_scope(),
    }
    if m.metric_type == "histogram":
        row.update(
            Count=int(m.count),
            Sum=finite(m.sum),
            BucketCounts=[int(c) for c in m.bucket_counts],
            ExplicitBounds=[finite(b) for b in m.bounds],
            Min=finite(m.min),
            Max=finite(m.max),
            AggregationTemporality=1,  # delta: points are aggregated per export interval
        )
    else:
        row["Value"] = finite(m.value)
        if m.metric_type == "counter":
            row.update(AggregationTemporality=1, IsMonotonic=True)
    return row


def otel_kind(record: Record) -> Optional[str]:
    """The logical otel table a record goes to (None: not exportable)."""
    t = record.type
    if t in ("event", "span"):
        return "traces"
    if t in ("log", "error"):
        return "logs"
    if t == "metric":
        mt = getattr(record, "metric_type", "")
        return {"counter": "sum", "gauge": "gauge", "histogram": "histogram"}.get(mt)
    return None


OTEL_ROW: Dict[str, Callable[[Record, RowContext], Row]] = {
    "traces": otel_trace_row,
    "logs": otel_log_row,
    "sum": otel_metric_row,
    "gauge": otel_metric_row,
    "histogram": otel_metric_row,
}


def events_row(record: Record, ctx: RowContext) -> Row:
    """One row of the portable events table; every column is sent explicitly."""
    if isinstance(record, ErrorRecord):
        record.finalize()  # normally done upstream; harmless when it was
    attrs = str_map(record.attributes)
    keys = list(attrs)
    row: Row = {
        "id": hex128(record.id),
        "timestamp": dt(record.time_ns),
        "timestamp_ns": int(record.time_ns),
        "type": record.type,
        "name": record.name,
        "service": ctx.service,
        "service_version": ctx.service_version,
        # hashed upstream by the privacy engine; this table only files them in their own columns
        "session_id": attrs.get("session.id", ""),
        "user_id": attrs.get("user.id", ""),
        "attr_keys": keys,
        "attr_values": [attrs[k] for k in keys],
        "resource_keys": ctx.res_keys,
        "resource_values": ctx.res_values,
        "value": 0.0,
        "unit": "",
        "metric_type": "",
        "count": 0,
        "min": 0.0,
        "max": 0.0,
        "bounds": [],
        "bucket_counts": [],
        "trace_id": "",
        "span_id": "",
        "parent_span_id": "",
        "duration_ns": 0,
        "status": "",
        "status_message": "",
        "span_events": "",
        "severity_number": 0,
        "severity_text": "",
        "body": "",
    }
    if isinstance(record, Span):
        row.update(
            trace_id=hex128(record.trace_id),
            span_id=hex64(record.span_id),
            parent_span_id=hex64(record.parent_span_id) if record.parent_span_id else "",
            duration_ns=record.duration_ns,
            value=record.duration_ns / 1e6,
            unit="ms",
            status=record.status,
            status_message=record.status_message or "",
            span_events=json.dumps(
                [
                    {"name": e.name, "time_ns": e.time_ns, "attributes": str_map(e.attributes)}
                    for e in record.events
                ],
                separators=(",", ":"),
            )
            if record.events
            else "",
        )
    elif isinstance(record, Event):
        if record.trace_id:
            row.update(
                trace_id=hex128(record.trace_id),
                span_id=hex64(record.span_id),
                parent_span_id=hex64(record.parent_span_id) if record.parent_span_id else "",
            )
    elif isinstance(record, Metric):
        row.update(metric_type=record.metric_type, unit=record.unit or "")
        if record.metric_type == "histogram":
            row.update(
                value=finite(record.sum),
                count=int(record.count),
                min=finite(record.min),
                max=finite(record.max),
                bounds=[finite(b) for b in record.bounds],
                bucket_counts=[int(c) for c in record.bucket_counts],
            )
        else:
            row["value"] = finite(record.value)
    elif isinstance(record, Log):
        row.update(
            severity_number=int(record.severity_number),
            severity_text=record.severity_text,
            body=record.body,
        )
        if record.trace_id:
            row.update(trace_id=hex128(record.trace_id), span_id=hex64(record.span_id))
    return row
