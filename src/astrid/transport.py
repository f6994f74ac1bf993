"""HttpTransport: a stdlib HTTP client with keep-alive, gzip, TLS, CONNECT proxies and hard timeouts."""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import logging
import select
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import unquote, urlsplit

from ._version import __version__
from .config import check_compression, check_compression_level
from .export import ExportResult
from .network import (
    TransportError,
    check_endpoint,
    connect_bounded,
    proxy_for,
    redact_headers,
    redact_url,
)
from .resilience import result_from_status

if TYPE_CHECKING:  # pragma: no cover
    from .config import TelemetryConfig

logger = logging.getLogger("astrid")

USER_AGENT = f"astrid-python/{__version__}"
#: Bodies smaller than this are sent as they are: gzip would cost more than it saves.
GZIP_MIN_BYTES = 1024
#: OTLP and ingest responses are small; a larger body is read up to here and the connection dropped.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_MAX_IDLE_PER_HOST = 4

REASONS = (
    "connection_refused",
    "connection_reset",
    "timeout",
    "dns",
    "tls",
    "proxy",
    "protocol",
    "other",
)


class HttpResponse:
    """Status, headers (lower-case keys) and body of one HTTP response."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"HttpResponse(status={self.status}, {len(self.body)} bytes)"


def _arm(sock: socket.socket, deadline: float, what: str) -> None:
    """Give the socket what is left of the request's deadline for its next operation."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout(f"deadline passed {what}")
    sock.settimeout(left)


class _DeadlineReader(io.RawIOBase):
    """The response side of a socket where every recv gets only what is left of one deadline.

    A socket timeout alone restarts at each recv, so a server that trickles a byte at a time
    could stretch a one-second timeout without end (http.client reads the status line, the
    headers and the body in many small recvs).
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, b: "bytearray | memoryview") -> int:  # type: ignore[override]
        _arm(self._sock, self._deadline, "while reading the response")
        return self._sock.recv_into(b)


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, deadline: float, debuglevel: int = 0, method: Optional[str] = None,
                 url: Optional[str] = None) -> None:
        super().__init__(sock, debuglevel, method, url)
        self.fp.close()  # the plain makefile() reader, replaced by one that keeps the deadline
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))


class _DeadlineConnection(http.client.HTTPConnection):
    """Connect, send and read (status line, headers, body) within one deadline per request."""

    proxied = False
    deadline = float("inf")  # set by the transport before each request

    def _deadline_response(self, sock: socket.socket, debuglevel: int = 0, method: Optional[str] = None,
                           url: Optional[str] = None) -> http.client.HTTPResponse:
        return _DeadlineResponse(sock, self.deadline, debuglevel, method, url)

    def _connect_within_deadline(self, address: Tuple[str, int], timeout: Optional[float],
                                 source_address: Any = None) -> socket.socket:
        sock = connect_bounded(address, timeout, source_address)
        if self.deadline != float("inf"):
            # the proxy tunnel and the TLS handshake (one total timeout in CPython) get what is left
            _arm(sock, self.deadline, "after connecting")
        return sock

    def send(self, data: "bytes | bytearray | memoryview") -> None:  # type: ignore[override]
        if self.sock is not None:
            _arm(self.sock, self.deadline, "while sending")  # sendall keeps one timeout for all of it
        super().send(data)


class _Conn(_DeadlineConnection):
    def __init__(self, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._create_connection = self._connect_within_deadline  # type: ignore[assignment]
        self.response_class = self._deadline_response  # type: ignore[assignment]


class _TLSConn(_DeadlineConnection, http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, timeout: float, context: ssl.SSLContext) -> None:
        http.client.HTTPSConnection.__init__(self, host, port, timeout=timeout, context=context)
        self._create_connection = self._connect_within_deadline  # type: ignore[assignment]
        self.response_class = self._deadline_response  # type: ignore[assignment]


_Connection = Union[_Conn, _TLSConn]

_POLL = getattr(select, "poll", None)  # not on Windows, where select() has no 1,024-descriptor limit
_POLL_READY = getattr(select, "POLLIN", 1) | getattr(select, "POLLPRI", 2)


def _is_stale(conn: _Connection) -> bool:
    """An idle keep-alive socket that is readable (or hung up) was closed or garbled by the server.

    poll(), not select(): select() cannot watch a descriptor above 1,023, and a process with many
    open files would then never reuse a connection.
    """
    sock = conn.sock
    if sock is None:
        return True
    try:
        fd = sock.fileno()
        if fd < 0:
            return True
        if _POLL is not None:
            poller = _POLL()
            poller.register(fd, _POLL_READY)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _classify(exc: BaseException, proxied: bool, connecting: bool) -> TransportError:
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransportError("timeout", "timed out")
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return TransportError("tls", f"TLS error: {exc}")
    if isinstance(exc, socket.gaierror):
        return TransportError("dns", f"cannot resolve host: {exc}")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError("proxy" if proxied else "connection_refused", "connection refused")
    if isinstance(
        exc,
        (
            ConnectionResetError,
            BrokenPipeError,
            ConnectionAbortedError,
            http.client.RemoteDisconnected,
        ),
    ):
        return TransportError("connection_reset", f"connection reset: {type(exc).__name__}")
    if proxied and connecting and isinstance(exc, OSError) and "Tunnel" in str(exc):
        return TransportError("proxy", f"proxy refused the tunnel: {str(exc)[:120]}")
    if isinstance(exc, http.client.HTTPException):
        return TransportError("protocol", f"bad HTTP response: {type(exc).__name__}")
    return TransportError("other", f"{type(exc).__name__}: {str(exc)[:200]}")


_STALE_ERRORS = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
)


class HttpTransport:
    """POSTs bodies over pooled keep-alive connections. Thread-safe; ``post`` never blocks past its timeout."""

    def __init__(
        self,
        config: TelemetryConfig,
        compression: Optional[str] = None,
        compression_level: Optional[int] = None,
    ) -> None:
        self.compression = check_compression(compression if compression is not None else config.compression)
        self.compression_level = check_compression_level(
            compression_level if compression_level is not None else config.compression_level
        )
        self._env = config.env
        self._ca_file = config.ca_file
        self._client_cert = config.client_cert
        self._client_key = config.client_key
        self._context: Optional[ssl.SSLContext] = None
        if self._ca_file or self._client_cert or self._client_key:
            self._context = (
                self._make_context()
            )  # a wrong path is the user's to fix now, not at 3 am
        self._lock = threading.Lock()
        self._idle: Dict[Tuple[str, str, int], List[_Connection]] = {}
        self._closed = False

    # -------------------------------------------------------------- TLS

    def _make_context(self) -> ssl.SSLContext:
        try:
            ctx = ssl.create_default_context(cafile=self._ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"ca_file={self._ca_file!r} cannot be loaded as a PEM CA bundle: {exc}"
            )
        if self._client_cert:
            try:
                # password="": an encrypted key fails here instead of OpenSSL prompting on the terminal
                ctx.load_cert_chain(self._client_cert, self._client_key, password="")
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"client_cert/client_key cannot be loaded (PEM certificate and key expected): {type(exc).__name__}"
                )
        elif self._client_key:
            raise ValueError("client_key is set without client_cert; give both for mutual TLS")
        return ctx

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = self._make_context()
        return self._context

    # -------------------------------------------------------------- pool

    def _checkout(self, key: Tuple[str, str, int]) -> Optional[_Connection]:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if not _is_stale(conn):
                    return conn
                conn.close()
        return None

    def _checkin(self, key: Tuple[str, str, int], conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if self._closed or len(idle) >= _MAX_IDLE_PER_HOST:
                conn.close()
            else:
                idle.append(conn)

    def _new_conn(self, scheme: str, host: str, port: int, timeout: float) -> _Connection:
        proxy = proxy_for(scheme, host, port, self._env)
        target_host, target_port = (proxy[0], proxy[1]) if proxy else (host, port)
        conn: _Connection
        if scheme == "https":
            conn = _TLSConn(target_host, target_port, timeout, self._tls())
        else:
            conn = _Conn(target_host, target_port, timeout)
        if proxy:
            tunnel_headers = {"Proxy-Authorization": proxy[2]} if proxy[2] else None
            conn.set_tunnel(host, port, headers=tunnel_headers)
            conn.proxied = True
        return conn

    # -------------------------------------------------------------- post

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """Send one POST; return the response or raise TransportError. Never longer than ``timeout``."""
        deadline = time.monotonic() + max(0.001, timeout)
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme, parts.hostname or ""
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise TransportError("other", f"invalid URL {redact_url(url)}")
        if scheme not in ("http", "https") or not host:
            raise TransportError("other", f"invalid URL {redact_url(url)}")
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        hdrs = {"User-Agent": USER_AGENT}
        hdrs.update(headers)
        if parts.username is not None and not any(k.lower() == "authorization" for k in hdrs):
            cred = unquote(parts.username) + ":" + unquote(parts.password or "")
            hdrs["Authorization"] = "Basic " + base64.b64encode(cred.encode("utf-8")).decode(
                "ascii"
            )
        if self.compression == "gzip" and len(body) > GZIP_MIN_BYTES:
            body = gzip.compress(body, self.compression_level, mtime=0)
            hdrs["Content-Encoding"] = "gzip"
        key = (scheme, host, port)
        conn = self._checkout(key)
        reused = conn is not None
        for _attempt in range(2):
            if conn is None:
                conn = self._new_conn(scheme, host, port, deadline - time.monotonic())
            try:
                resp, keep = self._exchange(conn, path, body, hdrs, deadline)
            except _STALE_ERRORS as exc:
                conn.close()
                if reused and time.monotonic() < deadline:
                    # the server closed an idle keep-alive connection as we sent: one fresh try
                    conn, reused = None, False
                    continue
                err = _classify(exc, conn.proxied, False)
                logger.debug("astrid: POST %s failed: %s", redact_url(url), err)
                raise err
            except BaseException as exc:
                connecting = conn.sock is None
                conn.close()
                err = _classify(exc, conn.proxied, connecting)
                logger.debug("astrid: POST %s failed: %s", redact_url(url), err)
                raise err
            if keep:
                self._checkin(key, conn)
            else:
                conn.close()
            return resp
        raise TransportError("other", "unreachable")  # pragma: no cover

    def _exchange(
        self, conn: _Connection, path: str, body: bytes, headers: Dict[str, str], deadline: float
    ) -> Tuple[HttpResponse, bool]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed before sending")
        conn.deadline = deadline
        conn.timeout = remaining  # for a connect made by request()
        try:
            conn.request("POST", path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # a server may answer (413, 401) and close before reading all of a large body
            try:
                resp = conn.getresponse()
            except Exception:
                raise BrokenPipeError("connection closed while sending")
            return self._read(conn, resp, deadline), False
        resp = conn.getresponse()
        out = self._read(conn, resp, deadline)
        return out, not resp.will_close and len(out.body) < MAX_RESPONSE_BYTES

    @staticmethod
    def _read(conn: _Connection, resp: http.client.HTTPResponse, deadline: float) -> HttpResponse:
        chunks: List[bytes] = []
        size = 0
        while size < MAX_RESPONSE_BYTES:
            if deadline - time.monotonic() <= 0:
                raise socket.timeout("deadline passed while reading the response")
            chunk = resp.read(65536)  # every recv inside is bounded by the deadline (_DeadlineReader)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return HttpResponse(resp.status, headers, b"".join(chunks))

    def after_fork(self) -> None:
        """In a forked child: forget the parent's keep-alive connections and take a fresh lock.

        The child's copies of the sockets are closed without a shutdown, which leaves the
        parent's connections intact; the child opens its own on its first post.
        """
        pools, self._idle = self._idle, {}
        self._lock = threading.Lock()
        for conns in pools.values():
            for conn in conns:
                try:
                    conn.close()
                except Exception:
                    pass

    def close(self) -> None:
        """Close every pooled connection. Later posts still work, on fresh connections."""
        with self._lock:
            self._closed = True
            pools, self._idle = self._idle, {}
        for conns in pools.values():
            for conn in conns:
                try:
                    conn.close()
                except Exception:
                    pass


def export_result(
    outcome: Union[HttpResponse, BaseException], retry_after_max: float = 60.0
) -> ExportResult:
    """Turn a response or a transport error into an ExportResult (success/retry/split/failure)."""
    if isinstance(outcome, HttpResponse):
        return result_from_status(outcome.status, outcome.headers, retry_after_max=retry_after_max)
    if isinstance(outcome, TransportError):
        return ExportResult.retry(outcome.reason)
    return ExportResult.retry("other")


__all__ = [
    "GZIP_MIN_BYTES",
    "HttpResponse",
    "HttpTransport",
    "TransportError",
    "check_endpoint",
    "export_result",
    "proxy_for",
    "redact_headers",
    "redact_url",
]
