"""MemoryBackend: keeps every exported record in a list — for your own tests and for debugging."""

from __future__ import annotations

import threading
from typing import Any, List, Optional

from ..export import Batch, ExportResult


class MemoryBackend:
    """Stores exported (already sanitized) records in ``.records``.

    Use it in your application's tests::

        backend = MemoryBackend()
        client = astrid.TelemetryClient("my-app", backend=backend, enabled=True)
        client.track_event("signup")
        client.flush()
        assert [r.name for r in backend.events] == ["signup"]
    """

    name = "memory"

    def __init__(self, config: Any = None, max_records: Optional[int] = None) -> None:
        self.records: List[Any] = []
        self.batches: List[Batch] = []
        self.max_records = max_records
        self.resource: Any = None
        self._lock = threading.Lock()

    def export(self, batch: Batch, timeout: float) -> ExportResult:
        with self._lock:
            self.batches.append(batch)
            self.records.extend(batch)
            self.resource = batch.resource
            if self.max_records is not None and len(self.records) > self.max_records:
                del self.records[: len(self.records) - self.max_records]
        return ExportResult.success()

    def shutdown(self, timeout: float) -> None:
        return None

    def after_fork(self) -> None:
        """A forked child starts empty, with a fresh lock: it keeps what the child exports."""
        self._lock = threading.Lock()
        self.records = []
        self.batches = []

    def of_type(self, *types: str) -> List[Any]:
        with self._lock:
            return [r for r in self.records if r.type in types]

    @property
    def events(self) -> List[Any]:
        return self.of_type("event")

    @property
    def spans(self) -> List[Any]:
        return self.of_type("span")

    @property
    def metrics(self) -> List[Any]:
        return self.of_type("metric")

    @property
    def logs(self) -> List[Any]:
        return self.of_type("log")

    @property
    def errors(self) -> List[Any]:
        return self.of_type("error")

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
            self.batches.clear()
