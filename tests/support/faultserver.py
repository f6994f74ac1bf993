"""A fault-injecting loopback HTTP server for transport, backend and pipeline tests.

Usage::

    from support.faultserver import FaultServer, Respond, Reset, Hang, Close, Trickle, refused_port

    with FaultServer() as server:                 # binds 127.0.0.1 on a free port, serves on a thread
        server.url                                # "http://127.0.0.1:PORT"
        server.script(Respond(503), Respond(503)) # the next requests get these, in order ...
        server.default = Respond(200)             # ... then this one (the default default)
        server.handler = lambda req: ...          # or decide per request: return a fault or None
        server.wait_for(3, timeout=5)             # block until 3 requests arrived (returns bool)
        server.requests                           # a copy of what arrived, as Request objects
    url = "http://127.0.0.1:%d" % refused_port()  # a port that refuses connections

Faults (what the server does after reading a whole request):

* ``Respond(status=200, headers=None, body=None, delay=0.0)``: answer, after ``delay`` seconds.
  ``body=None`` answers an empty protobuf (or ``{}`` to a JSON request) like an OTLP receiver.
* ``Reset()``: close the connection with a TCP RST, no response.
* ``Close()``: close the connection cleanly (FIN), no response.
* ``Hang(seconds=60.0)``: never answer (until ``seconds`` pass or the server closes).
* ``Trickle(status=200, size=100_000, interval=0.05, headers_at_once=False)``: answer one byte
  every ``interval`` seconds — from the status line on, or (``headers_at_once=True``) the
  headers at once and then the ``size``-byte body byte by byte — until done, the client goes
  away or the server closes. Each byte arrives well inside any socket timeout.

Each ``Request`` has ``method``, ``path``, ``query``, ``headers`` (lower-case keys), ``raw``
(the body as sent), ``body`` (gunzipped if ``Content-Encoding: gzip``), ``time``
(``time.monotonic()`` at arrival), ``fault`` (what the server did), ``peer`` (the client's
port: the same for requests on one keep-alive connection) and ``json()``. Connections
are kept alive (HTTP/1.1) unless a fault closes them. Everything stops by itself on ``close()``.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Union
from urllib.parse import urlsplit


class Respond:
    def __init__(
        self,
        status: int = 200,
        headers: Optional[Dict[str, str]] = None,
        body: Optional[bytes] = None,
        delay: float = 0.0,
    ) -> None:
        self.status, self.headers, self.body, self.delay = status, dict(headers or {}), body, delay

    def __repr__(self) -> str:
        return f"Respond({self.status}, delay={self.delay})"


class Reset:
    def __repr__(self) -> str:
        return "Reset()"


class Close:
    def __repr__(self) -> str:
        return "Close()"


class Hang:
    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Hang({self.seconds})"


class Trickle:
    def __init__(
        self, status: int = 200, size: int = 100_000, interval: float = 0.05, headers_at_once: bool = False
    ) -> None:
        self.status, self.size, self.interval, self.headers_at_once = status, size, interval, headers_at_once

    def __repr__(self) -> str:
        return f"Trickle({self.status}, {self.size} bytes, every {self.interval}s)"


Fault = Union[Respond, Reset, Close, Hang, Trickle]


class Request:
    __slots__ = ("method", "path", "query", "headers", "raw", "body", "time", "fault", "peer")

    def __init__(self, method: str, path: str, query: str, headers: Dict[str, str], raw: bytes) -> None:
        self.method, self.path, self.query, self.headers, self.raw = method, path, query, headers, raw
        self.body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        self.time = time.monotonic()
        self.fault: Optional[Fault] = None
        self.peer = 0  # the client's port: equal for requests on one keep-alive connection

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path}, {len(self.raw)} bytes, {self.fault!r})"


def refused_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, parts.path, parts.query, headers, raw)
        req.peer = int(self.client_address[1])
        owner = self.server.owner
        fault = owner._choose(req)
        req.fault = fault
        owner._record(req)
        if isinstance(fault, Reset):
            # SO_LINGER(on, 0): close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if isinstance(fault, Close):
            self.close_connection = True
            return
        if isinstance(fault, Hang):
            owner._stopping.wait(fault.seconds)
            self.close_connection = True
            return
        if isinstance(fault, Trickle):
            self.close_connection = True
            self._trickle(fault)
            return
        if fault.delay and owner._stopping.wait(fault.delay):
            self.close_connection = True
            return
        body = fault.body
        ctype = headers.get("content-type", "application/x-protobuf")
        if body is None:
            body = b"{}" if "json" in ctype else b""
        self.send_response(fault.status)
        self.send_header("Content-Type", ctype if fault.body is None else "application/octet-stream")
        for k, v in fault.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


    def _trickle(self, fault: Trickle) -> None:
        head = (
            f"HTTP/1.1 {fault.status} Slow\r\nContent-Type: application/octet-stream\r\n"
            f"X-Padding: {'p' * 200}\r\n"  # a head long enough to trickle for a while
            f"Content-Length: {fault.size}\r\n\r\n"
        ).encode("ascii")
        stopping = self.server.owner._stopping
        try:
            if fault.headers_at_once:
                self.wfile.write(head)
                data = b"x" * fault.size
            else:
                data = head + b"x" * fault.size
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                if stopping.wait(fault.interval):
                    return
        except OSError:  # the client gave up
            return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FaultServer


class FaultServer:
    """See the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Condition()
        self._requests: List[Request] = []
        self._script: List[Fault] = []
        self._stopping = threading.Event()
        self.default: Fault = Respond(200)
        self.handler: Optional[Callable[[Request], Optional[Fault]]] = None
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self._script.extend(faults)

    def _choose(self, req: Request) -> Fault:
        with self._lock:
            if self._script:
                return self._script.pop(0)
        if self.handler is not None:
            fault = self.handler(req)
            if fault is not None:
                return fault
        return self.default

    def _record(self, req: Request) -> None:
        with self._lock:
            self._requests.append(req)
            self._lock.notify_all()

    @property
    def requests(self) -> List[Request]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` requests arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
