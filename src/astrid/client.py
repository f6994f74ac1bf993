"""TelemetryClient: argument checks, records, enqueue; span and timed helpers."""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import weakref
from time import time_ns
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from . import consent as _consent
from .aggregation import METRIC_TYPES, MetricAggregator
from .config import TelemetryConfig, parse_headers
from .export import check_backend_options, check_backend_spec, create_backends
from .records import (
    SEVERITY_NUMBERS,
    ErrorRecord,
    Event,
    Log,
    Resource,
    Span,
    _safe_str,
    default_resource_attributes,
    finite_or,
    new_id,
    new_span_id,
)
from .spans import NOOP_SPAN, ActiveSpan, _current_span
from .spans import timed as _timed

logger = logging.getLogger("astrid")

F = TypeVar("F", bound=Callable[..., Any])

MAX_NAME_LENGTH = 256
_NUMBER_TYPES = (int, float)

def _name(value: Any) -> Optional[str]:
    """A usable record name, or None for a bad one (counted, never raised)."""
    if not isinstance(value, str) or not value:
        return None
    return value if len(value) <= MAX_NAME_LENGTH else value[:MAX_NAME_LENGTH]


def _attrs(attributes: Any) -> Dict[Any, Any]:
    if not attributes:
        return {}
    if attributes.__class__ is dict:
        return attributes.copy()  # type: ignore[no-any-return]
    return dict(attributes)


class TelemetryClient:
    """Sends events, metrics, logs, errors and spans through the privacy engine to a backend.

    Every ``track_*`` call only stamps, copies and enqueues; a worker thread does the rest.
    No public method raises into the caller after construction.
    """

    def __init__(
        self,
        project_name: str,
        version: Optional[str] = None,
        backend: Any = None,
        endpoint: Union[str, Sequence[str], None] = None,
        enabled: Optional[bool] = None,
        headers: Optional[Mapping[str, str]] = None,
        batch_size: Optional[int] = None,
        flush_interval: Optional[float] = None,
        max_queue_size: Optional[int] = None,
        compression: Optional[str] = None,
        timeout: Optional[float] = None,
        shutdown_timeout: Optional[float] = None,
        sample_rate: Optional[float] = None,
        resource_attributes: Optional[Mapping[str, Any]] = None,
        before_send: Optional[Callable[[Any], Any]] = None,
        privacy: Any = None,
        events_as: Optional[str] = None,
        spool_dir: Optional[str] = None,
        **options: Any,
    ) -> None:
        env = options.pop("env", None)  # an environment mapping instead of os.environ (tests, embedding)
        known = set(TelemetryConfig.option_names())
        config_opts = {k: v for k, v in options.items() if k in known}
        backend_opts = {k: v for k, v in options.items() if k not in known}
        if isinstance(headers, str):
            headers = parse_headers(headers)
        self.config = TelemetryConfig.from_options(
            project_name=project_name,
            version=version,
            backend=backend,
            endpoint=endpoint,
            enabled=enabled,
            headers=dict(headers) if headers is not None else None,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue_size=max_queue_size,
            compression=compression,
            timeout=timeout,
            shutdown_timeout=shutdown_timeout,
            sample_rate=sample_rate,
            resource_attributes=dict(resource_attributes) if resource_attributes is not None else None,
            before_send=before_send,
            privacy=privacy,
            events_as=events_as,
            spool_dir=spool_dir,
            env=env,
            backend_check=check_backend_spec,
            **config_opts,
        )
        cfg = self.config
        if cfg.debug:
            _enable_debug_logging()
        check_backend_spec(cfg.backend)
        if cfg.privacy is not None:
            _check_privacy(cfg.privacy)
        self._backend_options = backend_opts
        self._lock = threading.Lock()
        _clients.add(self)  # its lock is renewed in a forked child
        self._invalid_count = 0
        # sampling is decided per trace from its id, so every record of a trace follows its root
        self._sample_bound = _sample_bound(cfg.sample_rate)
        self._proc: Any = None
        self._aggregator: Optional[MetricAggregator] = None
        self._privacy: Any = None
        self.decision = _consent.decide(cfg.project_name, cfg.enabled, cfg.env)
        self._enabled = False
        self._closed = False
        if self.decision.enabled:
            self._start_pipeline()
        elif backend_opts:
            check_backend_options(cfg.backend, backend_opts)
        logger.debug("astrid client %r: telemetry %s (%s)", cfg.project_name,
                     "on" if self._enabled else "off", self.decision.reason)

    # ---------------------------------------------------------------- set-up

    def _start_pipeline(self) -> None:
        from .pipeline import BatchProcessor

        cfg = self.config
        backends = create_backends(cfg.backend, cfg, self._backend_options)
        self._privacy = _make_privacy(cfg)
        resource = _resource_attributes(cfg)
        if self._privacy is not None:
            # once, here: OTEL_RESOURCE_ATTRIBUTES and resource_attributes pass the engine too
            resource = self._privacy.sanitize_attributes(resource)
        self.resource = Resource(resource)
        self._aggregator = MetricAggregator(cfg.max_metric_series)
        self._proc = BatchProcessor(cfg, backends, self.resource, self._privacy, self._aggregator)
        self._enabled = True

    @property
    def enabled(self) -> bool:
        """Is telemetry on for this client (decided once, at construction or by set_consent)?"""
        return self._enabled

    @property
    def backends(self) -> list:  # type: ignore[type-arg]
        return list(self._proc.backends) if self._proc is not None else []

    def set_consent(self, granted: bool) -> bool:
        """Store the end user's choice for this project and apply it now. Returns ``enabled``."""
        try:
            _consent.ConsentStore(self.config.env).set(self.config.project_name, bool(granted))
        except Exception:
            logger.warning("could not store the telemetry consent", exc_info=True)
        try:
            proc = None
            with self._lock:
                self.decision = _consent.decide(self.config.project_name, self.config.enabled, self.config.env)
                if self.decision.enabled and not self._enabled and not self._closed:
                    self._start_pipeline()
                elif not self.decision.enabled and self._enabled:
                    # consent withdrawn: nothing more leaves, queued records included
                    self._enabled = False
                    proc, self._proc = self._proc, None
            if proc is not None:  # outside the lock: stopping may log, and a log handler may call us
                proc.queue.clear()
                proc.shutdown(0.0)
        except Exception:
            logger.debug("set_consent failed", exc_info=True)
        return self._enabled

    # ---------------------------------------------------------------- tracking

    def _enqueue(self, record: Any) -> None:
        proc = self._proc
        if proc is not None:
            bound = self._sample_bound
            if bound is not None and record.type == "span" and (record.trace_id & _MASK64) >= bound:
                proc.sampled_out += 1  # a span follows its trace's sampling decision
                return
            proc.enqueue(record)

    def _invalid(self) -> None:
        self._invalid_count += 1
        logger.debug("dropped a record with bad arguments", exc_info=sys.exc_info()[0] is not None)

    # what an ActiveSpan calls (spans.py knows the client only by these two public methods)

    def submit_span(self, record: Span) -> None:
        """Hand an ended span (a copy the caller no longer holds) to the pipeline."""
        self._enqueue(record)

    def note_invalid(self) -> None:
        """Count a call with bad arguments (a change to an ended span, a bad status)."""
        self._invalid()

    def track_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None) -> None:
        """Record a named event with attributes. Never raises, never blocks."""
        if not self._enabled:
            return
        try:
            if name.__class__ is not str or not name or len(name) > MAX_NAME_LENGTH:
                name = _name(name)  # type: ignore[assignment]
                if name is None:
                    return self._invalid()
            # _attrs() inlined: this is the hot path, and a Python call costs as much as the copy
            if not attributes:
                attrs = {}
            elif attributes.__class__ is dict:
                attrs = attributes.copy()
            else:
                attrs = dict(attributes)
            parent = _current_span.get()
            if parent is not None and parent._client is not self:
                parent = _own_span(self, parent)  # another client's span is not our parent
            if parent is None:
                ev = Event(name, attrs, time_ns())
            else:
                rec = parent.record
                ev = Event(name, attrs, time_ns(), rec.trace_id, rec.span_id)
            bound = self._sample_bound
            if bound is not None and ((ev.trace_id or ev.id) & _MASK64) >= bound:
                self._proc.sampled_out += 1  # the trace was not sampled: never queued
                return None
            self._proc.enqueue(ev)
        except Exception:
            self._invalid()

    def track_metric(
        self,
        name: str,
        value: Union[int, float] = 1,
        metric_type: str = "counter",
        attributes: Optional[Mapping[str, Any]] = None,
        unit: str = "",
    ) -> None:
        """Add a measurement; points are aggregated per name+attributes and export interval."""
        if not self._enabled:
            return
        try:
            name = _name(name)  # type: ignore[assignment]
            if (
                name is None
                or metric_type not in METRIC_TYPES
                or value.__class__ not in _NUMBER_TYPES
                and (isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES))
            ):
                return self._invalid()
            if isinstance(value, float) and not math.isfinite(value):
                return self._invalid()
            if metric_type == "counter" and value < 0:
                return self._invalid()  # counters only go up (use a gauge)
            proc = self._proc
            # the processor's aggregator, not one kept here: a forked child gets a fresh one
            agg = proc.aggregator if proc is not None else None
            if agg is not None and agg.record(name, value, metric_type, _attrs(attributes), unit if isinstance(unit, str) else ""):
                proc = self._proc
                if proc is not None and proc.worker is None:
                    proc._start()
        except Exception:
            self._invalid()

    def track_log(
        self, message: str, level: Union[str, int] = "info", attributes: Optional[Mapping[str, Any]] = None
    ) -> None:
        """Record a log line (levels debug/info/warning/error/critical map to OTel severities)."""
        if not self._enabled:
            return
        try:
            if isinstance(level, str):
                severity = SEVERITY_NUMBERS.get(level.lower(), 9)
            elif isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 24:
                severity = level
            else:
                severity = 9
            body = message if message.__class__ is str else _safe_str(message)
            parent = _current_span.get()
            if parent is not None and parent._client is not self:
                parent = _own_span(self, parent)
            if parent is None:
                rec = Log(body, severity, _attrs(attributes), time_ns())
            else:
                rec = Log(body, severity, _attrs(attributes), time_ns(), parent.record.trace_id, parent.record.span_id)
            self._proc.enqueue(rec)
        except Exception:
            self._invalid()

    def track_error(
        self, error: Optional[BaseException] = None, attributes: Optional[Mapping[str, Any]] = None
    ) -> None:
        """Record an exception (the current one when ``error`` is None) with exception.* attributes."""
        if not self._enabled:
            return
        try:
            if error is None:
                error = sys.exc_info()[1]
                if error is None:
                    return self._invalid()
            elif not isinstance(error, BaseException):
                error = _MessageError(_safe_str(error))
            parent = _current_span.get()
            if parent is not None and parent._client is not self:
                parent = _own_span(self, parent)
            trace_id = parent.record.trace_id if parent is not None else 0
            span_id = parent.record.span_id if parent is not None else 0
            self._proc.enqueue(ErrorRecord(error, _attrs(attributes), time_ns(), trace_id, span_id))
        except Exception:
            self._invalid()

    def span(
        self,
        name: str,
        attributes: Optional[Mapping[str, Any]] = None,
        *,
        remote_parent: Optional[Tuple[int, int]] = None,
    ) -> Any:
        """A context manager that times a block as a span (child of the current span, if any).

        ``remote_parent=(trace_id, span_id)`` continues a trace started in another process (as
        read from a W3C ``traceparent`` header); it takes the place of the current span.
        """
        if not self._enabled:
            return NOOP_SPAN
        try:
            name = _name(name)  # type: ignore[assignment]
            if name is None:
                self._invalid()
                return NOOP_SPAN
            if remote_parent is not None:
                remote = _remote_ids(remote_parent)
                if remote is not None:  # a malformed parent starts a new trace instead
                    rec = Span(name, _attrs(attributes), time_ns(), remote[0], new_span_id(), remote[1])
                    return ActiveSpan(self, rec)
            parent = _current_span.get()
            if parent is not None and parent._client is not self:
                parent = _own_span(self, parent)
            if parent is None:
                rec = Span(name, _attrs(attributes), time_ns(), new_id(), new_span_id())
            else:
                p = parent.record
                rec = Span(name, _attrs(attributes), time_ns(), p.trace_id, new_span_id(), p.span_id)
            return ActiveSpan(self, rec)
        except Exception:
            self._invalid()
            return NOOP_SPAN

    def timed(self, name: Optional[str] = None, attributes: Optional[Mapping[str, Any]] = None) -> Callable[[F], F]:
        """Decorator: every call of the function (sync or async) becomes a span."""
        return _timed(self.span, name, attributes)

    # ---------------------------------------------------------------- delivery

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Export everything tracked so far. True when all of it was delivered within ``timeout``."""
        proc = self._proc
        if proc is None:
            return True
        try:
            return bool(proc.flush(self.config.shutdown_timeout if timeout is None else _seconds(timeout)))
        except Exception:
            logger.debug("flush failed", exc_info=True)
            return False

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Flush, then stop the worker and close backends. Idempotent; honours ``timeout``."""
        self._closed = True
        proc = self._proc
        self._enabled = False
        if proc is None:
            return True
        try:
            return bool(proc.shutdown(self.config.shutdown_timeout if timeout is None else _seconds(timeout)))
        except Exception:
            logger.debug("shutdown failed", exc_info=True)
            return False

    close = shutdown

    def stats(self) -> Dict[str, Any]:
        """Counters: queued, sent, dropped, failed, retries, breaker, failures_by_reason, privacy, …"""
        try:
            if self._proc is not None:
                out: Dict[str, Any] = self._proc.stats()
            else:
                out = {"enqueued": 0, "queued": 0, "sent": 0, "dropped": 0, "failed": 0, "retries": 0,
                       "rejected": 0, "breaker": "closed", "failures_by_reason": {}, "backends": {}}
            out["enabled"] = self._enabled
            out["invalid"] = self._invalid_count
            out["dropped"] = out.get("dropped", 0) + self._invalid_count
            out["consent_rule"] = self.decision.rule
            privacy = self._privacy
            out["privacy"] = dict(privacy.stats()) if privacy is not None and hasattr(privacy, "stats") else {}
            return out
        except Exception:
            logger.debug("stats failed", exc_info=True)
            return {"enabled": self._enabled}

    def __enter__(self) -> "TelemetryClient":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return "TelemetryClient(project_name=%r, enabled=%r)" % (self.config.project_name, self._enabled)


_clients: "weakref.WeakSet[TelemetryClient]" = weakref.WeakSet()


def _renew_locks_after_fork() -> None:
    # a thread of the parent may have held a client's lock at fork time; the child has no such thread
    for c in list(_clients):
        c._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks_after_fork)


_MASK64 = (1 << 64) - 1


def _sample_bound(rate: float) -> Optional[int]:
    """Keep a trace when the low 64 bits of its id are below this (OpenTelemetry's
    TraceIdRatioBased sampler); None keeps everything."""
    return None if rate >= 1.0 else round(rate * (1 << 64))


def _own_span(client: "TelemetryClient", span: Any) -> Any:
    """The innermost open span of ``client`` around ``span`` (another client's), or None.

    A span of client A is never the parent of client B's records: B's backend must not receive
    A's span ids. The chain of enclosing spans is the one the context variable kept.
    """
    for _ in range(256):  # bounded: a context chain is never that deep
        token = getattr(span, "_token", None)
        outer = token.old_value if token is not None else None
        if not isinstance(outer, ActiveSpan):
            return None
        if outer._client is client:
            return outer
        span = outer
    return None


class _MessageError(Exception):
    """Stands for an error given as a plain message instead of an exception."""


# reported as exception.type "Error" (and "Error: message" in the stack trace), not as this
# module's private class name
_MessageError.__module__ = "builtins"
_MessageError.__qualname__ = _MessageError.__name__ = "Error"


def _remote_ids(parent: Any) -> Optional[Tuple[int, int]]:
    """(trace_id, span_id) when both are non-zero ids of the right width, else None."""
    try:
        trace_id, span_id = parent
        if trace_id.__class__ is int and span_id.__class__ is int \
                and 0 < trace_id < 1 << 128 and 0 < span_id < 1 << 64:
            return trace_id, span_id
    except Exception:
        pass
    return None


def _seconds(timeout: Any) -> float:
    return max(0.0, finite_or(timeout, 0.0))


def _check_privacy(privacy: Any) -> None:
    from .privacy import PrivacyConfig

    if not isinstance(privacy, PrivacyConfig):
        raise TypeError("privacy must be an astrid.PrivacyConfig (or None for the safe defaults)")


def _make_privacy(cfg: TelemetryConfig) -> Any:
    try:
        from .privacy import PrivacyEngine
    except ImportError:  # pragma: no cover - the privacy package is part of every release
        return None

    return PrivacyEngine(cfg.privacy, project_name=cfg.project_name)


def _resource_attributes(cfg: TelemetryConfig) -> Dict[str, Any]:
    """Defaults < OTEL_RESOURCE_ATTRIBUTES < OTEL_SERVICE_NAME < resource_attributes=."""
    attrs = default_resource_attributes(cfg.project_name, cfg.version)
    raw = cfg.env.get("OTEL_RESOURCE_ATTRIBUTES")
    if raw:
        attrs.update(parse_headers(raw))
    service = (cfg.env.get("OTEL_SERVICE_NAME") or "").strip()
    if service:
        attrs["service.name"] = service
    for key, value in cfg.resource_attributes.items():
        if isinstance(key, str) and isinstance(value, (str, bool, int, float)):
            attrs[key] = value
    return attrs


_debug_handler: Optional[logging.Handler] = None


def _enable_debug_logging() -> None:
    global _debug_handler
    if _debug_handler is None:
        _debug_handler = logging.StreamHandler(sys.stderr)
        _debug_handler.setFormatter(logging.Formatter("astrid %(levelname)s %(message)s"))
        logger.addHandler(_debug_handler)
        logger.setLevel(logging.DEBUG)
