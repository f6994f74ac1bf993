"""Wire encoders for telemetry: OTLP protobuf (hand-written) and OTLP/JSON."""

from __future__ import annotations

from types import ModuleType

PROTOCOLS = ("http/protobuf", "http/json")


def otlp_encoder(protocol: str) -> ModuleType:
    """The encoder module for an OTLP protocol: it has ``encode``, ``CONTENT_TYPE``, ``decode_partial_success``."""
    if protocol == "http/json":
        from . import otlp_json

        return otlp_json
    if protocol == "http/protobuf":
        from . import otlp_proto

        return otlp_proto
    allowed = ", ".join(map(repr, PROTOCOLS))
    raise ValueError(f"protocol must be one of {allowed}; got {protocol!r}")
