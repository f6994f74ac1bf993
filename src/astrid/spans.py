"""Spans being timed: ActiveSpan (a context manager), the no-op span, the current-span context."""

from __future__ import annotations

from contextvars import ContextVar
from time import time_ns
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional

from .records import Span, SpanEvent

if TYPE_CHECKING:  # pragma: no cover
    from .client import TelemetryClient

#: the span that is current in this thread / task (parent of new spans, events and logs)
_current_span: ContextVar[Optional["ActiveSpan"]] = ContextVar("astrid_current_span", default=None)


class ActiveSpan:
    """A span being timed. Use as a context manager; the exception (if any) still propagates."""

    __slots__ = ("_client", "record", "_token", "_ended")

    def __init__(self, client: "TelemetryClient", record: Span) -> None:
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

    def set_attribute(self, key: str, value: Any) -> "ActiveSpan":
        try:
            self.record.attributes[key] = value
        except Exception:
            pass
        return self

    def set_attributes(self, attributes: Mapping[str, Any]) -> "ActiveSpan":
        try:
            self.record.attributes.update(attributes)
        except Exception:
            pass
        return self

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None) -> "ActiveSpan":
        try:
            self.record.events.append(SpanEvent(str(name), time_ns(), dict(attributes or {})))
        except Exception:
            pass
        return self

    def set_status(self, status: str, message: str = "") -> "ActiveSpan":
        if status in ("ok", "error", "unset"):
            self.record.status = status
            self.record.status_message = str(message) if message else ""
        return self

    def record_exception(self, exc: BaseException) -> "ActiveSpan":
        try:
            self.record.pending_exceptions.append((exc, time_ns()))
        except Exception:
            pass
        return self

    def __enter__(self) -> "ActiveSpan":
        self._token = _current_span.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        try:
            if exc is not None and self.record.status != "error":
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
            self._client._enqueue(self.record)
        except Exception:
            self._client._invalid()


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
