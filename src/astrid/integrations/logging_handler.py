"""A logging.Handler that forwards records at or above a level as telemetry logs."""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict

from ..records import exception_attributes
from ._client import resolve_client

#: Python level number → the SDK's level names (OpenTelemetry severities).
_LEVELS = (
    (logging.CRITICAL, "critical"),
    (logging.ERROR, "error"),
    (logging.WARNING, "warning"),
    (logging.INFO, "info"),
    (logging.DEBUG, "debug"),
)


def level_name(levelno: int) -> str:
    for number, name in _LEVELS:
        if levelno >= number:
            return name
    return "trace"


class TelemetryHandler(logging.Handler):
    """Send log records to a TelemetryClient (``client=None``: the default client from ``astrid.init``).

    Records of the SDK's own ``astrid`` loggers are never forwarded, and a record logged while
    this handler is already forwarding on the same thread is skipped, so it cannot recurse.
    """

    def __init__(self, client: Any = None, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.client = client
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "astrid" or record.name.startswith("astrid."):
            return
        if getattr(self._busy, "active", False):
            return
        self._busy.active = True
        try:
            client = resolve_client(self.client)
            if client is None:
                return
            attrs: Dict[str, Any] = {
                "log.logger": record.name,
                "code.function": record.funcName,
                "code.lineno": record.lineno,
                "code.module": record.module,
                "thread.name": record.threadName,
            }
            if record.exc_info and record.exc_info[1] is not None:
                attrs.update(exception_attributes(record.exc_info[1]))
            client.track_log(
                record.getMessage(), level=level_name(record.levelno), attributes=attrs
            )
        except Exception:
            # logging's own error path prints to stderr; it never raises into the caller
            self.handleError(record)
        finally:
            self._busy.active = False

    def __repr__(self) -> str:
        return f"<TelemetryHandler ({logging.getLevelName(self.level)})>"


__all__ = ["TelemetryHandler", "level_name"]
