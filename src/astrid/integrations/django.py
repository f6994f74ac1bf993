"""A Django middleware that names the request's route for the WSGI/ASGI TelemetryMiddleware (no Django import)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable

from ._web import ROUTE_KEY

__all__ = ["route_middleware"]


def _note_route(request: Any) -> None:
    """Copy ``request.resolver_match.route`` (e.g. ``items/<int:pk>/``) where the outer middleware reads it."""
    try:
        route = getattr(getattr(request, "resolver_match", None), "route", None)
        if not isinstance(route, str) or not route:
            return
        route = route if route.startswith("/") else "/" + route
        scope = getattr(request, "scope", None)  # ASGI: the server's scope dict
        if isinstance(scope, dict):
            scope[ROUTE_KEY] = route
        else:  # WSGI: request.META is the server's environ dict
            request.META[ROUTE_KEY] = route
    except Exception:
        pass


def _is_async(fn: Any) -> bool:
    # Django marks an async get_response with asgiref's markcoroutinefunction: inspect sees
    # that on Python 3.12+, the asyncio marker covers the older interpreters
    marker = getattr(asyncio.coroutines, "_is_coroutine", None)
    return inspect.iscoroutinefunction(fn) or (marker is not None and getattr(fn, "_is_coroutine", None) is marker)


def route_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``"astrid.integrations.django.route_middleware"`` to ``MIDDLEWARE`` (sync and async)."""
    if _is_async(get_response):

        async def async_middleware(request: Any) -> Any:
            response = await get_response(request)
            _note_route(request)
            return response

        return async_middleware

    def middleware(request: Any) -> Any:
        response = get_response(request)
        _note_route(request)
        return response

    return middleware


route_middleware.sync_capable = True  # type: ignore[attr-defined]
route_middleware.async_capable = True  # type: ignore[attr-defined]
