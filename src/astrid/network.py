"""Where and how the transport connects: endpoint checks, proxy choice, deadline-bounded connects."""

from __future__ import annotations

import base64
import ipaddress
import logging
import re
import socket
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import unquote, urlsplit

from ._logging import silence as _silence

logger = logging.getLogger("astrid")
_silence()

_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"}
)


class TransportError(Exception):
    """A network fault (no HTTP response): ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


# ------------------------------------------------------------------ URL checks


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """The URL without credentials or query string, fit for a log line or an error message."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"
    except ValueError:
        return "<invalid url>"


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def log_excerpt(data: Any, limit: int = 200) -> str:
    """Text a receiver sent, fit for one log line: at most ``limit`` characters, control and
    bidi characters (newlines, ANSI escapes, RTL overrides) shown escaped, so a hostile or
    broken receiver cannot forge log lines or hide text."""
    try:
        text = data[: limit * 4].decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else str(data)
    except Exception:
        return "<unprintable>"
    text = _UNPRINTABLE.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 0x100 else "\\u%04x" % ord(m.group()), text.strip())
    return text[:limit] + ("…" if len(text) > limit else "")


def redact_headers(headers: Mapping[str, str]) -> Dict[str, str]:
    """Headers with secret values replaced, for diagnostics."""
    return {k: ("<redacted>" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}


def check_endpoint(url: str, allow_insecure: bool, option: str = "endpoint") -> str:
    """Validate a backend URL at construction; return it stripped. Raises ValueError."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(
            f"{option} must be a URL such as 'https://collector.example:4318'; got {url!r}"
        )
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{option}={redact_url(url)} is not a valid URL (bad port?)")
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"{option}={redact_url(url)} must start with https:// (or http:// for a local collector)"
        )
    if not parts.hostname:
        raise ValueError(f"{option}={redact_url(url)} has no host name")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname):
        raise ValueError(
            f"{option}={redact_url(url)} sends telemetry unencrypted to a host that is not loopback; use https:// or "
            "pass allow_insecure=True (ASTRID_ALLOW_INSECURE=1)"
        )
    return url


# ------------------------------------------------------------------ proxies


def _env_get(env: Mapping[str, str], name: str) -> str:
    # lower case first, as curl and urllib do
    lower = (env.get(name.lower()) or "").strip()
    if lower:
        return lower
    if name.upper() == "HTTP_PROXY" and "REQUEST_METHOD" in env:
        # httpoxy: under CGI, HTTP_PROXY is the request's "Proxy:" header, chosen by whoever
        # sent the request; ignore it as urllib does (lower-case http_proxy still counts)
        return ""
    return (env.get(name.upper()) or "").strip()


def _no_proxy_match(host: str, port: int, no_proxy: str) -> bool:
    host = host.strip("[]").lower()
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry_port = None
        if entry.count(":") == 1:
            entry, _, p = entry.partition(":")
            entry_port = int(p) if p.isdigit() else None
        entry = entry.lstrip("*").lstrip(".").strip("[]")
        if entry_port is not None and entry_port != port:
            continue
        if host == entry or host.endswith("." + entry):
            return True
    return False


def proxy_for(
    scheme: str, host: str, port: int, env: Mapping[str, str]
) -> Optional[Tuple[str, int, Optional[str]]]:
    """(proxy host, proxy port, Proxy-Authorization value) for a target, or None to go direct."""
    if is_loopback(host):
        return None  # a proxy cannot reach this machine's loopback
    raw = _env_get(env, "https_proxy" if scheme == "https" else "http_proxy") or _env_get(
        env, "all_proxy"
    )
    if not raw or _no_proxy_match(host, port, _env_get(env, "no_proxy")):
        return None
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        pport = parts.port or 80
    except ValueError:
        pport, parts = 0, urlsplit("")
    if parts.scheme != "http" or not parts.hostname or not pport:
        logger.warning(
            "astrid: ignoring proxy %s: only http:// proxies (CONNECT) are supported",
            redact_url(raw),
        )
        return None
    auth = None
    if parts.username is not None:
        cred = unquote(parts.username) + ":" + unquote(parts.password or "")
        auth = "Basic " + base64.b64encode(cred.encode("utf-8")).decode("ascii")
    return parts.hostname, pport, auth


# ------------------------------------------------------------------ connections


def resolve_bounded(host: str, port: int, timeout: float) -> List[Any]:
    """getaddrinfo bounded by ``timeout`` (the C resolver has no timeout of its own)."""
    try:
        ipaddress.ip_address(host)
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except ValueError:
        pass
    box: Dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["v"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except BaseException as exc:  # handed over to the caller's thread
            box["e"] = exc
        done.set()

    try:
        threading.Thread(target=run, name="astrid-dns", daemon=True).start()
    except RuntimeError:
        # no new thread at interpreter shutdown (Python 3.12.0/3.12.1 refuse one even in atexit
        # handlers): resolve on this thread, so the exit flush still reaches a host name
        run()
    if not done.wait(max(0.0, timeout)):
        raise TransportError("timeout", f"resolving {host} timed out")
    if "e" in box:
        raise TransportError("dns", f"cannot resolve {host}: {box['e']}")
    return list(box["v"])


def connect_bounded(
    address: Tuple[str, int], timeout: Optional[float], source: Any = None
) -> socket.socket:
    """socket.create_connection whose name resolution obeys the same deadline."""
    deadline = time.monotonic() + (timeout if timeout is not None else 30.0)
    host, port = address
    last: Optional[BaseException] = None
    for family, kind, proto, _, sockaddr in resolve_bounded(host, port, deadline - time.monotonic()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("connect timed out")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            if source:
                sock.bind(source)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            last = exc
            sock.close()
    raise last if last is not None else OSError(f"no address for {host}")
