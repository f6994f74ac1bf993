"""The core export types: Batch, ExportResult, the Backend protocol, BaseBackend and the registry.

The pipeline, the delivery lanes, resilience and transport depend on this module; the backends in
``astrid.backends`` depend on it too and never the reverse. The registry names the built-in
backends by module path and imports one only when a client asks for it (a plugin lookup).
"""

from __future__ import annotations

import importlib
import inspect
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Union,
)

from .records import Record, Resource

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Protocol

    from .config import TelemetryConfig
else:
    try:
        from typing import Protocol
    except ImportError:  # pragma: no cover
        Protocol = object


class Batch(List[Record]):
    """A list of sanitized records handed to a backend, with the resource that produced them."""

    __slots__ = ("resource", "seq", "token")

    def __init__(
        self,
        records: Iterable[Record] = (),
        resource: Optional[Resource] = None,
        seq: int = 0,
        token: Optional[str] = None,
    ):
        super().__init__(records)
        self.resource = resource if resource is not None else Resource({})
        #: the pipeline's sequence number of the newest record in the batch (flush bookkeeping)
        self.seq = seq
        #: the spool's id of this batch on disk (None without a spool)
        self.token = token

    def split(self) -> "tuple[Batch, Batch]":
        half = len(self) // 2
        return (
            Batch(self[:half], self.resource, self.seq, self.token),
            Batch(self[half:], self.resource, self.seq, self.token),
        )

    def of_type(self, *types: str) -> List[Record]:
        return [r for r in self if r.type in types]


class ExportResult:
    """What one export attempt did. Backends return it; the pipeline decides about retries.

    * ``ExportResult.success()``: delivered (``rejected`` items the receiver refused, if any);
    * ``ExportResult.retry(reason, retry_after=None)``: transient failure, try again later;
    * ``ExportResult.failure(reason)``: permanent failure, the batch is dropped and counted;
    * ``ExportResult.too_large(reason)``: the receiver refused the size; the pipeline splits the batch.

    A backend that sends one batch in several requests (OTLP: one per signal, ClickHouse: one per
    table) and settles only some of them says so in the result, never by changing the batch:
    ``remaining`` lists the records still to send (a retry resends only them), ``delivered``
    counts the records that landed and ``rejected`` those the receiver refused for good. The
    pipeline counts each record once, as sent, rejected or failed.
    """

    __slots__ = (
        "ok", "retryable", "retry_after", "reason", "rejected", "status", "split", "delivered", "remaining"
    )

    def __init__(
        self,
        ok: bool,
        retryable: bool = False,
        retry_after: Optional[float] = None,
        reason: str = "",
        rejected: int = 0,
        status: Optional[int] = None,
        split: bool = False,
        delivered: int = 0,
        remaining: Optional[List[Record]] = None,
    ) -> None:
        self.ok = ok
        self.retryable = retryable
        self.retry_after = retry_after
        self.reason = reason
        self.rejected = rejected
        self.status = status
        self.split = split
        #: records of the batch that landed before the failure (with ``remaining``)
        self.delivered = delivered
        #: the records still to send after a partial delivery; None: the whole batch
        self.remaining = remaining

    @classmethod
    def success(cls, rejected: int = 0, status: Optional[int] = None) -> "ExportResult":
        return cls(True, rejected=rejected, status=status)

    @classmethod
    def retry(
        cls,
        reason: str,
        retry_after: Optional[float] = None,
        status: Optional[int] = None,
        *,
        delivered: int = 0,
        rejected: int = 0,
        remaining: Optional[List[Record]] = None,
    ) -> "ExportResult":
        return cls(
            False,
            retryable=True,
            retry_after=retry_after,
            reason=reason,
            status=status,
            delivered=delivered,
            rejected=rejected,
            remaining=remaining,
        )

    @classmethod
    def failure(
        cls,
        reason: str,
        status: Optional[int] = None,
        *,
        delivered: int = 0,
        rejected: int = 0,
        remaining: Optional[List[Record]] = None,
    ) -> "ExportResult":
        return cls(
            False,
            retryable=False,
            reason=reason,
            status=status,
            delivered=delivered,
            rejected=rejected,
            remaining=remaining,
        )

    @classmethod
    def too_large(cls, reason: str = "payload_too_large", status: Optional[int] = 413) -> "ExportResult":
        return cls(False, retryable=True, reason=reason, status=status, split=True)

    def __repr__(self) -> str:
        if self.ok:
            return "ExportResult.success(rejected=%d)" % self.rejected
        kind = "too_large" if self.split else ("retry" if self.retryable else "failure")
        return "ExportResult.%s(%r, status=%r, retry_after=%r)" % (
            kind,
            self.reason,
            self.status,
            self.retry_after,
        )


class Backend(Protocol):
    """What a backend implements. Retry, circuit breaking and stats are the pipeline's job."""

    def export(self, batch: Batch, timeout: float) -> ExportResult:
        """Deliver one batch within ``timeout`` seconds; return what happened (do not raise)."""
        ...

    def shutdown(self, timeout: float) -> None:
        """Release resources (connections, files). Called once, at client shutdown."""
        ...

    def after_fork(self) -> None:
        """Optional: called in a forked child before it exports anything.

        Drop what the child must not share with its parent: keep-alive connections (two
        processes writing one TCP stream corrupt it), open files, locks a parent thread may
        have held at fork time. The pipeline calls it only when the backend has it.
        """
        ...


class BaseBackend:
    """Convenience base class for backends: a name, no-op shutdown and after_fork."""

    name = "backend"

    def export(self, batch: Batch, timeout: float) -> ExportResult:  # pragma: no cover
        raise NotImplementedError

    def shutdown(self, timeout: float) -> None:
        return None

    def after_fork(self) -> None:
        return None


# name -> "module:Class" (imported lazily so `import astrid` stays cheap)
_REGISTRY: Dict[str, Union[str, Callable[..., Any]]] = {
    "console": "astrid.backends.console:ConsoleBackend",
    "file": "astrid.backends.file:FileBackend",
    "memory": "astrid.backends.memory:MemoryBackend",
    "otlp": "astrid.backends.otlp:OTLPBackend",
    "clickhouse": "astrid.backends.clickhouse:ClickHouseBackend",
    "http": "astrid.backends.http:HttpBackend",
}


def register_backend(name: str, factory: Callable[..., Any]) -> None:
    """Make ``backend=name`` create backends with ``factory(config=..., **options)``."""
    if not isinstance(name, str) or not name:
        raise ValueError("backend name must be a non-empty string")
    if not callable(factory):
        raise TypeError("backend factory must be callable")
    _REGISTRY[name] = factory


def backend_names() -> List[str]:
    return sorted(_REGISTRY)


def _resolve_name(name: str) -> Union[str, Callable[..., Any]]:
    target = _REGISTRY.get(name)
    if target is None:
        raise ValueError(
            "backend=%r is not known; use one of %s, a Backend object or a list of them"
            % (name, ", ".join(repr(n) for n in backend_names()))
        )
    return target


def _resolve(name: str) -> Callable[..., Any]:
    target = _resolve_name(name)
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module_name), attr)
    return target


def backend_option_names(name: str) -> List[str]:
    """The keyword options a named backend accepts (besides ``config``)."""
    factory = _resolve(name)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return []
    return [p for p in params if p not in ("self", "config")]


def is_backend(obj: object) -> bool:
    return callable(getattr(obj, "export", None))


def _items(spec: Any) -> List[Any]:
    return list(spec) if isinstance(spec, (list, tuple)) else [spec]


def check_backend_spec(spec: Any) -> None:
    """Raise ValueError/TypeError unless ``spec`` is a known name, a backend object or a list of them."""
    items = _items(spec)
    if not items:
        raise ValueError("backend= is an empty list; give at least one backend")
    for item in items:
        if isinstance(item, str):
            _resolve_name(item)
        elif not is_backend(item):
            raise TypeError(
                "backend= must be a backend name (%s), an object with export(batch, timeout) "
                "and shutdown(timeout), or a list of them; got %s"
                % (", ".join(backend_names()), type(item).__name__)
            )


def check_backend_options(spec: Any, options: Dict[str, Any]) -> None:
    """Raise TypeError for keyword options that no named backend in ``spec`` accepts."""
    if not options:
        return
    names = [i for i in _items(spec) if isinstance(i, str)]
    accepted: set = set()  # type: ignore[type-arg]
    for n in names:
        accepted.update(backend_option_names(n))
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            "unknown option(s) %s: not a client option, nor an option of backend %s"
            % (", ".join(unknown), ", ".join(map(repr, names)) or "objects")
        )


def create_backends(
    spec: Any, config: "TelemetryConfig", options: Optional[Dict[str, Any]] = None
) -> List[Any]:
    """Turn the ``backend=`` option (name, object or list of them) into backend objects.

    Raises ValueError/TypeError for a spec or option the user can fix.
    """
    options = dict(options or {})
    check_backend_spec(spec)
    check_backend_options(spec, options)
    backends = []
    for item in _items(spec):
        if isinstance(item, str):
            accepted = set(backend_option_names(item))
            mine = {k: v for k, v in options.items() if k in accepted}
            backends.append(_resolve(item)(config=config, **mine))
        else:
            backends.append(item)
    return backends


def backend_name(backend: Any) -> str:
    return str(getattr(backend, "name", None) or type(backend).__name__)


__all__ = [
    "Backend",
    "BaseBackend",
    "Batch",
    "ExportResult",
    "backend_name",
    "backend_names",
    "check_backend_options",
    "check_backend_spec",
    "create_backends",
    "register_backend",
]
