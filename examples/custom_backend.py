"""A custom backend: implement export(batch, timeout) -> ExportResult and shutdown(timeout).

This one POSTs each batch as JSON lines to a URL of yours (here the inspector's generic
``/collect`` receiver). Retries, backoff, the circuit breaker and stats wrap it like any backend.
"""

from __future__ import annotations

import argparse
import http.client
import json
from urllib.parse import urlsplit

import astrid
from astrid.export import Batch, ExportResult


class JsonPostBackend:
    """Sends sanitized records; the SDK has already removed PII before export() is called."""

    name = "json-post"

    def __init__(self, url: str) -> None:
        self.url = urlsplit(url)

    def export(self, batch: Batch, timeout: float) -> ExportResult:
        doc = {
            "sdk": {"name": "custom-backend-example", "version": "1", "language": "python"},
            "resource": batch.resource.attributes,
            "records": [record.to_dict() for record in batch],
        }
        body = json.dumps(doc, default=str).encode()
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=timeout)
        try:
            conn.request("POST", self.url.path, body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
        except OSError as exc:
            return ExportResult.retry(f"connection: {exc}")  # transient: the SDK retries
        finally:
            conn.close()
        if resp.status < 300:
            return ExportResult.success(status=resp.status)
        if resp.status in (429, 502, 503, 504):
            return ExportResult.retry(f"http {resp.status}", status=resp.status)
        return ExportResult.failure(f"http {resp.status}", status=resp.status)  # not retried

    def shutdown(self, timeout: float) -> None:
        pass  # nothing held open between batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:4318/collect")
    args = parser.parse_args()
    client = astrid.TelemetryClient(
        "example-custom", backend=JsonPostBackend(args.url), enabled=True
    )
    client.track_event("report.generated", {"pages": 12, "format": "pdf"})
    client.track_log("report sent to finance@example.com", level="info")  # the e-mail is redacted
    delivered = client.shutdown(timeout=10)
    print("delivered:", delivered, "stats:", {k: client.stats()[k] for k in ("sent", "failed")})


if __name__ == "__main__":
    main()
