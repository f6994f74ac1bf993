"""The privacy engine, a package like ``encoding/``: engine, value detectors, key rules, scrubber.

``engine.py`` holds ``PrivacyEngine`` and ``PrivacyConfig``; ``detectors.py`` the value-level PII
detectors (patterns, validators, cheap gates); ``keys.py`` the rules for attribute keys that name
a secret (removed) or an identifier (hashed); ``scrubber.py`` the text scrubber that runs the
detectors. The public names are re-exported here: ``from astrid.privacy import PrivacyConfig``.
"""

from __future__ import annotations

from .engine import (
    DEFAULT_HASH_KEYS,
    DEFAULT_SECRET_KEYS,
    DETECTOR_KINDS,
    TRUNCATION_MARKER,
    PrivacyConfig,
    PrivacyEngine,
    well_formed,
)

__all__ = [
    "DEFAULT_HASH_KEYS",
    "DEFAULT_SECRET_KEYS",
    "DETECTOR_KINDS",
    "TRUNCATION_MARKER",
    "PrivacyConfig",
    "PrivacyEngine",
    "well_formed",
]
