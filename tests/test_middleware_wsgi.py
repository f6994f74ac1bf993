"""The WSGI middleware, served by the stdlib wsgiref server on loopback: one span per request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from hypothesis import given
from hypothesis import strategies as st

import astrid
from astrid.backends.memory import MemoryBackend
from astrid.integrations._web import collapse_path, parse_traceparent, redacted_query
from astrid.integrations.wsgi import TelemetryMiddleware

ROOT = Path(__file__).resolve().parent.parent
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def client():
    backend = MemoryBackend()
    c = astrid.TelemetryClient("web", backend=backend, enabled=True, install_atexit=False)
    c.memory = backend
    yield c
    c.shutdown(timeout=5)


def sent(client):
    assert client.flush(timeout=10)
    return client.memory


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class _QuietServer(WSGIServer):
    def handle_error(self, request, client_address):
        pass


@contextmanager
def serve(app):
    """Serve a WSGI app with wsgiref on an ephemeral loopback port; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_QuietServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def hello(environ, start_response):
    astrid_client = environ["test.client"]
    astrid_client.track_event("inside")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello", b" world"]


def with_client(app, client):
    def inner(environ, start_response):
        environ["test.client"] = client
        return app(environ, start_response)

    return inner


def test_a_request_becomes_one_server_span_with_http_attributes(client):
    with serve(TelemetryMiddleware(with_client(hello, client), client)) as url:
        assert get(url + "/users/42/orders/550e8400-e29b-41d4-a716-446655440000?email=a%40b.example&page=2") \
            == (200, b"hello world")
    mem = sent(client)
    (span,) = mem.spans
    assert span.name == "GET /users/{id}/orders/{id}"
    assert span.kind == 2  # SERVER
    a = span.attributes
    assert a["http.request.method"] == "GET"
    assert a["http.response.status_code"] == 200
    assert a["http.response.body.size"] == len(b"hello world")
    assert a["url.path"] == "/users/{id}/orders/{id}"
    assert a["url.query"] == "email=REDACTED&page=REDACTED"
    assert "http.route" not in a  # a collapsed path is not a framework's route template
    assert span.end_ns > span.start_ns
    assert "a@b.example" not in repr(mem.records) and "a%40b" not in repr(mem.records)
    (event,) = mem.events
    assert (event.trace_id, event.parent_span_id) == (span.trace_id, span.span_id)  # child of the request
    (metric,) = mem.metrics
    assert metric.name == "http.server.request.duration" and metric.unit == "s"


def test_traceparent_joins_the_callers_trace(client):
    with serve(TelemetryMiddleware(with_client(hello, client), client)) as url:
        get(url + "/a", {"traceparent": TRACEPARENT})
        get(url + "/b", {"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"})  # invalid
    spans = {s.name: s for s in sent(client).spans}
    assert spans["GET /a"].trace_id == TRACE_ID
    assert spans["GET /a"].parent_span_id == PARENT_ID
    assert spans["GET /a"].span_id not in (0, PARENT_ID)
    assert spans["GET /b"].trace_id not in (0, TRACE_ID)
    assert spans["GET /b"].parent_span_id == 0


def test_an_app_error_is_recorded_and_still_reaches_the_server(client):
    seen = []

    def boom(environ, start_response):
        raise RuntimeError("database down")

    class Recording(_QuietServer):
        pass

    app = TelemetryMiddleware(boom, client)

    def outer(environ, start_response):
        try:
            return app(environ, start_response)
        except RuntimeError as exc:
            seen.append(exc)
            raise

    with serve(outer) as url:
        status, _ = get(url + "/pay", method="POST")
    assert status == 500  # wsgiref's own error page: the exception reached the server
    assert [str(e) for e in seen] == ["database down"]
    mem = sent(client)
    (span,) = mem.spans
    assert span.name == "POST /pay"
    assert span.status == "error"
    assert span.attributes["error.type"] == "RuntimeError"
    assert span.attributes["http.response.status_code"] == 500
    assert [e.name for e in span.events] == ["exception"]
    (error,) = mem.errors
    assert error.attributes["exception.type"] == "RuntimeError"
    assert (error.trace_id, error.span_id) == (span.trace_id, span.span_id)


def test_a_5xx_answer_marks_the_span_as_an_error_and_4xx_does_not(client):
    def app(environ, start_response):
        code = environ["PATH_INFO"].strip("/")
        start_response(code + " X", [("Content-Type", "text/plain")])
        return [b""]

    with serve(TelemetryMiddleware(app, client)) as url:
        assert get(url + "/503")[0] == 503
        assert get(url + "/404")[0] == 404
    spans = {s.attributes["http.response.status_code"]: s for s in sent(client).spans}
    assert spans[503].status == "error" and spans[503].attributes["error.type"] == "503"
    assert spans[404].status == "unset" and "error.type" not in spans[404].attributes
    assert not client.memory.errors


def test_streamed_body_is_counted_and_its_events_belong_to_the_request(client):
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"head-")  # the legacy write() callable counts too

        def body():
            for i in range(3):
                client.track_event("chunk", {"i": i})
                yield b"x" * 10

        return body()

    with serve(TelemetryMiddleware(app, client)) as url:
        assert get(url + "/stream") == (200, b"head-" + b"x" * 30)
    mem = sent(client)
    (span,) = mem.spans
    assert span.attributes["http.response.body.size"] == 35
    assert {(e.trace_id, e.parent_span_id) for e in mem.events} == {(span.trace_id, span.span_id)}
    assert max(e.time_ns for e in mem.events) <= span.end_ns  # the span covers the whole body


def test_route_named_by_the_app_wins_over_the_collapsed_path(client):
    def app(environ, start_response):
        environ["astrid.route"] = "/users/<name>"
        start_response("200 OK", [])
        return [b"ok"]

    with serve(TelemetryMiddleware(app, client)) as url:
        get(url + "/users/alice")
    (span,) = sent(client).spans
    assert span.name == "GET /users/<name>"
    assert span.attributes["http.route"] == "/users/<name>"


def test_the_span_does_not_leak_into_the_next_request_on_the_same_thread(client):
    app = TelemetryMiddleware(lambda environ, start_response: (start_response("200 OK", []), [b"ok"])[1], client)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "wsgi.url_scheme": "http"}
    body = app(dict(environ), lambda status, headers, exc_info=None: None)
    assert list(body) == [b"ok"]
    body.close()
    client.track_event("after")  # same thread, after the request: not part of its trace
    mem = sent(client)
    (event,) = mem.events
    assert event.trace_id == 0 and event.parent_span_id == 0
    assert len(mem.spans) == 1


def test_close_without_iteration_still_ends_the_span(client):
    app = TelemetryMiddleware(lambda environ, start_response: (start_response("204 No Content", []), [])[1], client)
    body = app({"REQUEST_METHOD": "DELETE", "PATH_INFO": "/items/7"}, lambda s, h, e=None: None)
    body.close()
    body.close()  # a second close is harmless
    (span,) = sent(client).spans
    assert span.name == "DELETE /items/{id}" and span.attributes["http.response.status_code"] == 204


def test_default_client_is_looked_up_per_request_and_no_client_means_no_tracing():
    calls = []

    def app(environ, start_response):
        calls.append(1)
        start_response("200 OK", [])
        return [b"ok"]

    mw = TelemetryMiddleware(app)  # built before init(), as a WSGI module often is
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
    assert list(mw(dict(environ), lambda s, h, e=None: None)) == [b"ok"]  # no default client: plain pass-through
    backend = MemoryBackend()
    astrid.init("web-default", backend=backend, enabled=True, install_atexit=False)
    try:
        list(mw(dict(environ), lambda s, h, e=None: None))
        assert astrid.flush(5)
        assert [s.name for s in backend.spans] == ["GET /"]
    finally:
        astrid.shutdown(5)
    assert len(calls) == 2


def test_disabled_client_and_excluded_paths_pass_straight_through(client):
    off = astrid.TelemetryClient("web-off", backend="memory", enabled=False)
    ok = lambda environ, start_response: (start_response("200 OK", []), [b"ok"])[1]  # noqa: E731
    direct = [b"ok"]
    assert TelemetryMiddleware(lambda e, s: direct, off)({"PATH_INFO": "/"}, None) is direct
    mw = TelemetryMiddleware(ok, client, exclude_paths=["/healthz"])
    assert mw({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}, lambda s, h, e=None: None) == [b"ok"]
    assert sent(client).spans == []
    with pytest.raises(TypeError):
        TelemetryMiddleware(ok, client, exclude_paths="/healthz")
    with pytest.raises(TypeError):
        TelemetryMiddleware(None)  # type: ignore[arg-type]


def test_unknown_methods_are_recorded_as_other(client):
    ok = lambda environ, start_response: (start_response("200 OK", []), [b""])[1]  # noqa: E731
    list(TelemetryMiddleware(ok, client)({"PATH_INFO": "/", "REQUEST_METHOD": "BREW"}, lambda s, h, e=None: None))
    (span,) = sent(client).spans
    assert span.name == "_OTHER /"
    assert span.attributes["http.request.method_original"] == "BREW"


# ------------------------------------------------------------------ real frameworks, when installed

def test_flask_route_template_names_the_span(client):
    flask = pytest.importorskip("flask")
    app = flask.Flask("shop")

    @app.route("/items/<int:item_id>")
    def item(item_id):
        client.track_event("item.viewed")
        return "item %d" % item_id

    app.wsgi_app = TelemetryMiddleware(app.wsgi_app, client)
    with serve(app) as url:
        assert get(url + "/items/17") == (200, b"item 17")
        assert get(url + "/nowhere/17")[0] == 404
    spans = sorted(sent(client).spans, key=lambda s: s.name)
    assert [s.name for s in spans] == ["GET /items/<int:item_id>", "GET /nowhere/{id}"]
    assert spans[0].attributes["http.route"] == "/items/<int:item_id>"
    assert spans[1].attributes["http.response.status_code"] == 404


def test_django_route_template_names_the_span(client):
    pytest.importorskip("django")
    from django.core.wsgi import get_wsgi_application

    from support import django_app

    django_app.setup()
    with serve(TelemetryMiddleware(get_wsgi_application(), client)) as url:
        assert get(url + "/articles/2024/hello/") == (200, b"2024 hello")
    (span,) = sent(client).spans
    assert span.name == "GET " + django_app.ROUTE
    assert span.attributes["http.route"] == django_app.ROUTE


# ------------------------------------------------------------------ the parsing helpers

def test_traceparent_parsing_follows_the_w3c_rules():
    assert parse_traceparent(TRACEPARENT) == (TRACE_ID, PARENT_ID)
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later") == (TRACE_ID, PARENT_ID)
    for bad in ("", None, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"):
        assert parse_traceparent(bad) is None, bad


@given(st.text(max_size=80))
def test_traceparent_parsing_never_raises(value):
    result = parse_traceparent(value)
    assert result is None or (0 < result[0] < 1 << 128 and 0 < result[1] < 1 << 64)


def test_identifiers_in_paths_collapse():
    assert collapse_path("/users/42") == "/users/{id}"
    assert collapse_path("/o/550E8400-E29B-41D4-A716-446655440000/x") == "/o/{id}/x"
    assert collapse_path("/commits/9fceb02d0ae598e95dc970b74767f19372d61af8") == "/commits/{id}"
    assert collapse_path("/objects/507f1f77bcf86cd799439011") == "/objects/{id}"
    assert collapse_path("/t/01ARZ3NDEKTSV4RRFFQ69G5FAV") == "/t/{id}"
    assert collapse_path("/docs/getting-started/") == "/docs/getting-started/"
    assert collapse_path("/cafe/deadbeef") == "/cafe/deadbeef"  # words made of hex letters stay
    assert collapse_path("") == "/"


@given(st.text(max_size=200))
def test_path_collapsing_never_raises_and_is_stable(path):
    once = collapse_path(path)
    assert collapse_path(once) == once


def test_query_values_are_never_kept():
    assert redacted_query("token=abc&x&=y&page=2") == "token=REDACTED&x=REDACTED&=REDACTED&page=REDACTED"


_text = st.text(max_size=60)


@given(path=_text, method=_text, query=_text, traceparent=st.one_of(st.none(), _text))
def test_any_request_is_traced_without_raising_and_without_query_values(path, method, query, traceparent):
    backend = MemoryBackend()
    c = astrid.TelemetryClient("web-fuzz", backend=backend, enabled=True, install_atexit=False)
    try:
        def ok(environ, start_response):
            start_response("200 OK", [])
            return [b"ok"]

        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.url_scheme": "http"}
        if traceparent is not None:
            environ["HTTP_TRACEPARENT"] = traceparent
        body = TelemetryMiddleware(ok, c)(environ, lambda s, h, e=None: None)
        assert list(body) == [b"ok"]
        body.close()
        assert c.flush(5)
        (span,) = backend.spans
        # whatever the query held, what was recorded is names, each followed by a placeholder
        for part in span.attributes.get("url.query", "").split("&"):
            if "=" in part:
                assert part.rsplit("=", 1)[1] == "REDACTED" or part.rsplit("=", 1)[1].startswith("[REDACTED"), part
    finally:
        c.shutdown(1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_prefork_worker_traces_with_the_client_its_parent_created(tmp_path):
    """gunicorn --preload style: the app module (and its client) is loaded, then workers fork."""
    out = tmp_path / "telemetry.jsonl"
    script = textwrap.dedent("""
        import os, sys
        import astrid
        from astrid.integrations.wsgi import TelemetryMiddleware

        def hello(environ, start_response):
            start_response("200 OK", [])
            return [b"hi"]

        astrid.init("prefork", backend="file", path=sys.argv[1], enabled=True, flush_interval=60)
        app = TelemetryMiddleware(hello)
        astrid.track_event("master.started")  # the parent's worker thread is running at fork time
        pid = os.fork()
        if pid == 0:
            body = app({"REQUEST_METHOD": "GET", "PATH_INFO": "/orders/7"}, lambda s, h, e=None: None)
            list(body)
            body.close()
            os._exit(0 if astrid.shutdown(timeout=10) else 3)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status) or (0 if astrid.shutdown(timeout=10) else 4))
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    names = sorted(r["name"] for r in records)
    assert names.count("GET /orders/{id}") == 1 and names.count("master.started") == 1, names


def test_a_span_can_continue_a_remote_trace_and_bad_parents_start_a_new_one(client):
    with client.span("job", remote_parent=(TRACE_ID, PARENT_ID)):
        client.track_event("inside")
    for bad in ((0, PARENT_ID), (TRACE_ID, 0), (1 << 128, PARENT_ID), (TRACE_ID, 1 << 64), ("1", PARENT_ID),
                (True, PARENT_ID), (TRACE_ID,), "00-4bf9", 7):
        with client.span("bad", remote_parent=bad):  # never raises; a malformed parent is ignored
            pass
    mem = sent(client)
    job = next(s for s in mem.spans if s.name == "job")
    assert (job.trace_id, job.parent_span_id) == (TRACE_ID, PARENT_ID)
    (event,) = mem.events
    assert (event.trace_id, event.parent_span_id) == (TRACE_ID, job.span_id)
    bad = [s for s in mem.spans if s.name == "bad"]
    assert len(bad) == 9 and all(s.trace_id != TRACE_ID and s.parent_span_id == 0 for s in bad)
