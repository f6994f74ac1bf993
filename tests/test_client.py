"""TelemetryClient: the public API, argument checks, spans, module-level helpers, fail-safety."""

from __future__ import annotations

import asyncio
import math
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import astrid
from astrid.backends.memory import MemoryBackend


@pytest.fixture
def mem():
    return MemoryBackend()


@pytest.fixture
def client(mem):
    c = astrid.TelemetryClient("test-app", version="1.2.3", backend=mem, enabled=True, flush_interval=0.05)
    yield c
    c.shutdown(2)


def test_track_event_reaches_the_backend_with_attributes(client, mem):
    client.track_event("user.login", {"method": "sso", "n": 3})
    assert client.flush(5)
    (ev,) = mem.events
    assert ev.name == "user.login"
    assert ev.attributes == {"method": "sso", "n": 3}
    assert ev.id and ev.time_ns > 0


def test_attributes_are_copied_at_call_time(client, mem):
    attrs = {"a": 1}
    client.track_event("e", attrs)
    attrs["a"] = 2
    client.flush(5)
    assert mem.events[0].attributes == {"a": 1}


def test_every_record_has_a_unique_id(client, mem):
    for i in range(500):
        client.track_event("e", {"i": i})
        client.track_log("l")
    client.flush(5)
    ids = [r.id for r in mem.records]
    assert len(ids) == 1000 == len(set(ids))


def test_resource_follows_semantic_conventions_and_collects_no_host_identity(client, mem):
    client.track_event("e")
    client.flush(5)
    attrs = mem.resource.attributes
    assert attrs["service.name"] == "test-app"
    assert attrs["service.version"] == "1.2.3"
    assert attrs["telemetry.sdk.name"] == "astrid"
    assert attrs["telemetry.sdk.language"] == "python"
    assert attrs["telemetry.sdk.version"] == astrid.__version__
    for key in ("process.runtime.name", "process.runtime.version", "os.type", "host.arch"):
        assert attrs[key]
    for key in ("host.name", "host.ip", "user.name", "process.owner", "process.pid"):
        assert key not in attrs


def test_resource_merges_otel_variables_and_constructor_attributes(mem):
    env = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=a%20b,service.name=x",
           "OTEL_SERVICE_NAME": "checkout"}
    c = astrid.TelemetryClient("app", backend=mem, enabled=True, env=env,
                               resource_attributes={"team": "core"})
    c.track_event("e")
    c.flush(5)
    attrs = mem.resource.attributes
    assert attrs["deployment.environment"] == "prod"
    assert attrs["service.name"] == "checkout"
    assert attrs["team"] == "core"
    c.shutdown(1)


@pytest.mark.parametrize(
    "level, number, text",
    [("debug", 5, "DEBUG"), ("info", 9, "INFO"), ("warning", 13, "WARN"), ("error", 17, "ERROR"),
     ("critical", 21, "FATAL"), ("WARNING", 13, "WARN")],
)
def test_log_levels_map_to_otel_severity(client, mem, level, number, text):
    client.track_log("cache warmed", level=level, attributes={"k": "v"})
    client.flush(5)
    (log,) = mem.logs
    assert (log.severity_number, log.severity_text, log.body) == (number, text, "cache warmed")


def test_track_error_records_exception_attributes(client, mem):
    try:
        raise KeyError("missing")
    except KeyError as exc:
        client.track_error(exc, {"where": "import"})
    client.flush(5)
    (err,) = mem.errors
    assert err.attributes["exception.type"] == "KeyError"
    assert "missing" in err.attributes["exception.message"]
    assert "Traceback" in err.attributes["exception.stacktrace"]
    assert err.attributes["where"] == "import"
    assert err.severity_number == 17


def test_track_error_without_argument_uses_the_current_exception(client, mem):
    try:
        int("x")
    except ValueError:
        client.track_error()
    client.track_error()  # nothing current: counted as invalid, not raised
    client.flush(5)
    assert [e.attributes["exception.type"] for e in mem.errors] == ["ValueError"]
    assert client.stats()["invalid"] == 1


def test_spans_nest_through_contextvars_and_time_the_block(client, mem):
    with client.span("outer", {"items": 3}) as outer, client.span("inner") as inner:
        inner.set_attribute("k", "v")
        client.track_event("inside")
        client.track_log("log inside")
    client.flush(5)
    spans = {s.name: s for s in mem.spans}
    o, i = spans["outer"], spans["inner"]
    assert i.trace_id == o.trace_id and i.parent_span_id == o.span_id and not o.parent_span_id
    assert o.end_ns >= i.end_ns >= i.start_ns >= o.start_ns
    assert i.attributes == {"k": "v"} and o.attributes == {"items": 3}
    (ev,) = mem.events
    assert ev.trace_id == o.trace_id and ev.parent_span_id == i.span_id
    (log,) = mem.logs
    assert log.span_id == i.span_id
    assert outer.trace_id == o.trace_id


def test_span_marks_error_and_lets_the_exception_propagate(client, mem):
    with pytest.raises(ZeroDivisionError), client.span("boom"):
        1 / 0  # noqa: B018
    client.flush(5)
    (s,) = mem.spans
    assert s.status == "error"
    assert s.events[0].name == "exception"
    assert s.events[0].attributes["exception.type"] == "ZeroDivisionError"


def test_timed_decorator_wraps_sync_and_async_functions(client, mem):
    @client.timed("work")
    def work(x):
        return x * 2

    @client.timed()
    async def awork(x):
        await asyncio.sleep(0)
        return x + 1

    assert work(2) == 4
    assert asyncio.run(awork(1)) == 2
    with pytest.raises(ValueError):
        client.timed("bad")(lambda: int("x"))()
    client.flush(5)
    names = sorted(s.name for s in mem.spans)
    assert names[0] == "bad" and names[2] == "work" and names[1].endswith("awork")


def test_async_tasks_keep_their_own_parent_span(client, mem):
    async def task(n):
        with client.span("task-%d" % n):
            await asyncio.sleep(0.01)
            client.track_event("in-task-%d" % n)

    async def main():
        with client.span("root"):
            await asyncio.gather(task(1), task(2))

    asyncio.run(main())
    client.flush(5)
    spans = {s.name: s for s in mem.spans}
    for n in (1, 2):
        ev = next(e for e in mem.events if e.name == "in-task-%d" % n)
        assert ev.parent_span_id == spans["task-%d" % n].span_id
        assert spans["task-%d" % n].parent_span_id == spans["root"].span_id


def test_events_are_sampled_but_logs_and_errors_are_not(mem):
    c = astrid.TelemetryClient("s", backend=mem, enabled=True, sample_rate=0.0)
    for _ in range(50):
        c.track_event("e")
        c.track_log("l")
    c.track_error(ValueError("x"))
    c.flush(5)
    assert not mem.events and len(mem.logs) == 50 and len(mem.errors) == 1
    assert c.stats()["sampled_out"] == 50
    c.shutdown(1)


def test_before_send_can_drop_or_change_records(mem):
    def hook(rec):
        if rec.name == "secret":
            return None
        rec.attributes["seen"] = True
        return rec

    c = astrid.TelemetryClient("s", backend=mem, enabled=True, before_send=hook)
    c.track_event("secret")
    c.track_event("public")
    c.flush(5)
    assert [(e.name, e.attributes) for e in mem.events] == [("public", {"seen": True})]
    c.shutdown(1)


def test_a_raising_before_send_drops_the_record_and_never_raises(mem):
    c = astrid.TelemetryClient("s", backend=mem, enabled=True, before_send=lambda r: 1 / 0)
    c.track_event("e")
    # the hook's failure drops the record (counted); nothing handed to the backend is pending
    assert c.flush(5) is True
    assert not mem.records and c.stats()["dropped"] == 1
    c.shutdown(1)


def test_metrics_aggregate_per_name_and_attributes(mem):
    # one export interval for the whole test: nothing is collected until flush
    client = astrid.TelemetryClient("agg", backend=mem, enabled=True, flush_interval=600)
    for _ in range(10_000):
        client.track_metric("jobs.done", 1, attributes={"queue": "a"})
    client.track_metric("jobs.done", 5, attributes={"queue": "b"})
    client.track_metric("temp", 20.5, metric_type="gauge")
    client.track_metric("temp", 21.5, metric_type="gauge")
    for v in (1, 7, 30, 30000):
        client.track_metric("latency", v, metric_type="histogram", unit="ms")
    client.flush(5)
    points = {(m.name, tuple(sorted(m.attributes.items()))): m for m in mem.metrics}
    assert len(points) == 4
    assert points[("jobs.done", (("queue", "a"),))].value == 10_000
    assert points[("jobs.done", (("queue", "b"),))].value == 5
    assert points[("temp", ())].value == 21.5
    h = points[("latency", ())]
    assert (h.count, h.sum, h.min, h.max, h.unit) == (4, 30038, 1, 30000, "ms")
    assert sum(h.bucket_counts) == 4 and len(h.bucket_counts) == len(h.bounds) + 1
    assert h.bucket_counts[1] == 1 and h.bucket_counts[-1] == 1
    # a new interval starts empty (delta temporality)
    client.flush(5)
    assert len(mem.metrics) == 4
    client.shutdown(1)


@pytest.mark.parametrize(
    "args",
    [("m", "x"), ("m", float("nan")), ("m", float("inf")), ("m", True), ("m", -1), ("m", 1, "summary"),
     ("", 1), (None, 1)],
)
def test_bad_metric_calls_are_counted_not_raised(client, mem, args):
    client.track_metric(*args)
    client.flush(5)
    assert not mem.metrics
    assert client.stats()["invalid"] == 1


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"project_name": ""}, ValueError),
        ({"project_name": None}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"batch_size": "10"}, TypeError),
        ({"flush_interval": -1}, ValueError),
        ({"max_queue_size": 0}, ValueError),
        ({"compression": "brotli"}, ValueError),
        ({"sample_rate": 1.5}, ValueError),
        ({"sample_rate": float("nan")}, ValueError),
        ({"backend": "nope"}, ValueError),
        ({"backend": 42}, TypeError),
        ({"backend": []}, ValueError),
        ({"enabled": "yes"}, TypeError),
        ({"before_send": 3}, TypeError),
        ({"events_as": "metrics"}, ValueError),
        ({"no_such_option": 1, "backend": "memory"}, TypeError),
        ({"headers": {"a": 1}}, TypeError),
    ],
)
def test_bad_constructor_arguments_raise_clear_errors(kwargs, exc):
    args = {"project_name": "app", "enabled": True, "backend": "memory", **kwargs}
    with pytest.raises(exc) as info:
        astrid.TelemetryClient(**args)
    message = str(info.value)
    key = next(iter(kwargs))
    assert key.split("_")[0] in message or "backend" in message or "option" in message


def test_bad_constructor_arguments_raise_even_when_disabled():
    with pytest.raises(ValueError):
        astrid.TelemetryClient("app", batch_size=0)
    with pytest.raises(TypeError):
        astrid.TelemetryClient("app", backend="memory", no_such_option=1)


def test_environment_fills_options_and_arguments_win(mem):
    env = {"ASTRID_BATCH_SIZE": "7", "ASTRID_FLUSH_INTERVAL": "0.5", "ASTRID_COMPRESSION": "none"}
    c = astrid.TelemetryClient("app", backend=mem, enabled=True, env=env, flush_interval=2.0)
    assert (c.config.batch_size, c.config.flush_interval, c.config.compression) == (7, 2.0, "none")
    c.shutdown(1)


def test_a_bad_environment_value_falls_back_to_the_default(mem):
    c = astrid.TelemetryClient("app", backend=mem, enabled=True, env={"ASTRID_BATCH_SIZE": "many"})
    assert c.config.batch_size == 512
    c.shutdown(1)


def test_defaults_match_the_contract():
    c = astrid.TelemetryClient("app")
    cfg = c.config
    assert (cfg.batch_size, cfg.flush_interval, cfg.max_queue_size, cfg.compression) == (512, 5.0, 20000, "gzip")
    assert cfg.shutdown_timeout == 5.0 and cfg.backend == "otlp" and not c.enabled


def test_client_as_context_manager_shuts_down(mem):
    with astrid.TelemetryClient("app", backend=mem, enabled=True) as c:
        c.track_event("e")
    assert [r.name for r in mem.records] == ["e"]
    c.track_event("after")  # after shutdown: silently ignored
    assert c.shutdown(1)


def test_module_level_api_is_a_no_op_before_init_and_forwards_after(mem):
    astrid.shutdown()
    assert astrid.get_client() is None
    astrid.track_event("nothing")
    astrid.track_metric("nothing", 1)
    astrid.track_log("nothing")
    astrid.track_error(ValueError("x"))
    with astrid.span("nothing"):
        pass
    assert astrid.flush(1) is True
    client = astrid.init("app", backend=mem, enabled=True)
    assert astrid.get_client() is client
    astrid.track_event("hello", {"a": 1})
    astrid.track_metric("m", 2)
    astrid.track_log("log")
    with astrid.span("s"):
        astrid.track_error(RuntimeError("x"))

    @astrid.timed("t")
    def f():
        return 1

    assert f() == 1
    assert astrid.flush(5)
    assert sorted(r.type for r in mem.records) == ["error", "event", "log", "metric", "span", "span"]
    assert astrid.stats()["sent"] == 6
    assert astrid.shutdown(2)
    assert astrid.get_client() is None


def test_public_names_import():
    for name in ("TelemetryClient", "TelemetryConfig", "PrivacyConfig", "PrivacyEngine", "Backend",
                 "Batch", "ExportResult", "register_backend", "ConsentStore"):
        assert callable(getattr(astrid, name)), name  # every public name is a class or a function
    with pytest.raises(AttributeError):
        astrid.no_such_name  # noqa: B018


class Weird:
    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr")

    def __hash__(self):
        raise TypeError("unhashable")


def _recursive():
    d: dict = {}
    d["self"] = d
    lst: list = []
    lst.append(lst)
    d["list"] = lst
    return d


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
    | st.builds(Weird) | st.just(float("nan")) | st.just(10**100) | st.just("x" * 100_000),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=5)
    | st.tuples(children, children),
    max_leaves=20,
)
attributes = st.one_of(
    st.none(),
    st.dictionaries(st.text() | st.integers() | st.none() | st.tuples(st.integers()), values, max_size=8),
    st.just(_recursive()),
    st.just([("a", 1)]),
    st.just(["not", "pairs"]),
    st.builds(Weird),
    st.integers(),
    st.text(),
)
names = st.one_of(st.text(), st.none(), st.integers(), st.just("n" * 10_000), st.builds(Weird), st.binary())


@pytest.fixture(scope="module")
def fuzz_client():
    mem = MemoryBackend(max_records=1000)
    c = astrid.TelemetryClient("fuzz", backend=mem, enabled=True, flush_interval=0.05)
    yield c, mem
    c.shutdown(5)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=names, attrs=attributes, value=values, level=st.one_of(st.text(), st.integers(), st.none()))
def test_public_methods_never_raise_on_arbitrary_input(fuzz_client, name, attrs, value, level):
    c, mem = fuzz_client
    c.track_event(name, attrs)
    c.track_metric(name, value, attributes=attrs)
    c.track_metric(name, value, metric_type=level, attributes=attrs)
    c.track_log(value, level=level, attributes=attrs)
    c.track_error(value, attrs)
    c.track_error(ValueError(value), attrs)
    with c.span(name, attrs) as s:
        s.set_attribute(name, value)
        s.add_event(name, attrs)
        s.set_status(level)
    c.flush(value)
    c.stats()


def test_fuzzed_records_reach_the_backend_as_json_safe_values(fuzz_client):
    import json

    c, mem = fuzz_client
    c.track_event("after-fuzz", {"nan": float("nan"), "nested": {"a": {"b": 1}}, "weird": Weird(), 5: "int key"})
    assert c.flush(10)
    rec = [r for r in mem.records if r.name == "after-fuzz"][-1]
    json.dumps(rec.to_dict(), allow_nan=False)
    assert c.stats()["enqueued"] > 0
    assert sys.getrecursionlimit() > 0
    assert not math.isnan(0.0)


# ---------------------------------------------------------------- silent by default (issue 9, item 11)

import os as _os  # noqa: E402
import subprocess as _subprocess  # noqa: E402
import textwrap as _textwrap  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

from support.faultserver import FaultServer, Respond, refused_port  # noqa: E402

_SRC = str(_Path(__file__).resolve().parent.parent / "src")


def _run_python(code: str, env_extra=None, timeout: float = 60.0) -> "_subprocess.CompletedProcess[str]":
    env = {k: v for k, v in _os.environ.items()
           if not k.startswith(("ASTRID_", "OTEL_")) or k.startswith("ASTRID_TEST_")}
    env.pop("CI", None)
    env["PYTHONPATH"] = _SRC
    env.update(env_extra or {})
    return _subprocess.run([sys.executable, "-c", _textwrap.dedent(code)], env=env, capture_output=True,
                           text=True, timeout=timeout)


_FAILING_PROGRAM = """
    import astrid
    client = astrid.TelemetryClient("host-app", endpoint={url!r}, enabled=True, breaker_threshold=1,
                                    backoff_base=0.01, backoff_max=0.05, flush_interval=0.05)
    for i in range(20):
        client.track_event("e", {{"i": i}})
        client.track_log("line %d" % i, level="error")
    client.flush(0.5)
    client.shutdown(0.5)
    print("done")
"""


def test_failing_endpoint_and_shutdown_print_nothing_on_stderr():
    url = "http://127.0.0.1:%d" % refused_port()
    proc = _run_python(_FAILING_PROGRAM.format(url=url))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert proc.stderr == ""


def test_receiver_html_error_page_is_not_printed_on_stderr():
    page = b"<html><body><h1>502 Bad Gateway</h1>" + b"x" * 2000 + b"</body></html>"
    with FaultServer() as server:
        server.default = Respond(400, headers={"Content-Type": "text/html"}, body=page)
        proc = _run_python(_FAILING_PROGRAM.format(url=server.url))
        assert server.requests, "the program must have reached the receiver"
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_astrid_debug_prints_diagnostics_on_stderr():
    url = "http://127.0.0.1:%d" % refused_port()
    proc = _run_python(_FAILING_PROGRAM.format(url=url), {"ASTRID_DEBUG": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "astrid" in proc.stderr and "connection_refused" in proc.stderr


def test_application_logging_config_still_sees_sdk_warnings():
    url = "http://127.0.0.1:%d" % refused_port()
    proc = _run_python("import logging, sys\nlogging.basicConfig(stream=sys.stderr)\n"
                       + _textwrap.dedent(_FAILING_PROGRAM.format(url=url)))
    assert proc.returncode == 0, proc.stderr
    assert "WARNING:astrid:" in proc.stderr


def test_astrid_logger_has_a_null_handler():
    import logging

    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("astrid").handlers)
    proc = _run_python("import logging, astrid\n"
                       "print(any(isinstance(h, logging.NullHandler) for h in logging.getLogger('astrid').handlers))")
    assert proc.stdout.strip() == "True", proc.stderr


# ---------------------------------------------------------------- numbers and names (issue 9, item 17)


def test_two_backends_of_one_name_keep_separate_stats():
    first, second = MemoryBackend(), MemoryBackend()
    c = astrid.TelemetryClient("two", backend=[first, second], enabled=True)
    for i in range(3):
        c.track_event("e", {"i": i})
    assert c.flush(5)
    stats = c.stats()
    assert set(stats["backends"]) == {"memory", "memory#2"}
    assert stats["backends"]["memory"]["sent"] == 3 and stats["backends"]["memory#2"]["sent"] == 3
    assert len(first.events) == len(second.events) == 3
    c.shutdown(2)


def test_two_otlp_backends_report_their_own_failures():
    with FaultServer() as good, FaultServer() as bad:
        bad.default = Respond(400)
        from astrid.backends.otlp import OTLPBackend

        cfg = astrid.TelemetryConfig.from_options(project_name="two", enabled=True)
        c = astrid.TelemetryClient("two", enabled=True, breaker_threshold=100,
                                   backend=[OTLPBackend(cfg, endpoint=good.url), OTLPBackend(cfg, endpoint=bad.url)])
        c.track_event("e")
        c.flush(5)
        backends = c.stats()["backends"]
        c.shutdown(2)
    assert set(backends) == {"otlp", "otlp#2"}
    assert backends["otlp"]["sent"] == 1 and backends["otlp"]["failed"] == 0
    assert backends["otlp#2"]["sent"] == 0 and backends["otlp#2"]["failed"] == 1


@pytest.mark.parametrize("message", ["disk full", 42])
def test_track_error_with_a_message_reports_a_sensible_type(client, mem, message):
    client.track_error(message, {"where": "import"})
    client.flush(5)
    (err,) = mem.of_type("error")
    assert err.attributes["exception.type"] == "Error"
    assert err.attributes["exception.message"] == str(message)
    assert err.body == "Error: %s" % message
    assert "_MessageError" not in err.attributes["exception.stacktrace"]


def test_module_level_track_error_with_a_message():
    mem = MemoryBackend()
    astrid.init("mod", backend=mem, enabled=True)
    try:
        astrid.track_error("quota exceeded")
        astrid.flush(5)
    finally:
        astrid.shutdown(2)
    (err,) = mem.of_type("error")
    assert err.attributes["exception.type"] == "Error" and err.attributes["exception.type"] != "str"


_OTLP_SEVERITY = {1: "TRACE", 2: "TRACE2", 3: "TRACE3", 4: "TRACE4", 5: "DEBUG", 8: "DEBUG4", 9: "INFO",
                  10: "INFO2", 12: "INFO4", 13: "WARN", 14: "WARN2", 16: "WARN4", 17: "ERROR", 18: "ERROR2",
                  20: "ERROR4", 21: "FATAL", 22: "FATAL2", 24: "FATAL4"}


@pytest.mark.parametrize("number, text", sorted(_OTLP_SEVERITY.items()))
def test_numeric_levels_get_otlp_severity_names(client, mem, number, text):
    client.track_log("m", level=number)
    client.flush(5)
    (log,) = mem.logs
    assert (log.severity_number, log.severity_text) == (number, text)


@pytest.mark.parametrize(
    "level, number, text",
    [("trace", 1, "TRACE"), ("debug", 5, "DEBUG"), ("info", 9, "INFO"), ("warn", 13, "WARN"),
     ("warning", 13, "WARN"), ("error", 17, "ERROR"), ("fatal", 21, "FATAL"), ("critical", 21, "FATAL")],
)
def test_level_names_get_otlp_severity_names(client, mem, level, number, text):
    client.track_log("m", level=level)
    client.flush(5)
    (log,) = mem.logs
    assert (log.severity_number, log.severity_text) == (number, text)


def test_flush_after_shutdown_is_true_when_nothing_is_pending(client, mem):
    client.track_event("e")
    assert client.shutdown(5)
    assert client.flush(1) is True
    assert client.flush() is True
    assert len(mem.events) == 1


def test_flush_after_shutdown_of_an_unused_client_is_true():
    c = astrid.TelemetryClient("idle", backend="memory", enabled=True)
    assert c.shutdown(1)
    assert c.flush(1) is True


# ---------------------------------------------------------------- the environment never breaks the host (issue 9, item 9)

import logging as _logging  # noqa: E402

from astrid import config as _config  # noqa: E402
from astrid.config import TelemetryConfig  # noqa: E402

_DEFAULTS = {f: getattr(TelemetryConfig(project_name="d", env={}), f) for f in TelemetryConfig.option_names()}

_BAD_ENV = [
    ("ASTRID_BATCH_SIZE", "0", "batch_size"),
    ("ASTRID_BATCH_SIZE", "-3", "batch_size"),
    ("ASTRID_BATCH_SIZE", "9" * 5000, "batch_size"),
    ("ASTRID_BATCH_SIZE", "12.5", "batch_size"),
    ("ASTRID_MAX_QUEUE_SIZE", "999999999999", "max_queue_size"),
    ("ASTRID_SAMPLE_RATE", "nan", "sample_rate"),
    ("ASTRID_SAMPLE_RATE", "-0.5", "sample_rate"),
    ("ASTRID_SAMPLE_RATE", "1e400", "sample_rate"),
    ("ASTRID_TIMEOUT", "inf", "timeout"),
    ("ASTRID_TIMEOUT", "ten", "timeout"),
    ("ASTRID_FLUSH_INTERVAL", "0", "flush_interval"),
    ("ASTRID_SHUTDOWN_TIMEOUT", "-1", "shutdown_timeout"),
    ("ASTRID_COMPRESSION", "brotli", "compression"),
    ("ASTRID_COMPRESSION_LEVEL", "11", "compression_level"),
    ("ASTRID_EVENTS_AS", "metrics", "events_as"),
    ("ASTRID_BACKEND", "kafka", "backend"),
    ("ASTRID_ENDPOINT", "http://collector.example:4318", "endpoint"),
    ("ASTRID_ENDPOINT", "ftp://collector.example", "endpoint"),
    ("ASTRID_ENDPOINT", "http://[::1", "endpoint"),
    ("ASTRID_CA_FILE", "/nonexistent/ca.pem", "ca_file"),
    ("ASTRID_CLIENT_CERT", "/nonexistent/cert.pem", "client_cert"),
    ("ASTRID_CLIENT_KEY", "/nonexistent/key.pem", "client_key"),
    ("ASTRID_DEBUG", "sometimes", "debug"),
    ("ASTRID_ALLOW_INSECURE", "perhaps", "allow_insecure"),
    ("ASTRID_HEADERS", "x-api-key=abc%0D%0AInjected: 1", "headers"),
]


@pytest.mark.parametrize("enabled", [True, None], ids=["on", "off"])
@pytest.mark.parametrize("var, value, option", _BAD_ENV, ids=[f"{v}={x[:20]}" for v, x, _ in _BAD_ENV])
def test_an_invalid_environment_value_is_logged_once_and_ignored(monkeypatch, caplog, var, value, option, enabled):
    monkeypatch.setenv(var, value)
    _config._warned.clear()
    caplog.set_level(_logging.WARNING, logger="astrid")
    clients = [astrid.TelemetryClient("env-app", backend="memory" if option != "backend" else None,
                                      enabled=enabled, install_atexit=False) for _ in range(2)]
    for c in clients:
        assert getattr(c.config, option) == _DEFAULTS[option]
        c.track_event("e")
        c.flush(1)
        c.shutdown(1)
    mentions = [r for r in caplog.records if var in r.getMessage()]
    assert len(mentions) == 1, [r.getMessage() for r in caplog.records]
    assert "9" * 100 not in mentions[0].getMessage()  # a huge value is shortened in the log


def test_a_plaintext_remote_endpoint_is_accepted_from_the_environment_with_allow_insecure(monkeypatch):
    monkeypatch.setenv("ASTRID_ENDPOINT", "http://collector.example:4318")
    monkeypatch.setenv("ASTRID_ALLOW_INSECURE", "1")
    c = astrid.TelemetryClient("env-app", enabled=False)
    assert c.config.endpoint == "http://collector.example:4318"


def test_otel_variables_out_of_range_are_ignored(monkeypatch):
    for name, value in [("OTEL_EXPORTER_OTLP_TIMEOUT", "inf"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "1e300"),
                        ("OTEL_EXPORTER_OTLP_TIMEOUT", "nan"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
                        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318"),
                        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%0Ab,ok=1")]:
        monkeypatch.setenv(name, value)
        c = astrid.TelemetryClient("env-app", enabled=True, install_atexit=False)
        (backend,) = c.backends
        for sig in backend.signals.values():
            assert 0 < sig.timeout <= 3600
            assert sig.url.startswith("http://localhost:4318/")
            assert all("\n" not in v for v in sig.headers.values())
        c.shutdown(0.5)
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "kwargs, option",
    [({"batch_size": 0}, "batch_size"), ({"sample_rate": float("nan")}, "sample_rate"),
     ({"compression": "brotli"}, "compression"), ({"endpoint": "http://collector.example:4318"}, "endpoint"),
     ({"headers": {"x": "a\r\nb"}}, "headers"), ({"backend": "kafka"}, "backend"),
     ({"ca_file": "/nonexistent/ca.pem", "enabled": True}, "ca_file")],
)
def test_an_invalid_argument_still_raises_at_construction(kwargs, option):
    with pytest.raises((ValueError, TypeError)) as info:
        c = astrid.TelemetryClient("arg-app", **dict({"enabled": True}, **kwargs))
        c.shutdown(0.1)
    assert option in str(info.value)


def test_the_argument_wins_over_a_bad_environment_value(monkeypatch):
    monkeypatch.setenv("ASTRID_BATCH_SIZE", "0")
    c = astrid.TelemetryClient("arg-app", backend="memory", batch_size=7, enabled=False)
    assert c.config.batch_size == 7


_ENV_NAMES = sorted(
    {f.metadata["env"] for f in __import__("dataclasses").fields(TelemetryConfig) if f.metadata.get("env")}
    - {"ASTRID_SPOOL_DIR", "ASTRID_FILE_PATH"}  # these create files where they point
) + [
    "ASTRID_TELEMETRY", "ENV_PROP_APP_TELEMETRY", "DO_NOT_TRACK", "CI", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
    "XDG_CACHE_HOME", "HOME", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_CERTIFICATE",
]
_NASTY_VALUES = st.sampled_from([
    "", " ", "0", "1", "-1", "nan", "NaN", "inf", "-inf", "1e400", "9" * 400, "true", "false", "yes", "off",
    "otlp", "memory", "console", "clickhouse", "http", "file", "otlp,memory", "logs", "spans", "gzip", "none",
    "http://collector.example:4318", "https://collector.example", "http://127.0.0.1:1", "ftp://x", "http://[::1",
    "/nonexistent/file.pem", "/", "relative/dir", "k=v,k2=%0D%0Ax", "a=%ZZ", "=,=,", "\x00", "\u202e", "é=ü",
    "http/json", "http/protobuf", "grpc", "service.name=x,deployment.environment=prod",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    env=st.dictionaries(
        st.one_of(st.sampled_from(_ENV_NAMES), st.text(min_size=1, max_size=12).map(lambda s: "ASTRID_" + s)),
        st.one_of(_NASTY_VALUES, st.text(max_size=40)),
        max_size=8,
    ),
    enabled=st.sampled_from([True, None]),
)
def test_no_environment_makes_the_client_raise(env, enabled):
    # ASTRID_DEBUG=1 would attach a stderr handler for the rest of the session (tested on its own)
    env = {k: v for k, v in env.items() if k not in ("ASTRID_SPOOL_DIR", "ASTRID_FILE_PATH", "ASTRID_DEBUG")}
    # anything that is not loopback goes to a loopback proxy that refuses: no traffic leaves the machine
    proxy = "http://127.0.0.1:%d" % _REFUSED_PORT
    env.update({"http_proxy": proxy, "https_proxy": proxy})
    for name in ("ASTRID_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):  # nor to a real local collector
        if not env.get(name, "").strip():
            env[name] = "http://127.0.0.1:%d" % _REFUSED_PORT
    c = astrid.TelemetryClient("env-prop-app", enabled=enabled, env=env, install_atexit=False, shutdown_timeout=0.2)
    c.track_event("e", {"k": 1})
    c.track_metric("m", 2)
    c.track_log("l", level="warning")
    c.track_error("boom")
    with c.span("s") as span:
        span.set_attribute("a", "b")
    c.flush(0.05)
    c.stats()
    c.shutdown(0.1)


_REFUSED_PORT = refused_port()


# ---------------------------------------------------------------- spans belong to their client (issue 9, item 16)


def _ids_in(backend):
    """Every trace, span and parent-span id a backend received."""
    out = set()
    for r in backend.records:
        for attr in ("trace_id", "span_id", "parent_span_id"):
            v = getattr(r, attr, 0)
            if v:
                out.add(v)
    return out


def test_a_span_of_another_client_is_never_a_parent():
    mem_a, mem_b = MemoryBackend(), MemoryBackend()
    a = astrid.TelemetryClient("a", backend=mem_a, enabled=True)
    b = astrid.TelemetryClient("b", backend=mem_b, enabled=True)
    with a.span("a.request") as outer:
        b.track_event("b.event")
        b.track_log("b.log")
        b.track_error("b.error")
        with b.span("b.span"):
            b.track_event("b.inner")
    assert a.flush(5) and b.flush(5)
    a_ids = {outer.trace_id, outer.span_id}
    assert not a_ids & _ids_in(mem_b), "client B received client A's ids"
    (b_span,) = mem_b.spans
    assert b_span.parent_span_id == 0 and b_span.trace_id != outer.trace_id
    events = {e.name: e for e in mem_b.events}
    assert events["b.event"].trace_id == 0 and events["b.event"].parent_span_id == 0
    assert (events["b.inner"].trace_id, events["b.inner"].parent_span_id) == (b_span.trace_id, b_span.span_id)
    (log,) = mem_b.logs
    (err,) = mem_b.of_type("error")
    assert log.trace_id == 0 and err.trace_id == 0
    assert [s.name for s in mem_a.spans] == ["a.request"] and not mem_a.events
    a.shutdown(2)
    b.shutdown(2)


def test_the_nearest_own_span_is_the_parent_across_another_clients_span():
    mem_a, mem_b = MemoryBackend(), MemoryBackend()
    a = astrid.TelemetryClient("a", backend=mem_a, enabled=True)
    b = astrid.TelemetryClient("b", backend=mem_b, enabled=True)
    with b.span("b.outer") as b_outer, a.span("a.middle") as a_middle:
        b.track_event("b.event")
        with b.span("b.inner") as b_inner:
            a.track_event("a.event")
    assert a.flush(5) and b.flush(5)
    (ev,) = mem_b.events
    assert (ev.trace_id, ev.parent_span_id) == (b_outer.trace_id, b_outer.span_id)
    inner = next(s for s in mem_b.spans if s.name == "b.inner")
    assert (inner.trace_id, inner.parent_span_id) == (b_outer.trace_id, b_outer.span_id)
    (a_ev,) = mem_a.events
    assert (a_ev.trace_id, a_ev.parent_span_id) == (a_middle.trace_id, a_middle.span_id)
    assert b_inner.span_id not in _ids_in(mem_a) and b_outer.span_id not in _ids_in(mem_a)
    a.shutdown(2)
    b.shutdown(2)


def test_sampling_is_decided_per_trace_from_its_id():
    mem = MemoryBackend()
    rate = 0.5
    c = astrid.TelemetryClient("s", backend=mem, enabled=True, sample_rate=rate, max_queue_size=100_000)
    roots = []
    for i in range(300):
        with c.span("root", {"i": i}) as root:
            roots.append(root.trace_id)
            c.track_event("in.root")
            with c.span("child"):
                c.track_event("in.child")
        c.track_event("alone")
    assert c.flush(10)
    bound = round(rate * 2**64)
    kept = {t for t in roots if t & (2**64 - 1) < bound}
    by_trace = {}
    for r in mem.records:
        by_trace.setdefault(r.trace_id or r.id, []).append(r.name)
    # a trace is kept whole or not at all, and exactly when its id says so
    for t in roots:
        names = sorted(by_trace.get(t, []))
        assert names == (["child", "in.child", "in.root", "root"] if t in kept else []), names
    alone = [r for r in mem.events if r.name == "alone"]
    assert all((r.id & (2**64 - 1)) < bound for r in alone)
    assert 0.3 < len(kept) / len(roots) < 0.7
    stats = c.stats()
    assert stats["sampled_out"] == 4 * (len(roots) - len(kept)) + (300 - len(alone))
    c.shutdown(2)


def test_unsampled_records_are_never_queued():
    mem = MemoryBackend()
    c = astrid.TelemetryClient("s", backend=mem, enabled=True, sample_rate=0.0)
    for _ in range(20):
        with c.span("root"):
            c.track_event("e")
    c.track_log("kept")
    assert c.flush(5)
    stats = c.stats()
    assert stats["enqueued"] == 1 and stats["sampled_out"] == 40
    assert [r.type for r in mem.records] == ["log"]
    c.shutdown(2)


@pytest.mark.parametrize(
    "value, expected",
    [("memory", ["MemoryBackend"]), (" MEMORY ", ["MemoryBackend"]), ("memory,console", ["MemoryBackend", "ConsoleBackend"]),
     ("memory,", ["MemoryBackend"]), (",", ["OTLPBackend"]), ("memory,kafka", ["OTLPBackend"])],
)
def test_astrid_backend_takes_names_in_any_case_separated_by_commas(monkeypatch, value, expected):
    monkeypatch.setenv("ASTRID_BACKEND", value)
    monkeypatch.setenv("ASTRID_ENDPOINT", "http://127.0.0.1:%d" % _REFUSED_PORT)
    c = astrid.TelemetryClient("env-app", enabled=True, install_atexit=False)
    assert [type(b).__name__ for b in c.backends] == expected
    c.shutdown(0.5)
