"""The OTLP backend: configuration precedence, per-signal requests, partial delivery, never raising."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

from astrid.backends.otlp import OTLPBackend
from astrid.config import TelemetryConfig
from astrid.export import Batch, create_backends
from astrid.records import Event, Log, Metric, Resource
from support.faultserver import FaultServer, Reset, Respond, refused_port
from support.otlp import RESPONSES, decode_request, log_records, spans

T0 = 1_795_000_000_000_000_000


def backend(env: Dict[str, str] = {}, config: Dict[str, Any] = {}, **kw: Any) -> OTLPBackend:  # noqa: B006
    cfg = TelemetryConfig.from_options(env=dict(env), project_name="t", **config)
    return OTLPBackend(cfg, **kw)


def mixed_batch() -> Batch:
    return Batch(
        [Event("e1", {}, T0), Log("l1", 9, {}, T0), Metric("m", "counter", {}, T0, T0, value=1), Event("e2", {}, T0)],
        Resource({"service.name": "t"}),
    )


@pytest.fixture()
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


# ------------------------------------------------------------------ configuration


def test_defaults() -> None:
    b = backend()
    assert b.endpoints == {
        "traces": "http://localhost:4318/v1/traces",
        "metrics": "http://localhost:4318/v1/metrics",
        "logs": "http://localhost:4318/v1/logs",
    }
    assert (b.protocol, b.compression, b.events_as, b.name) == ("http/protobuf", "gzip", "spans", "otlp")
    assert b.signals["traces"].headers["Content-Type"] == "application/x-protobuf"
    assert b.signals["traces"].timeout == 10.0


def test_otel_environment_is_honoured() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example:4318/",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://logs.example/custom/path",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%20def,x-tenant=t1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=t2",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "500",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
    }
    b = backend(env)
    assert b.endpoints["traces"] == "https://collector.example:4318/v1/traces"
    assert b.endpoints["logs"] == "https://logs.example/custom/path"  # per-signal URLs are used as they are
    assert b.signals["logs"].headers["api-key"] == "abc def"
    assert b.signals["logs"].headers["x-tenant"] == "t1" and b.signals["traces"].headers["x-tenant"] == "t2"
    assert b.compression == "none" and b.protocol == "http/json"
    assert b.signals["logs"].timeout == 2.5 and b.signals["metrics"].timeout == 0.5
    assert b.signals["traces"].headers["Content-Type"] == "application/json"


def test_constructor_arguments_beat_the_environment() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://env.example", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
           "OTEL_EXPORTER_OTLP_HEADERS": "k=env", "OTEL_EXPORTER_OTLP_TIMEOUT": "100",
           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://env.example/t"}  # fmt: skip
    b = backend(env, endpoint="https://arg.example", protocol="http/protobuf", headers={"k": "arg"},
                timeout=3, compression="none", traces_endpoint="https://arg.example/traces")  # fmt: skip
    assert b.endpoints["metrics"] == "https://arg.example/v1/metrics"
    assert b.endpoints["traces"] == "https://arg.example/traces"
    assert b.protocol == "http/protobuf" and b.signals["logs"].headers["k"] == "arg"
    assert b.signals["logs"].timeout == 3 and b.compression == "none"


def test_client_options_beat_otel_variables_which_beat_astrid_variables() -> None:
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example", "OTEL_EXPORTER_OTLP_TIMEOUT": "4000"}
    astrid = {"ASTRID_ENDPOINT": "https://astrid.example", "ASTRID_TIMEOUT": "7"}
    b = backend({**otel, **astrid})
    assert b.endpoints["traces"] == "https://otel.example/v1/traces" and b.signals["traces"].timeout == 4.0
    b = backend(astrid)
    assert b.endpoints["traces"] == "https://astrid.example/v1/traces" and b.signals["traces"].timeout == 7.0
    b = backend({**otel, **astrid}, config={"endpoint": "https://app.example", "timeout": 1.5})
    assert b.endpoints["traces"] == "https://app.example/v1/traces" and b.signals["traces"].timeout == 1.5
    # a value the application passes wins even when it equals the default
    b = backend(otel, config={"endpoint": "http://localhost:4318", "timeout": 10.0})
    assert b.endpoints["traces"] == "http://localhost:4318/v1/traces" and b.signals["traces"].timeout == 10.0


@pytest.mark.parametrize(
    "kw",
    [{"protocol": "grpc"}, {"compression": "br"}, {"events_as": "metrics"}, {"timeout": 0},
     {"endpoint": "ftp://x"}, {"endpoint": "http://remote.example:4318"}, {"logs_endpoint": "nope"}],
)  # fmt: skip
def test_bad_arguments_raise_value_error(kw: Dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        backend(**kw)


def test_bad_environment_values_are_ignored_with_a_warning(caplog: Any) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://remote.example:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "soon", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}  # fmt: skip
    b = backend(env)
    assert b.endpoints["traces"] == "http://localhost:4318/v1/traces"
    assert (b.protocol, b.compression, b.signals["traces"].timeout) == ("http/protobuf", "gzip", 10.0)
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" in caplog.text


def test_the_registry_builds_it_with_client_options() -> None:
    cfg = TelemetryConfig.from_options(env={}, project_name="t", events_as="logs")
    (b,) = create_backends("otlp", cfg, {"protocol": "http/json"})
    assert isinstance(b, OTLPBackend) and b.protocol == "http/json" and b.events_as == "logs"


def test_repr_hides_credentials() -> None:
    b = backend(endpoint="https://user:pw@collector.example")
    assert "pw" not in repr(b)


# ------------------------------------------------------------------ export


def test_one_request_per_signal(server: FaultServer) -> None:
    b = backend(endpoint=server.url, headers={"Authorization": "Bearer t"})
    assert b.export(mixed_batch(), 5).ok
    assert sorted(r.path for r in server.requests) == ["/v1/logs", "/v1/metrics", "/v1/traces"]
    assert all(r.headers["authorization"] == "Bearer t" for r in server.requests)


def test_events_as_logs_go_to_the_logs_path(server: FaultServer) -> None:
    b = backend(endpoint=server.url, events_as="logs")
    assert b.export(Batch([Event("e", {}, T0)], Resource({})), 5).ok
    (req,) = server.requests
    assert req.path == "/v1/logs" and log_records(decode_request(req))[0].event_name == "e"


def test_delivered_signals_are_reported_in_the_result_when_another_needs_a_retry(server: FaultServer) -> None:
    server.handler = lambda req: Respond(503, {"Retry-After": "2"}) if req.path == "/v1/logs" else None
    b = backend(endpoint=server.url)
    batch = mixed_batch()
    before = list(batch)
    result = b.export(batch, 5)
    assert result.retryable and result.retry_after == 2 and result.reason == "http_503"
    assert list(batch) == before  # the backend never changes the batch
    assert [r.type for r in result.remaining] == ["log"]
    assert result.delivered == len(before) - 1
    server.handler = None
    assert b.export(Batch(result.remaining, batch.resource), 5).ok
    assert [r.path for r in server.requests].count("/v1/traces") == 1


def test_a_permanent_failure_of_one_signal_keeps_only_its_records(server: FaultServer) -> None:
    server.handler = lambda req: Respond(400) if req.path == "/v1/metrics" else None
    batch = mixed_batch()
    result = backend(endpoint=server.url).export(batch, 5)
    assert not result.ok and not result.retryable and result.status == 400
    assert [r.type for r in result.remaining] == ["metric"] and len(batch) == len(mixed_batch())


def test_413_asks_the_pipeline_to_split(server: FaultServer) -> None:
    server.default = Respond(413)
    result = backend(endpoint=server.url).export(Batch([Event("e", {}, T0)] * 2, Resource({})), 5)
    assert result.split


def test_partial_success_counts_rejected_items(server: FaultServer) -> None:
    resp = RESPONSES["logs"]()
    resp.partial_success.rejected_log_records = 1
    server.handler = lambda req: (
        Respond(200, {"Content-Type": "application/x-protobuf"}, resp.SerializeToString())
        if req.path == "/v1/logs" else None
    )  # fmt: skip
    result = backend(endpoint=server.url).export(mixed_batch(), 5)
    assert result.ok and result.rejected == 1


def test_json_partial_success(server: FaultServer) -> None:
    body = b'{"partialSuccess":{"rejectedSpans":"2","errorMessage":"dup"}}'
    server.default = Respond(200, {"Content-Type": "application/json"}, body)
    result = backend(endpoint=server.url, protocol="http/json").export(mixed_batch(), 5)
    assert result.ok and result.rejected == 6  # three signals answered the same


def test_network_faults_become_retry_results() -> None:
    b = backend(endpoint=f"http://127.0.0.1:{refused_port()}")
    result = b.export(mixed_batch(), 2)
    assert result.retryable and result.reason == "connection_refused"


def test_reset_is_a_retry(server: FaultServer) -> None:
    server.script(Reset(), Reset(), Reset())
    result = backend(endpoint=server.url).export(mixed_batch(), 5)
    assert result.retryable and result.reason == "connection_reset"


def test_export_never_raises_even_on_garbage_records(server: FaultServer) -> None:
    class Weird(Event):
        @property  # type: ignore[override]
        def attributes(self) -> Any:
            raise RuntimeError("boom")

    batch = Batch([Weird.__new__(Weird)], Resource({}))
    result = backend(endpoint=server.url).export(batch, 2)
    assert not result.ok and not result.retryable


def test_the_export_timeout_bounds_all_requests(server: FaultServer) -> None:
    server.default = Respond(200, delay=5)
    result = backend(endpoint=server.url).export(mixed_batch(), 0.5)
    # every request would succeed after 5 s: a retryable result means the 0.5 s budget cut them off
    assert result.retryable and not result.ok


def test_spans_sent_once_per_record(server: FaultServer) -> None:
    batch = Batch([Event(f"e{i}", {}, T0) for i in range(100)], Resource({}))
    assert backend(endpoint=server.url).export(batch, 5).ok
    (req,) = server.requests
    assert len({s.span_id for s in spans(decode_request(req))}) == 100
