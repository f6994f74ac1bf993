"""Integrations: a logging handler, uncaught-exception hooks, WSGI/ASGI middleware (import .wsgi / .asgi)."""

from __future__ import annotations

from .excepthook import install_excepthook, uninstall_excepthook
from .logging_handler import TelemetryHandler

__all__ = ["TelemetryHandler", "install_excepthook", "uninstall_excepthook"]
