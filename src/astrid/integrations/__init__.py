"""Integrations with the standard library: a logging handler and uncaught-exception hooks."""

from __future__ import annotations

from .excepthook import install_excepthook, uninstall_excepthook
from .logging_handler import TelemetryHandler

__all__ = ["TelemetryHandler", "install_excepthook", "uninstall_excepthook"]
