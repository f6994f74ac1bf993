"""Spans being timed: ActiveSpan (a context manager), the no-op span, the current-span context."""

from __future__ import annotations

from contextvars import ContextVar
from time import time_ns
from typing import Any, Callable, Dict, Literal, Mapping, Optional, Protocol, Tuple, TypeVar, cast

from .records import Span, SpanEvent


class SpanOwner(Protocol):
    """What a span needs from the client that started it (TelemetryClient implements it)."""

    def submit_span(self, record: Span) -> None:
        """Take an ended span (a copy) for export."""
        ...

    def note_invalid(self) -> None:
        """Count a call with bad arguments."""
        ...

F = TypeVar("F", bound=Callable[..., Any])

#: the span that is current in this thread / task (parent of new spans, events and logs)
_current_span: ContextVar[Optional["ActiveSpan"]] = ContextVar("astrid_current_span", default=None)


class ActiveSpan:
    """A span being timed. Use as a context manager; the exception (if any) still propagates."""

    __slots__ = ("_client", "record", "_token", "_ended")

    def __init__(self, client: SpanOwner, record: Span) -> None:
        self._client = client
        self.record = record
        self._token: Any = None
        self._ended = False

    @property
    def trace_id(self) -> int:
        return self.record.trace_id

    @property
    def span_id(self) -> int:
        return self.record.span_id

    def _sealed(self) -> bool:
        """After ``end()`` the span is sealed: a change is ignored and counted as invalid."""
        if self._ended:
            try:
                self._client.note_invalid()
            except Exception:
                pass
            return True
        return False

    def set_attribute(self, key: str, value: Any) -> "ActiveSpan":
        try:
            if not self._sealed():
                self.record.attributes[key] = value
        except Exception:
            pass
        return self

    def set_attributes(self, attributes: Mapping[str, Any]) -> "ActiveSpan":
        try:
            if not self._sealed():
                self.record.attributes.update(attributes)
        except Exception:
            pass
        return self

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None) -> "ActiveSpan":
        try:
            if not self._sealed():
                self.record.events.append(SpanEvent(str(name), time_ns(), dict(attributes or {})))
        except Exception:
            pass
        return self

    def set_status(self, status: str, message: str = "") -> "ActiveSpan":
        try:
            if self._sealed():
                return self
            if status.__class__ is str and status in ("ok", "error", "unset"):
                text = message if message.__class__ is str else (str(message) if message else "")
                self.record.status = status
                self.record.status_message = text
            else:
                self._client.note_invalid()
        except Exception:
            pass
        return self

    def record_exception(self, exc: BaseException) -> "ActiveSpan":
        try:
            if not self._sealed():
                self.record.pending_exceptions.append((exc, time_ns()))
        except Exception:
            pass
        return self

    def __enter__(self) -> "ActiveSpan":
        self._token = _current_span.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        try:
            if exc is not None and not self._ended and self.record.status != "error":
                self.record.status = "error"
                self.record.status_message = _type_name(exc)
                self.record.pending_exceptions.append((exc, time_ns()))
        except Exception:
            pass
        self.end()
        return False  # never swallow the caller's exception

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            if self._token is not None:
                try:
                    _current_span.reset(self._token)
                except ValueError:  # ended in another context
                    pass
                self._token = None
            self.record.end_ns = time_ns()
            # the worker gets its own copy: nothing the caller still holds (the record, its
            # attribute dict, its events) is shared with the worker or the export lanes
            self._client.submit_span(_snapshot(self.record))
        except Exception:
            self._client.note_invalid()


def _snapshot(rec: Span) -> Span:
    """A copy of an ended span that shares no mutable object with the caller's record."""
    cls = type(rec)
    slots = _SLOTS.get(cls)
    if slots is None:
        # every slot of the class and its bases, so a field added to Span later is copied too
        names = [s for c in cls.__mro__ for s in getattr(c, "__slots__", ())]
        slots = _SLOTS[cls] = tuple(s for s in names if s != "__weakref__")
    snap = cls.__new__(cls)
    for name in slots:
        try:
            setattr(snap, name, getattr(rec, name))
        except AttributeError:  # a slot never set
            pass
    snap.attributes = dict(rec.attributes)
    snap.events = [SpanEvent(e.name, e.time_ns, dict(e.attributes)) for e in rec.events]
    snap.pending_exceptions = list(rec.pending_exceptions)
    return snap


_SLOTS: Dict[type, Tuple[str, ...]] = {}


class _NoopSpan:
    """What ``span()`` gives when the client is disabled: does nothing, costs nothing."""

    __slots__ = ()
    trace_id = 0
    span_id = 0
    record = None

    def set_attribute(self, key: str, value: Any) -> "_NoopSpan":
        return self

    def set_attributes(self, attributes: Mapping[str, Any]) -> "_NoopSpan":
        return self

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None) -> "_NoopSpan":
        return self

    def set_status(self, status: str, message: str = "") -> "_NoopSpan":
        return self

    def record_exception(self, exc: BaseException) -> "_NoopSpan":
        return self

    def __enter__(self) -> "_NoopSpan":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        return False

    def end(self) -> None:
        return None


NOOP_SPAN = _NoopSpan()


def _type_name(exc: BaseException) -> str:
    return type(exc).__name__


def timed(
    open_span: Callable[[str, Optional[Mapping[str, Any]]], Any],
    name: Optional[str] = None,
    attributes: Optional[Mapping[str, Any]] = None,
) -> Callable[[F], F]:
    """Decorator: every call of the function (sync or async) becomes a span opened by ``open_span``.

    ``TelemetryClient.timed`` passes its own ``span``; ``astrid.timed`` passes the module-level
    ``span``, which looks the default client up at call time.
    """
    import functools
    import inspect

    def decorate(fn: F) -> F:
        span_name: str = name or str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "call"))
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with open_span(span_name, attributes):
                    return await fn(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with open_span(span_name, attributes):
                return fn(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
