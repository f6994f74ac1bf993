"""The local inspector: receive OTLP and generic telemetry on loopback, store it, and show it on a page."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any, Dict, Iterable, List, Optional
from urllib.parse import urlsplit

from ..network import is_loopback
from .server import InspectorServer, origin_allowed
from .store import Store

DEFAULT_PORT = 4318


class Inspector:
    """A receiver plus web page, running in a background thread.

    >>> with Inspector() as insp:          # port 0: any free port
    ...     client = TelemetryClient("demo", endpoint=insp.url, enabled=True)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db: Optional[str] = None,
        signing_secret: Optional[str] = None,
        max_records: int = 100_000,
        max_age: float = 7 * 86400.0,
        max_body: int = 8 * 1024 * 1024,
        allowed_origins: Iterable[str] = (),
    ) -> None:
        """``allowed_origins``: browser origins besides loopback pages that may send (``*``: any)."""
        self.host = host
        self.store = Store(db, max_records=max_records, max_age=max_age)
        # Host-header checks only make sense when nobody else is meant to reach us.
        self._server = InspectorServer(
            (host, port),
            self.store,
            signing_secret=signing_secret,
            max_body=max_body,
            check_host=is_loopback(host),
            allowed_origins=allowed_origins,
        )
        self.port: int = self._server.server_address[1]
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> Inspector:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="astrid-inspector",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() or KeyboardInterrupt."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.store.close()

    def records(
        self,
        type: Optional[str] = None,
        name: Optional[str] = None,
        service: Optional[str] = None,
        limit: int = 1000,
    ) -> List[Dict[str, Any]]:
        """Stored records, newest first (the same rows as GET /api/records)."""
        return self.store.records(type, name, service, limit)

    def stats(self) -> Dict[str, Any]:
        return self.store.stats()

    def __enter__(self) -> Inspector:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def probe(url: str, timeout: float = 0.5) -> bool:
    """True when an Astrid inspector answers at ``url`` (so the demo can reuse it)."""
    # http.client, not urllib: a configured HTTP proxy must not answer for a loopback address
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout
    )
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        return (
            resp.status == 200 and json.loads(resp.read(4096).decode()).get("inspector") == "astrid"
        )
    except Exception:
        return False
    finally:
        conn.close()


__all__ = ["DEFAULT_PORT", "Inspector", "Store", "is_loopback", "origin_allowed", "probe"]
