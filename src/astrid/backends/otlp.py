"""The OTLP/HTTP backend: traces, metrics and logs as protobuf or JSON to any OpenTelemetry receiver."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from ..config import (
    check_compression,
    check_events_as,
    check_headers,
    check_timeout,
    parse_headers,
    valid_headers,
    warn_env_once,
)
from ..encoding import PROTOCOLS, otlp_encoder
from ..encoding import otlp_common as common
from ..export import BaseBackend, Batch, ExportResult
from ..records import Record

if TYPE_CHECKING:  # pragma: no cover
    from ..config import TelemetryConfig

logger = logging.getLogger("astrid")

DEFAULT_ENDPOINT = "http://localhost:4318"
_ENV = "OTEL_EXPORTER_OTLP_"
_SIGNAL_ENV = {common.TRACES: "TRACES_", common.METRICS: "METRICS_", common.LOGS: "LOGS_"}


class _Signal:
    """Where and how one signal is sent."""

    __slots__ = ("name", "url", "protocol", "encoder", "headers", "timeout")

    def __init__(self, name: str, url: str, protocol: str, headers: Dict[str, str], timeout: float):
        self.name, self.url, self.protocol, self.headers, self.timeout = name, url, protocol, headers, timeout
        self.encoder = otlp_encoder(protocol)


class OTLPBackend(BaseBackend):
    """Sends batches to ``/v1/traces``, ``/v1/metrics`` and ``/v1/logs`` of an OTLP/HTTP receiver.

    Options: constructor argument > ``OTEL_EXPORTER_OTLP_*`` environment > ``ASTRID_*`` > default.
    """

    name = "otlp"

    def __init__(
        self,
        config: TelemetryConfig,
        endpoint: Optional[str] = None,
        protocol: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        compression: Optional[str] = None,
        timeout: Optional[float] = None,
        traces_endpoint: Optional[str] = None,
        metrics_endpoint: Optional[str] = None,
        logs_endpoint: Optional[str] = None,
        events_as: Optional[str] = None,
    ) -> None:
        from ..network import check_endpoint
        from ..transport import HttpTransport

        env = config.env
        self.events_as = check_events_as(events_as if events_as is not None else config.events_as)
        if protocol is not None and protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be 'http/protobuf' or 'http/json'; got {protocol!r}")
        if compression is not None:
            check_compression(compression)
        if headers is not None:
            check_headers(headers)
        if timeout is not None:
            check_timeout(timeout)

        # The client folds its own arguments and ASTRID_* variables into config; OTEL_* variables
        # rank between the two, so tell an application's explicit value from an ASTRID_* one.
        app_endpoint = endpoint or _explicit(config, "endpoint", "ASTRID_ENDPOINT")
        base = app_endpoint or _env_url(env, _ENV + "ENDPOINT", config.allow_insecure)
        base = check_endpoint(base or config.endpoint or DEFAULT_ENDPOINT, config.allow_insecure, "endpoint")
        base = base.rstrip("/")

        if compression is None:
            compression = _explicit(config, "compression", "ASTRID_COMPRESSION")
        if compression is None:
            compression = _env_choice(env, _ENV + "COMPRESSION", ("gzip", "none"))
        self._transport = HttpTransport(config, compression=compression)
        self.compression = self._transport.compression
        self.retry_after_max = config.retry_after_max

        app_headers = _explicit(config, "headers", "ASTRID_HEADERS") or {}
        common_headers = {} if app_headers else dict(config.headers)
        common_headers.update(_env_headers(env, _ENV + "HEADERS"))
        if timeout is None:
            timeout = _explicit(config, "timeout", "ASTRID_TIMEOUT")
        base_timeout = timeout if timeout is not None else _env_timeout(env, _ENV + "TIMEOUT", config.timeout)
        base_protocol = protocol or _env_choice(env, _ENV + "PROTOCOL", PROTOCOLS) or PROTOCOLS[0]
        explicit = {common.TRACES: traces_endpoint, common.METRICS: metrics_endpoint, common.LOGS: logs_endpoint}
        self.signals: Dict[str, _Signal] = {}
        for signal, path in common.PATHS.items():
            prefix = _ENV + _SIGNAL_ENV[signal]
            option = f"{signal}_endpoint"
            url = explicit[signal]
            if url is not None:
                url = check_endpoint(url, config.allow_insecure, option)
            else:
                url = _env_url(env, prefix + "ENDPOINT", config.allow_insecure) or base + path
            proto = protocol or _env_choice(env, prefix + "PROTOCOL", PROTOCOLS) or base_protocol
            hdrs = dict(common_headers)
            hdrs.update(_env_headers(env, prefix + "HEADERS"))
            hdrs.update(app_headers)
            if headers:
                hdrs.update(headers)
            sig_timeout = timeout if timeout is not None else _env_timeout(env, prefix + "TIMEOUT", base_timeout)
            sig = self.signals[signal] = _Signal(signal, url, proto, hdrs, sig_timeout)
            hdrs["Content-Type"] = sig.encoder.CONTENT_TYPE
        self.protocol = base_protocol

    def __repr__(self) -> str:
        from ..network import redact_url

        urls = ", ".join(redact_url(s.url) for s in self.signals.values())
        return f"OTLPBackend({urls}, protocol={self.protocol!r}, events_as={self.events_as!r})"

    @property
    def endpoints(self) -> Dict[str, str]:
        return {name: s.url for name, s in self.signals.items()}

    # -------------------------------------------------------------- export

    def export(self, batch: Batch, timeout: float) -> ExportResult:
        """Send each signal of the batch (up to three requests) within ``timeout`` seconds.

        Records of signals that were delivered are removed from ``batch`` when another signal
        needs a retry, so the retry resends only the rest. Never raises.
        """
        try:
            return self._export(batch, timeout)
        except Exception as exc:  # an encoder bug must not kill the worker or loop forever
            logger.debug("astrid: OTLP export failed unexpectedly: %s", type(exc).__name__, exc_info=True)
            return ExportResult.failure("encoding_error")

    def _export(self, batch: Batch, timeout: float) -> ExportResult:
        from ..network import TransportError, log_excerpt, redact_url
        from ..transport import export_result

        deadline = time.monotonic() + max(0.0, timeout)
        for record in batch:
            if record.type == "error" and getattr(record, "exception", None) is not None:
                record.finalize()  # type: ignore[attr-defined]
        groups = common.split_by_signal(batch, self.events_as)
        resource = batch.resource.attributes
        results: List[Tuple[List[Record], ExportResult]] = []
        rejected = 0
        for signal in common.SIGNALS:
            records = groups.get(signal)
            if not records:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                results.append((records, ExportResult.retry("timeout")))
                continue
            target = self.signals[signal]
            body = target.encoder.encode(signal, records, resource)
            try:
                resp = self._transport.post(target.url, body, target.headers, min(target.timeout, remaining))
            except TransportError as exc:
                results.append((records, export_result(exc)))
                continue
            result = export_result(resp, self.retry_after_max)
            if result.ok:
                partial = _partial_success(resp.body, resp.headers.get("content-type", ""), target.encoder)
                if partial is not None:
                    count, message = partial
                    rejected += count
                    if count or message:
                        logger.debug(
                            "astrid: %s rejected %d %s: %s", redact_url(target.url), count, signal, log_excerpt(message)
                        )
            else:
                logger.debug("astrid: %s answered %s", redact_url(target.url), resp.status)
            results.append((records, result))
        return _combine(batch, results, rejected)

    def shutdown(self, timeout: float) -> None:
        self._transport.close()

    def after_fork(self) -> None:
        """A forked child opens its own connections; the parent's keep-alive ones stay the parent's."""
        self._transport.after_fork()


def _combine(batch: Batch, results: List[Tuple[List[Record], ExportResult]], rejected: int) -> ExportResult:
    """One result for the batch. When some signals landed and others failed, the result says
    which records remain (``remaining``) and how many landed (``delivered``); the batch itself is
    never changed (the pipeline owns it)."""
    failed = [(records, r) for records, r in results if not r.ok]
    if not failed:
        return ExportResult.success(rejected=rejected, status=results[-1][1].status if results else None)
    remaining: Optional[List[Record]] = None
    if len(failed) < len(results):
        keep = {id(rec) for records, _ in failed for rec in records}
        remaining = [rec for rec in batch if id(rec) in keep]
    retryable = [r for _, r in failed if r.retryable and not r.split]
    if retryable:
        waits = [r.retry_after for r in retryable if r.retry_after is not None]
        first = retryable[0]
        out = ExportResult.retry(first.reason, retry_after=max(waits) if waits else None, status=first.status)
    else:
        splits = [r for _, r in failed if r.split]
        out = splits[0] if splits else failed[0][1]
    out.rejected = rejected
    if remaining is not None:
        out.remaining = remaining
        out.delivered = max(0, len(batch) - len(remaining) - rejected)  # landed and accepted
    return out


def _partial_success(body: bytes, content_type: str, encoder: Any) -> Optional[Tuple[int, str]]:
    if not body:
        return None
    from ..encoding import otlp_json, otlp_proto

    decoder = otlp_json if "json" in content_type else otlp_proto if "proto" in content_type else encoder
    result: Optional[Tuple[int, str]] = decoder.decode_partial_success(body)
    return result


# ------------------------------------------------------------------ environment


def _explicit(config: TelemetryConfig, name: str, env_var: str) -> Any:
    """The config value if the application passed it to the client (not from ``env_var``)."""
    return getattr(config, name) if name in config.explicit else None


def _env_value(env: Mapping[str, str], name: str) -> Optional[str]:
    value = env.get(name, "").strip()
    return value or None


def _env_url(env: Mapping[str, str], name: str, allow_insecure: bool) -> Optional[str]:
    from ..network import check_endpoint

    value = _env_value(env, name)
    if value is None:
        return None
    try:
        return check_endpoint(value, allow_insecure, name)
    except ValueError as exc:
        # an end user's environment must not break the host program
        warn_env_once(name, value, "astrid: %s; ignoring it" % exc)
        return None


def _env_choice(env: Mapping[str, str], name: str, allowed: Tuple[str, ...]) -> Optional[str]:
    value = _env_value(env, name)
    if value is None:
        return None
    if value.lower() in allowed:
        return value.lower()
    warn_env_once(name, value, "astrid: %s=%r is not one of %s; ignoring it" % (name, value, ", ".join(allowed)))
    return None


def _env_timeout(env: Mapping[str, str], name: str, default: float) -> float:
    value = _env_value(env, name)
    if value is None:
        return default
    try:
        millis = float(value)  # the OTLP spec gives timeouts in milliseconds
        if 0 < millis <= 3_600_000:  # NaN, inf and more than the client's own maximum are ignored
            return millis / 1000.0
    except ValueError:
        pass
    warn_env_once(name, value, "astrid: %s=%r is not a number of milliseconds from 1 to 3600000; ignoring it" % (name, value))
    return default


def _env_headers(env: Mapping[str, str], name: str) -> Dict[str, str]:
    value = _env_value(env, name)
    return valid_headers(parse_headers(value), name) if value else {}
