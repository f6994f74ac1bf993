"""Telemetry records (event, span, metric point, log, error), the resource and id helpers."""

from __future__ import annotations

import math
import platform
import sys
import time
import traceback
from random import getrandbits  # the random module reseeds itself in a forked child
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ._logging import silence as _silence
from ._version import __version__

_silence()  # every module that logs imports this one: no lastResort output on the host

Attributes = Dict[str, Any]

SDK_NAME = "astrid"

#: Log levels and their OpenTelemetry severity numbers.
SEVERITY_NUMBERS: Dict[str, int] = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "notice": 10,
    "warning": 13,
    "warn": 13,
    "error": 17,
    "critical": 21,
    "fatal": 21,
}
#: OTLP's severity table: 1-4 TRACE..TRACE4, 5-8 DEBUG..DEBUG4, 9-12 INFO..INFO4, 13-16 WARN..,
#: 17-20 ERROR.., 21-24 FATAL..FATAL4 (the short names of the OpenTelemetry logs data model).
_SEVERITY_TEXT = {
    base + i: name + (str(i + 1) if i else "")
    for base, name in ((1, "TRACE"), (5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR"), (21, "FATAL"))
    for i in range(4)
}

SPAN_KIND_INTERNAL = 1


def new_id() -> int:
    """A random 128-bit record id (also usable as a trace id)."""
    return getrandbits(128) or 1


def new_span_id() -> int:
    """A random non-zero 64-bit span id."""
    return getrandbits(64) or 1


def hex128(value: int) -> str:
    return "%032x" % value


def hex64(value: int) -> str:
    return "%016x" % value


def rfc3339(time_ns: int) -> str:
    """RFC 3339 UTC timestamp with nanoseconds: ``2026-11-22T10:00:00.123456789Z``."""
    seconds, nanos = divmod(int(time_ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%09dZ" % nanos


def severity_text(number: int) -> str:
    """OTLP's short name of a severity number (``13`` → ``WARN``, ``14`` → ``WARN2``); ``""`` outside 1-24."""
    return _SEVERITY_TEXT.get(number, "")


class Record:
    """Base of every record: an id, a name, a timestamp and attributes."""

    __slots__ = ("id", "name", "time_ns", "attributes")
    type = "record"

    id: int
    name: str
    time_ns: int
    attributes: Attributes

    def to_dict(self) -> Dict[str, Any]:
        """The record in the generic JSON format (docs/http-format.schema.json)."""
        return {
            "id": hex128(self.id),
            "type": self.type,
            "name": self.name,
            "timestamp": rfc3339(self.time_ns),
            "attributes": dict(self.attributes),
        }

    def __repr__(self) -> str:
        return "%s(name=%r, id=%s)" % (type(self).__name__, self.name, hex128(self.id))


class Event(Record):
    """A named product or application event. Exported as a zero-length span (or a log record)."""

    __slots__ = ("trace_id", "parent_span_id")
    type = "event"

    def __init__(
        self,
        name: str,
        attributes: Attributes,
        time_ns: int,
        trace_id: int = 0,
        parent_span_id: int = 0,
        id: Optional[int] = None,
    ) -> None:
        # new_id() inlined: an event is made on the caller's thread for every track_event
        self.id = id if id is not None else (getrandbits(128) or 1)
        self.name = name
        self.time_ns = time_ns
        self.attributes = attributes
        self.trace_id = trace_id
        self.parent_span_id = parent_span_id

    @property
    def span_id(self) -> int:
        """The span id this event has when exported as a span (stable: derived from the id)."""
        return (self.id & 0xFFFFFFFFFFFFFFFF) or 1

    @property
    def effective_trace_id(self) -> int:
        return self.trace_id or self.id

    def to_dict(self) -> Dict[str, Any]:
        d = Record.to_dict(self)
        if self.trace_id:
            d["trace_id"] = hex128(self.trace_id)
            d["parent_span_id"] = hex64(self.parent_span_id) if self.parent_span_id else None
        return d


class SpanEvent:
    """An event inside a span (for example an exception)."""

    __slots__ = ("name", "time_ns", "attributes")

    def __init__(self, name: str, time_ns: int, attributes: Attributes) -> None:
        self.name = name
        self.time_ns = time_ns
        self.attributes = attributes


class Span(Record):
    """A timed operation with a parent/child relation to other spans."""

    __slots__ = (
        "trace_id",
        "span_id",
        "parent_span_id",
        "end_ns",
        "status",
        "status_message",
        "events",
        "kind",
        "pending_exceptions",
    )
    type = "span"

    def __init__(
        self,
        name: str,
        attributes: Attributes,
        start_ns: int,
        trace_id: int,
        span_id: int,
        parent_span_id: int = 0,
        id: Optional[int] = None,
    ) -> None:
        self.id = id if id is not None else new_id()
        self.name = name
        self.time_ns = start_ns
        self.attributes = attributes
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.end_ns = start_ns
        self.status = "unset"  # "unset" | "ok" | "error"
        self.status_message = ""
        self.events: List[SpanEvent] = []
        self.kind = SPAN_KIND_INTERNAL
        #: exceptions seen by the span, formatted into "exception" events on the worker
        self.pending_exceptions: List[Tuple[BaseException, int]] = []

    def finalize(self) -> None:
        pending, self.pending_exceptions = self.pending_exceptions, []
        for exc, when in pending:
            self.events.append(SpanEvent("exception", when, dict(exception_attributes(exc))))

    @property
    def start_ns(self) -> int:
        return self.time_ns

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.time_ns)

    def to_dict(self) -> Dict[str, Any]:
        d = Record.to_dict(self)
        d.update(
            trace_id=hex128(self.trace_id),
            span_id=hex64(self.span_id),
            parent_span_id=hex64(self.parent_span_id) if self.parent_span_id else None,
            end_timestamp=rfc3339(self.end_ns),
            duration_ms=self.duration_ns / 1e6,
            status=self.status,
            status_message=self.status_message,
            events=[
                {"name": e.name, "timestamp": rfc3339(e.time_ns), "attributes": dict(e.attributes)}
                for e in self.events
            ],
        )
        return d


#: OpenTelemetry's default explicit bucket boundaries for histograms.
DEFAULT_HISTOGRAM_BOUNDS: Tuple[float, ...] = (
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
)


class Metric(Record):
    """One aggregated data point: a counter sum, a gauge's last value or a histogram."""

    __slots__ = (
        "metric_type",
        "start_ns",
        "value",
        "count",
        "sum",
        "min",
        "max",
        "bounds",
        "bucket_counts",
        "unit",
        "description",
    )
    type = "metric"

    def __init__(
        self,
        name: str,
        metric_type: str,
        attributes: Attributes,
        start_ns: int,
        time_ns: int,
        value: Union[int, float] = 0,
        count: int = 0,
        sum: float = 0.0,
        min: float = 0.0,
        max: float = 0.0,
        bounds: Tuple[float, ...] = (),
        bucket_counts: Optional[List[int]] = None,
        unit: str = "",
        description: str = "",
        id: Optional[int] = None,
    ) -> None:
        self.id = id if id is not None else new_id()
        self.name = name
        self.metric_type = metric_type  # "counter" | "gauge" | "histogram"
        self.attributes = attributes
        self.start_ns = start_ns
        self.time_ns = time_ns
        self.value = value
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.bounds = bounds
        self.bucket_counts = bucket_counts if bucket_counts is not None else []
        self.unit = unit
        self.description = description

    def to_dict(self) -> Dict[str, Any]:
        d = Record.to_dict(self)
        d["metric_type"] = self.metric_type
        d["start_timestamp"] = rfc3339(self.start_ns)
        if self.unit:
            d["unit"] = self.unit
        if self.metric_type == "histogram":
            d.update(
                count=self.count,
                sum=self.sum,
                min=self.min,
                max=self.max,
                bounds=list(self.bounds),
                bucket_counts=list(self.bucket_counts),
            )
        else:
            d["value"] = self.value
        return d


class Log(Record):
    """A log line with an OpenTelemetry severity."""

    __slots__ = ("severity_number", "severity_text", "body", "trace_id", "span_id")
    type = "log"

    def __init__(
        self,
        body: str,
        severity_number: int,
        attributes: Attributes,
        time_ns: int,
        trace_id: int = 0,
        span_id: int = 0,
        name: str = "log",
        id: Optional[int] = None,
    ) -> None:
        self.id = id if id is not None else new_id()
        self.name = name
        self.time_ns = time_ns
        self.attributes = attributes
        self.body = body
        self.severity_number = severity_number
        self.severity_text = severity_text(severity_number)
        self.trace_id = trace_id
        self.span_id = span_id

    def to_dict(self) -> Dict[str, Any]:
        d = Record.to_dict(self)
        d.update(
            body=self.body,
            severity_number=self.severity_number,
            severity_text=self.severity_text,
        )
        if self.trace_id:
            d["trace_id"] = hex128(self.trace_id)
            d["span_id"] = hex64(self.span_id)
        return d


class ErrorRecord(Log):
    """An exception, exported as a log record with ``exception.*`` attributes.

    The caller only keeps a reference to the exception; ``finalize()`` (on the worker)
    formats type, message and stack trace so the caller never pays for it.
    """

    __slots__ = ("exception",)
    type = "error"

    def __init__(
        self,
        exception: Optional[BaseException],
        attributes: Attributes,
        time_ns: int,
        trace_id: int = 0,
        span_id: int = 0,
        severity_number: int = 17,
        id: Optional[int] = None,
    ) -> None:
        Log.__init__(self, "", severity_number, attributes, time_ns, trace_id, span_id, "exception", id)
        self.exception = exception

    def finalize(self) -> None:
        exc = self.exception
        if exc is None:
            return
        self.exception = None
        attrs = exception_attributes(exc)
        for key, value in attrs.items():
            self.attributes.setdefault(key, value)
        self.name = attrs["exception.type"]
        message = attrs["exception.message"]
        self.body = "%s: %s" % (attrs["exception.type"], message) if message else attrs["exception.type"]


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return "<unprintable %s>" % type(value).__name__


_PLAIN = (str, bool, int, float)


def finite_or(value: Any, default: float = 0.0) -> float:
    """``value`` as a float when it is a finite number; ``default`` for NaN, ±infinity or no number."""
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return f if math.isfinite(f) else default


def plain_value(value: Any) -> Any:
    """An attribute value as the exact type the encoders expect (str, bool, int, float or a list).

    Subclasses (``IntEnum``, ``StrEnum``, a ``float`` subclass) become their plain value: their
    own ``__str__`` would otherwise reach the wire (``Color.RED`` as an intValue on Python
    3.9/3.10). Anything else becomes its string.
    """
    cls = value.__class__
    if cls is str or cls is bool or cls is int or cls is float:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain_value(v) if isinstance(v, _PLAIN) else _safe_str(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return _safe_str(value)


def exception_attributes(exc: BaseException) -> Dict[str, str]:
    """OpenTelemetry semantic-convention attributes for an exception (never raises)."""
    cls = type(exc)
    module = getattr(cls, "__module__", "") or ""
    qualname = getattr(cls, "__qualname__", cls.__name__)
    exc_type = qualname if module in ("builtins", "__main__", "") else "%s.%s" % (module, qualname)
    try:
        stack = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    except Exception:
        stack = "%s: %s" % (exc_type, _safe_str(exc))
    return {
        "exception.type": exc_type,
        "exception.message": _safe_str(exc),
        "exception.stacktrace": stack,
    }


class Resource:
    """The entity that produces telemetry: OpenTelemetry resource attributes."""

    __slots__ = ("attributes",)

    def __init__(self, attributes: Mapping[str, Any]) -> None:
        # normalised like record attributes: an IntEnum or a str subclass goes out as its plain value
        self.attributes: Dict[str, Any] = {
            k if k.__class__ is str else _safe_str(k): plain_value(v) for k, v in attributes.items()
        }

    def __repr__(self) -> str:
        return "Resource(%r)" % (self.attributes,)


def default_resource_attributes(project_name: str, version: Optional[str]) -> Dict[str, Any]:
    """Resource attributes every client has. No host name, IP or user name."""
    attrs: Dict[str, Any] = {
        "service.name": project_name,
        "telemetry.sdk.name": SDK_NAME,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": __version__,
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": platform.python_version(),
        "os.type": _os_type(),
        "host.arch": _host_arch(),
    }
    if version:
        attrs["service.version"] = version
    return attrs


def _os_type() -> str:
    p = sys.platform
    if p.startswith("linux"):
        return "linux"
    if p == "darwin":
        return "darwin"
    if p in ("win32", "cygwin"):
        return "windows"
    if "bsd" in p:
        return p.rstrip("0123456789")
    return p


_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "x86", "i686": "x86"}


def _host_arch() -> str:
    machine = platform.machine().lower()
    return _ARCH.get(machine, machine or "unknown")
