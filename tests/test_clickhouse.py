"""ClickHouse backend: DDL, identifiers and error handling; rows on a real server and on chdb."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Iterator, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid.backends.clickhouse import ClickHouseBackend, classify, dedup_token, schema_ddl
from astrid.backends.clickhouse_rows import dt64
from astrid.backends.clickhouse_schema import check_identifier
from astrid.config import TelemetryConfig
from astrid.export import Batch, ExportResult
from astrid.records import ErrorRecord, Event, Log, Metric, Resource, Span
from support.clickhouse import (
    WRITER,
    ChdbClickHouse,
    ClickHouseServer,
    FaultProxy,
    find_server_binary,
)

RESOURCE = Resource({"service.name": "shop", "service.version": "1.2.0", "os.type": "linux"})


def config(**kw: Any) -> TelemetryConfig:
    kw.setdefault("headers", {})
    kw.setdefault("resource_attributes", {})
    return TelemetryConfig.from_options(project_name="shop", env={}, **kw)


def records(n_events: int = 3) -> List[Any]:
    now = time.time_ns()
    span = Span("checkout", {"items": 3, "tags": ["a", "b"]}, now, 0xABC, 0xDEF, parent_span_id=7)
    span.end_ns = now + 2_500_000
    span.status = "error"
    span.status_message = "card declined"
    try:
        raise ValueError("bad sku")
    except ValueError as exc:
        err = ErrorRecord(exc, {"where": "cart"}, now)
    out: List[Any] = [
        Event(f"e{i}", {"i": i, "session.id": "s-hash", "user.id": "u-hash"}, now + i)
        for i in range(n_events)
    ]
    out += [
        span,
        Metric("jobs.done", "counter", {"queue": "a"}, now - 10**9, now, value=4),
        Metric("temp", "gauge", {}, now, now, value=21.5, unit="Cel"),
        Metric(
            "lat",
            "histogram",
            {},
            now,
            now,
            count=3,
            sum=7.5,
            min=1.0,
            max=4.0,
            bounds=(1.0, 5.0),
            bucket_counts=[1, 2, 0],
            unit="ms",
        ),
        Log("cache warmed", 9, {"ok": True}, now),
        err,
    ]
    return out


def deliver(backend: ClickHouseBackend, batch: Batch, attempts: int = 8) -> ExportResult:
    """What the pipeline does, minus the waiting: retry while the result says so."""
    result = ExportResult.failure("not tried")
    for _ in range(attempts):
        result = backend.export(batch, 10.0)
        if result.ok or not result.retryable:
            break
    return result


def fresh_db() -> str:
    return "t_" + uuid.uuid4().hex[:12]


# ------------------------------------------------------------------ without a server


def test_otel_ddl_has_the_collector_tables_and_types() -> None:
    ddl = "\n".join(schema_ddl("otel"))
    for table in (
        "otel_traces",
        "otel_logs",
        "otel_metrics_sum",
        "otel_metrics_gauge",
        "otel_metrics_histogram",
    ):
        assert f"`default`.`{table}`" in ddl
    for column in (
        "Timestamp DateTime64(9)",
        "SpanAttributes Map(LowCardinality(String), String)",
        "Events Nested (",
        "Links Nested (",
        "Duration UInt64",
        "LogAttributes Map(",
        "IsMonotonic Boolean",
        "BucketCounts Array(UInt64)",
        "TimestampTime DateTime",
    ):
        assert column in ddl
    assert "TTL" not in ddl
    assert "CREATE DATABASE" not in ddl


def test_events_ddl_is_portable_to_old_servers() -> None:
    (ddl,) = schema_ddl("events")
    for modern in (
        "Map(",
        "DateTime64",
        "CODEC",
        "TTL",
        "INDEX",
        "LowCardinality",
        "SETTINGS",
        "Bool",
    ):
        assert modern not in ddl
    assert "ReplacingMergeTree()" in ddl and "`id`)" in ddl
    with_ttl = schema_ddl("events", database="analytics", table_prefix="app_", ttl_days=30)
    assert with_ttl[0] == "CREATE DATABASE IF NOT EXISTS `analytics`"
    assert "`analytics`.`app_events`" in with_ttl[1]
    assert "TTL `timestamp` + toIntervalDay(30)" in with_ttl[1] or "TTL timestamp + " in with_ttl[1]
    # a server too old for TTL gets the table without it
    assert "TTL" not in schema_ddl("events", ttl_days=30, server_version=(18, 16))[0]


@given(st.text(max_size=40))
def test_only_plain_identifiers_reach_sql(name: str) -> None:
    ok = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name) is not None
    try:
        check_identifier(name, "database")
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == ok
    if accepted:
        assert f"`{name}`" in schema_ddl("events", database=name)[-1]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"database": "x; DROP TABLE y"}, "database"),
        ({"database": "a.b"}, "database"),
        ({"table_prefix": "p`"}, "table_prefix"),
        ({"schema": "jaeger"}, "schema"),
        ({"auth": "digest"}, "auth"),
        ({"ttl_days": 0}, "ttl_days"),
        ({"insert_settings": {"bad name": 1}}, "insert_settings"),
        ({"endpoint": "http://ch.example.com:8123"}, "unencrypted"),
        ({"endpoint": "ftp://localhost"}, "https"),
    ],
)
def test_bad_options_raise_at_construction(kw: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ClickHouseBackend(config(), **kw)


@pytest.mark.parametrize(
    ("status", "body", "retryable", "ok"),
    [
        (200, b"", False, True),
        (500, b"Code: 27. DB::Exception: Cannot parse input", False, False),
        (500, b"Code: 117, e.displayText() = DB::Exception: Unknown field", False, False),
        (500, b"Code: 241. DB::Exception: Memory limit (total) exceeded", True, False),
        (500, b"Code: 252. DB::Exception: Too many parts", True, False),
        (503, b"Code: 202. DB::Exception: Too many simultaneous queries", True, False),
        (401, b"Code: 516. DB::Exception: Authentication failed", False, False),
        (404, b"Code: 60. DB::Exception: Table default.x doesn't exist", False, False),
        (503, b"upstream unavailable", True, False),  # a load balancer, not ClickHouse
        (400, b"bad request", False, False),
    ],
)
def test_retry_is_decided_by_status_and_error_code(
    status: int, body: bytes, retryable: bool, ok: bool
) -> None:
    result = classify(status, body, {})
    assert (result.ok, result.retryable) == (ok, retryable)


def test_dedup_token_depends_only_on_the_record_ids() -> None:
    recs = records()
    assert dedup_token(recs) == dedup_token(list(recs))
    assert dedup_token(recs) != dedup_token(recs[1:])
    assert dt64(1_700_000_000_000_000_123) == "1700000000.000000123"


def test_auth_is_one_scheme_never_both() -> None:
    cfg = config(headers={"Authorization": "Bearer x", "X-Trace": "1"})
    by_headers = ClickHouseBackend(cfg, username="u", password="p")._headers
    assert by_headers["X-ClickHouse-User"] == "u" and by_headers["X-ClickHouse-Key"] == "p"
    assert "Authorization" not in by_headers and by_headers["X-Trace"] == "1"
    basic = ClickHouseBackend(cfg, username="u", password="p", auth="basic")._headers
    assert basic["Authorization"].startswith("Basic ") and "X-ClickHouse-User" not in basic
    from_url = ClickHouseBackend(config(), endpoint="http://u:p@127.0.0.1:8123")
    assert from_url._headers["X-ClickHouse-Key"] == "p" and "@" not in from_url.base_url


# ------------------------------------------------------------------ chdb: the otel schema


@pytest.fixture(scope="module")
def chdb_server() -> Iterator[ChdbClickHouse]:
    pytest.importorskip("chdb", reason="chdb (test dependency) is not installed")
    server = ChdbClickHouse()
    yield server
    server.stop()


def count(server: Any, db: str, table: str, final: bool = False) -> int:
    return int(server.query(f"SELECT count() FROM {db}.{table}{' FINAL' if final else ''}").strip())


OTEL_TABLES = (
    "otel_traces",
    "otel_logs",
    "otel_metrics_sum",
    "otel_metrics_gauge",
    "otel_metrics_histogram",
)


@pytest.mark.clickhouse
def test_otel_schema_is_created_and_filled(chdb_server: ChdbClickHouse) -> None:
    db = fresh_db()
    backend = ClickHouseBackend(config(), endpoint=chdb_server.url, database=db)
    recs = records(3)
    assert backend.export(Batch(recs, RESOURCE), 10.0).ok
    counts = {t: count(chdb_server, db, t) for t in OTEL_TABLES}
    assert counts == {
        "otel_traces": 4,
        "otel_logs": 2,
        "otel_metrics_sum": 1,
        "otel_metrics_gauge": 1,
        "otel_metrics_histogram": 1,
    }
    q = chdb_server.query
    span = recs[3]
    row = (
        q(
            f"SELECT TraceId, SpanId, ParentSpanId, Duration, StatusCode, StatusMessage, "
            f"toUnixTimestamp64Nano(Timestamp), SpanAttributes['items'], SpanAttributes['tags'], "
            f"ServiceName, ResourceAttributes['service.version'], SpanKind "
            f"FROM {db}.otel_traces WHERE SpanName = 'checkout'"
        )
        .strip()
        .split("\t")
    )
    assert row == [
        f"{span.trace_id:032x}",
        f"{span.span_id:016x}",
        "0000000000000007",
        "2500000",
        "STATUS_CODE_ERROR",
        "card declined",
        str(span.time_ns),
        "3",
        '["a","b"]',
        "shop",
        "1.2.0",
        "SPAN_KIND_INTERNAL",
    ]
    ev = recs[0]
    row = q(
        f"SELECT TraceId, SpanId, Duration, SpanAttributes['astrid.record.type'], "
        f"toUnixTimestamp64Nano(Timestamp) FROM {db}.otel_traces WHERE SpanName = 'e0'"
    ).split()
    assert row == [
        f"{ev.effective_trace_id:032x}",
        f"{ev.span_id:016x}",
        "0",
        "event",
        str(ev.time_ns),
    ]
    logs = q(
        f"SELECT SeverityText, SeverityNumber, Body, LogAttributes['exception.type'], "
        f"toUnixTimestamp(TimestampTime) FROM {db}.otel_logs ORDER BY SeverityNumber"
    )
    assert logs.splitlines()[0].split("\t")[:3] == ["INFO", "9", "cache warmed"]
    assert logs.splitlines()[1].split("\t")[:4] == [
        "ERROR",
        "17",
        "ValueError: bad sku",
        "ValueError",
    ]
    assert logs.splitlines()[0].split("\t")[4] == str(recs[-2].time_ns // 10**9)
    assert q(
        f"SELECT Value, IsMonotonic, AggregationTemporality FROM {db}.otel_metrics_sum"
    ).split() == ["4", "true", "1"]
    assert q(f"SELECT Value, MetricUnit FROM {db}.otel_metrics_gauge").split() == ["21.5", "Cel"]
    assert q(
        f"SELECT Count, Sum, BucketCounts, ExplicitBounds FROM {db}.otel_metrics_histogram"
    ).split() == ["3", "7.5", "[1,2,0]", "[1,5]"]
    backend.shutdown(1.0)


@pytest.mark.clickhouse
def test_otel_retries_after_a_lost_response_leave_no_duplicates(
    chdb_server: ChdbClickHouse,
) -> None:
    db = fresh_db()
    proxy = FaultProxy(chdb_server.url)
    try:
        backend = ClickHouseBackend(config(), endpoint=proxy.url, database=db)
        # the server stores the traces, the answer is lost: the retry carries the same token
        proxy.set_plan(["forward_then_reset", "pass", "pass", "pass", "pass", "pass"])
        batch = Batch(records(5), RESOURCE)
        assert deliver(backend, batch).ok
        assert proxy.seen[:2] == ["forward_then_reset", "pass"]
        assert count(chdb_server, db, "otel_traces") == 6
        tokens = [
            r["query"].get("insert_deduplication_token")
            for r in proxy.requests
            if r["query"].get("query", "").startswith("INSERT")
        ]
        assert tokens[0] and tokens[0] == tokens[1]
        # the same records once more (a whole-batch retry): still no duplicates
        assert backend.export(Batch(records_again(batch), RESOURCE), 10.0).ok
        assert {t: count(chdb_server, db, t) for t in OTEL_TABLES}["otel_traces"] == 6
        assert count(chdb_server, db, "otel_logs") == 2
    finally:
        proxy.stop()


def records_again(batch: Batch) -> List[Any]:
    return list(batch)


@pytest.mark.clickhouse
def test_otel_partial_failure_resends_only_the_rest(chdb_server: ChdbClickHouse) -> None:
    db = fresh_db()
    proxy = FaultProxy(chdb_server.url)
    try:
        backend = ClickHouseBackend(config(), endpoint=proxy.url, database=db)
        proxy.set_plan(["pass", "status:503"])  # traces land, then the server is overloaded
        batch = Batch(records(2), RESOURCE)
        first = backend.export(batch, 10.0)
        assert first.retryable and first.status == 503
        # the partial delivery is in the result; the batch itself is the caller's, untouched
        assert len(batch) == 8 and first.delivered == 3 and first.rejected == 0
        assert first.remaining is not None
        assert [r.type for r in first.remaining] == ["metric", "metric", "metric", "log", "error"]
        assert backend.export(Batch(first.remaining, RESOURCE), 10.0).ok
        counts = {t: count(chdb_server, db, t) for t in OTEL_TABLES}
        assert counts == {
            "otel_traces": 3,
            "otel_logs": 2,
            "otel_metrics_sum": 1,
            "otel_metrics_gauge": 1,
            "otel_metrics_histogram": 1,
        }
    finally:
        proxy.stop()


@pytest.mark.clickhouse
def test_rows_refused_for_good_are_reported_as_rejected_not_delivered(
    chdb_server: ChdbClickHouse,
) -> None:
    db = fresh_db()
    proxy = FaultProxy(chdb_server.url)
    try:
        backend = ClickHouseBackend(config(), endpoint=proxy.url, database=db)
        # traces land, the sums are refused for good (a bad row), the gauge meets an overload
        proxy.set_plan(["pass", "code:27", "code:241"])
        batch = Batch(records(2), RESOURCE)
        first = backend.export(batch, 10.0)
        assert first.retryable and not first.ok and len(batch) == 8
        assert (first.delivered, first.rejected) == (3, 1)
        assert first.remaining is not None
        assert [r.type for r in first.remaining] == ["metric", "metric", "log", "error"]
        again = backend.export(Batch(first.remaining, RESOURCE), 10.0)
        assert again.ok and again.rejected == 0
        assert count(chdb_server, db, "otel_metrics_sum") == 0
        assert count(chdb_server, db, "otel_metrics_gauge") == 1
        # everything refused for good: a failure that counts the refused records
        proxy.set_plan(["code:27"] * 5)
        every = backend.export(Batch(records(1), RESOURCE), 10.0)
        assert not every.ok and not every.retryable and every.rejected == 7
    finally:
        proxy.stop()


@pytest.mark.clickhouse
def test_wrong_password_is_permanent_and_logged_without_the_secret(
    chdb_server: ChdbClickHouse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="astrid")
    backend = ClickHouseBackend(
        config(),
        endpoint=chdb_server.url,
        database=fresh_db(),
        username=WRITER[0],
        password="not-the-password",
    )
    result = backend.export(Batch(records(1), RESOURCE), 10.0)
    assert not result.ok and not result.retryable and result.reason == "clickhouse_516"
    assert "Code: 516" in caplog.text and "not-the-password" not in caplog.text
    good = ClickHouseBackend(
        config(),
        endpoint=chdb_server.url,
        database=fresh_db(),
        username=WRITER[0],
        password=WRITER[1],
        auth="basic",
    )
    assert good.export(Batch(records(1), RESOURCE), 10.0).ok


# ------------------------------------------------------------------ a real server: the events schema


@pytest.fixture(scope="module")
def ch_server() -> Iterator[ClickHouseServer]:
    command = find_server_binary()
    if command is None:
        pytest.skip(
            "no clickhouse-server binary (set ASTRID_TEST_CLICKHOUSE or install clickhouse-server)"
        )
    server = ClickHouseServer(command).start()
    yield server
    server.stop()


def events_backend(url: str, db: str, **kw: Any) -> ClickHouseBackend:
    kw.setdefault("username", WRITER[0])
    kw.setdefault("password", WRITER[1])
    return ClickHouseBackend(config(), endpoint=url, database=db, schema="events", **kw)


@pytest.mark.clickhouse
def test_events_schema_is_created_and_filled_on_a_real_server(ch_server: ClickHouseServer) -> None:
    db = fresh_db()
    backend = events_backend(ch_server.url, db, table_prefix="app_", ttl_days=30)
    recs = records(3)
    assert backend.export(Batch(recs, RESOURCE), 10.0).ok
    q = ch_server.query
    assert q(f"SELECT type, count() FROM {db}.app_events GROUP BY type ORDER BY type").split() == [
        "error",
        "1",
        "event",
        "3",
        "log",
        "1",
        "metric",
        "3",
        "span",
        "1",
    ]
    ev = recs[0]
    row = q(
        f"SELECT id, toUnixTimestamp(timestamp), timestamp_ns, service, service_version, session_id, "
        f"user_id, attr_values[indexOf(attr_keys, 'i')] FROM {db}.app_events WHERE name = 'e0'"
    ).split()
    assert row == [
        f"{ev.id:032x}",
        str(ev.time_ns // 10**9),
        str(ev.time_ns),
        "shop",
        "1.2.0",
        "s-hash",
        "u-hash",
        "0",
    ]
    span = q(
        f"SELECT duration_ns, value, unit, status, trace_id FROM {db}.app_events WHERE type = 'span'"
    )
    assert span.split() == ["2500000", "2.5", "ms", "error", f"{0xABC:032x}"]
    hist = q(f"SELECT value, count, bounds, bucket_counts FROM {db}.app_events WHERE name = 'lat'")
    assert hist.split() == ["7.5", "3", "[1,5]", "[1,2,0]"]
    err = q(
        f"SELECT name, severity_text, attr_values[indexOf(attr_keys, 'exception.type')] "
        f"FROM {db}.app_events WHERE type = 'error'"
    )
    assert err.split() == ["ValueError", "ERROR", "ValueError"]
    create = q(f"SHOW CREATE TABLE {db}.app_events")
    if tuple(map(int, ch_server.version.split(".")[:2])) < (19, 6):
        assert "TTL" not in create  # asked for, but this server has no TTL
    else:
        assert "TTL" in create


@pytest.mark.clickhouse
def test_auth_schemes_and_gzip_on_a_real_server(ch_server: ClickHouseServer) -> None:
    db = fresh_db()
    proxy = FaultProxy(ch_server.url)
    try:
        for auth in ("headers", "basic"):
            backend = events_backend(proxy.url, db, auth=auth)
            batch = Batch(records(40), RESOURCE)  # well over 1 KB: sent gzip-compressed
            assert backend.export(batch, 10.0).ok
        inserts = [r["headers"] for r in proxy.requests if r["query"]["query"].startswith("INSERT")]
        assert [h.get("content-encoding") for h in inserts] == ["gzip", "gzip"]
        assert "x-clickhouse-user" in inserts[0] and "authorization" not in inserts[0]
        assert "authorization" in inserts[1] and "x-clickhouse-user" not in inserts[1]
        assert count(ch_server, db, "events") == 2 * 46
        wrong = events_backend(ch_server.url, db, password="nope")
        result = wrong.export(Batch(records(1), RESOURCE), 10.0)
        assert not result.ok and not result.retryable and result.status == 401
    finally:
        proxy.stop()


@pytest.mark.clickhouse
def test_a_bad_row_is_not_retried_even_when_the_server_says_500(
    ch_server: ClickHouseServer, caplog: pytest.LogCaptureFixture
) -> None:
    db = fresh_db()
    ch_server.query(f"CREATE DATABASE {db}")
    ch_server.query(
        f"CREATE TABLE {db}.events (id UInt64, name String) ENGINE = MergeTree() ORDER BY id"
    )
    backend = events_backend(ch_server.url, db, create_schema=False)
    result = backend.export(Batch(records(1), RESOURCE), 10.0)
    assert result.status in (400, 500) and not result.retryable and not result.ok
    assert re.search(r"Code: (117|27|26|16|6)\b", caplog.text)
    assert count(ch_server, db, "events") == 0


@pytest.mark.clickhouse
@pytest.mark.parametrize(
    "faults",
    [["status:503", "code:241", "reset", "pass"], ["code:252", "status:502", "pass"]],
)
def test_transient_faults_are_retried_and_rows_land_once(
    ch_server: ClickHouseServer, faults: List[str]
) -> None:
    db = fresh_db()
    proxy = FaultProxy(ch_server.url)
    try:
        backend = events_backend(proxy.url, db)
        proxy.set_plan(faults)
        batch = Batch(records(10), RESOURCE)
        assert deliver(backend, batch).ok
        assert proxy.seen == faults
        assert count(ch_server, db, "events") == 16
        assert int(ch_server.query(f"SELECT uniqExact(id) FROM {db}.events")) == 16
    finally:
        proxy.stop()


@pytest.mark.clickhouse
def test_duplicates_from_lost_responses_collapse_with_final(ch_server: ClickHouseServer) -> None:
    db = fresh_db()
    proxy = FaultProxy(ch_server.url)
    try:
        backend = events_backend(proxy.url, db)
        proxy.set_plan(["forward_then_reset", "forward_then_reset", "pass"])
        batch = Batch(records(10), RESOURCE)
        assert deliver(backend, batch).ok
        raw = count(ch_server, db, "events")
        # servers with insert_deduplication_token store it once; older ones store it three
        # times and the ReplacingMergeTree route (FINAL, or OPTIMIZE ... FINAL) shows it once
        assert raw in (16, 48)
        assert count(ch_server, db, "events", final=True) == 16
        ch_server.query(f"OPTIMIZE TABLE {db}.events FINAL")
        assert count(ch_server, db, "events") == 16
    finally:
        proxy.stop()


@pytest.mark.clickhouse
def test_a_dropped_table_is_created_again(ch_server: ClickHouseServer) -> None:
    db = fresh_db()
    backend = events_backend(ch_server.url, db)
    assert backend.export(Batch(records(1), RESOURCE), 10.0).ok
    ch_server.query(f"DROP TABLE {db}.events")
    assert deliver(backend, Batch(records(2), RESOURCE)).ok
    assert count(ch_server, db, "events") == 8


@pytest.mark.clickhouse
def test_client_counts_rows_the_server_refuses_as_rejected_never_sent(
    ch_server: ClickHouseServer,
) -> None:
    """Issue 9 item 13, against a real server: one table refuses its rows for good while
    another is briefly overloaded; the refused rows are rejected, the rest sent once."""
    db = fresh_db()
    q = ch_server.query
    q(f"CREATE DATABASE {db}")
    # otel-named tables this server can hold (the real otel schema needs 21.12+)
    for table, cols in (
        ("otel_traces", "TraceId String, SpanName String"),
        ("otel_metrics_sum", "MetricName UInt64"),  # "jobs.done" is no number: refused
        ("otel_metrics_gauge", "MetricName String"),
        ("otel_metrics_histogram", "MetricName String"),
        ("otel_logs", "Body String"),
    ):
        q(f"CREATE TABLE {db}.{table} ({cols}) ENGINE = MergeTree() ORDER BY tuple()")
    proxy = FaultProxy(ch_server.url)
    try:
        # the gauge table is briefly overloaded; the server itself refuses the sums
        proxy.set_plan(["code:241"], match=f"INSERT INTO `{db}`.`otel_metrics_gauge`".upper())
        c = client(
            proxy.url,
            database=db,
            create_schema=False,
            insert_settings={"input_format_skip_unknown_fields": 1},
        )
        c.track_event("e0", {})
        c.track_event("e1", {})
        c.track_event("e2", {})
        with c.span("checkout"):
            pass
        c.track_metric("jobs.done", 4, metric_type="counter")
        c.track_metric("temp", 21.5, metric_type="gauge")
        c.track_metric("lat", 3.0, metric_type="histogram")
        c.track_log("cache warmed", level="info")
        c.flush(timeout=15.0)
        stats = c.stats()
        c.shutdown(timeout=5.0)
        assert proxy.seen == ["code:241", "pass"]
        assert stats["rejected"] == 1 and stats["sent"] == 7, stats
        assert stats["failures_by_reason"].get("rejected") == 1, stats
        assert count(ch_server, db, "otel_traces") == 4
        assert count(ch_server, db, "otel_metrics_sum") == 0
        assert count(ch_server, db, "otel_metrics_gauge") == 1
        assert count(ch_server, db, "otel_logs") == 1
    finally:
        proxy.stop()


@pytest.mark.clickhouse
def test_otel_schema_on_an_old_server_says_what_it_needs(
    ch_server: ClickHouseServer, caplog: pytest.LogCaptureFixture
) -> None:
    version = tuple(map(int, ch_server.version.split(".")[:2]))
    if version >= (21, 12):
        pytest.skip(f"ClickHouse {ch_server.version} has the otel schema's types")
    caplog.set_level(logging.WARNING, logger="astrid")
    backend = ClickHouseBackend(config(), endpoint=ch_server.url, database=fresh_db())
    backend.export(Batch(records(1), RESOURCE), 10.0)
    assert 'needs ClickHouse 21.12+, or use `schema="events"`' in caplog.text


def test_a_partial_delivery_in_the_result_is_counted_once_and_only_the_rest_is_resent() -> None:
    """The pipeline side of a partial delivery: what a backend reports in its ExportResult."""
    import astrid

    seen: List[List[str]] = []

    class TwoTables:
        name = "two-tables"

        def export(self, batch: Batch, timeout: float) -> ExportResult:
            seen.append([r.name for r in batch])
            if len(seen) == 1:  # "a" landed, "b" refused for good, "c" and "d" must wait
                rest = [r for r in batch if r.name in ("c", "d")]
                return ExportResult.retry("overloaded", delivered=1, rejected=1, remaining=rest)
            return ExportResult.success()

        def shutdown(self, timeout: float) -> None:
            pass

    c = astrid.TelemetryClient(
        project_name="shop", backend=TwoTables(), enabled=True, env={}, install_atexit=False,
        batch_size=4, flush_interval=0.05, backoff_base=0.01, backoff_max=0.02,
    )
    for name in "abcd":
        c.track_event(name)
    c.flush(timeout=10.0)  # False: a record was lost (the rejected one)
    c.shutdown(timeout=10.0)  # delivers the rest
    stats = c.stats()
    assert seen == [["a", "b", "c", "d"], ["c", "d"]]
    assert (stats["sent"], stats["rejected"], stats["failed"], stats["retries"]) == (3, 1, 1, 1)


def test_an_unreachable_server_is_a_retry_not_an_exception() -> None:
    from support.faultserver import refused_port

    backend = ClickHouseBackend(config(), endpoint=f"http://127.0.0.1:{refused_port()}")
    result = backend.export(Batch(records(1), RESOURCE), 2.0)
    assert result.retryable and result.reason == "connection_refused"


# ------------------------------------------------------------------ end to end, through the client


def client(endpoint: str, **kw: Any) -> Any:
    import astrid

    return astrid.TelemetryClient(
        project_name="shop",
        version="1.2.0",
        backend="clickhouse",
        endpoint=endpoint,
        enabled=True,
        flush_interval=0.05,
        backoff_base=0.05,
        backoff_max=0.2,
        install_atexit=False,
        env={},
        **kw,
    )


@pytest.mark.clickhouse
def test_client_to_otel_tables_end_to_end(chdb_server: ChdbClickHouse) -> None:
    db = fresh_db()
    c = client(chdb_server.url, database=db)
    c.track_event("user.login", {"method": "sso"})
    with c.span("checkout", {"items": 3}):
        c.track_log("cache warmed", level="info")
    c.track_metric("jobs.done", 2, metric_type="counter")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        c.track_error(exc)
    assert c.shutdown(timeout=10.0)
    assert count(chdb_server, db, "otel_traces") == 2
    assert count(chdb_server, db, "otel_logs") == 2
    assert chdb_server.query(f"SELECT sum(Value) FROM {db}.otel_metrics_sum").strip() == "2"
    body = chdb_server.query(f"SELECT Body FROM {db}.otel_logs WHERE SeverityNumber = 17").strip()
    assert body == "RuntimeError: boom"


@pytest.mark.clickhouse
def test_client_through_faults_to_a_real_server_delivers_each_event_once(
    ch_server: ClickHouseServer,
) -> None:
    db = fresh_db()
    proxy = FaultProxy(ch_server.url)
    try:
        proxy.set_plan(["status:503", "reset", "forward_then_reset", "code:241"])
        c = client(proxy.url, database=db, schema="events", username=WRITER[0], password=WRITER[1])
        for i in range(50):
            c.track_event("page.view", {"i": i})
        assert c.flush(timeout=15.0)
        stats = c.stats()
        assert c.shutdown(timeout=5.0)
        assert proxy.seen[:4] == ["status:503", "reset", "forward_then_reset", "code:241"]
        assert count(ch_server, db, "events", final=True) == 50
        assert int(ch_server.query(f"SELECT uniqExact(id) FROM {db}.events")) == 50
        assert stats["sent"] == 50 and stats["dropped"] == 0 and stats["retries"] >= 3, stats
    finally:
        proxy.stop()


def test_no_log_line_is_written_while_the_backend_holds_its_lock() -> None:
    """A logging handler may call back into the SDK: the DDL step logs after releasing its lock."""
    from support.faultserver import FaultServer, Respond

    def answer(req: Any) -> Any:
        if "version()" in req.query or b"version()" in req.raw:
            return Respond(200, body=b"23.8.1.1\n")
        return Respond(403, body=b"Code: 497. DB::Exception: admin: Not enough privileges.\n")

    backend = None
    held: List[bool] = []

    class Probe(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if backend is not None:
                held.append(backend._lock.locked())

    log = logging.getLogger("astrid")
    probe, old = Probe(logging.DEBUG), log.level
    log.addHandler(probe)
    log.setLevel(logging.DEBUG)
    try:
        with FaultServer() as server:
            server.handler = answer
            backend = ClickHouseBackend(TelemetryConfig.from_options(project_name="p", env={}), endpoint=server.url, schema="events")
            backend.export(Batch([Event("e", {}, 1)], Resource({})), 5.0)
            backend.shutdown(1.0)
    finally:
        log.removeHandler(probe)
        log.setLevel(old)
    assert held, "the refused DDL and insert were logged"
    assert not any(held)
