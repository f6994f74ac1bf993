"""The built-in backends, one module each. They import the core types from ``astrid.export``.

The core names stay importable from here for users (``from astrid.backends import Batch``);
nothing inside the SDK's core imports this package.
"""

from __future__ import annotations

from ..export import (
    Backend,
    BaseBackend,
    Batch,
    ExportResult,
    backend_name,
    backend_names,
    backend_option_names,
    check_backend_options,
    check_backend_spec,
    create_backends,
    is_backend,
    register_backend,
)

__all__ = [
    "Backend",
    "BaseBackend",
    "Batch",
    "ExportResult",
    "backend_name",
    "backend_names",
    "backend_option_names",
    "check_backend_options",
    "check_backend_spec",
    "create_backends",
    "is_backend",
    "register_backend",
]
