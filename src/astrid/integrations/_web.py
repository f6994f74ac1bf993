"""What the WSGI and ASGI middleware share: traceparent parsing, route names, the request's span."""

from __future__ import annotations

import logging
import re
from time import perf_counter
from typing import Any, Dict, Iterable, Optional, Tuple

logger = logging.getLogger("astrid.integrations")

SPAN_KIND_SERVER = 2  # OTLP Span.SpanKind.SPAN_KIND_SERVER

#: methods the HTTP semantic conventions name; anything else is recorded as "_OTHER"
KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"))

#: the key an application (or the Django hook) sets in the WSGI environ / ASGI scope to name the route
ROUTE_KEY = "astrid.route"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^(?=[^0-9]*[0-9])[0-9a-fA-F]{8,}$")  # at least 8 hex digits, one of them a digit
_TOKEN = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_-]{20,}$")  # long opaque ids (base64url, ULID)
_MAX_PATH = 512
_MAX_QUERY_KEYS = 20


def parse_traceparent(value: Any) -> Optional[Tuple[int, int]]:
    """(trace_id, parent span id) from a W3C ``traceparent`` header value, or None if it is unusable."""
    if not isinstance(value, str) or len(value) > 512:
        return None
    m = _TRACEPARENT.match(value.strip())
    if m is None:
        return None
    version, trace_hex, span_hex, _flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest):
        return None  # "ff" is forbidden; version 00 has exactly four fields
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id


def collapse_path(path: str) -> str:
    """The path with identifiers (numbers, UUIDs, hex ids, long opaque tokens) replaced by ``{id}``."""
    if not path:
        return "/"
    if len(path) > _MAX_PATH:
        path = path[:_MAX_PATH]
    parts = path.split("/")
    for i, seg in enumerate(parts):
        if not seg:
            continue
        if seg.isdigit():
            parts[i] = "{id}"
        elif len(seg) >= 8 and (_UUID.match(seg) or _HEX.match(seg) or _TOKEN.match(seg)):
            parts[i] = "{id}"  # every other kind of id is at least 8 characters long
    return "/".join(parts)


def redacted_query(query: str) -> str:
    """The query string's parameter names with every value replaced: ``a=REDACTED&b=REDACTED``."""
    keys = []
    for pair in query.split("&"):
        if not pair:
            continue
        key = pair.split("=", 1)[0][:64]
        keys.append(key + "=REDACTED")
        if len(keys) >= _MAX_QUERY_KEYS:
            break
    return "&".join(keys)


def method_name(method: Any) -> str:
    m = str(method or "GET").upper()
    return m if m in KNOWN_METHODS else "_OTHER"


def template(route: Any) -> Optional[str]:
    """A route template given as text, or read from a route object's ``path_format`` / ``rule`` / ``path``."""
    if isinstance(route, str):
        return route or None
    for attr in ("path_format", "rule", "path"):
        value = getattr(route, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def exact_paths(paths: Iterable[str]) -> frozenset:  # type: ignore[type-arg]
    if isinstance(paths, str):
        raise TypeError("exclude_paths must be a list of paths, such as ['/healthz']")
    return frozenset(str(p) for p in paths)


class RequestSpan:
    """The span of one request: opened before the app runs, named and closed when the response is done."""

    __slots__ = ("client", "span", "method", "path", "route", "status", "body_size", "error", "_start", "_done",
                 "record_metrics")

    def __init__(self, client: Any, method: Any, path: str, query: str, scheme: str,
                 traceparent: Any, record_metrics: bool) -> None:
        self.client = client
        self.method = method_name(method)
        self.path = collapse_path(path)
        self.route: Optional[str] = None
        self.status: Optional[int] = None
        self.body_size = 0
        self.error: Optional[BaseException] = None
        self.record_metrics = record_metrics
        self._done = False
        attrs: Dict[str, Any] = {"http.request.method": self.method, "url.path": self.path, "url.scheme": scheme}
        if self.method == "_OTHER":
            attrs["http.request.method_original"] = str(method)[:32]
        if query:
            attrs["url.query"] = redacted_query(query)
        self.span = client.span(self.method + " " + self.path, attrs, remote_parent=parse_traceparent(traceparent))
        record = getattr(self.span, "record", None)
        if record is not None:
            record.kind = SPAN_KIND_SERVER
        self._start = perf_counter()

    def set_status(self, status: Any) -> None:
        try:
            self.status = int(str(status)[:3])
        except (TypeError, ValueError):
            self.status = None

    def finish(self, error: Optional[BaseException] = None, route: Any = None) -> None:
        """Name the span by its route, record status, size and error, end it. Called once; never raises."""
        if self._done:
            return
        self._done = True
        seconds = perf_counter() - self._start
        try:
            self.route = template(route)
            name = self.method + " " + (self.route or self.path)
            span = self.span
            record = getattr(span, "record", None)
            if record is not None:
                record.name = name[:256]
            status = self.status
            if error is not None and status is None:
                status = 500  # what the server answers for an app that raised before responding
            attrs: Dict[str, Any] = {"http.response.body.size": self.body_size}
            if self.route:
                attrs["http.route"] = self.route
            if status is not None:
                attrs["http.response.status_code"] = status
            span.set_attributes(attrs)
            error_type = None
            if error is not None:
                error_type = type(error).__name__
                span.record_exception(error)
                span.set_status("error", error_type)
                if isinstance(error, Exception):  # not a cancelled task or an interpreter exit
                    self.client.track_error(error, {"http.request.method": self.method,
                                                    "http.route": self.route or self.path})
            elif status is not None and status >= 500:
                error_type = str(status)
                span.set_status("error", "HTTP %d" % status)
            if error_type is not None:
                span.set_attribute("error.type", error_type)
            span.end()
            if self.record_metrics:
                labels: Dict[str, Any] = {"http.request.method": self.method, "http.route": self.route or self.path}
                if status is not None:
                    labels["http.response.status_code"] = status
                if error_type is not None:
                    labels["error.type"] = error_type
                self.client.track_metric("http.server.request.duration", seconds, "histogram", labels, "s")
        except Exception:
            logger.debug("could not finish the request span", exc_info=True)
