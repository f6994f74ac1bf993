"""Report uncaught exceptions (main thread and other threads) with track_error, then flush."""

from __future__ import annotations

import os
import sys
import threading
from types import TracebackType
from typing import Any, Callable, Optional, Type

from ._client import resolve_client

_lock = threading.Lock()
_installed: Optional[_Hooks] = None


def _renew_lock() -> None:
    """A forked child gets a fresh lock: a parent thread may have held it at fork time."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_lock)


class _Hooks:
    def __init__(self, client: Any, flush_timeout: float) -> None:
        self.client = client
        self.flush_timeout = flush_timeout
        self.previous_sys: Callable[..., Any] = sys.excepthook
        self.previous_thread: Callable[..., Any] = threading.excepthook

    def report(self, exc: Optional[BaseException], where: str) -> None:
        # Ctrl-C and sys.exit() are how programs end, not errors worth reporting.
        if exc is None or isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return
        try:
            client = resolve_client(self.client)
            if client is None:
                return
            client.track_error(exc, {"exception.escaped": True, "thread.name": where})
            client.flush(timeout=self.flush_timeout)
        except Exception:
            pass  # the host program's own hook still runs below

    def sys_hook(
        self, typ: Type[BaseException], value: BaseException, tb: Optional[TracebackType]
    ) -> None:
        self.report(value, threading.current_thread().name)
        self.previous_sys(typ, value, tb)

    def thread_hook(self, args: Any) -> None:
        thread = getattr(args, "thread", None)
        self.report(getattr(args, "exc_value", None), getattr(thread, "name", "thread"))
        self.previous_thread(args)


def install_excepthook(client: Any = None, flush_timeout: float = 2.0) -> None:
    """Chain ``sys.excepthook`` and ``threading.excepthook``: track_error, flush, then the old hook.

    ``client=None`` uses the default client (``astrid.init``). Calling it again replaces the
    client and timeout without stacking a second pair of hooks.
    """
    global _installed
    with _lock:
        if _installed is not None and sys.excepthook == _installed.sys_hook:
            _installed.client = client
            _installed.flush_timeout = flush_timeout
            return
        hooks = _Hooks(client, flush_timeout)
        sys.excepthook = hooks.sys_hook
        threading.excepthook = hooks.thread_hook
        _installed = hooks


def uninstall_excepthook() -> None:
    """Put back the hooks that were there before install_excepthook()."""
    global _installed
    with _lock:
        hooks = _installed
        if hooks is None:
            return
        if sys.excepthook == hooks.sys_hook:
            sys.excepthook = hooks.previous_sys
        if threading.excepthook == hooks.thread_hook:
            threading.excepthook = hooks.previous_thread
        _installed = None


__all__ = ["install_excepthook", "uninstall_excepthook"]
