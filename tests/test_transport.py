"""Tests for the stdlib HTTP transport: keep-alive, gzip, timeouts, TLS, proxies, error reasons."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid import transport as transport_module
from astrid.config import TelemetryConfig
from astrid.network import _no_proxy_match
from astrid.transport import (
    HttpResponse,
    HttpTransport,
    TransportError,
    check_endpoint,
    export_result,
    proxy_for,
    redact_url,
)
from support.faultserver import Close, FaultServer, Hang, Reset, Respond, refused_port


def make(env: Optional[Dict[str, str]] = None, **kw: Any) -> HttpTransport:
    opts = {k: kw.pop(k) for k in list(kw) if k in ("compression", "compression_level")}
    cfg = TelemetryConfig(project_name="t", env=env or {}, **kw)
    return HttpTransport(cfg, **opts)


@pytest.fixture()
def server():
    with FaultServer() as s:
        yield s


# ------------------------------------------------------------------ endpoint checks


@pytest.mark.parametrize(
    "url",
    ["https://collector.example:4318", "http://127.0.0.1:4318", "http://localhost", "http://[::1]:80"],
)
def test_check_endpoint_accepts_https_and_loopback_http(url: str) -> None:
    assert check_endpoint(" " + url + " ", allow_insecure=False) == url


def test_check_endpoint_refuses_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="allow_insecure"):
        check_endpoint("http://collector.example:4318", allow_insecure=False)
    assert check_endpoint("http://collector.example:4318", allow_insecure=True)


@pytest.mark.parametrize("url", ["ftp://x.example", "collector:4318", "https://", "http://h:99999", ""])
def test_check_endpoint_rejects_bad_urls_naming_the_option(url: str) -> None:
    with pytest.raises(ValueError, match="traces_endpoint"):
        check_endpoint(url, allow_insecure=True, option="traces_endpoint")


def test_error_messages_never_show_url_credentials() -> None:
    with pytest.raises(ValueError) as info:
        check_endpoint("http://user:s3cret@collector.example/x?token=abc", allow_insecure=False)
    assert "s3cret" not in str(info.value) and "abc" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=12, alphabet="abcXYZ019-_.~"))
def test_redact_url_never_leaks_a_password(password: str) -> None:
    secret = "Q" + password + "Q"  # no URL part contains a Q
    assert secret not in redact_url(f"https://me:{secret}@h.example:1/p")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_check_endpoint_raises_only_value_error(text: str) -> None:
    try:
        check_endpoint(text, allow_insecure=False)
    except ValueError:
        pass


# ------------------------------------------------------------------ posting


def test_post_returns_status_headers_and_body(server: FaultServer) -> None:
    server.script(Respond(202, {"X-Thing": "1"}, b"hello"))
    t = make()
    resp = t.post(server.url + "/v1/traces", b"abc", {"Content-Type": "text/plain"}, 5)
    assert (resp.status, resp.body, resp.headers["x-thing"]) == (202, b"hello", "1")
    req = server.requests[0]
    assert req.path == "/v1/traces" and req.body == b"abc"
    assert req.headers["user-agent"].startswith("astrid-python/")
    t.close()


def test_large_bodies_are_gzipped_and_small_ones_are_not(server: FaultServer) -> None:
    t = make()
    big = b"x" * 5000
    t.post(server.url, big, {}, 5)
    t.post(server.url, b"small", {}, 5)
    first, second = server.requests
    assert first.headers["content-encoding"] == "gzip" and first.body == big
    assert len(first.raw) < 200
    assert "content-encoding" not in second.headers and second.raw == b"small"


def test_compression_none_sends_bodies_as_they_are(server: FaultServer) -> None:
    t = make(compression="none")
    t.post(server.url, b"y" * 5000, {}, 5)
    assert "content-encoding" not in server.requests[0].headers


def test_compression_level_is_applied(server: FaultServer) -> None:
    body = bytes(range(256)) * 40
    make(compression_level=1).post(server.url, body, {}, 5)
    make(compression_level=9).post(server.url, body, {}, 5)
    fast, small = server.requests
    assert fast.body == small.body == body
    assert len(small.raw) <= len(fast.raw)


@pytest.mark.parametrize("kw", [{"compression": "brotli"}, {"compression_level": 0}])
def test_bad_compression_options_raise_value_error(kw: Dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="compression"):
        make(**kw)


def test_connections_are_kept_alive(server: FaultServer) -> None:
    t = make()
    for _ in range(5):
        assert t.post(server.url, b"a", {}, 5).status == 200
    assert len({r.peer for r in server.requests}) == 1


def test_a_close_without_answer_on_a_fresh_connection_is_a_reset(server: FaultServer) -> None:
    server.script(Close())
    assert reason_of(make(), server.url) == "connection_reset"


class OneShotServer:
    """Answers the first request of every connection with keep-alive, then closes it silently."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        self.sock.close()


def test_a_connection_the_server_closed_is_not_reused() -> None:
    server = OneShotServer()
    try:
        t = make()
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(3):
            assert t.post(url, b"a", {}, 5).body == b"ok"
            time.sleep(0.05)  # let the server's FIN arrive
        assert server.connections == 3
    finally:
        server.stop.set()
        server.thread.join(2)


def test_a_stale_pooled_connection_is_retried_once_on_a_fresh_one(monkeypatch: Any) -> None:
    server = OneShotServer()
    try:
        # the server closes after each answer; pretend the close is not yet visible at reuse
        monkeypatch.setattr(transport_module, "_is_stale", lambda conn: False)
        t = make()
        url = f"http://127.0.0.1:{server.port}/"
        assert t.post(url, b"a", {}, 5).body == b"ok"
        time.sleep(0.05)
        assert t.post(url, b"b", {}, 5).body == b"ok"
        assert server.connections == 2
    finally:
        server.stop.set()
        server.thread.join(2)


# ------------------------------------------------------------------ network faults


def reason_of(t: HttpTransport, url: str, timeout: float = 5) -> str:
    with pytest.raises(TransportError) as info:
        t.post(url, b"x", {}, timeout)
    return info.value.reason


def test_refused_connection_is_reported() -> None:
    assert reason_of(make(), f"http://127.0.0.1:{refused_port()}/") == "connection_refused"


def test_reset_connection_is_reported(server: FaultServer) -> None:
    server.script(Reset())
    assert reason_of(make(), server.url) == "connection_reset"


def test_hung_server_times_out_within_the_timeout(server: FaultServer) -> None:
    # the server hangs for 10 s and then closes: only a timeout of our own gives "timeout"
    # (how long it takes is measured by benchmarks/bench_otlp.py --faults, not asserted here)
    server.default = Hang(10)
    assert reason_of(make(), server.url, timeout=0.5) == "timeout"


def test_slow_response_times_out(server: FaultServer) -> None:
    server.script(Respond(200, delay=3))  # waiting it out would have given a success
    assert reason_of(make(), server.url, timeout=0.4) == "timeout"


def test_unresolvable_host_fails_within_the_timeout() -> None:
    reason = reason_of(make(), "http://no-such-host.invalid:4318/", timeout=1.0)
    assert reason in ("dns", "timeout")


def test_failures_never_log_auth_headers(server: FaultServer, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="astrid")
    server.script(Reset())
    t = make()
    with pytest.raises(TransportError):
        t.post(server.url + "/v1/logs", b"x", {"Authorization": "Bearer sekrit-42"}, 5)
    assert "sekrit-42" not in caplog.text


def test_url_credentials_become_basic_auth(server: FaultServer) -> None:
    port = server.port
    make().post(f"http://alice:p%40ss@127.0.0.1:{port}/", b"x", {}, 5)
    expected = "Basic " + base64.b64encode(b"alice:p@ss").decode()
    assert server.requests[0].headers["authorization"] == expected


# ------------------------------------------------------------------ export results


def test_export_result_classifies_responses_and_errors() -> None:
    assert export_result(HttpResponse(200, {}, b"")).ok
    r = export_result(HttpResponse(429, {"retry-after": "7"}, b""), retry_after_max=5)
    assert r.retryable and r.retry_after == 5
    assert not export_result(HttpResponse(400, {}, b"")).retryable
    assert export_result(HttpResponse(413, {}, b"")).split
    r = export_result(TransportError("timeout"))
    assert r.retryable and r.reason == "timeout"


# ------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: Any) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return d


@pytest.fixture()
def tls_server(certificate: Path):
    with FaultServer() as s:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
        s._server.socket = ctx.wrap_socket(s._server.socket, server_side=True)
        s.url = s.url.replace("http://", "https://")
        yield s


def test_tls_is_verified_against_the_system_store(tls_server: FaultServer) -> None:
    assert reason_of(make(), tls_server.url) == "tls"


def test_tls_with_a_custom_ca_file(tls_server: FaultServer, certificate: Path) -> None:
    t = make(ca_file=str(certificate / "cert.pem"))
    assert t.post(tls_server.url + "/v1/traces", b"x" * 3000, {}, 5).status == 200
    assert tls_server.requests[0].body == b"x" * 3000


def test_a_missing_ca_file_raises_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ca_file"):
        make(ca_file=str(tmp_path / "nope.pem"))


def test_client_key_without_certificate_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="client_cert"):
        make(client_key=str(tmp_path / "key.pem"))


# ------------------------------------------------------------------ proxies


class ConnectProxy:
    """A CONNECT proxy that maps any target to one loopback port and records what it was asked."""

    def __init__(self, target_port: int, answer: bytes = b"HTTP/1.1 200 Connection established\r\n\r\n"):
        self.target_port, self.answer = target_port, answer
        self.requests: List[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.tunnel, args=(conn,), daemon=True).start()
        self.sock.close()

    def tunnel(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        self.requests.append(head)
        conn.sendall(self.answer)
        if not self.answer.startswith(b"HTTP/1.1 200"):
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)

        def pump(a: socket.socket, b: socket.socket) -> None:
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
        pump(conn, upstream)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)


def test_requests_go_through_a_connect_proxy_with_credentials(server: FaultServer) -> None:
    proxy = ConnectProxy(server.port)
    try:
        t = make(env={"HTTP_PROXY": f"http://bob:pw@127.0.0.1:{proxy.port}"})
        resp = t.post("http://collector.test:4318/v1/metrics", b"m" * 2000, {}, 5)
        assert resp.status == 200 and server.requests[0].body == b"m" * 2000
        head = proxy.requests[0].decode()
        assert head.startswith("CONNECT collector.test:4318 HTTP/1.")
        assert "Proxy-Authorization: Basic " + base64.b64encode(b"bob:pw").decode() in head
    finally:
        proxy.close()


def test_a_proxy_that_refuses_the_tunnel_is_reported(server: FaultServer) -> None:
    proxy = ConnectProxy(server.port, answer=b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
    try:
        t = make(env={"https_proxy": f"127.0.0.1:{proxy.port}"})
        assert reason_of(t, "https://collector.test/v1/logs") == "proxy"
    finally:
        proxy.close()


def test_proxy_choice_honours_no_proxy_and_loopback() -> None:
    env = {"HTTPS_PROXY": "http://p.example:3128", "NO_PROXY": "internal.example,.corp,10.0.0.0/8,h:9"}
    assert proxy_for("https", "api.example", 443, env) == ("p.example", 3128, None)
    assert proxy_for("https", "x.internal.example", 443, env) is None
    assert proxy_for("https", "a.b.corp", 443, env) is None
    assert proxy_for("https", "10.1.2.3", 443, env) is None
    assert proxy_for("https", "h", 9, env) is None
    assert proxy_for("https", "h", 10, env) is not None
    assert proxy_for("https", "127.0.0.1", 443, env) is None
    assert proxy_for("http", "api.example", 80, env) is None  # no HTTP_PROXY set
    assert proxy_for("https", "api.example", 443, {"HTTPS_PROXY": "socks5://p:1"}) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=60))
def test_no_proxy_matching_never_raises(host: str, no_proxy: str) -> None:
    _no_proxy_match(host, 443, no_proxy)



# ------------------------------------------------------------------ one deadline per request (issue 9, item 12)

from support.faultserver import Trickle  # noqa: E402


@pytest.mark.parametrize("headers_at_once", [False, True], ids=["trickled-headers", "trickled-body"])
def test_a_trickling_server_cannot_stretch_the_deadline(server: FaultServer, headers_at_once: bool) -> None:
    # one byte every 50 ms: each recv succeeds long before a socket timeout would fire, so only a
    # deadline over the whole request stops it (before, timeout=1 took as long as the server liked)
    # 2000 bytes take 100 s to trickle: a success or a reset would mean the deadline did not hold
    server.default = Trickle(size=2000, interval=0.05, headers_at_once=headers_at_once)
    assert reason_of(make(), server.url, timeout=1.0) == "timeout"


def test_a_trickling_server_within_the_deadline_is_read_completely(server: FaultServer) -> None:
    server.default = Trickle(size=20, interval=0.001, headers_at_once=True)
    resp = make().post(server.url + "/v1/logs", b"x", {}, 10)
    assert resp.status == 200 and resp.body == b"x" * 20


def test_keep_alive_works_with_more_than_1024_open_files(server: FaultServer) -> None:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1300
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip("RLIMIT_NOFILE hard limit below %d" % want)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    held: List[int] = []
    try:
        while True:
            fd = os.open(os.devnull, os.O_RDONLY)
            held.append(fd)
            if fd > 1100:
                break
        t = make()
        for _ in range(3):
            assert t.post(server.url + "/v1/traces", b"x", {}, 5).status == 200
        conn = t._idle[("http", "127.0.0.1", server.port)][0]
        assert conn.sock is not None and conn.sock.fileno() > 1024
        # one connection for all three: the pool's liveness check works above FD_SETSIZE
        assert len({r.peer for r in server.requests}) == 1
        t.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_http_proxy_is_ignored_under_cgi() -> None:
    # httpoxy: a CGI server puts the request's "Proxy:" header into HTTP_PROXY
    cgi = {"REQUEST_METHOD": "POST", "HTTP_PROXY": "http://attacker.example:8080"}
    assert proxy_for("http", "api.example", 80, cgi) is None
    assert proxy_for("http", "api.example", 80, {"HTTP_PROXY": "http://p.example:3128"}) == ("p.example", 3128, None)
    # what the operator set stays honoured: lower-case http_proxy, HTTPS_PROXY, ALL_PROXY
    assert proxy_for("http", "api.example", 80, dict(cgi, http_proxy="http://ops.example:3128")) == (
        "ops.example", 3128, None)
    assert proxy_for("https", "api.example", 443, dict(cgi, HTTPS_PROXY="http://ops.example:3129")) == (
        "ops.example", 3129, None)
    t = make(env=cgi)
    conn = t._new_conn("http", "collector.example", 4318, 1.0)
    assert (conn.host, conn.port, conn.proxied) == ("collector.example", 4318, False)
