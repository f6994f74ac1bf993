"""A loopback HTTP/1.1 keep-alive receiver that records every request with the TCP connection it came on."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Tuple


class Recorder:
    """Answers every POST with 200 ``{}`` on a keep-alive connection and records
    ``(peer_port, path, body)``: requests with the same peer port came over the same connection."""

    def __init__(self) -> None:
        self.requests: List[Tuple[int, str, bytes]] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with recorder.lock:
                    recorder.requests.append((int(self.client_address[1]), self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def ports_with(self, text: str) -> List[int]:
        """Peer ports of the requests whose body contains ``text``."""
        needle = text.encode("utf-8")
        with self.lock:
            return [port for port, _, body in self.requests if needle in body]

    def count(self, text: str) -> int:
        needle = text.encode("utf-8")
        with self.lock:
            return sum(body.count(needle) for _, _, body in self.requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
