"""ClickHouse table definitions: the OTel-collector tables and the portable events table."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

SCHEMAS = ("otel", "events")

#: Oldest server versions that have a feature (major, minor).
TTL_SINCE = (19, 6)
#: insert_deduplication_token, and the table setting it needs on non-replicated tables.
DEDUP_TOKEN_SINCE = (22, 2)
#: the otel tables' Map and Bool types.
MAP_TYPES_SINCE = (21, 12)
OLD_SERVER_HINT = 'the otel schema needs ClickHouse 21.12+, or use `schema="events"`'

#: Where a replicated table keeps its metadata in ZooKeeper / ClickHouse Keeper. ``{shard}``
#: (and ``{replica}`` in the replica name) are the server's macros; ``{database}`` and
#: ``{table}`` are filled in by Astrid, so the path means the same on every server version.
DEFAULT_ZOOKEEPER_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
#: Suffix of the per-node tables under a cluster's Distributed tables.
LOCAL_SUFFIX = "_local"
_CLUSTER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}\Z")
_ZK_PATH = re.compile(r"^/[A-Za-z0-9_{}./-]{1,400}\Z")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_PREFIX = re.compile(r"^[A-Za-z0-9_]{0,64}\Z")

Version = Tuple[int, int]


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


def check_cluster(value: Any) -> Optional[str]:
    """A cluster name from the servers' ``remote_servers``, or None (a single server)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CLUSTER.match(value):
        raise ValueError(
            "cluster must be the name of a cluster in the servers' remote_servers (letters, "
            f"digits, _, - and ., not starting with a digit), or None; got {value!r}"
        )
    return value


def check_zookeeper_path(value: Any) -> str:
    """A ZooKeeper path for replicated tables: starts with /, no quotes or spaces."""
    if not isinstance(value, str) or not _ZK_PATH.match(value) or "//" in value:
        raise ValueError(
            "zookeeper_path must be a path such as "
            f"{DEFAULT_ZOOKEEPER_PATH!r} (letters, digits, _ . - / and {{macros}}); got {value!r}"
        )
    if "{table}" not in value:
        raise ValueError(
            "zookeeper_path must contain {table}: every replicated table needs a path of its own; "
            f"got {value!r}"
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


#: How a cluster's Distributed tables spread rows over shards: by a hash of what identifies a
#: row, so a batch sent again (to any node) lands on the shard that already has it and is
#: de-duplicated there.
SHARDING_KEYS = {
    "events": "cityHash64(`id`)",
    "traces": "cityHash64(TraceId, SpanId)",
    "logs": "cityHash64(TraceId, SpanId, Timestamp, Body)",
    "sum": "cityHash64(MetricName, TimeUnix)",
    "gauge": "cityHash64(MetricName, TimeUnix)",
    "histogram": "cityHash64(MetricName, TimeUnix)",
}


def local_table(table: str) -> str:
    """The per-node table under a cluster's Distributed table ``table``."""
    return table + LOCAL_SUFFIX


def zookeeper_path_for(template: str, database: str, table: str) -> str:
    return template.replace("{database}", database).replace("{table}", table)


def schema_ddl(
    schema: str = "otel",
    database: str = "default",
    table_prefix: str = "",
    ttl_days: Optional[int] = None,
    server_version: Optional[Version] = None,
    cluster: Optional[str] = None,
    zookeeper_path: str = DEFAULT_ZOOKEEPER_PATH,
) -> List[str]:
    """``CREATE ... IF NOT EXISTS`` statements for a schema, one string each.

    ``server_version`` (major, minor) tailors the statements to a server: TTL only where the
    server has it, the insert de-duplication window only where tokens exist. Without it, the
    ``otel`` statements assume a current server and the ``events`` statement stays portable
    (its TTL clause, if asked for, needs 19.6 or later). An ``otel`` schema for a server older
    than 21.12 is a ValueError that says so.

    With ``cluster``, every statement runs ``ON CLUSTER``: each node gets a replicated local
    table (``<table>_local``: ReplicatedMergeTree, or ReplicatedReplacingMergeTree for the
    events schema) whose metadata lives under ``zookeeper_path``, and a ``Distributed`` table
    under the usual name that spreads rows over the shards by a hash of the record's identity.
    Clients insert into, and queries read from, the Distributed tables.
    """
    if schema not in SCHEMAS:
        allowed = ", ".join(map(repr, SCHEMAS))
        raise ValueError(f"schema must be one of {allowed}; got {schema!r}")
    check_identifier(database, "database")
    check_prefix(table_prefix)
    ttl = check_ttl_days(ttl_days)
    cluster = check_cluster(cluster)
    check_zookeeper_path(zookeeper_path)
    if schema == "otel" and server_version is not None and server_version < MAP_TYPES_SINCE:
        raise ValueError(f"{OLD_SERVER_HINT} (the server is {server_version[0]}.{server_version[1]})")
    if server_version is not None and server_version < TTL_SINCE:
        ttl = None
    modern = server_version is None or server_version >= DEDUP_TOKEN_SINCE
    on_cluster = f" ON CLUSTER {_q(cluster)}" if cluster else ""
    out: List[str] = []
    if database != "default":
        out.append(f"CREATE DATABASE IF NOT EXISTS {_q(database)}{on_cluster}")
    for kind, table in table_names(schema, table_prefix).items():
        check_identifier(table, "table_prefix + table name")
        target = local_table(table) if cluster else table
        check_identifier(target, "table_prefix + table name")
        head = f"CREATE TABLE IF NOT EXISTS {_q(database)}.{_q(target)}{on_cluster} (\n"
        replicated = ""
        if cluster:
            path = zookeeper_path_for(zookeeper_path, database, target)
            replicated = f"'{path}', '{{replica}}'"
        if kind == "events":
            cols = ",\n".join(f"    {_q(n)} {t}" for n, t in EVENTS_COLUMNS)
            # ReplacingMergeTree keyed by the record id: a row sent twice collapses with FINAL.
            engine = "ReplicatedReplacingMergeTree" if cluster else "ReplacingMergeTree"
            body = (
                cols + f"\n) ENGINE = {engine}({replicated})\n"
                "PARTITION BY toYYYYMM(`timestamp`)\n"
                "ORDER BY (`type`, `name`, `timestamp`, `id`)\n" + _ttl_clause(kind, ttl)
            )
            if server_version is not None and modern and not cluster:
                body += "SETTINGS non_replicated_deduplication_window = 1000\n"
        else:
            settings = "SETTINGS index_granularity = 8192"
            if ttl:
                settings += ", ttl_only_drop_parts = 1"
            if modern and not cluster:
                # lets insert_deduplication_token work on a plain (non-replicated) MergeTree;
                # replicated tables de-duplicate inserts by themselves
                settings += ", non_replicated_deduplication_window = 1000"
            body = _OTEL_BODIES[kind].format(ttl=_ttl_clause(kind, ttl)) + settings + "\n"
            if cluster:
                body = body.replace(
                    ") ENGINE = MergeTree()\n", f") ENGINE = ReplicatedMergeTree({replicated})\n"
                )
        out.append(head + body.rstrip("\n"))
        if cluster:
            out.append(
                f"CREATE TABLE IF NOT EXISTS {_q(database)}.{_q(table)}{on_cluster} "
                f"AS {_q(database)}.{_q(target)}\n"
                f"ENGINE = Distributed('{cluster}', '{database}', '{target}', "
                f"{SHARDING_KEYS[kind]})"
            )
    return out


def check_ttl_days(ttl_days: Any) -> Optional[int]:
    if ttl_days is None:
        return None
    if isinstance(ttl_days, bool) or not isinstance(ttl_days, int) or not 1 <= ttl_days <= 36500:
        raise ValueError(
            f"ttl_days must be a whole number of days from 1 to 36500, or None; got {ttl_days!r}"
        )
    return ttl_days
