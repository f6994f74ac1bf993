"""ClickHouse table definitions (OTel-collector and portable events schemas) and record-to-row mapping."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .._version import __version__
from ..records import (
    ErrorRecord,
    Event,
    Log,
    Metric,
    Record,
    Span,
    hex64,
    hex128,
)

SCHEMAS = ("otel", "events")
SCOPE_NAME = "astrid"

#: Oldest server versions that have a feature (major, minor).
TTL_SINCE = (19, 6)
#: insert_deduplication_token, and the table setting it needs on non-replicated tables.
DEDUP_TOKEN_SINCE = (22, 2)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_]{0,64}$")

Version = Tuple[int, int]
Row = Dict[str, Any]


def check_identifier(value: Any, option: str) -> str:
    """A database or table name: letters, digits and ``_``, not starting with a digit. ValueError otherwise.

    Names are also quoted in SQL, but only a name that passes here ever reaches a statement.
    """
    if not isinstance(value, str) or not _IDENT.match(value):
        raise ValueError(
            f"{option} must be a ClickHouse identifier (letters, digits and _, not starting with a digit, "
            f"at most 128 characters); got {value!r}"
        )
    return value


def check_prefix(value: Any) -> str:
    if not isinstance(value, str) or not _PREFIX.match(value):
        raise ValueError(
            f"table_prefix must be letters, digits and _ (at most 64 characters); got {value!r}"
        )
    return value


def parse_version(text: str) -> Optional[Version]:
    """``'24.8.4.13'`` → ``(24, 8)``; None when the text is not a version."""
    m = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


# ------------------------------------------------------------------ DDL


def _q(name: str) -> str:
    return f"`{name}`"


def table_names(schema: str, table_prefix: str = "") -> Dict[str, str]:
    """Logical table → real table name for a schema."""
    if schema == "events":
        return {"events": table_prefix + "events"}
    return {
        "traces": table_prefix + "otel_traces",
        "logs": table_prefix + "otel_logs",
        "sum": table_prefix + "otel_metrics_sum",
        "gauge": table_prefix + "otel_metrics_gauge",
        "histogram": table_prefix + "otel_metrics_histogram",
    }


_MAP = "Map(LowCardinality(String), String)"
_Z = "CODEC(ZSTD(1))"
_RES_INDEXES = (
    "    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n"
    "    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n"
)
_METRIC_HEAD = (
    f"    ResourceAttributes {_MAP} {_Z},\n"
    f"    ResourceSchemaUrl String {_Z},\n"
    f"    ScopeName String {_Z},\n"
    f"    ScopeVersion String {_Z},\n"
    f"    ScopeAttributes {_MAP} {_Z},\n"
    f"    ScopeDroppedAttrCount UInt32 {_Z},\n"
    f"    ScopeSchemaUrl String {_Z},\n"
    f"    ServiceName LowCardinality(String) {_Z},\n"
    f"    MetricName String {_Z},\n"
    f"    MetricDescription String {_Z},\n"
    f"    MetricUnit String {_Z},\n"
    f"    Attributes {_MAP} {_Z},\n"
    "    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),\n"
    "    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),\n"
)
_EXEMPLARS = (
    "    Exemplars Nested (\n"
    f"        FilteredAttributes {_MAP},\n"
    "        TimeUnix DateTime64(9),\n"
    "        Value Float64,\n"
    "        SpanId String,\n"
    "        TraceId String\n"
    "    ) CODEC(ZSTD(1)),\n"
)
_METRIC_TAIL = (
    _RES_INDEXES
    + "    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n"
    "    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1\n"
)

_OTEL_BODIES = {
    "traces": (
        "    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),\n"
        "    TraceId String {z},\n"
        "    SpanId String {z},\n"
        "    ParentSpanId String {z},\n"
        "    TraceState String {z},\n"
        "    SpanName LowCardinality(String) {z},\n"
        "    SpanKind LowCardinality(String) {z},\n"
        "    ServiceName LowCardinality(String) {z},\n"
        "    ResourceAttributes {m} {z},\n"
        "    ScopeName String {z},\n"
        "    ScopeVersion String {z},\n"
        "    SpanAttributes {m} {z},\n"
        "    Duration UInt64 CODEC(T64, ZSTD(1)),\n"
        "    StatusCode LowCardinality(String) {z},\n"
        "    StatusMessage String {z},\n"
        "    Events Nested (\n"
        "        Timestamp DateTime64(9),\n"
        "        Name LowCardinality(String),\n"
        "        Attributes {m}\n"
        "    ) {z},\n"
        "    Links Nested (\n"
        "        TraceId String,\n"
        "        SpanId String,\n"
        "        TraceState String,\n"
        "        Attributes {m}\n"
        "    ) {z},\n"
        "    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,\n"
        + _RES_INDEXES
        + "    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n"
        "    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n"
        "    INDEX idx_duration Duration TYPE minmax GRANULARITY 1\n"
        ") ENGINE = MergeTree()\n"
        "PARTITION BY toDate(Timestamp)\n"
        "PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))\n"
        "ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)\n"
        "{ttl}"
    ).format(m=_MAP, z=_Z, ttl="{ttl}"),
    "logs": (
        "    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),\n"
        "    TimestampTime DateTime DEFAULT toDateTime(Timestamp),\n"
        "    TraceId String {z},\n"
        "    SpanId String {z},\n"
        "    TraceFlags UInt8,\n"
        "    SeverityText LowCardinality(String) {z},\n"
        "    SeverityNumber UInt8,\n"
        "    ServiceName LowCardinality(String) {z},\n"
        "    Body String {z},\n"
        "    ResourceSchemaUrl LowCardinality(String) {z},\n"
        "    ResourceAttributes {m} {z},\n"
        "    ScopeSchemaUrl LowCardinality(String) {z},\n"
        "    ScopeName String {z},\n"
        "    ScopeVersion LowCardinality(String) {z},\n"
        "    ScopeAttributes {m} {z},\n"
        "    LogAttributes {m} {z},\n"
        "    EventName String {z},\n"
        "    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,\n"
        + _RES_INDEXES
        + "    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n"
        "    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n"
        "    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8\n"
        ") ENGINE = MergeTree()\n"
        "PARTITION BY toDate(TimestampTime)\n"
        "PRIMARY KEY (ServiceName, TimestampTime)\n"
        "ORDER BY (ServiceName, TimestampTime, Timestamp)\n"
        "{ttl}"
    ).format(m=_MAP, z=_Z, ttl="{ttl}"),
    "sum": _METRIC_HEAD
    + f"    Value Float64 {_Z},\n    Flags UInt32 {_Z},\n"
    + _EXEMPLARS
    + f"    AggregationTemporality Int32 {_Z},\n    IsMonotonic Boolean CODEC(Delta, ZSTD(1)),\n"
    + _METRIC_TAIL
    + ") ENGINE = MergeTree()\nPARTITION BY toDate(TimeUnix)\n"
    "ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))\n{ttl}",
    "gauge": _METRIC_HEAD
    + f"    Value Float64 {_Z},\n    Flags UInt32 {_Z},\n"
    + _EXEMPLARS
    + _METRIC_TAIL
    + ") ENGINE = MergeTree()\nPARTITION BY toDate(TimeUnix)\n"
    "ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))\n{ttl}",
    "histogram": _METRIC_HEAD
    + (
        "    Count UInt64 CODEC(Delta, ZSTD(1)),\n"
        f"    Sum Float64 {_Z},\n"
        f"    BucketCounts Array(UInt64) {_Z},\n"
        f"    ExplicitBounds Array(Float64) {_Z},\n"
    )
    + _EXEMPLARS
    + (
        f"    Flags UInt32 {_Z},\n"
        f"    Min Float64 {_Z},\n"
        f"    Max Float64 {_Z},\n"
        f"    AggregationTemporality Int32 {_Z},\n"
    )
    + _METRIC_TAIL
    + ") ENGINE = MergeTree()\nPARTITION BY toDate(TimeUnix)\n"
    "ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))\n{ttl}",
}
_TTL_COLUMN = {
    "traces": "toDateTime(Timestamp)",
    "logs": "TimestampTime",
    "sum": "toDateTime(TimeUnix)",
    "gauge": "toDateTime(TimeUnix)",
    "histogram": "toDateTime(TimeUnix)",
    "events": "timestamp",
}

#: The portable events table: types, syntax and engine that ClickHouse 18.x already had.
EVENTS_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("id", "String"),
    ("timestamp", "DateTime('UTC')"),
    ("timestamp_ns", "UInt64"),
    ("type", "String"),
    ("name", "String"),
    ("service", "String"),
    ("service_version", "String"),
    ("session_id", "String"),
    ("user_id", "String"),
    ("attr_keys", "Array(String)"),
    ("attr_values", "Array(String)"),
    ("resource_keys", "Array(String)"),
    ("resource_values", "Array(String)"),
    ("value", "Float64"),
    ("unit", "String"),
    ("metric_type", "String"),
    ("count", "UInt64"),
    ("min", "Float64"),
    ("max", "Float64"),
    ("bounds", "Array(Float64)"),
    ("bucket_counts", "Array(UInt64)"),
    ("trace_id", "String"),
    ("span_id", "String"),
    ("parent_span_id", "String"),
    ("duration_ns", "UInt64"),
    ("status", "String"),
    ("status_message", "String"),
    ("span_events", "String"),
    ("severity_number", "UInt8"),
    ("severity_text", "String"),
    ("body", "String"),
)


def _ttl_clause(kind: str, ttl_days: Optional[int]) -> str:
    if not ttl_days:
        return ""
    return f"TTL {_TTL_COLUMN[kind]} + toIntervalDay({int(ttl_days)})\n"


def schema_ddl(
    schema: str = "otel",
    database: str = "default",
    table_prefix: str = "",
    ttl_days: Optional[int] = None,
    server_version: Optional[Version] = None,
) -> List[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for a schema, one string each.

    ``server_version`` (major, minor) tailors the statements to a server: TTL only where the
    server has it, the insert de-duplication window only where tokens exist. Without it, the
    ``otel`` statements assume a current server and the ``events`` statement stays portable
    (its TTL clause, if asked for, needs 19.6 or later).
    """
    if schema not in SCHEMAS:
        allowed = ", ".join(map(repr, SCHEMAS))
        raise ValueError(f"schema must be one of {allowed}; got {schema!r}")
    check_identifier(database, "database")
    check_prefix(table_prefix)
    ttl = check_ttl_days(ttl_days)
    if server_version is not None and server_version < TTL_SINCE:
        ttl = None
    modern = server_version is None or server_version >= DEDUP_TOKEN_SINCE
    out: List[str] = []
    if database != "default":
        out.append(f"CREATE DATABASE IF NOT EXISTS {_q(database)}")
    for kind, table in table_names(schema, table_prefix).items():
        check_identifier(table, "table_prefix + table name")
        head = f"CREATE TABLE IF NOT EXISTS {_q(database)}.{_q(table)} (\n"
        if kind == "events":
            cols = ",\n".join(f"    {_q(n)} {t}" for n, t in EVENTS_COLUMNS)
            # ReplacingMergeTree keyed by the record id: a row sent twice collapses with FINAL.
            body = (
                cols + "\n) ENGINE = ReplacingMergeTree()\n"
                "PARTITION BY toYYYYMM(`timestamp`)\n"
                "ORDER BY (`type`, `name`, `timestamp`, `id`)\n" + _ttl_clause(kind, ttl)
            )
            if server_version is not None and modern:
                body += "SETTINGS non_replicated_deduplication_window = 1000\n"
        else:
            settings = "SETTINGS index_granularity = 8192"
            if ttl:
                settings += ", ttl_only_drop_parts = 1"
            if modern:
                # lets insert_deduplication_token work on a plain (non-replicated) MergeTree
                settings += ", non_replicated_deduplication_window = 1000"
            body = _OTEL_BODIES[kind].format(ttl=_ttl_clause(kind, ttl)) + settings + "\n"
        out.append(head + body.rstrip("\n"))
    return out


def check_ttl_days(ttl_days: Any) -> Optional[int]:
    if ttl_days is None:
        return None
    if isinstance(ttl_days, bool) or not isinstance(ttl_days, int) or not 1 <= ttl_days <= 36500:
        raise ValueError(
            f"ttl_days must be a whole number of days from 1 to 36500, or None; got {ttl_days!r}"
        )
    return ttl_days


# ------------------------------------------------------------------ rows


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
    try:
        f = float(value)
    except (TypeError, ValueError):
        return 0.0
    return f if math.isfinite(f) else 0.0


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
