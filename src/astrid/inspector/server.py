"""The inspector's HTTP server: OTLP/HTTP and generic receivers, the JSON API and the page, on one port."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from .._version import __version__
from ..network import is_loopback
from ..signing import verify_signature
from .ingest import BadRequest, decompress, generic_records, otlp_records, redactions
from .store import Store

logger = logging.getLogger("astrid.inspector")

SIGNALS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


def origin_allowed(origin: str, allowed: Iterable[str] = ()) -> bool:
    """Browser origins that may send to the inspector: loopback pages always, others when listed.

    ``allowed`` holds exact origins (``https://shop.example``) or ``*`` for any origin.
    """
    origin = origin.strip()
    listed = set(allowed)
    if "*" in listed or origin in listed:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        return False
    return is_loopback(parts.hostname)


_PAGE_PATH = Path(__file__).with_name("page.html")
_PLAYGROUND_PATH = Path(__file__).with_name("playground.html")
#: The SDK's browser bundle, built from js-sdk/ and shipped inside the package.
BUNDLE_PATH = Path(__file__).parent / "static" / "astrid.min.js"
# The page is self-contained; the policy makes sure no asset is ever fetched from elsewhere.
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
)
# The playground runs the SDK bundle from this server and lets its forms submit to itself.
_PLAYGROUND_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'self'"
)


class InspectorServer(ThreadingHTTPServer):
    """Holds what every request needs: the store, the limits and the optional signing secret."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: Tuple[str, int],
        store: Store,
        signing_secret: Optional[str] = None,
        max_body: int = 8 * 1024 * 1024,
        max_inflated: int = 64 * 1024 * 1024,
        check_host: bool = True,
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.store = store
        self.allowed_origins = frozenset(o.strip().rstrip("/") for o in allowed_origins if o.strip())
        self.signing_secret = signing_secret
        self.max_body = max_body
        self.max_inflated = max_inflated
        self.check_host = check_host
        self.started = time.time()
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    server: InspectorServer
    protocol_version = "HTTP/1.1"  # keep-alive, as OTLP exporters expect
    timeout = 30  # a stalled client must not hold a thread forever
    server_version = "astrid-inspector/" + __version__

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------ helpers

    def _send(
        self, status: int, body: bytes, ctype: str, extra: Optional[Dict[str, str]] = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, extra: Optional[Dict[str, str]] = None) -> None:
        self._send(status, json.dumps(obj, default=str).encode(), "application/json", extra)

    def _error(self, status: int, reason: str, cors: bool = False) -> None:
        self._json(status, {"error": reason}, self._cors() if cors else None)

    def _origin(self) -> Optional[str]:
        """The request's Origin header when a browser sent one (``None`` for other clients)."""
        origin = self.headers.get("Origin")
        return origin.strip() if origin else None

    def _origin_ok(self) -> bool:
        origin = self._origin()
        return origin is None or origin_allowed(origin, self.server.allowed_origins)

    def _cors(self) -> Dict[str, str]:
        """CORS headers for an allowed browser origin (echoed, never ``*`` with credentials)."""
        origin = self._origin()
        if origin is None or not origin_allowed(origin, self.server.allowed_origins):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def _host_ok(self) -> bool:
        """Refuse other Host names on a loopback server: a web page must not rebind its DNS to us."""
        if not self.server.check_host:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name)

    # ------------------------------------------------------------ GET

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        try:
            self._get()
        except Exception as exc:  # never let one request take the server down
            logger.exception("inspector GET failed")
            self._error(500, f"internal error: {type(exc).__name__}")

    def _get(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/healthz":
            return self._json(200, {"ok": True, "inspector": "astrid", "version": __version__})
        if not self._host_ok():
            return self._error(
                403, f"Host header {self.headers.get('Host')!r} is not a loopback name"
            )
        store = self.server.store
        if url.path in ("/", "/index.html"):
            page = _PAGE_PATH.read_bytes()
            return self._send(
                200, page, "text/html; charset=utf-8", {"Content-Security-Policy": _CSP}
            )
        if url.path == "/api/records":
            try:
                limit = int(q.get("limit", "200"))
                after = int(q.get("after", "0"))
            except ValueError:
                return self._error(400, "limit and after must be integers")
            recs = store.records(q.get("type"), q.get("name"), q.get("service"), limit, after)
            return self._json(200, {"records": recs, "last_seq": recs[0]["seq"] if recs else after})
        if url.path == "/api/stats":
            stats = store.stats()
            stats.update(
                services=store.services(),
                uptime_s=time.time() - self.server.started,
                version=__version__,
            )
            return self._json(200, stats)
        if url.path == "/api/chart":
            try:
                minutes = int(q.get("minutes", "30"))
            except ValueError:
                return self._error(400, "minutes must be an integer")
            return self._json(200, store.chart(minutes))
        if url.path == "/playground":
            return self._playground()
        if url.path == "/playground/sample.csv":
            # something for the playground's download link to fetch
            return self._send(
                200,
                b"event,count\npage.view,1\n",
                "text/csv",
                {"Content-Disposition": 'attachment; filename="sample.csv"'},
            )
        if url.path == "/static/astrid.min.js":
            try:
                bundle = BUNDLE_PATH.read_bytes()
            except OSError:
                return self._error(404, "the SDK bundle is not part of this installation")
            return self._send(200, bundle, "text/javascript; charset=utf-8")
        if url.path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon")
        self._error(404, f"no such page: {url.path}")

    def _playground(self) -> None:
        # The SDK sends to the origin the page was loaded from (a loopback name: checked above).
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]
        page = _PLAYGROUND_PATH.read_text(encoding="utf-8")
        page = page.replace("{{endpoint}}", "http://" + _html_attr(host))
        page = page.replace("{{version}}", __version__)
        self._send(
            200,
            page.encode("utf-8"),
            "text/html; charset=utf-8",
            {"Content-Security-Policy": _PLAYGROUND_CSP},
        )

    # ------------------------------------------------------------ POST

    def do_OPTIONS(self) -> None:
        # Browser SDKs may send to the inspector; the read API stays same-origin only.
        path = urlsplit(self.path).path
        if path not in SIGNALS and path != "/collect":
            return self._error(404, "no such endpoint")
        origin = self._origin()
        if origin is not None and not origin_allowed(origin, self.server.allowed_origins):
            return self._error(403, _origin_refused(origin))
        extra = dict(self._cors(), **_PREFLIGHT)
        if self.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
            # a public page may talk to the loopback inspector only when we say so
            extra["Access-Control-Allow-Private-Network"] = "true"
        self._send(204, b"", "text/plain", extra)

    def do_POST(self) -> None:
        try:
            self._post()
        except Exception as exc:
            logger.exception("inspector POST failed")
            self.close_connection = True
            self._error(500, f"internal error: {type(exc).__name__}", cors=True)

    def _read_body(self) -> Optional[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            self._error(411, "send a Content-Length (chunked bodies are not accepted)", cors=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._error(411, "Content-Length header is missing or not a number", cors=True)
            return None
        if length < 0 or length > self.server.max_body:
            # do not read a body this large: answer and drop the connection
            self.close_connection = True
            self._error(
                413,
                f"body of {length} bytes is over the {self.server.max_body}-byte limit",
                cors=True,
            )
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            self._error(400, f"body ended after {len(body)} of {length} bytes", cors=True)
            return None
        return body

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if path not in SIGNALS and path != "/collect":
            self.close_connection = True
            return self._error(
                404, "POST to /v1/traces, /v1/metrics, /v1/logs or /collect", cors=True
            )
        if not self._origin_ok():
            # a simple (text/plain) request skips the preflight: refuse it here instead
            self.close_connection = True
            self.server.store.count_request("rejected")
            return self._error(403, _origin_refused(self._origin() or ""))
        raw = self._read_body()
        if raw is None:
            self.server.store.count_request("rejected")
            return
        store = self.server.store
        try:
            if path == "/collect" and self.server.signing_secret:
                sig = self.headers.get("X-Astrid-Signature")
                if not sig or not verify_signature(self.server.signing_secret, raw, sig):
                    store.count_request("unauthorized")
                    return self._error(401, "missing or invalid X-Astrid-Signature", cors=True)
            body = decompress(
                raw, self.headers.get("Content-Encoding", ""), self.server.max_inflated
            )
            ctype = self.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip().lower() == "text/plain":
                # navigator.sendBeacon posts text/plain (no preflight); its body is JSON
                ctype = "application/json"
            if path == "/collect":
                records, sdk, resource = generic_records(body)
                if sdk and isinstance(sdk.get("stats"), dict):
                    store.set_sdk_stats(
                        str(resource.get("service.name") or "unknown"), sdk["stats"]
                    )
            else:
                records = otlp_records(SIGNALS[path], body, ctype, time.time_ns())
        except BadRequest as exc:
            store.count_request("rejected")
            return self._error(400, str(exc), cors=True)
        seen: Counter[str] = Counter()
        for r in records:
            seen.update(redactions(r))
        store.add(records, seen)
        store.count_request("accepted")
        if path == "/collect":
            return self._json(200, {"accepted": len(records)}, self._cors())
        if ctype.split(";")[0].strip().lower() == "application/json":
            return self._send(200, b"{}", "application/json", self._cors())
        self._send(200, b"", "application/x-protobuf", self._cors())


_PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Encoding, X-Astrid-Signature",
    "Access-Control-Max-Age": "600",
}


def _origin_refused(origin: str) -> str:
    return (
        f"origin {origin!r} may not send here; loopback pages always may, others when the "
        f"inspector is started with --allow-origin {origin or 'ORIGIN'}"
    )


def _html_attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )
