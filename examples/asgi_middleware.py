"""Async web service: every request a span, with the ASGI middleware (what FastAPI and Starlette use).

The app is a plain ASGI callable and the server a few lines of asyncio, so the example needs
nothing but the standard library; with uvicorn installed, ``uvicorn asgi_middleware:service``
serves the same object. Run the inspector (``astrid inspect``), then
``python examples/asgi_middleware.py`` and open http://127.0.0.1:8000/reports/7;
``--self-test`` makes a few requests itself, one of them streamed, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.request

import astrid
from astrid.integrations.asgi import TelemetryMiddleware


async def app(scope, receive, send):
    """GET /reports/<id> (JSON), GET /export (a streamed body); anything else is 404."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path.startswith("/reports/"):
        scope["astrid.route"] = "/reports/{report_id}"  # name the route, as a framework would
        astrid.track_event("report.viewed")  # a child of the request's span
        body = json.dumps({"id": path.rsplit("/", 1)[1], "pages": 3}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
    elif path == "/export":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/csv")]})
        for row in range(3):
            await send({"type": "http.response.body", "body": b"row,%d\n" % row, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})


# Your own service decides that telemetry is on (DO_NOT_TRACK still wins). The endpoint
# defaults to the inspector (http://localhost:4318); ASTRID_ENDPOINT changes it.
astrid.init("example-reports", version="1.0.0", enabled=True)
# the object a server runs; without client= it uses the default client, looked up per request
service = TelemetryMiddleware(app)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A minimal HTTP/1.1 server for one request per connection (enough for the example)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    path, _, query = target.partition("?")
    headers = [(k.strip().lower().encode("latin-1"), v.strip().encode("latin-1"))
               for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "root_path": "", "headers": headers, "server": writer.get_extra_info("sockname")[:2]}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            writer.write(b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n" % message["status"])
            for k, v in message.get("headers", []):
                writer.write(k + b": " + v + b"\r\n")
            writer.write(b"\r\n")
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body:
                writer.write(b"%x\r\n%s\r\n" % (len(body), body))
            if not message.get("more_body"):
                writer.write(b"0\r\n\r\n")
        await writer.drain()

    try:
        await service(scope, receive, send)
    finally:
        writer.close()


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return "%d %s" % (resp.status, resp.read().decode())


async def main_async(port: int, self_test: bool) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0 if self_test else port)
    url = "http://127.0.0.1:%d" % server.sockets[0].getsockname()[1]
    async with server:
        if not self_test:
            print("Serving", url + "/reports/7", "(Ctrl-C to stop); telemetry goes to the inspector")
            await server.serve_forever()
        for path in ("/reports/7", "/export", "/missing"):
            try:
                print(path, (await asyncio.to_thread(fetch, url + path)).replace("\n", " ").strip())
            except Exception as exc:  # 404 arrives as an HTTPError
                print(path, exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--self-test", action="store_true", help="make a few requests, then exit")
    args = parser.parse_args()
    try:
        asyncio.run(main_async(args.port, args.self_test))
    except KeyboardInterrupt:
        pass
    print("telemetry delivered:", astrid.shutdown(timeout=10))


if __name__ == "__main__":
    main()
