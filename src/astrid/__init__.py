"""Astrid: privacy-first, zero-dependency telemetry. Public surface only; heavy parts load lazily."""

from __future__ import annotations

import _thread
import os as _os
import sys as _sys

from ._logging import silence as _silence
from ._version import __version__

if "logging" in _sys.modules:
    _silence()

# typing and threading cost more than the rest of `import astrid` together; annotations are
# strings here (see the __future__ import), so they are only needed by type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, Mapping, Optional, Union

    from .client import TelemetryClient
    from .config import TelemetryConfig
    from .consent import ConsentStore, Decision, first_run_notice
    from .export import Backend, BaseBackend, Batch, ExportResult, register_backend
    from .privacy import PrivacyConfig, PrivacyEngine
    from .signing import sign_payload, verify_signature

# name -> module that defines it (imported on first use so `import astrid` stays cheap)
_LAZY: Dict[str, str] = {
    "TelemetryClient": "astrid.client",
    "TelemetryConfig": "astrid.config",
    "Backend": "astrid.export",
    "BaseBackend": "astrid.export",
    "Batch": "astrid.export",
    "ExportResult": "astrid.export",
    "register_backend": "astrid.export",
    "PrivacyConfig": "astrid.privacy",
    "PrivacyEngine": "astrid.privacy",
    "ConsentStore": "astrid.consent",
    "Decision": "astrid.consent",
    "first_run_notice": "astrid.consent",
    "verify_signature": "astrid.signing",
    "sign_payload": "astrid.signing",
    "TelemetryHandler": "astrid.integrations",
    "install_excepthook": "astrid.integrations",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'astrid' has no attribute %r" % name)
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list:  # type: ignore[type-arg]
    return sorted(list(globals()) + list(_LAZY))


# ---------------------------------------------------------------------- default client

_default: Optional["TelemetryClient"] = None
_default_lock = _thread.allocate_lock()  # what threading.Lock() returns


def _renew_default_lock() -> None:
    # a parent thread may have held the lock at fork time: the forked child takes a fresh one
    global _default_lock
    _default_lock = _thread.allocate_lock()


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_renew_default_lock)


def init(project_name: str, **options: Any) -> "TelemetryClient":
    """Create the default client (shutting down a previous one) and return it."""
    global _default
    from .client import TelemetryClient

    client = TelemetryClient(project_name, **options)
    with _default_lock:
        old, _default = _default, client
    if old is not None:
        old.shutdown(0.5)
    return client


def get_client() -> Optional["TelemetryClient"]:
    """The default client installed by ``init()``, or None."""
    return _default


def track_event(name: str, attributes: Optional[Mapping[str, Any]] = None) -> None:
    c = _default
    if c is not None:
        c.track_event(name, attributes)


def track_metric(
    name: str,
    value: Union[int, float] = 1,
    metric_type: str = "counter",
    attributes: Optional[Mapping[str, Any]] = None,
    unit: str = "",
) -> None:
    c = _default
    if c is not None:
        c.track_metric(name, value, metric_type, attributes, unit)


def track_log(message: str, level: Union[str, int] = "info", attributes: Optional[Mapping[str, Any]] = None) -> None:
    c = _default
    if c is not None:
        c.track_log(message, level, attributes)


def track_error(error: Optional[BaseException] = None, attributes: Optional[Mapping[str, Any]] = None) -> None:
    c = _default
    if c is not None:
        if error is None:
            import sys

            error = sys.exc_info()[1]
        c.track_error(error, attributes)


def span(name: str, attributes: Optional[Mapping[str, Any]] = None) -> Any:
    c = _default
    if c is None:
        from .spans import NOOP_SPAN

        return NOOP_SPAN
    return c.span(name, attributes)


def timed(name: Optional[str] = None, attributes: Optional[Mapping[str, Any]] = None) -> Callable[[Any], Any]:
    """Decorator: time each call as a span of the default client (looked up at call time)."""
    from .spans import timed as _timed

    return _timed(span, name, attributes)


def flush(timeout: Optional[float] = None) -> bool:
    c = _default
    return True if c is None else c.flush(timeout)


def shutdown(timeout: Optional[float] = None) -> bool:
    global _default
    with _default_lock:
        c, _default = _default, None
    return True if c is None else c.shutdown(timeout)


def stats() -> Dict[str, Any]:
    c = _default
    return {} if c is None else c.stats()


__all__ = [
    "__version__",
    "TelemetryClient",
    "TelemetryConfig",
    "PrivacyConfig",
    "PrivacyEngine",
    "Backend",
    "BaseBackend",
    "Batch",
    "ExportResult",
    "register_backend",
    "ConsentStore",
    "Decision",
    "first_run_notice",
    "verify_signature",
    "sign_payload",
    "TelemetryHandler",
    "install_excepthook",
    "init",
    "get_client",
    "track_event",
    "track_metric",
    "track_log",
    "track_error",
    "span",
    "timed",
    "flush",
    "shutdown",
    "stats",
]
