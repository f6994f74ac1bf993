"""ClickHouse nodes: the endpoint list, one breaker a node, and which node takes the next batch."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit, urlunsplit

from ..network import check_endpoint, redact_url
from ..resilience import CircuitBreaker

#: Consecutive transient failures after which a node is left for the next one. A refused
#: connection moves on at once: nothing was sent, so nothing can be duplicated.
NODE_FAILURES = 2


def split_endpoints(value: Union[str, Sequence[str]]) -> List[str]:
    """``"http://a:8123, http://b:8123"`` or a list of URLs → the list of URLs."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
        if not all(isinstance(v, str) for v in items):
            raise TypeError("endpoint must be a ClickHouse URL, a comma-separated string or a list of URLs")
    else:
        raise TypeError("endpoint must be a ClickHouse URL, a comma-separated string or a list of URLs")
    urls = [v.strip() for v in items if v.strip()]
    if not urls:
        raise ValueError("endpoint lists no ClickHouse URL")
    return urls


def parse_endpoint(url: str, allow_insecure: bool) -> Tuple[str, Optional[str], Optional[str]]:
    """A checked base URL ending in ``/``, without credentials, and the credentials it carried."""
    url = check_endpoint(url, allow_insecure)
    parts = urlsplit(url)
    username = password = None
    if parts.username is not None:
        username = unquote(parts.username)
        password = unquote(parts.password) if parts.password is not None else None
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/", "", ""))
    return base, username, password


class Node:
    """One ClickHouse server of the endpoint list, with its own breaker and counts."""

    __slots__ = ("base_url", "breaker", "sent", "failures", "last_error")

    def __init__(self, base_url: str, cooldown: float) -> None:
        self.base_url = base_url
        self.breaker = CircuitBreaker(threshold=NODE_FAILURES, cooldown=cooldown)
        self.sent = 0
        self.failures = 0
        self.last_error = ""

    def refused(self, reason: str) -> None:
        """The node is not there at all: leave it now (its breaker opens)."""
        self.failures += 1
        self.last_error = reason
        for _ in range(NODE_FAILURES):
            if self.breaker.state == CircuitBreaker.OPEN:
                break
            self.breaker.record_failure()

    def failed(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason
        self.breaker.record_failure()

    def succeeded(self, records: int) -> None:
        self.sent += records
        self.breaker.record_success()


class NodeSet:
    """The nodes in the order given. Batches stay on the current node while it is healthy and
    move to the next one (round the list) when its breaker opens."""

    def __init__(self, base_urls: List[str], cooldown: float) -> None:
        self.nodes = [Node(u, cooldown) for u in base_urls]
        self._current = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.nodes)

    def pick(self, exclude: Sequence[Node] = ()) -> Optional[Node]:
        """The node for the next request: the current one if its breaker lets it, else the
        next one that does. A single node is always tried (the pipeline's breaker guards it)."""
        with self._lock:
            n = len(self.nodes)
            if n == 1:
                return None if self.nodes[0] in exclude else self.nodes[0]
            for step in range(n):
                i = (self._current + step) % n
                node = self.nodes[i]
                if node in exclude:
                    continue
                if node.breaker.allow():
                    self._current = i
                    return node
            return None

    def after_fork(self) -> None:
        self._lock = threading.Lock()

    def describe(self) -> List[Dict[str, Any]]:
        with self._lock:
            current = self._current
        return [
            {
                "endpoint": redact_url(node.base_url),
                "state": node.breaker.state,
                "active": i == current,
                "sent": node.sent,
                "failures": node.failures,
                "last_error": node.last_error,
            }
            for i, node in enumerate(self.nodes)
        ]
