"""WSGI middleware: one server span per request (Django, Flask, any WSGI app), stdlib only."""

from __future__ import annotations

import contextvars
import logging
from typing import Any, Callable, Iterable, Iterator, Optional

from ._client import resolve_client
from ._web import ROUTE_KEY, RequestSpan, exact_paths

logger = logging.getLogger("astrid.integrations")

__all__ = ["TelemetryMiddleware"]


def _route(environ: Any) -> Any:
    """The route template the framework left in the environ after the app ran, if any."""
    route = environ.get(ROUTE_KEY)
    if route:
        return route
    request = environ.get("werkzeug.request")  # Flask (Werkzeug) keeps its request here
    if request is not None:
        rule = getattr(request, "url_rule", None)
        if rule is not None:
            return getattr(rule, "rule", None)
    return None


class TelemetryMiddleware:
    """Wrap a WSGI app: each request becomes a span named ``METHOD /route/{template}``.

    ``client``: a TelemetryClient; None uses the default client of ``astrid.init()`` (looked up
    per request, so a client created after a pre-fork server forked is found). The span records
    ``http.request.method``, ``http.route`` (when the framework names the route), ``url.path``
    with identifiers collapsed to ``{id}``, ``url.query`` with every value replaced by
    ``REDACTED``, ``http.response.status_code``, ``http.response.body.size`` and its duration;
    a W3C ``traceparent`` header makes it a child of the caller's span. An exception from the
    app is recorded (span status, ``track_error``) and then raised to the server unchanged.
    """

    def __init__(self, app: Callable[..., Any], client: Any = None, *,
                 exclude_paths: Iterable[str] = (), record_metrics: bool = True) -> None:
        if not callable(app):
            raise TypeError("TelemetryMiddleware needs the WSGI application to wrap (a callable)")
        self.app = app
        self.client = client
        self.exclude_paths = exact_paths(exclude_paths)
        self.record_metrics = bool(record_metrics)

    def __call__(self, environ: Any, start_response: Callable[..., Any]) -> Any:
        try:
            client = resolve_client(self.client)
            path = environ.get("PATH_INFO") or "/"
            if client is None or not client.enabled or path in self.exclude_paths:
                return self.app(environ, start_response)
            req = RequestSpan(client, environ.get("REQUEST_METHOD"), path, environ.get("QUERY_STRING") or "",
                              environ.get("wsgi.url_scheme") or "http", environ.get("HTTP_TRACEPARENT"),
                              self.record_metrics)
        except Exception:
            logger.debug("request not traced", exc_info=True)
            return self.app(environ, start_response)

        # The span is current while the app runs and while its body is produced, in a context of
        # its own so that nothing leaks into the server thread's next request.
        ctx = contextvars.copy_context()

        def counting_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            req.set_status(status)
            # Flask forgets its request when the app returns; while it answers, it still knows it
            route = _route(environ)
            if route:
                environ.setdefault(ROUTE_KEY, route)
            if exc_info is not None:
                write = start_response(status, headers, exc_info)
            else:
                write = start_response(status, headers)

            def counting_write(data: bytes) -> Any:
                req.body_size += len(data)
                return write(data)

            return counting_write

        def call_app() -> Any:
            req.span.__enter__()
            return self.app(environ, counting_start_response)

        try:
            result = ctx.run(call_app)
        except BaseException as exc:
            ctx.run(req.finish, exc, _route(environ))
            raise
        return _ResponseBody(result, req, ctx, environ)


class _ResponseBody:
    """The app's response iterable, counted; the span ends when the body is done or closed."""

    __slots__ = ("_result", "_req", "_ctx", "_environ")

    def __init__(self, result: Any, req: RequestSpan, ctx: contextvars.Context, environ: Any) -> None:
        self._result = result
        self._req = req
        self._ctx = ctx
        self._environ = environ

    def __iter__(self) -> Iterator[bytes]:
        req, ctx = self._req, self._ctx
        try:
            it = ctx.run(iter, self._result)
            while True:
                try:
                    chunk = ctx.run(next, it)
                except StopIteration:
                    break
                req.body_size += len(chunk)
                yield chunk
        except GeneratorExit:
            raise  # the server stopped reading; close() ends the span
        except BaseException as exc:
            self._finish(exc)
            raise
        self._finish(None)

    def _finish(self, exc: Optional[BaseException]) -> None:
        self._ctx.run(self._req.finish, exc, _route(self._environ))

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                self._ctx.run(close)
        finally:
            self._finish(None)
