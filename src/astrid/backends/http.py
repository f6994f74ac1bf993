"""Generic HTTP backend: one JSON document a batch, POSTed to any URL, optionally signed."""

from __future__ import annotations

import gzip
import json
import logging
import math
import time
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from .._version import __version__
from ..config import check_compression, check_headers, check_timeout
from ..export import BaseBackend, Batch, ExportResult
from ..network import TransportError, check_endpoint, log_excerpt, redact_url
from ..records import SDK_NAME, ErrorRecord
from ..resilience import result_from_status
from ..signing import SIGNATURE_HEADER, sign
from ..transport import GZIP_MIN_BYTES, HttpTransport

if TYPE_CHECKING:  # pragma: no cover
    from ..config import TelemetryConfig

logger = logging.getLogger("astrid")

#: Version of the document format (docs/http-format.schema.json).
FORMAT_VERSION = 1


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: such numbers become null, everything else is kept."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode_document(batch: Batch) -> bytes:
    """The batch as the generic JSON document (UTF-8 bytes)."""
    records = []
    for record in batch:
        if isinstance(record, ErrorRecord):
            record.finalize()  # normally done upstream; harmless when it was
        records.append(record.to_dict())
    doc = {
        "sdk": {
            "name": SDK_NAME,
            "version": __version__,
            "language": "python",
            "format": FORMAT_VERSION,
        },
        "resource": dict(batch.resource.attributes),
        "records": records,
    }
    try:
        text = json.dumps(
            doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str
        )
    except ValueError:
        text = json.dumps(_finite(doc), ensure_ascii=False, separators=(",", ":"), default=str)
    return text.encode("utf-8", "surrogatepass")


class HttpBackend(BaseBackend):
    """POSTs ``{"sdk", "resource", "records"}`` to ``endpoint``; the pipeline owns retries."""

    name = "http"

    def __init__(
        self,
        config: TelemetryConfig,
        endpoint: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        signing_secret: Optional[str] = None,
        compression: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> None:
        url = endpoint or config.endpoint
        if not url:
            raise ValueError(
                "backend='http' needs endpoint=, the full URL to POST to, e.g. "
                "'https://ingest.example.com/collect'"
            )
        self.endpoint = check_endpoint(url, config.allow_insecure)
        self.config = config
        self.compression = check_compression(compression if compression is not None else config.compression)
        if headers is not None:
            check_headers(headers)
        if signing_secret is not None and (
            not isinstance(signing_secret, str) or not signing_secret
        ):
            raise ValueError("signing_secret must be a non-empty string or None")
        self.timeout = check_timeout(timeout) if timeout is not None else config.timeout
        self._secret = signing_secret
        self._headers: Dict[str, str] = {"Content-Type": "application/json"}
        self._headers.update(config.headers)
        self._headers.update(headers or {})
        # the body is compressed here, not in the transport, so the signature covers the wire bytes
        self._transport = HttpTransport(config, compression="none")

    def export(self, batch: Batch, timeout: float) -> ExportResult:
        try:
            return self._export(batch, timeout)
        except Exception as exc:  # a bug here must not take the worker down
            logger.warning("astrid: HTTP export failed unexpectedly: %s", type(exc).__name__)
            logger.debug("astrid: HTTP export error", exc_info=True)
            return ExportResult.failure("http_internal_error")

    def _export(self, batch: Batch, timeout: float) -> ExportResult:
        if not batch:
            return ExportResult.success()
        body = encode_document(batch)
        headers = dict(self._headers)
        if self.compression == "gzip" and len(body) > GZIP_MIN_BYTES:
            body = gzip.compress(body, self.config.compression_level, mtime=0)
            headers["Content-Encoding"] = "gzip"
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body, int(time.time()))
        try:
            resp = self._transport.post(self.endpoint, body, headers, min(timeout, self.timeout))
        except TransportError as exc:
            logger.debug("astrid: HTTP endpoint %s unreachable: %s", redact_url(self.endpoint), exc)
            return ExportResult.retry(exc.reason)
        result = result_from_status(
            resp.status, resp.headers, retry_after_max=self.config.retry_after_max
        )
        if not result.ok:
            log = logger.debug if result.retryable else logger.warning
            excerpt = log_excerpt(resp.body)
            log(
                "astrid: HTTP endpoint %s answered %d%s%s",
                redact_url(self.endpoint),
                resp.status,
                ", will retry" if result.retryable else "",
                ": " + excerpt if excerpt else "",
            )
        return result

    def shutdown(self, timeout: float) -> None:
        self._transport.close()

    def after_fork(self) -> None:
        """A forked child opens its own connections; the parent's keep-alive ones stay the parent's."""
        self._transport.after_fork()


__all__ = ["FORMAT_VERSION", "HttpBackend", "encode_document"]
