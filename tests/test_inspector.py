"""The local inspector: OTLP and generic receivers, store, API, page and its safety limits."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import http.client
import json
import time
from typing import Any, Dict, Optional, Tuple

import pytest

from astrid.inspector import Inspector, probe
from astrid.inspector.ingest import BadRequest, decompress, parse_timestamp, redactions
from astrid.inspector.store import Store

pb_trace = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
pb_metrics = pytest.importorskip("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")
pb_logs = pytest.importorskip("opentelemetry.proto.collector.logs.v1.logs_service_pb2")
from opentelemetry.proto.common.v1 import common_pb2  # noqa: E402

NOW = time.time_ns()


@pytest.fixture
def insp():
    with Inspector(port=0) as inspector:
        yield inspector


def post(
    insp: Inspector, path: str, body: bytes, headers: Optional[Dict[str, str]] = None
) -> Tuple[int, bytes, Dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", insp.port, timeout=10)
    try:
        conn.request("POST", path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


def get(insp: Inspector, path: str, host: Optional[str] = None) -> Tuple[int, Any, Dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", insp.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        resp = conn.getresponse()
        raw = resp.read()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, json.loads(raw) if "json" in ctype else raw, dict(resp.getheaders())
    finally:
        conn.close()


def _kv(target: Any, key: str, value: Any) -> None:
    if isinstance(value, bool):
        target.add(key=key, value=common_pb2.AnyValue(bool_value=value))
    elif isinstance(value, int):
        target.add(key=key, value=common_pb2.AnyValue(int_value=value))
    elif isinstance(value, float):
        target.add(key=key, value=common_pb2.AnyValue(double_value=value))
    else:
        target.add(key=key, value=common_pb2.AnyValue(string_value=value))


def trace_request(service: str = "shop") -> bytes:
    req = pb_trace.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    _kv(rs.resource.attributes, "service.name", service)
    ss = rs.scope_spans.add()
    ss.scope.name = "astrid"
    salt = hashlib.sha256(service.encode()).digest()
    ev = ss.spans.add(trace_id=salt[:16], span_id=salt[16:24], name="user.login",
                      start_time_unix_nano=NOW, end_time_unix_nano=NOW)
    _kv(ev.attributes, "method", "sso")
    _kv(ev.attributes, "email", "[REDACTED:email]")
    _kv(ev.attributes, "count", 3)
    _kv(ev.attributes, "ratio", 0.5)
    _kv(ev.attributes, "ok", True)
    arr = ev.attributes.add(key="tags")
    arr.value.array_value.values.add(string_value="a")
    arr.value.array_value.values.add(int_value=-7)
    sp = ss.spans.add(trace_id=salt[16:], span_id=salt[24:], parent_span_id=b"\x05" * 8,
                      name="checkout", start_time_unix_nano=NOW, end_time_unix_nano=NOW + 2_500_000)
    sp.status.code = 2
    sp.status.message = "card declined"
    e = sp.events.add(name="exception", time_unix_nano=NOW + 1)
    _kv(e.attributes, "exception.type", "ValueError")
    return req.SerializeToString()


def metrics_request() -> bytes:
    req = pb_metrics.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    _kv(rm.resource.attributes, "service.name", "worker")
    sm = rm.scope_metrics.add()
    m = sm.metrics.add(name="jobs.done", unit="1")
    m.sum.is_monotonic = True
    p = m.sum.data_points.add(as_int=42, time_unix_nano=NOW, start_time_unix_nano=NOW - 10)
    _kv(p.attributes, "queue", "emails")
    g = sm.metrics.add(name="queue.depth")
    g.gauge.data_points.add(as_double=17.5, time_unix_nano=NOW)
    h = sm.metrics.add(name="request.duration", unit="ms")
    hp = h.histogram.data_points.add(count=3, sum=60.0, min=10.0, max=30.0, time_unix_nano=NOW)
    hp.bucket_counts.extend([1, 2, 0])
    hp.explicit_bounds.extend([15.0, 50.0])
    return req.SerializeToString()


def logs_request() -> bytes:
    req = pb_logs.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    _kv(rl.resource.attributes, "service.name", "api")
    sl = rl.scope_logs.add()
    lr = sl.log_records.add(time_unix_nano=NOW, severity_number=13, severity_text="WARN")
    lr.body.string_value = "cache miss"
    _kv(lr.attributes, "log.record.uid", "abc123")
    er = sl.log_records.add(time_unix_nano=NOW, severity_number=17, severity_text="ERROR")
    er.body.string_value = "ZeroDivisionError: division by zero"
    _kv(er.attributes, "exception.type", "ZeroDivisionError")
    _kv(er.attributes, "exception.stacktrace", "Traceback ...")
    return req.SerializeToString()


PB = {"Content-Type": "application/x-protobuf"}


def test_otlp_protobuf_traces_become_events_and_spans(insp):
    status, body, headers = post(insp, "/v1/traces", gzip.compress(trace_request()),
                                 dict(PB, **{"Content-Encoding": "gzip"}))
    assert (status, body) == (200, b"")
    assert headers["Content-Type"] == "application/x-protobuf"
    recs = {r["name"]: r for r in insp.records()}
    event, span = recs["user.login"], recs["checkout"]
    assert event["type"] == "event" and event["service"] == "shop"
    assert event["attributes"] == {"method": "sso", "email": "[REDACTED:email]", "count": 3,
                                   "ratio": 0.5, "ok": True, "tags": ["a", -7]}
    assert event["source"] == "otlp/protobuf"
    assert span["type"] == "span" and span["duration_ms"] == pytest.approx(2.5)
    assert span["status"] == "error" and span["status_message"] == "card declined"
    assert span["parent_span_id"] == "05" * 8
    assert span["events"][0]["attributes"] == {"exception.type": "ValueError"}


def test_otlp_protobuf_metrics_of_every_kind(insp):
    assert post(insp, "/v1/metrics", metrics_request(), PB)[0] == 200
    recs = {r["name"]: r for r in insp.records(type="metric")}
    assert recs["jobs.done"]["metric_type"] == "counter" and recs["jobs.done"]["value"] == 42
    assert recs["jobs.done"]["attributes"] == {"queue": "emails"}
    assert recs["queue.depth"]["metric_type"] == "gauge" and recs["queue.depth"]["value"] == 17.5
    hist = recs["request.duration"]
    assert hist["bucket_counts"] == [1, 2, 0] and hist["bounds"] == [15.0, 50.0]
    assert (hist["count"], hist["sum"], hist["min"], hist["max"]) == (3, 60.0, 10.0, 30.0)


def test_otlp_protobuf_logs_and_errors(insp):
    assert post(insp, "/v1/logs", logs_request(), PB)[0] == 200
    # the same log record uid again is stored once (receivers de-duplicate)
    assert post(insp, "/v1/logs", logs_request(), PB)[0] == 200
    recs = insp.records()
    types = sorted(r["type"] for r in recs)
    assert types == ["error", "error", "log"]
    err = next(r for r in recs if r["type"] == "error")
    assert err["name"] == "ZeroDivisionError" and err["severity_text"] == "ERROR"
    assert insp.stats()["counters"]["duplicates"] == 1


def test_otlp_json_all_signals(insp):
    span = {"traceId": "0a" * 16, "spanId": "0b" * 8, "name": "page.view", "kind": 1,
            "startTimeUnixNano": str(NOW), "endTimeUnixNano": str(NOW),
            "attributes": [{"key": "path", "value": {"stringValue": "/docs"}},
                           {"key": "n", "value": {"intValue": "5"}},
                           {"key": "m", "value": {"kvlistValue": {"values": [
                               {"key": "x", "value": {"doubleValue": 1.5}}]}}}]}
    res = {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]}
    traces = {"resourceSpans": [{"resource": res, "scopeSpans": [{"scope": {"name": "s"}, "spans": [span]}]}]}
    metrics = {"resourceMetrics": [{"resource": res, "scopeMetrics": [{"metrics": [
        {"name": "hits", "sum": {"dataPoints": [{"asInt": "9", "timeUnixNano": str(NOW)}],
                                 "isMonotonic": True}},
        {"name": "lat", "histogram": {"dataPoints": [
            {"count": "2", "sum": 3.0, "bucketCounts": ["1", "1"], "explicitBounds": [1.0],
             "timeUnixNano": str(NOW)}]}}]}]}]}
    logs = {"resourceLogs": [{"resource": res, "scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(NOW), "severityNumber": 9, "severityText": "INFO",
         "body": {"stringValue": "hello"}}]}]}]}
    jh = {"Content-Type": "application/json"}
    for path, doc in (("/v1/traces", traces), ("/v1/metrics", metrics), ("/v1/logs", logs)):
        status, body, _ = post(insp, path, json.dumps(doc).encode(), jh)
        assert (status, body) == (200, b"{}"), body
    recs = {r["name"]: r for r in insp.records(service="web")}
    assert recs["page.view"]["attributes"] == {"path": "/docs", "n": 5, "m": {"x": 1.5}}
    assert recs["page.view"]["source"] == "otlp/json"
    assert recs["hits"]["value"] == 9 and recs["lat"]["bucket_counts"] == [1, 1]
    assert recs["log"]["body"] == "hello"


def generic_body(records=None, stats=None) -> bytes:
    rec = {"id": "f" * 32, "type": "event", "name": "signup", "timestamp": "2026-01-31T10:00:00.5Z",
           "attributes": {"email": "[REDACTED:email]", "user": "hash:" + "a" * 32}}
    sdk: Dict[str, Any] = {"name": "astrid", "version": "0.1.0", "language": "python"}
    if stats is not None:
        sdk["stats"] = stats
    doc = {"sdk": sdk, "resource": {"service.name": "cli-tool"}, "records": records or [rec]}
    return json.dumps(doc).encode()


def test_generic_format_with_sdk_stats_and_redaction_counters(insp):
    stats = {"sent": 10, "dropped": 0, "privacy": {"email": 2}}
    status, body, _ = post(insp, "/collect", generic_body(stats=stats), {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body) == {"accepted": 1}
    (rec,) = insp.records()
    assert rec["service"] == "cli-tool" and rec["time_ns"] == parse_timestamp("2026-01-31T10:00:00.5Z")
    s = get(insp, "/api/stats")[1]
    assert s["sdk"]["cli-tool"]["stats"] == stats
    assert s["redactions"] == {"email": 1, "identifier (hashed)": 1}
    assert s["services"] == ["cli-tool"]


def _sign(secret: str, body: bytes, t: Optional[int] = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def test_collect_requires_a_valid_signature_when_given_a_secret():
    with Inspector(port=0, signing_secret="s3cret") as insp:
        body = generic_body()
        assert post(insp, "/collect", body)[0] == 401
        assert post(insp, "/collect", body, {"X-Astrid-Signature": _sign("wrong", body)})[0] == 401
        old = _sign("s3cret", body, int(time.time()) - 3600)
        assert post(insp, "/collect", body, {"X-Astrid-Signature": old})[0] == 401
        assert post(insp, "/collect", body, {"X-Astrid-Signature": _sign("s3cret", body)})[0] == 200
        assert len(insp.records()) == 1
        assert insp.stats()["counters"]["requests.unauthorized"] == 3


@pytest.mark.parametrize(
    "path,body,headers,reason",
    [
        ("/v1/traces", b"\x0a\xff", PB, "malformed OTLP traces request"),
        ("/v1/traces", b"{", {"Content-Type": "application/json"}, "not valid JSON"),
        ("/v1/logs", b"[]", {"Content-Type": "application/json"}, "must be a JSON object"),
        ("/v1/metrics", b"x", {"Content-Type": "text/csv"}, "unsupported Content-Type"),
        ("/v1/traces", b"not gzip", dict(PB, **{"Content-Encoding": "gzip"}), "not valid gzip"),
        ("/v1/traces", b"", dict(PB, **{"Content-Encoding": "br"}), "unsupported Content-Encoding"),
        ("/collect", b'{"records": 3}', {}, "\"records\" array"),
        ("/collect", b'{"records": [{"type": "x", "name": "a"}]}', {}, "records[0].type"),
        ("/collect", b'{"records": [{"type": "event", "name": "a", "timestamp": "yesterday"}]}', {},
         "RFC 3339"),
    ],
)
def test_malformed_bodies_get_400_with_a_reason(insp, path, body, headers, reason):
    status, raw, _ = post(insp, path, body, headers)
    assert status == 400
    assert reason in json.loads(raw)["error"]
    assert get(insp, "/healthz")[0] == 200  # and the server is still there


def test_bodies_over_the_limit_get_413_without_being_read():
    with Inspector(port=0, max_body=1024) as insp:
        status, raw, _ = post(insp, "/v1/traces", b"\0" * 4096, PB)
        assert status == 413 and "limit" in json.loads(raw)["error"]
        assert post(insp, "/v1/traces", trace_request(), PB)[0] == 200


def test_decompression_is_capped():
    bomb = gzip.compress(b"\0" * 1_000_000)
    with pytest.raises(BadRequest, match="larger than"):
        decompress(bomb, "gzip", 10_000)
    assert decompress(gzip.compress(b"abc"), "gzip", 10) == b"abc"
    with pytest.raises(BadRequest, match="truncated"):
        decompress(gzip.compress(b"abc" * 100)[:-12], "gzip", 10_000)


def test_unknown_paths_and_methods(insp):
    assert post(insp, "/v1/nope", b"", PB)[0] == 404
    assert get(insp, "/nope")[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", insp.port, timeout=5)
    conn.request("OPTIONS", "/v1/traces", headers={"Origin": "http://localhost:3000"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 204
    assert resp.getheader("Access-Control-Allow-Origin") == "http://localhost:3000"


def test_api_records_filters_newest_first_and_after(insp):
    post(insp, "/v1/traces", trace_request("a"), PB)
    post(insp, "/v1/traces", trace_request("b"), PB)
    status, data, _ = get(insp, "/api/records")
    assert status == 200 and [r["seq"] for r in data["records"]] == [4, 3, 2, 1]
    assert {r["service"] for r in get(insp, "/api/records?service=a")[1]["records"]} == {"a"}
    assert [r["name"] for r in get(insp, "/api/records?type=span")[1]["records"]] == ["checkout"] * 2
    assert len(get(insp, "/api/records?name=LOGIN")[1]["records"]) == 2
    newer = get(insp, "/api/records?after=3")[1]
    assert [r["seq"] for r in newer["records"]] == [4] and newer["last_seq"] == 4
    assert get(insp, "/api/records?limit=x")[0] == 400


def test_chart_counts_events_per_minute_by_name():
    store = Store()
    minute = 60_000_000_000
    now = (time.time_ns() // minute) * minute + 1
    recs = [{"type": "event", "name": "a", "time_ns": now}] * 3
    recs += [{"type": "event", "name": "b", "time_ns": now - minute}]
    recs += [{"type": "event", "name": "old", "time_ns": now - 90 * minute}]
    recs += [{"type": "log", "name": "a", "time_ns": now}]
    store.add(recs)
    chart = store.chart(minutes=5, now_ns=now)
    series = {s["name"]: s["counts"] for s in chart["series"]}
    assert series == {"a": [0, 0, 0, 0, 3], "b": [0, 0, 0, 1, 0]}
    assert len(chart["minutes"]) == 5
    many = [{"type": "event", "name": f"e{i}", "time_ns": now} for i in range(10)]
    store.add(many)
    names = [s["name"] for s in store.chart(minutes=5, top=3, now_ns=now)["series"]]
    assert len(names) == 4 and names[-1] == "other"


def test_store_retention_by_count_and_age():
    store = Store(max_records=10, max_age=3600)
    store.add([{"type": "event", "name": f"e{i}"} for i in range(30)])
    store.prune()
    names = [r["name"] for r in store.records(limit=100)]
    assert names == [f"e{i}" for i in range(29, 19, -1)]
    store.max_age = 0
    store.prune()
    assert store.records() == []


def test_store_is_a_file_when_given_a_path(tmp_path):
    path = str(tmp_path / "records.sqlite3")
    with Inspector(port=0, db=path) as insp:
        post(insp, "/v1/traces", trace_request(), PB)
    with Inspector(port=0, db=path) as again:
        assert len(again.records()) == 2


def test_page_is_self_contained_and_locked_down(insp):
    status, page, headers = get(insp, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    text = page.decode()
    assert "<svg" in text and "<script>" in text
    # no external assets: no src/href to another origin, no CDN
    for needle in ('src="http', "src='http", 'href="http', "@import", "cdn"):
        assert needle not in text.lower()
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_other_host_names_are_refused_on_loopback(insp):
    assert get(insp, "/api/records", host="evil.example:4318")[0] == 403
    assert get(insp, "/api/records", host=f"localhost:{insp.port}")[0] == 200


def test_healthz_and_probe(insp):
    status, data, _ = get(insp, "/healthz")
    assert status == 200 and data["inspector"] == "astrid"
    assert probe(insp.url)
    assert not probe("http://127.0.0.1:9", timeout=0.2)


def test_redaction_counting_covers_every_placeholder():
    rec = {"attributes": {"a": "mail [REDACTED:email] and [REDACTED:phone]",
                          "b": "[HASHED:email:3f2a]", "c": "[MASKED:card:1111]",
                          "d": ["hash:" + "0" * 32], "e": {"f": "[REDACTED:ip]"}},
           "body": "token [REDACTED:jwt]"}
    assert dict(redactions(rec)) == {"email": 1, "phone": 1, "email (hashed)": 1, "card (masked)": 1,
                                    "identifier (hashed)": 1, "ip": 1, "jwt": 1}


def test_url_brackets_ipv6_and_maps_wildcard():
    a = Inspector.__new__(Inspector)
    a.port = 1
    for host, url in (("0.0.0.0", "http://127.0.0.1:1"), ("::1", "http://[::1]:1"),
                      ("127.0.0.1", "http://127.0.0.1:1")):
        a.host = host
        assert a.url == url


# ---------------------------------------------------------------- arbitrary input never crashes it

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from astrid.inspector.ingest import generic_records, otlp_records  # noqa: E402
from astrid.inspector.otlp_decode import DecodeError, decode_proto  # noqa: E402
from astrid.inspector.otlp_json import decode_json  # noqa: E402

_VALID = [trace_request(), metrics_request(), logs_request()]
_SIGNALS = ["traces", "metrics", "logs"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_SIGNALS), st.binary(max_size=300))
def test_decoder_never_raises_anything_but_decode_error_on_random_bytes(signal, data):
    try:
        decode_proto(signal, data)
    except DecodeError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2), st.data())
def test_decoder_survives_mutated_valid_messages(which, data):
    raw = bytearray(_VALID[which])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        decode_proto(_SIGNALS[which], bytes(raw[:cut]))
    except DecodeError:
        pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "resourceLogs", "scopeLogs",
                         "logRecords", "resourceMetrics", "scopeMetrics", "metrics", "attributes",
                         "key", "value", "stringValue", "intValue", "arrayValue", "kvlistValue",
                         "values", "sum", "dataPoints", "histogram", "traceId", "body", "name"]),
        inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_SIGNALS), _json_values)
def test_json_reader_only_raises_decode_error(signal, doc):
    try:
        decode_json(signal, doc)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | _json_values.map(lambda v: json.dumps(v).encode()))
def test_generic_and_otlp_readers_only_raise_bad_request(body):
    for fn in (lambda: generic_records(body),
               lambda: otlp_records("logs", body, "application/json", 1),
               lambda: otlp_records("traces", body, "application/x-protobuf", 1)):
        try:
            fn()
        except BadRequest:
            pass


def test_deeply_nested_values_are_refused_not_recursed():
    value: Dict[str, Any] = {"stringValue": "x"}
    for _ in range(200):
        value = {"arrayValue": {"values": [value]}}
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": value}]}]}]}
    with pytest.raises(DecodeError, match="nested"):
        decode_json("logs", doc)
    from astrid.inspector.otlp_decode import _any_value

    def field(number: int, payload: bytes) -> bytes:
        n, length = len(payload), b""
        while True:
            length += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                break
        return bytes([number << 3 | 2]) + length + payload

    nested = field(1, b"x")  # AnyValue{string_value: "x"}
    for _ in range(200):
        nested = field(5, field(1, nested))  # AnyValue{array_value: {values: [nested]}}
    with pytest.raises(DecodeError, match="nested"):
        _any_value(nested, 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/v1/traces", "/v1/metrics", "/v1/logs", "/collect"]),
       ctype=st.sampled_from(["application/x-protobuf", "application/json", ""]),
       body=st.binary(max_size=200))
def test_server_answers_200_or_400_to_any_body(insp, path, ctype, body):
    status, raw, _ = post(insp, path, body, {"Content-Type": ctype} if ctype else {})
    assert status in (200, 400), raw
