"""Which client an integration reports to: the one it was given, else the default client of ``astrid.init()``."""

from __future__ import annotations

from typing import Any


def resolve_client(client: Any) -> Any:
    """``client`` when given, else the default client (looked up at each call, so a later
    ``astrid.init()`` is picked up); None before ``init()``."""
    if client is not None:
        return client
    import astrid  # the facade holds the default client; the integrations sit on top of it

    return astrid.get_client()
