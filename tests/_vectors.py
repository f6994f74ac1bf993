"""The generator script of a shared vector file (tests/vectors/generate_<name>.py), loaded as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

VECTORS_DIR = Path(__file__).parent / "vectors"


def generator(name: str) -> ModuleType:
    """``generator("consent")`` is tests/vectors/generate_consent.py, run once as a module."""
    spec = importlib.util.spec_from_file_location(
        "generate_" + name, VECTORS_DIR / ("generate_%s.py" % name)
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
