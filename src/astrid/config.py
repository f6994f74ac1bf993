"""TelemetryConfig: every option, its default and environment variable; the one reader of os.environ."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Set, Tuple

from ._logging import silence as _silence

logger = logging.getLogger("astrid")
_silence()

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

COMPRESSIONS = ("gzip", "none")
EVENTS_AS = ("spans", "logs")


def environ() -> Dict[str, str]:
    """A snapshot of the process environment. Every other module asks here, never os.environ."""
    return dict(os.environ)


def parse_bool(value: Optional[str]) -> Optional[bool]:
    """``1/true/yes/on`` → True, ``0/false/no/off`` → False (any case), anything else → None."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    return None


def project_env_name(project_name: str) -> str:
    """``my-lib`` → ``MY_LIB_TELEMETRY``: the per-project switch an end user sets."""
    return re.sub(r"[^A-Za-z0-9]", "_", project_name).upper() + "_TELEMETRY"


def _opt(default: Any, env: Optional[str], doc: str, **kw: Any) -> Any:
    meta = {"env": env, "doc": doc}
    if default in (dict, list):
        return field(default_factory=default, metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass(frozen=True)
class TelemetryConfig:
    """Every client option. Precedence: constructor argument > environment variable > default."""

    project_name: str = _opt("", None, "Name of the application or library; becomes service.name.")
    version: Optional[str] = _opt(None, None, "Version of the application; becomes service.version.")
    backend: Any = _opt(
        "otlp",
        "ASTRID_BACKEND",
        "Where telemetry goes: otlp, clickhouse, http, console, file, memory, a Backend object or a list.",
    )
    endpoint: Optional[str] = _opt(
        None, "ASTRID_ENDPOINT", "Base URL of the backend (OTLP also reads OTEL_EXPORTER_OTLP_ENDPOINT); ClickHouse takes several nodes as a list or comma-separated URLs."
    )
    headers: Dict[str, str] = _opt(
        dict, "ASTRID_HEADERS", "Extra HTTP headers, e.g. an API key (env: k1=v1,k2=v2, URL-encoded)."
    )
    enabled: Optional[bool] = _opt(
        None, None, "None: decided by the consent rules; True/False: the application decides (DO_NOT_TRACK still wins)."
    )
    batch_size: int = _opt(512, "ASTRID_BATCH_SIZE", "Records per export batch.")
    flush_interval: float = _opt(5.0, "ASTRID_FLUSH_INTERVAL", "Seconds between scheduled exports (and metric collection).")
    max_queue_size: int = _opt(20000, "ASTRID_MAX_QUEUE_SIZE", (
        "Records held in memory at most: the queue and every backend's backlog together "
        '(`stats()["queue_high_water"]` shows the peak); the oldest are dropped beyond it.'))
    compression: str = _opt("gzip", "ASTRID_COMPRESSION", "Request body compression: gzip or none.")
    compression_level: int = _opt(1, "ASTRID_COMPRESSION_LEVEL", "gzip level 1-9 (1: least CPU on the host; telemetry compresses well at any level).")
    timeout: float = _opt(10.0, "ASTRID_TIMEOUT", "Seconds one HTTP request may take (connect, TLS, send, read).")
    shutdown_timeout: float = _opt(5.0, "ASTRID_SHUTDOWN_TIMEOUT", "Seconds shutdown() and the exit-time flush may take.")
    sample_rate: float = _opt(1.0, "ASTRID_SAMPLE_RATE", "Fraction of traces kept (0.0-1.0), decided from the trace id before queueing (as OpenTelemetry's TraceIdRatioBased): a trace's spans and events go together; logs, errors and metrics are always kept.")
    resource_attributes: Dict[str, Any] = _opt(dict, None, "Extra resource attributes (merged over OTEL_RESOURCE_ATTRIBUTES).")
    before_send: Optional[Callable[[Any], Any]] = _opt(
        None, None, "Callable(record) -> record or None (drop), run on the worker after the privacy engine."
    )
    privacy: Any = _opt(None, None, "PrivacyConfig (None: the safe defaults).")
    events_as: str = _opt("spans", "ASTRID_EVENTS_AS", "How events are exported over OTLP: spans or logs.")
    spool_dir: Optional[str] = _opt(None, "ASTRID_SPOOL_DIR", "Directory of the disk spool: sanitized batches survive crashes, restarts and outages (off by default; see docs/durability.md).")
    spool_max_bytes: int = _opt(64 * 1024 * 1024, "ASTRID_SPOOL_MAX_BYTES", "Bytes the spool may hold; beyond it the oldest segments are deleted (counted as spool_dropped).")
    spool_max_age: float = _opt(7 * 86400.0, "ASTRID_SPOOL_MAX_AGE", "Seconds a spooled batch is kept at most (default 7 days); older segments are deleted (counted).")
    allow_insecure: bool = _opt(False, "ASTRID_ALLOW_INSECURE", "Allow plain http:// to a host that is not loopback.")
    ca_file: Optional[str] = _opt(None, "ASTRID_CA_FILE", "CA bundle (PEM) to verify the server's TLS certificate.")
    client_cert: Optional[str] = _opt(None, "ASTRID_CLIENT_CERT", "Client certificate (PEM) for mutual TLS.")
    client_key: Optional[str] = _opt(None, "ASTRID_CLIENT_KEY", "Private key (PEM) of the client certificate.")
    backoff_base: float = _opt(0.5, None, "First retry delay in seconds (exponential backoff with full jitter).")
    backoff_max: float = _opt(30.0, None, "Longest retry delay in seconds.")
    retry_after_max: float = _opt(60.0, None, "Longest Retry-After the SDK honours, in seconds.")
    breaker_threshold: int = _opt(5, None, "Consecutive failed exports that open the circuit breaker.")
    breaker_cooldown: float = _opt(10.0, None, "Seconds the breaker stays open before a half-open probe.")
    max_metric_series: int = _opt(2000, None, "Distinct metric name+attribute series per interval; more are dropped and counted.")
    install_atexit: bool = _opt(True, None, "Flush at interpreter exit, bounded by shutdown_timeout.")
    debug: bool = _opt(False, "ASTRID_DEBUG", "Print SDK diagnostics (the astrid logger) to stderr.")
    env: Mapping[str, str] = field(default_factory=environ, repr=False, compare=False, metadata={"env": None, "doc": "Environment snapshot."})
    explicit: FrozenSet[str] = field(default=frozenset(), repr=False, compare=False, metadata={"env": None, "doc": "Options the application passed."})

    # ------------------------------------------------------------------ building

    @classmethod
    def option_names(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("env", "explicit"))

    @classmethod
    def from_options(
        cls,
        env: Optional[Mapping[str, str]] = None,
        backend_check: Optional[Callable[[Any], None]] = None,
        **options: Any,
    ) -> "TelemetryConfig":
        """Build and validate a config from constructor arguments, then environment, then defaults.

        ``backend_check`` tells whether an ``ASTRID_BACKEND`` value names known backends (the
        client passes the registry's check; this module sits below the registry and does not
        import it). Without it, names from the environment are only normalized.
        """
        env = dict(environ() if env is None else env)
        endpoint = options.get("endpoint")
        if isinstance(endpoint, (list, tuple)):
            # several nodes (the ClickHouse backend): kept as one comma-separated string
            if not endpoint or not all(isinstance(e, str) and e.strip() and "," not in e for e in endpoint):
                raise TypeError("endpoint must be a URL string or a list of URL strings")
            options = dict(options, endpoint=",".join(e.strip() for e in endpoint))
        fields = {f.name: f for f in dataclasses.fields(cls)}
        given = frozenset(k for k, v in options.items() if v is not None and k in fields)
        from_env: List[str] = []
        values: Dict[str, Any] = {"env": env, "explicit": given}
        for name, f in fields.items():
            if name in ("env", "explicit"):
                continue
            if name in options and options[name] is not None:
                values[name] = options[name]
                continue
            var = f.metadata.get("env")
            raw = env.get(var) if var else None
            if var and isinstance(raw, str) and raw.strip() != "":
                # an end user's value must not break the host program: a bad one is logged
                # (once) and the default is used, whether telemetry is on or off
                try:
                    value = _from_env(name, f, raw, var)
                    cls._check_one(name, value)
                except (ValueError, TypeError) as exc:
                    warn_env_once(var, raw, "ignoring %s=%s: %s; using the default" % (var, _short(raw), exc))
                    continue
                values[name] = value
                from_env.append(name)
        if from_env:
            _check_env_combinations(values, from_env, fields, backend_check)
        cfg = cls(**values)
        try:
            cfg.validate()
        except (ValueError, TypeError) as exc:
            if not from_env:
                raise
            # a combination the per-option checks cannot see: the environment gives way
            warn_env_once(",".join(from_env), "", "%s; ignoring the environment's values for %s" % (exc, ", ".join(from_env)))
            for name in from_env:
                del values[name]
            cfg = cls(**values)
            cfg.validate()
        return cfg

    @classmethod
    def _check_one(cls, name: str, value: Any) -> None:
        """Validate one option on its own (every other option at its default)."""
        cls(project_name="check", env={}, **{name: value}).validate()

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the option and what is allowed."""
        if not isinstance(self.project_name, str) or not self.project_name.strip():
            raise ValueError("project_name must be a non-empty string, e.g. project_name='my-app'")
        if self.version is not None and not isinstance(self.version, str):
            raise TypeError("version must be a string such as '1.2.0' or None")
        if self.enabled is not None and not isinstance(self.enabled, bool):
            raise TypeError("enabled must be True, False or None (None: decided by the consent rules)")
        _check_int("batch_size", self.batch_size, 1, 1_000_000)
        _check_int("max_queue_size", self.max_queue_size, 1, 100_000_000)
        check_compression_level(self.compression_level)
        _check_int("breaker_threshold", self.breaker_threshold, 1, 1_000_000)
        _check_int("max_metric_series", self.max_metric_series, 1, 10_000_000)
        _check_int("spool_max_bytes", self.spool_max_bytes, 64 * 1024, 2**50)
        _check_number("spool_max_age", self.spool_max_age, 1.0, 10 * 365 * 86400.0)
        _check_number("flush_interval", self.flush_interval, 0.001, 86400)
        check_timeout(self.timeout)
        _check_number("shutdown_timeout", self.shutdown_timeout, 0, 3600)
        _check_number("sample_rate", self.sample_rate, 0.0, 1.0)
        _check_number("backoff_base", self.backoff_base, 0.0, 3600)
        _check_number("backoff_max", self.backoff_max, 0.0, 86400)
        _check_number("retry_after_max", self.retry_after_max, 0.0, 86400)
        _check_number("breaker_cooldown", self.breaker_cooldown, 0.0, 86400)
        check_compression(self.compression)
        check_events_as(self.events_as)
        check_headers(self.headers)
        if not isinstance(self.resource_attributes, Mapping):
            raise TypeError("resource_attributes must be a mapping of attribute names to values")
        if self.before_send is not None and not callable(self.before_send):
            raise TypeError("before_send must be a callable(record) -> record | None")
        if self.endpoint is not None and not isinstance(self.endpoint, str):
            raise TypeError("endpoint must be a URL string such as 'http://localhost:4318'")
        if self.spool_dir is not None and not isinstance(self.spool_dir, (str, os.PathLike)):
            raise TypeError("spool_dir must be a directory path or None")
        for name in ("allow_insecure", "install_atexit", "debug"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError("%s must be True or False" % name)


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an integer between %d and %d; got %r" % (name, lo, hi, value))
    if not lo <= value <= hi:
        raise ValueError("%s must be between %d and %d; got %r" % (name, lo, hi, value))


def _check_number(name: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number between %g and %g; got %r" % (name, lo, hi, value))
    if math.isnan(value) or not lo <= value <= hi:
        raise ValueError("%s must be between %g and %g; got %r" % (name, lo, hi, value))


# The checks below are shared by the config, the transport and the backends' own options, so
# `compression=`, `timeout=` and `headers=` mean the same and fail the same everywhere.


def check_compression(value: Any, name: str = "compression") -> str:
    """``value`` when it is a known compression ('gzip' or 'none'); ValueError otherwise."""
    if value not in COMPRESSIONS:
        raise ValueError("%s must be one of %s; got %r" % (name, ", ".join(map(repr, COMPRESSIONS)), value))
    return str(value)


def check_events_as(value: Any, name: str = "events_as") -> str:
    """``value`` when events may be exported that way ('spans' or 'logs'); ValueError otherwise."""
    if value not in EVENTS_AS:
        raise ValueError("%s must be one of %s; got %r" % (name, ", ".join(map(repr, EVENTS_AS)), value))
    return str(value)


def check_compression_level(value: Any, name: str = "compression_level") -> int:
    """``value`` when it is a gzip level from 1 to 9; TypeError/ValueError otherwise."""
    _check_int(name, value, 1, 9)
    return int(value)


def check_timeout(value: Any, name: str = "timeout") -> float:
    """``value`` in seconds when it is a finite number from 0.001 to 3600; TypeError/ValueError otherwise."""
    _check_number(name, value, 0.001, 3600)
    return float(value)


def check_headers(headers: Any, name: str = "headers") -> Dict[str, str]:
    """A copy of ``headers`` when every name and value can be sent; TypeError/ValueError otherwise."""
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise TypeError("%s must be a mapping of str to str, e.g. {'Authorization': 'Bearer …'}" % name)
    for k, v in headers.items():
        problem = header_problem(k, v)
        if problem:
            raise ValueError("%s: %s" % (name, problem))
    return dict(headers)


def parse_headers(text: str) -> Dict[str, str]:
    """W3C-baggage-style ``k1=v1,k2=v2`` with URL-encoded parts (as OTEL_EXPORTER_OTLP_HEADERS)."""
    from urllib.parse import unquote

    out: Dict[str, str] = {}
    for part in text.split(","):
        if "=" not in part:
            continue
        k, _, v = part.partition("=")
        k = unquote(k.strip())
        if k:
            out[k] = unquote(v.strip())
    return out


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


def header_problem(name: str, value: str) -> Optional[str]:
    """Why an HTTP header cannot be sent (a name that is not a token, a control or non-Latin-1
    character in the value), or None when it can."""
    if not _TOKEN.fullmatch(name):
        return "%r is not a valid header name (letters, digits and !#$%%&'*+.^_`|~- only)" % name
    if _BAD_VALUE_CHAR.search(value):
        return "the value of %r has a line break, a control character or a character outside Latin-1" % name
    return None


def valid_headers(headers: Mapping[str, str], source: str) -> Dict[str, str]:
    """The headers that can be sent; each one dropped is logged once (for environment values)."""
    out: Dict[str, str] = {}
    for k, v in headers.items():
        problem = header_problem(k, v)
        if problem:
            warn_env_once(source, k, "%s: %s; header ignored" % (source, problem))
        else:
            out[k] = v
    return out


_warned: Set[Tuple[str, str, str]] = set()


def warn_env_once(var: str, raw: str, problem: str) -> None:
    """Log an ignored environment value once per process (it is read by every client created)."""
    key = (var, raw[:200], problem[:200])
    if key in _warned:
        return
    if len(_warned) > 1000:
        _warned.clear()
    _warned.add(key)
    logger.warning("%s", problem)


def _check_env_combinations(
    values: Dict[str, Any],
    from_env: List[str],
    fields: Mapping[str, Any],
    backend_check: Optional[Callable[[Any], None]] = None,
) -> None:
    """Drop environment values that are valid alone but not with the rest (logged once)."""

    def drop(name: str, problem: str) -> None:
        var = fields[name].metadata.get("env") or name
        warn_env_once(var, str(values.get(name)), problem + "; using the default")
        values.pop(name, None)
        from_env.remove(name)

    allow_insecure = values.get("allow_insecure", fields["allow_insecure"].default)
    if "endpoint" in from_env:
        from .network import check_endpoint  # the same rule the backends apply at construction

        for part in str(values["endpoint"]).split(","):
            try:
                check_endpoint(part, bool(allow_insecure), "ASTRID_ENDPOINT")
            except ValueError as exc:
                drop("endpoint", str(exc))
                break
    if "backend" in from_env:
        # "otlp", " OTLP ", "otlp,console": names, any case, several separated by commas
        names = [p.strip() for p in str(values["backend"]).split(",") if p.strip()]
        problem = ""
        candidates = (names, [n.lower() for n in names]) if backend_check is not None else ([n.lower() for n in names],)
        for candidate in candidates:
            spec: Any = candidate[0] if len(candidate) == 1 else candidate
            try:
                if backend_check is not None:
                    backend_check(spec)
            except (ValueError, TypeError) as exc:
                problem = problem or str(exc)
                continue
            values["backend"] = spec
            break
        else:
            drop("backend", "ASTRID_BACKEND: %s" % problem)
    tls = [n for n in ("ca_file", "client_cert", "client_key") if n in from_env]
    if tls:
        tls_problem = _tls_problem(values.get("ca_file"), values.get("client_cert"), values.get("client_key"))
        if tls_problem:
            for name in tls:
                drop(name, "%s (from the environment): %s" % (fields[name].metadata.get("env"), tls_problem))


def _tls_problem(ca_file: Any, cert: Any, key: Any) -> Optional[str]:
    """Why these TLS files cannot be used, or None (the transport loads them the same way)."""
    import ssl

    try:
        ctx = ssl.create_default_context(cafile=ca_file or None)
        if cert:
            ctx.load_cert_chain(cert, key or None, password="")  # never OpenSSL's terminal prompt
        elif key:
            return "a client key without a client certificate"
    except (OSError, ssl.SSLError, ValueError) as exc:
        return "cannot load the TLS files: %s" % type(exc).__name__
    return None


def _from_env(name: str, f: "dataclasses.Field[Any]", raw: str, var: str) -> Any:
    raw = raw.strip()
    default = f.default
    if name == "headers":
        return valid_headers(parse_headers(raw), var)
    if isinstance(default, bool):
        b = parse_bool(raw)
        if b is None:
            raise ValueError("%s takes 1/true/yes/on or 0/false/no/off" % name)
        return b
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ValueError("%s takes %s" % (name, "an integer" if isinstance(default, int) else "a number"))
    return raw


def _short(raw: str) -> str:
    """An environment value fit for a log line: quoted, escaped, at most ~60 characters."""
    return repr(raw if len(raw) <= 60 else raw[:57] + "...")
