"""ConsoleBackend: one readable line per record on stderr (or any text stream)."""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Optional

from ..export import Batch, ExportResult
from ..records import Record, rfc3339


def format_record(record: Record) -> str:
    """``12:00:00.123 event  user.login  method=sso``-style line."""
    stamp = rfc3339(record.time_ns)[11:23]
    kind = record.type
    extra = ""
    if kind == "metric":
        if getattr(record, "metric_type", "") == "histogram":
            extra = " count=%s sum=%s" % (record.count, record.sum)  # type: ignore[attr-defined]
        else:
            extra = " value=%s" % (record.value,)  # type: ignore[attr-defined]
    elif kind == "span":
        extra = " %.3fms status=%s" % (record.duration_ns / 1e6, record.status)  # type: ignore[attr-defined]
    elif kind in ("log", "error"):
        extra = " [%s] %s" % (record.severity_text, record.body)  # type: ignore[attr-defined]
    attrs = " ".join("%s=%s" % (k, json.dumps(v, default=str)) for k, v in record.attributes.items()
                     if not k.startswith("exception.stacktrace"))
    return ("%s %-6s %s%s  %s" % (stamp, kind, record.name, extra, attrs)).rstrip()


class ConsoleBackend:
    """Prints records for a quick look while developing (stderr by default)."""

    name = "console"

    def __init__(self, config: Any = None, stream: Optional[IO[str]] = None) -> None:
        self.stream = stream

    def export(self, batch: Batch, timeout: float) -> ExportResult:
        out = self.stream if self.stream is not None else sys.stderr
        try:
            out.write("".join("astrid " + format_record(r) + "\n" for r in batch))
            out.flush()
        except Exception as exc:
            return ExportResult.failure("console_write:%s" % type(exc).__name__)
        return ExportResult.success()

    def shutdown(self, timeout: float) -> None:
        return None

    def after_fork(self) -> None:
        """Nothing to renew: every batch is one write and flush on the stream."""
        return None
