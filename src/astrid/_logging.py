"""The ``astrid`` logger's NullHandler, installed once: the lowest module, that every module may import."""

from __future__ import annotations


def silence() -> None:
    """Give the ``astrid`` logger a NullHandler (the stdlib's advice for libraries), once.

    Without it, a warning of ours with no handler configured by the application would reach
    ``logging.lastResort`` and print on the host's stderr. ``import astrid`` does not import
    ``logging`` (it costs more than the rest of the package): every module that logs calls this
    when it is first imported, and so does ``astrid/__init__.py`` when ``logging`` is already loaded.
    """
    import logging

    log = logging.getLogger("astrid")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
