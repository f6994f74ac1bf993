"""FileBackend: JSON Lines (one generic-format record per line) with size-based rotation."""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Optional

from ..export import Batch, ExportResult

DEFAULT_PATH = "astrid-telemetry.jsonl"


class FileBackend:
    """Appends records as JSON Lines to ``path``; rotates to ``path.1`` … ``path.N`` past ``max_bytes``."""

    name = "file"

    def __init__(
        self,
        config: Any = None,
        path: Optional[str] = None,
        max_bytes: int = 10 * 1024 * 1024,
        backup_count: int = 3,
    ) -> None:
        if path is None and config is not None:
            path = config.env.get("ASTRID_FILE_PATH") or None
        path = path or DEFAULT_PATH
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("path must be a file path (str or os.PathLike)")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1024:
            raise ValueError("max_bytes must be an integer of at least 1024")
        if isinstance(backup_count, bool) or not isinstance(backup_count, int) or backup_count < 0:
            raise ValueError("backup_count must be an integer >= 0")
        self.path = os.fspath(path)
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self._lock = threading.Lock()

    def export(self, batch: Batch, timeout: float) -> ExportResult:
        try:
            resource = batch.resource.attributes
            lines = []
            for r in batch:
                d = r.to_dict()
                d["resource"] = resource
                lines.append(json.dumps(d, default=str, ensure_ascii=False, allow_nan=False))
            data = ("\n".join(lines) + "\n").encode("utf-8")
        except (TypeError, ValueError) as exc:
            return ExportResult.failure("encode:%s" % type(exc).__name__)
        try:
            with self._lock:
                self._rotate_if_needed(len(data))
                parent = os.path.dirname(os.path.abspath(self.path))
                os.makedirs(parent, exist_ok=True)
                with open(self.path, "ab") as fh:
                    fh.write(data)
        except OSError as exc:
            return ExportResult.retry("file:%s" % type(exc).__name__)
        return ExportResult.success()

    def _rotate_if_needed(self, incoming: int) -> None:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size + incoming <= self.max_bytes or size == 0:
            return
        if self.backup_count == 0:
            os.remove(self.path)
            return
        for i in range(self.backup_count - 1, 0, -1):
            src = "%s.%d" % (self.path, i)
            if os.path.exists(src):
                os.replace(src, "%s.%d" % (self.path, i + 1))
        os.replace(self.path, self.path + ".1")

    def shutdown(self, timeout: float) -> None:
        return None

    def after_fork(self) -> None:
        """A forked child takes a fresh lock (a parent thread may have held it at fork time).

        The file is opened for each batch (appends from several processes stay whole lines),
        so the child never writes through a buffer it shares with its parent.
        """
        self._lock = threading.Lock()
