"""The ASGI middleware, driven by a plain ASGI caller (scope, receive, send) under asyncio."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import astrid
from astrid.backends.memory import MemoryBackend
from astrid.integrations.asgi import TelemetryMiddleware

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


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


def http_scope(path="/", method="GET", query=b"", headers=()):
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
            "root_path": "", "headers": list(headers), "server": ("127.0.0.1", 8000)}


async def drive(app, scope, request_body=b""):
    """Call an ASGI app as a server would; returns the messages it sent."""
    sent_messages = []
    inbox = [{"type": "http.request", "body": request_body, "more_body": False}]

    async def receive():
        if inbox:
            return inbox.pop(0)
        await asyncio.sleep(3600)  # a real server waits for the disconnect

    async def send(message):
        sent_messages.append(message)

    await app(scope, receive, send)
    return sent_messages


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def plain_app(client, status=200, body=b"hello"):
    async def app(scope, receive, send):
        await receive()
        client.track_event("inside")
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    return app


def test_a_request_becomes_one_server_span(client):
    app = TelemetryMiddleware(plain_app(client), client)
    messages = run(drive(app, http_scope("/users/42", query=b"token=s3cret&page=1",
                                         headers=[(b"traceparent", TRACEPARENT)])))
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    mem = sent(client)
    (span,) = mem.spans
    assert span.name == "GET /users/{id}"
    assert span.kind == 2
    assert (span.trace_id, span.parent_span_id) == (TRACE_ID, PARENT_ID)
    a = span.attributes
    assert a["http.response.status_code"] == 200
    assert a["http.response.body.size"] == 5
    # the middleware keeps only the names; the privacy engine then marks a secret-named one its own way
    assert a["url.query"] in ("token=REDACTED&page=REDACTED", "token=[REDACTED:secret]&page=REDACTED")
    assert "s3cret" not in repr(mem.records)
    (event,) = mem.events
    assert (event.trace_id, event.parent_span_id) == (TRACE_ID, span.span_id)


def test_streamed_response_is_counted_to_the_last_chunk(client):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(4):
            client.track_event("chunk", {"i": i})
            await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b"x" * 25, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    messages = run(drive(TelemetryMiddleware(app, client), http_scope("/stream")))
    assert len(messages) == 6
    mem = sent(client)
    (span,) = mem.spans
    assert span.attributes["http.response.body.size"] == 100
    assert len(mem.events) == 4
    assert all(e.parent_span_id == span.span_id for e in mem.events)
    assert max(e.time_ns for e in mem.events) <= span.end_ns


def test_an_error_before_the_response_is_recorded_and_reraised(client):
    async def app(scope, receive, send):
        raise KeyError("missing")

    with pytest.raises(KeyError):
        run(drive(TelemetryMiddleware(app, client), http_scope("/orders", method="POST")))
    mem = sent(client)
    (span,) = mem.spans
    assert span.status == "error"
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "KeyError"
    (error,) = mem.errors
    assert (error.trace_id, error.span_id) == (span.trace_id, span.span_id)


def test_an_error_after_the_response_started_keeps_the_sent_status(client):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"par", "more_body": True})
        raise ConnectionResetError("peer gone")

    with pytest.raises(ConnectionResetError):
        run(drive(TelemetryMiddleware(app, client), http_scope("/download")))
    (span,) = sent(client).spans
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["http.response.body.size"] == 3
    assert span.status == "error" and span.attributes["error.type"] == "ConnectionResetError"


def test_lifespan_passes_through_untouched(client):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})

    async def lifespan():
        inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        out = []

        async def receive():
            return inbox.pop(0)

        async def send(message):
            out.append(message["type"])

        await TelemetryMiddleware(app, client)({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return out

    assert run(lifespan()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert seen == ["lifespan"]
    assert sent(client).records == []


def test_websocket_passes_through_untouched(client):
    async def app(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"].upper()})
        await send({"type": "websocket.close", "code": 1000})

    async def session():
        inbox = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "ping"}]
        out = []

        async def receive():
            return inbox.pop(0)

        async def send(message):
            out.append(message)

        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "path": "/ws", "headers": [], "query_string": b""}
        await TelemetryMiddleware(app, client)(scope, receive, send)
        return out

    out = run(session())
    assert [m["type"] for m in out] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert out[1]["text"] == "PING"
    assert sent(client).records == []


def test_concurrent_requests_each_get_their_own_trace(client):
    async def app(scope, receive, send):
        await asyncio.sleep(0.01)  # interleave the requests
        client.track_event("work", {"path": scope["path"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = TelemetryMiddleware(app, client)

    async def many():
        await asyncio.gather(*(drive(mw, http_scope("/r/%d" % i)) for i in range(10)))

    run(many())
    mem = sent(client)
    assert len(mem.spans) == 10 and len({s.trace_id for s in mem.spans}) == 10
    by_span = {s.span_id: s for s in mem.spans}
    for event in mem.events:
        assert by_span[event.parent_span_id].trace_id == event.trace_id


def test_no_client_disabled_client_and_excluded_paths_pass_through(client):
    calls = []

    async def app(scope, receive, send):
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    run(drive(TelemetryMiddleware(app), http_scope("/a")))  # no default client
    off = astrid.TelemetryClient("web-off", backend="memory", enabled=False)
    run(drive(TelemetryMiddleware(app, off), http_scope("/b")))
    run(drive(TelemetryMiddleware(app, client, exclude_paths=["/healthz"]), http_scope("/healthz")))
    assert calls == ["/a", "/b", "/healthz"]
    assert sent(client).records == []


def test_route_named_in_the_scope_names_the_span(client):
    async def app(scope, receive, send):
        scope["astrid.route"] = "/users/{name}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    run(drive(TelemetryMiddleware(app, client), http_scope("/users/alice")))
    (span,) = sent(client).spans
    assert span.name == "GET /users/{name}" and span.attributes["http.route"] == "/users/{name}"


# ------------------------------------------------------------------ real frameworks, when installed

def test_fastapi_route_template_names_the_span(client):
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        client.track_event("item.viewed")
        return {"id": item_id}

    @app.get("/fail")
    async def fail():
        raise ValueError("bad")

    app.add_middleware(TelemetryMiddleware, client=client)
    messages = run(drive(app, http_scope("/items/5")))
    assert messages[0]["status"] == 200
    with pytest.raises(ValueError):
        run(drive(app, http_scope("/fail")))
    spans = {s.name: s for s in sent(client).spans}
    assert set(spans) == {"GET /items/{item_id}", "GET /fail"}
    assert spans["GET /items/{item_id}"].attributes["http.route"] == "/items/{item_id}"
    assert spans["GET /fail"].status == "error"
    (event,) = client.memory.events
    assert event.parent_span_id == spans["GET /items/{item_id}"].span_id


def test_starlette_mounted_route_gets_its_full_template(client):
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def user(request):
        return PlainTextResponse("user %d" % request.path_params["uid"])

    app = Starlette(routes=[Mount("/api", routes=[Route("/users/{uid:int}", user)])])
    messages = run(drive(TelemetryMiddleware(app, client), http_scope("/api/users/9")))
    assert messages[-1]["body"] == b"user 9"
    run(drive(TelemetryMiddleware(app, client), http_scope("/api/nothing/5")))  # only the Mount matches
    assert sorted(s.name for s in sent(client).spans) == ["GET /api/nothing/{id}", "GET /api/users/{uid}"]


def test_django_asgi_route_template_names_the_span(client):
    pytest.importorskip("django")
    from django.core.asgi import get_asgi_application

    from support import django_app

    django_app.setup()
    app = TelemetryMiddleware(get_asgi_application(), client)
    messages = run(drive(app, http_scope("/articles/2024/hello/", headers=[(b"host", b"testserver")])))
    assert messages[0]["status"] == 200
    (span,) = sent(client).spans
    assert span.name == "GET " + django_app.ROUTE  # named through request.scope by the async route middleware


@settings(max_examples=50, deadline=None)
@given(path=st.text(max_size=60), method=st.text(max_size=12), query=st.binary(max_size=60),
       headers=st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=80)), max_size=5))
def test_any_http_scope_is_traced_without_raising(path, method, query, headers):
    backend = MemoryBackend()
    c = astrid.TelemetryClient("web-fuzz", backend=backend, enabled=True, install_atexit=False)
    try:
        async def ok(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        scope = http_scope(path or "/", method=method, query=query, headers=headers)
        messages = run(drive(TelemetryMiddleware(ok, c), scope))
        assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
        assert c.flush(5)
        (span,) = backend.spans
        assert span.attributes["http.response.status_code"] == 200
    finally:
        c.shutdown(1)
