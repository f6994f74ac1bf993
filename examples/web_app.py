"""App developer: product events from a small web app built on http.server.

Run the inspector (``astrid inspect``), then ``python examples/web_app.py`` and open
http://127.0.0.1:8000/ a few times; ``--self-test`` makes a few requests itself and exits.
"""

from __future__ import annotations

import argparse
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import astrid

# Your own service: you decide that telemetry is on (DO_NOT_TRACK still wins). The endpoint
# defaults to the inspector (http://localhost:4318); ASTRID_ENDPOINT or endpoint= change it.
client = astrid.TelemetryClient("example-shop", version="1.0.0", enabled=True)


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with client.span("http.request", {"http.route": self.path}) as span:
            if self.path == "/signup":
                # PII in attributes is redacted by the SDK before it leaves the process
                client.track_event("user.signup", {"email": "someone@example.com", "plan": "free"})
            client.track_event("page.view", {"path": self.path})
            body = b"<h1>Example shop</h1><a href='/signup'>sign up</a>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            span.set_attribute("http.status_code", 200)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the console for the example's own output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--self-test", action="store_true", help="make three requests, then exit")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0 if args.self_test else args.port), Shop)
    url = "http://127.0.0.1:%d" % server.server_address[1]
    if not args.self_test:
        print("Serving", url, "(Ctrl-C to stop); telemetry goes to the inspector")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        for path in ("/", "/pricing", "/signup"):
            with urllib.request.urlopen(url + path, timeout=10) as resp:
                resp.read()
        server.shutdown()
    server.server_close()
    delivered = client.shutdown(timeout=10)
    print("telemetry delivered:", delivered)


if __name__ == "__main__":
    main()
