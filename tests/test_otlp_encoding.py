"""The OTLP encoders against the official opentelemetry-proto classes, field by field."""

from __future__ import annotations

import math
from typing import Any, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid._version import __version__
from astrid.encoding import otlp_encoder, otlp_json, otlp_proto
from astrid.encoding.otlp_common import split_by_signal
from astrid.records import ErrorRecord, Event, Log, Metric, Span, SpanEvent
from support.otlp import RESPONSES, JsonViolation, attrs, decode, log_records, metrics, spans

T0 = 1_795_000_000_123_456_789
RESOURCE = {"service.name": "shop", "service.version": "1.2.0", "telemetry.sdk.name": "astrid"}
PROTOCOLS = ["http/protobuf", "http/json"]


def roundtrip(protocol: str, signal: str, records: List[Any], resource: Dict[str, Any] = RESOURCE) -> Any:
    enc = otlp_encoder(protocol)
    return decode(signal, enc.encode(signal, records, resource), enc.CONTENT_TYPE)


def check_envelope(msg: Any, signal: str) -> None:
    suffix = {"traces": "spans", "metrics": "metrics", "logs": "logs"}[signal]
    (res,) = getattr(msg, "resource_" + suffix)
    assert attrs(res.resource.attributes) == RESOURCE
    (scope,) = getattr(res, "scope_" + suffix)
    assert (scope.scope.name, scope.scope.version) == ("astrid", __version__)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_events_become_internal_zero_length_spans(protocol: str) -> None:
    plain = Event("user.login", {"method": "sso", "n": 3, "ok": True, "ratio": 0.5, "tags": ["a", "b"]}, T0)
    nested = Event("cart.add", {"sku": "x"}, T0 + 1, trace_id=0xABC, parent_span_id=0xDEF)
    msg = roundtrip(protocol, "traces", [plain, nested])
    check_envelope(msg, "traces")
    a, b = spans(msg)
    assert a.name == "user.login" and a.kind == 1
    assert a.trace_id == plain.id.to_bytes(16, "big")
    assert a.span_id == plain.span_id.to_bytes(8, "big") and a.parent_span_id == b""
    assert a.start_time_unix_nano == a.end_time_unix_nano == T0
    assert attrs(a.attributes) == {
        "method": "sso", "n": 3, "ok": True, "ratio": 0.5, "tags": ["a", "b"], "astrid.record.type": "event",
    }  # fmt: skip
    assert b.trace_id == (0xABC).to_bytes(16, "big") and b.parent_span_id == (0xDEF).to_bytes(8, "big")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_spans_keep_parent_events_and_status(protocol: str) -> None:
    s = Span("checkout", {"items": 3}, T0, trace_id=2**128 - 1, span_id=2**64 - 1, parent_span_id=7)
    s.end_ns = T0 + 1500
    s.status, s.status_message = "error", "card declined"
    s.events.append(SpanEvent("exception", T0 + 10, {"exception.type": "ValueError"}))
    ok = Span("ok", {}, T0, trace_id=5, span_id=6)
    ok.status = "ok"
    msg = roundtrip(protocol, "traces", [s, ok])
    got, got_ok = spans(msg)
    assert got.trace_id == b"\xff" * 16 and got.span_id == b"\xff" * 8
    assert got.parent_span_id == (7).to_bytes(8, "big")
    assert (got.start_time_unix_nano, got.end_time_unix_nano) == (T0, T0 + 1500)
    assert (got.status.code, got.status.message) == (2, "card declined")
    (ev,) = got.events
    assert (ev.name, ev.time_unix_nano, attrs(ev.attributes)) == ("exception", T0 + 10, {"exception.type": "ValueError"})
    assert "astrid.record.type" not in attrs(got.attributes)
    assert got_ok.status.code == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metrics_map_to_sum_gauge_and_histogram(protocol: str) -> None:
    c1 = Metric("jobs.done", "counter", {"queue": "a"}, T0, T0 + 5, value=3, unit="1")
    c2 = Metric("jobs.done", "counter", {"queue": "b"}, T0, T0 + 5, value=2, unit="1")
    cf = Metric("bytes.sent", "counter", {}, T0, T0 + 5, value=1.5)
    g = Metric("temp", "gauge", {"room": "x"}, T0, T0 + 5, value=-21.25, description="Temperature")
    h = Metric(
        "latency", "histogram", {}, T0, T0 + 5, count=4, sum=130.0, min=1.0, max=100.0,
        bounds=(10.0, 50.0), bucket_counts=[2, 1, 1], unit="ms",
    )  # fmt: skip
    msg = roundtrip(protocol, "metrics", [c1, c2, cf, g, h])
    check_envelope(msg, "metrics")
    by_name = {m.name: m for m in metrics(msg)}
    assert set(by_name) == {"jobs.done", "bytes.sent", "temp", "latency"}
    jobs = by_name["jobs.done"]
    assert jobs.unit == "1" and jobs.sum.is_monotonic and jobs.sum.aggregation_temporality == 1
    points = [(attrs(p.attributes), p.as_int, p.start_time_unix_nano, p.time_unix_nano) for p in jobs.sum.data_points]
    assert points == [({"queue": "a"}, 3, T0, T0 + 5), ({"queue": "b"}, 2, T0, T0 + 5)]
    assert by_name["bytes.sent"].sum.data_points[0].as_double == 1.5
    temp = by_name["temp"]
    assert temp.description == "Temperature" and temp.gauge.data_points[0].as_double == -21.25
    hist = by_name["latency"].histogram
    assert hist.aggregation_temporality == 1
    (p,) = hist.data_points
    assert (p.count, p.sum, p.min, p.max) == (4, 130.0, 1.0, 100.0)
    assert list(p.bucket_counts) == [2, 1, 1] and list(p.explicit_bounds) == [10.0, 50.0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_logs_and_errors_become_log_records(protocol: str) -> None:
    log = Log("cache warmed", 9, {"entries": 10}, T0, trace_id=9, span_id=8)
    try:
        raise KeyError("sku")
    except KeyError as exc:
        err = ErrorRecord(exc, {"where": "import"}, T0 + 1)
    err.finalize()
    msg = roundtrip(protocol, "logs", [log, err])
    check_envelope(msg, "logs")
    a, b = log_records(msg)
    assert (a.severity_number, a.severity_text, a.body.string_value) == (9, "INFO", "cache warmed")
    assert a.time_unix_nano == a.observed_time_unix_nano == T0
    assert a.trace_id == (9).to_bytes(16, "big") and a.span_id == (8).to_bytes(8, "big")
    assert attrs(a.attributes) == {"entries": 10, "log.record.uid": "%032x" % log.id}
    assert (b.severity_number, b.severity_text) == (17, "ERROR")
    assert b.body.string_value == "KeyError: 'sku'"
    got = attrs(b.attributes)
    assert got["exception.type"] == "KeyError" and got["where"] == "import"
    assert "Traceback" in got["exception.stacktrace"] and got["log.record.uid"] == "%032x" % err.id
    assert b.trace_id == b""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_events_as_logs_carry_event_name_and_uid(protocol: str) -> None:
    ev = Event("user.login", {"method": "sso"}, T0, trace_id=3, parent_span_id=4)
    assert split_by_signal([ev], "logs") == {"logs": [ev]}
    (rec,) = log_records(roundtrip(protocol, "logs", [ev]))
    assert rec.event_name == "user.login"
    assert attrs(rec.attributes) == {
        "method": "sso", "astrid.record.type": "event", "event.name": "user.login", "log.record.uid": "%032x" % ev.id,
    }  # fmt: skip
    assert rec.trace_id == (3).to_bytes(16, "big") and rec.span_id == (4).to_bytes(8, "big")


def test_records_split_by_signal() -> None:
    ev, sp = Event("e", {}, T0), Span("s", {}, T0, 1, 2)
    m, lg = Metric("m", "gauge", {}, T0, T0), Log("l", 9, {}, T0)
    er = ErrorRecord(None, {}, T0)
    assert split_by_signal([ev, m, sp, lg, er]) == {"traces": [ev, sp], "metrics": [m], "logs": [lg, er]}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_odd_attribute_values_are_encoded_safely(protocol: str) -> None:
    values = {
        "big": 2**70, "neg": -(2**63), "max": 2**63 - 1, "nan": math.nan, "inf": -math.inf, "uni": "ünï €😀",
        "lone": "a\ud800b", "obj": object, "empty": [], "mixed": [1, "a", True, 2.5], "none": None,
    }  # fmt: skip
    (s,) = spans(roundtrip(protocol, "traces", [Event("odd", values, T0)]))
    got = attrs(s.attributes)
    assert got["big"] == str(2**70) and got["neg"] == -(2**63) and got["max"] == 2**63 - 1
    assert math.isnan(got["nan"]) and got["inf"] == -math.inf and got["uni"] == "ünï €😀"
    assert got["lone"].startswith("a") and got["lone"].endswith("b")
    assert got["obj"] == str(object) and got["empty"] == [] and got["mixed"] == [1, "a", True, 2.5]
    assert got["none"] == "None"


def test_protobuf_and_json_decode_to_the_same_message() -> None:
    records = [
        Event("e", {"a": 1, "b": "x", "c": [1.5]}, T0, trace_id=1, parent_span_id=2),
        Span("s", {"k": False}, T0, 3, 4, 5),
        Metric("m", "counter", {"q": "a"}, T0, T0 + 1, value=7),
        Metric("h", "histogram", {}, T0, T0 + 1, count=1, sum=2.0, min=2.0, max=2.0, bounds=(1.0,), bucket_counts=[0, 1]),
        Log("body", 13, {"x": 1}, T0),
    ]
    for signal, group in split_by_signal(records).items():
        assert roundtrip("http/protobuf", signal, group) == roundtrip("http/json", signal, group)


def test_json_uses_camel_case_hex_ids_integer_enums_and_string_int64s() -> None:
    body = otlp_json.encode_traces([Span("s", {"n": 5}, T0, 0xAB, 0xCD)], RESOURCE).decode()
    assert '"traceId":"000000000000000000000000000000ab"' in body
    assert '"spanId":"00000000000000cd"' in body and '"kind":1' in body
    assert f'"startTimeUnixNano":"{T0}"' in body and '"intValue":"5"' in body
    assert "_" not in "".join(k for k in _keys(body))


def _keys(body: str) -> List[str]:
    import json

    out: List[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k != "key":
                    out.append(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(body))
    return out


def test_the_validator_rejects_snake_case_and_bad_ids() -> None:
    good = otlp_json.encode_traces([Span("s", {}, T0, 1, 2)], {})
    with pytest.raises(JsonViolation, match="snake_case"):
        decode("traces", good.replace(b'"traceId"', b'"trace_id"'), "application/json")
    with pytest.raises(JsonViolation, match="hex"):
        decode("traces", good.replace(b'"spanId":"0000000000000002"', b'"spanId":"AAAAAAAAAAI="'), "application/json")
    with pytest.raises(JsonViolation, match="enum"):
        decode("traces", good.replace(b'"kind":1', b'"kind":"SPAN_KIND_INTERNAL"'), "application/json")


@pytest.mark.parametrize("signal,field", [("traces", "rejected_spans"), ("metrics", "rejected_data_points"), ("logs", "rejected_log_records")])
def test_partial_success_responses_are_decoded(signal: str, field: str) -> None:
    from google.protobuf import json_format

    resp = RESPONSES[signal]()
    getattr(resp.partial_success, field).__class__  # noqa: B018 - the field exists
    setattr(resp.partial_success, field, 3)
    resp.partial_success.error_message = "too old"
    assert otlp_proto.decode_partial_success(resp.SerializeToString()) == (3, "too old")
    assert otlp_json.decode_partial_success(json_format.MessageToJson(resp).encode()) == (3, "too old")
    assert otlp_proto.decode_partial_success(b"") is None
    assert otlp_json.decode_partial_success(b"{}") is None
    assert otlp_proto.decode_partial_success(b"\x0a\xff") is None
    assert otlp_json.decode_partial_success(b"not json") is None


_scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
_attr_maps = st.dictionaries(st.text(min_size=1, max_size=10), st.one_of(_scalars, st.lists(_scalars, max_size=3)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(_attr_maps, st.text(max_size=20), st.integers(min_value=0, max_value=2**63))
def test_any_attributes_survive_both_encodings(values: Dict[str, Any], name: str, t: int) -> None:
    values = {k: v for k, v in values.items() if k != "astrid.record.type"}
    ev = Event(name, values, t)
    for protocol in PROTOCOLS:
        (s,) = spans(roundtrip(protocol, "traces", [ev], {}))
        got = attrs(s.attributes)
        got.pop("astrid.record.type")
        assert got == values
        assert s.name == name and s.start_time_unix_nano == t


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_cached_attribute_encodings_keep_types_apart(protocol: str) -> None:
    records = [Event("t", {"a": v}, T0) for v in (True, 1, 1.0, "1", False, 0, 0.0, "")]
    got = [attrs(s.attributes)["a"] for s in spans(roundtrip(protocol, "traces", records * 2))]
    assert [(type(v), v) for v in got] == [(type(v), v) for v in [True, 1, 1.0, "1", False, 0, 0.0, ""] * 2]


# ---------------------------------------------------------------- int subclasses (issue 9, item 15)

import enum  # noqa: E402

from astrid.records import Resource  # noqa: E402


class _OldStyleColor(enum.IntEnum):
    """An IntEnum whose str() is "Color.RED", as every IntEnum's was on Python 3.9 and 3.10."""

    RED = 3
    __str__ = enum.Enum.__str__  # type: ignore[assignment]


class _Odd(int):
    def __str__(self) -> str:
        return "odd"

    __repr__ = __str__


class _Text(str):
    def __str__(self) -> str:
        return "not the value"


class _Ratio(float):
    def __repr__(self) -> str:
        return "ratio"

    __str__ = __repr__


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_int_subclasses_encode_as_int_values(protocol: str) -> None:
    ev = Event("e", {"color": _OldStyleColor.RED, "odd": _Odd(5), "huge": _Odd(2**70), "flag": True,
                     "ratio": _Ratio(0.25)}, T0)
    msg = roundtrip(protocol, "traces", [ev])
    (span,) = spans(msg)
    got = {kv.key: kv.value for kv in span.attributes}
    assert got["color"].WhichOneof("value") == "int_value" and got["color"].int_value == 3
    assert got["odd"].int_value == 5
    assert got["huge"].string_value == str(2**70)
    assert got["flag"].WhichOneof("value") == "bool_value" and got["flag"].bool_value is True
    assert got["ratio"].double_value == 0.25


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_resource_values_are_normalised_like_attributes(protocol: str) -> None:
    resource = Resource({"service.name": _Text("shop"), "tier": _OldStyleColor.RED, "odd": _Odd(7),
                         "ratio": _Ratio(0.5), "on": True, "tags": ("a", _OldStyleColor.RED)})
    assert resource.attributes == {"service.name": "shop", "tier": 3, "odd": 7, "ratio": 0.5, "on": True,
                                   "tags": ["a", 3]}
    assert [type(v) for v in resource.attributes.values()] == [str, int, int, float, bool, list]
    for signal, records in (("traces", [Event("e", {}, T0)]), ("logs", [Log("l", 9, {}, T0)]),
                            ("metrics", [Metric("m", "counter", {}, T0 - 1, T0, value=1)])):
        msg = roundtrip(protocol, signal, records, resource.attributes)
        suffix = {"traces": "spans", "metrics": "metrics", "logs": "logs"}[signal]
        (res,) = getattr(msg, "resource_" + suffix)
        assert attrs(res.resource.attributes)["tier"] == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_encoders_take_a_raw_int_subclass_resource(protocol: str) -> None:
    # a Resource built elsewhere (a custom backend) may still hand the encoder an IntEnum
    msg = roundtrip(protocol, "logs", [Log("l", 9, {}, T0)], {"tier": _OldStyleColor.RED, "odd": _Odd(1)})
    (res,) = msg.resource_logs
    assert attrs(res.resource.attributes) == {"tier": 3, "odd": 1}


def test_client_with_an_int_enum_resource_value_is_accepted_over_otlp_json() -> None:
    import astrid
    from support.faultserver import FaultServer
    from support.otlp import decode_request

    with FaultServer() as server:
        c = astrid.TelemetryClient("shop", endpoint=server.url, protocol="http/json", enabled=True,
                                   resource_attributes={"tier": _OldStyleColor.RED})
        c.track_event("e", {"color": _OldStyleColor.RED})
        assert c.flush(5)
        c.shutdown(2)
        (req,) = server.requests
    msg = decode_request(req)
    (res,) = msg.resource_spans
    assert attrs(res.resource.attributes)["tier"] == 3
    assert attrs(res.scope_spans[0].spans[0].attributes)["color"] == 3


_LOOKALIKES = st.sampled_from([True, False, 1, 0, 1.0, 0.0, -0.0, "1", "x", 2**40, float("nan")])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), _LOOKALIKES, max_size=3), min_size=1, max_size=12))
def test_repeated_event_attribute_sets_keep_their_exact_types(sets: List[Dict[str, Any]]) -> None:
    # equal keys of different types (True == 1 == 1.0, 0.0 == -0.0) must never share an encoding
    events = [Event("e", dict(a), T0 + i) for i, a in enumerate(sets * 2)]
    msg = decode("traces", otlp_proto.encode_traces(events, RESOURCE))
    for event, span in zip(events, spans(msg)):
        got = {k: v for k, v in attrs(span.attributes).items() if k != "astrid.record.type"}
        assert set(got) == set(event.attributes)
        for k, v in event.attributes.items():
            assert type(got[k]) is type(v), (k, v, got[k])
            if isinstance(v, float) and math.isnan(v):
                assert math.isnan(got[k])
            else:
                assert got[k] == v and (not isinstance(v, float) or math.copysign(1, got[k]) == math.copysign(1, v))
