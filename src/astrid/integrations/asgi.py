"""ASGI middleware: one server span per HTTP request (FastAPI, Starlette, Django ASGI, any ASGI app), stdlib only."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Iterable, MutableMapping, Optional

from ._client import resolve_client
from ._web import ROUTE_KEY, RequestSpan, exact_paths, template

logger = logging.getLogger("astrid.integrations")

__all__ = ["TelemetryMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> Optional[str]:
    for key, value in scope.get("headers") or ():
        if key == name:
            try:
                return bytes(value).decode("latin-1")
            except Exception:
                return None
    return None


def _route(scope: Scope, root_path: str) -> Optional[str]:
    """The route template the framework left in the scope after the app ran, if any."""
    route = scope.get(ROUTE_KEY)
    if route:
        return template(route)
    matched = scope.get("route")  # Starlette and FastAPI store the matched route here
    if matched is None or hasattr(matched, "routes"):
        return None  # nothing, or only a Mount matched (a 404 under it, static files): no template
    path = template(matched)
    if path is None:
        return None
    # a route under a Mount is relative to it; the mount grew root_path by its own prefix
    inner_root = scope.get("root_path") or ""
    if isinstance(inner_root, str) and inner_root.startswith(root_path) and inner_root != root_path:
        path = inner_root[len(root_path):].rstrip("/") + "/" + path.lstrip("/")
    return path


class TelemetryMiddleware:
    """Wrap an ASGI app: each HTTP request becomes a span named ``METHOD /route/{template}``.

    Records what the WSGI middleware records (see ``astrid.integrations.wsgi``); streamed bodies
    are counted until the last chunk. ``lifespan`` and ``websocket`` scopes pass through untouched.
    An exception from the app is recorded and raised to the server unchanged.
    """

    def __init__(self, app: Callable[..., Any], client: Any = None, *,
                 exclude_paths: Iterable[str] = (), record_metrics: bool = True) -> None:
        if not callable(app):
            raise TypeError("TelemetryMiddleware needs the ASGI application to wrap (a callable)")
        self.app = app
        self.client = client
        self.exclude_paths = exact_paths(exclude_paths)
        self.record_metrics = bool(record_metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        try:
            client = resolve_client(self.client)
            path = scope.get("path") or "/"
            if client is None or not client.enabled or path in self.exclude_paths:
                req = None
            else:
                query = scope.get("query_string") or b""
                req = RequestSpan(client, scope.get("method"), path,
                                  query.decode("latin-1") if isinstance(query, bytes) else str(query),
                                  scope.get("scheme") or "http", _header(scope, b"traceparent"), self.record_metrics)
            root_path = str(scope.get("root_path") or "")
        except Exception:
            logger.debug("request not traced", exc_info=True)
            req = None
        if req is None:
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                req.set_status(message.get("status"))
            elif kind == "http.response.body":
                body = message.get("body")
                if body:
                    req.body_size += len(body)
            await send(message)

        req.span.__enter__()  # current for the app's own track_* calls (this task's context only)
        try:
            await self.app(scope, receive, counting_send)
        except BaseException as exc:
            req.finish(exc, _route(scope, root_path))
            raise
        req.finish(None, _route(scope, root_path))
