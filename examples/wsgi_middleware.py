"""Web service: every request a span, with the WSGI middleware, on the standard library's server.

Run the inspector (``astrid inspect``), then ``python examples/wsgi_middleware.py`` and open
http://127.0.0.1:8000/orders/42 a few times; ``--self-test`` makes a few requests itself (one
of them as a downstream call carrying a W3C ``traceparent``) and exits. The same middleware
wraps a Django or Flask app: see docs/frameworks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import astrid
from astrid.integrations.wsgi import TelemetryMiddleware

ORDERS = {"42": {"id": 42, "items": 3}, "43": {"id": 43, "items": 1}}


def app(environ, start_response):
    """A small JSON API: GET /orders/<id>, GET /healthz, and /fail, which raises."""
    path = environ.get("PATH_INFO", "/")
    if path == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    if path == "/fail":
        raise RuntimeError("the payment provider is down")
    if path.startswith("/orders/"):
        environ["astrid.route"] = "/orders/{order_id}"  # name the route, as a framework would
        order = ORDERS.get(path.rsplit("/", 1)[1])
        if order is not None:
            # recorded as a child of the request's span, in the same trace
            astrid.track_event("order.viewed", {"items": order["items"]})
            body = json.dumps(order).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


class QuietHandler(WSGIRequestHandler):
    show_tracebacks = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the console for the example's own output

    def get_stderr(self):  # type: ignore[no-untyped-def]
        # the server prints the app's tracebacks here; the self-test's /fail is on purpose
        return sys.stderr if self.show_tracebacks else io.StringIO()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--self-test", action="store_true", help="make a few requests, then exit")
    args = parser.parse_args()
    # Your own service decides that telemetry is on (DO_NOT_TRACK still wins). The endpoint
    # defaults to the inspector (http://localhost:4318); ASTRID_ENDPOINT changes it.
    astrid.init("example-orders", version="1.0.0", enabled=True)
    service = TelemetryMiddleware(app, exclude_paths=["/healthz"])
    server = make_server("127.0.0.1", 0 if args.self_test else args.port, service, handler_class=QuietHandler)
    url = "http://127.0.0.1:%d" % server.server_port
    if not args.self_test:
        print("Serving", url + "/orders/42", "(Ctrl-C to stop); telemetry goes to the inspector")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    else:
        QuietHandler.show_tracebacks = False
        threading.Thread(target=server.serve_forever, daemon=True).start()
        caller = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
        for path, headers in (("/orders/42", caller), ("/orders/43?coupon=SPRING", {}), ("/orders/99", {}),
                              ("/healthz", {}), ("/fail", {})):
            try:
                with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers), timeout=10) as resp:
                    status = resp.status
            except urllib.error.HTTPError as err:
                status = err.code
            print(path, status)
        server.shutdown()
    server.server_close()
    print("telemetry delivered:", astrid.shutdown(timeout=10))


if __name__ == "__main__":
    main()
