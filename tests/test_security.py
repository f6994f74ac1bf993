"""Every claim of docs/security.md, each proved against a real loopback peer.

The test names follow the threat model's sections: PII leakage, credentials in logs and on disk,
MITM, SSRF through the endpoint, log injection, SQL identifiers, replayed signed requests, and a
malicious receiver (huge, compressed or redirecting answers).
"""

from __future__ import annotations

import gzip
import http.server
import logging
import shutil
import ssl
import subprocess
import threading
import time
from typing import Iterator, List

import pytest

import astrid
from astrid.backends.clickhouse import ClickHouseBackend
from astrid.config import TelemetryConfig
from astrid.signing import sign, verify_signature
from astrid.transport import MAX_RESPONSE_BYTES, HttpTransport
from support.faultserver import FaultServer, Respond, refused_port

SECRETS = ("Bearer sk-live-SECRET123", "key-SECRET456", "pw-SECRET789")


@pytest.fixture
def astrid_log() -> Iterator[List[str]]:
    """Every line the astrid logger emits at any level, formatted as a handler would (tracebacks too)."""
    lines: List[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(logging.Formatter("%(levelname)s %(message)s").format(record))

    logger = logging.getLogger("astrid")
    handler, old = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def _client(url: str, **kw) -> astrid.TelemetryClient:
    opts = dict(project_name="sec", backend="http", endpoint=url, enabled=True, install_atexit=False,
                flush_interval=0.05, backoff_base=0.01, backoff_max=0.02, timeout=2.0)
    opts.update(kw)
    return astrid.TelemetryClient(**opts)


# ---------------------------------------------------------------- PII leakage


def test_pii_never_reaches_the_wire():
    with FaultServer() as server:
        c = _client(server.url, compression="none")
        c.track_event("signup", {"note": "mail jane.doe@example.com card 4111 1111 1111 1111", "password": "hunter2"})
        assert c.flush(5)
        c.shutdown(2)
        raw = b"".join(r.raw for r in server.requests)
    assert raw and b"jane.doe@example.com" not in raw and b"4111 1111 1111 1111" not in raw and b"hunter2" not in raw


# ---------------------------------------------------------------- credentials in logs and on disk


def test_credentials_never_reach_the_log(astrid_log):
    with FaultServer() as server:
        server.default = Respond(401, body=b"unauthorized")
        c = _client(server.url, headers={"Authorization": SECRETS[0], "X-Api-Key": SECRETS[1]})
        c.track_event("x")
        c.flush(1)
        c.shutdown(1)
        assert server.requests and server.requests[0].headers["authorization"] == SECRETS[0]
    dead = "http://user:%s@127.0.0.1:%d/v1" % (SECRETS[2], refused_port())
    c = _client(dead, headers={"Authorization": SECRETS[0]})
    c.track_event("x")
    c.flush(0.5)
    c.shutdown(0.5)
    text = "\n".join(astrid_log)
    assert astrid_log, "the failing exports were logged"
    for secret in SECRETS:
        assert secret not in text


def test_the_spool_never_holds_credentials(tmp_path):
    dead = "http://127.0.0.1:%d" % refused_port()
    c = _client(dead, headers={"Authorization": SECRETS[0]}, spool_dir=str(tmp_path / "spool"))
    c.track_event("x", {"token": "tok-SECRET", "api_key": "abc-SECRET"})
    c.flush(1)
    c.shutdown(0.5)
    blob = b"".join(p.read_bytes() for p in (tmp_path / "spool").iterdir())
    assert blob
    for secret in (SECRETS[0].encode(), b"tok-SECRET", b"abc-SECRET"):
        assert secret not in blob


# ---------------------------------------------------------------- MITM


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[tuple]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl (Debian package) is needed to make a throwaway certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    hits: List[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield "https://127.0.0.1:%d" % srv.server_address[1], cert, hits
    finally:
        srv.shutdown()
        srv.server_close()


def test_tls_certificates_are_verified_by_default(tls_server):
    url, cert, hits = tls_server
    hits.clear()
    c = _client(url)
    c.track_event("x")
    assert c.flush(1) is False
    c.shutdown(0.5)
    assert hits == []  # the handshake failed: nothing reached an unverified server
    trusted = _client(url, ca_file=cert)
    trusted.track_event("x")
    assert trusted.flush(5)
    trusted.shutdown(1)
    assert hits


def test_plaintext_to_a_remote_host_needs_an_explicit_opt_in():
    with pytest.raises(ValueError, match="allow_insecure"):
        _client("http://telemetry.example.com:4318")
    ok = _client("http://telemetry.example.com:4318", allow_insecure=True)
    ok.shutdown(0)


# ---------------------------------------------------------------- SSRF through the endpoint


def test_redirects_are_never_followed():
    with FaultServer() as target, FaultServer() as server:
        server.default = Respond(307, {"Location": target.url + "/v1/internal"})
        c = _client(server.url)
        c.track_event("x")
        c.flush(1)
        c.shutdown(0.5)
        assert server.requests
        assert target.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/x", "127.0.0.1:4318"])
def test_only_http_and_https_endpoints_are_accepted(url):
    with pytest.raises(ValueError):
        _client(url)


# ---------------------------------------------------------------- log injection


def test_receiver_text_cannot_forge_log_lines(astrid_log):
    with FaultServer() as server:
        server.default = Respond(400, body=b"bad\nCRITICAL astrid: all good\x1b[2K\x1b[31m \xe2\x80\xae")
        c = _client(server.url)
        c.track_event("x")
        c.flush(1)
        c.shutdown(0.5)
    refused = [line for line in astrid_log if "answered 400" in line]
    assert refused
    for line in refused:
        assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
        assert "\\x0a" in line  # shown, escaped


# ---------------------------------------------------------------- SQL identifiers


@pytest.mark.parametrize("bad", ["x; DROP TABLE y", "a b", "`x`", "x--", "1abc", "x'y", ""])
def test_sql_identifiers_are_validated(bad):
    with pytest.raises((ValueError, TypeError)):
        ClickHouseBackend(TelemetryConfig.from_options(project_name="sec", env={}), database=bad)
    with pytest.raises((ValueError, TypeError)):
        ClickHouseBackend(TelemetryConfig.from_options(project_name="sec", env={}), table_prefix=bad + "!")


# ---------------------------------------------------------------- replayed signed requests


def test_signed_requests_cannot_be_replayed_or_altered():
    body = b'{"records": []}'
    now = int(time.time())
    header = sign("s3cret", body, now)
    assert verify_signature("s3cret", body, header, now=now)
    assert not verify_signature("s3cret", body, header, now=now + 301)  # replayed after the window
    assert not verify_signature("s3cret", body + b" ", header, now=now)  # altered
    assert not verify_signature("other", body, header, now=now)  # forged
    assert not verify_signature("s3cret", body, None, now=now)


# ---------------------------------------------------------------- malicious receiver


def _transport() -> HttpTransport:
    return HttpTransport(TelemetryConfig.from_options(project_name="sec", env={}))


def test_a_huge_response_is_not_read_into_memory():
    with FaultServer() as server:
        server.default = Respond(200, body=b"x" * (MAX_RESPONSE_BYTES * 4))
        t = _transport()
        try:
            resp = t.post(server.url + "/v1/traces", b"{}", {"Content-Type": "application/json"}, 10.0)
        finally:
            t.close()
    assert resp.status == 200 and len(resp.body) <= MAX_RESPONSE_BYTES


def test_a_compressed_answer_is_never_inflated():
    bomb = gzip.compress(b"\0" * (32 * 1024 * 1024))
    with FaultServer() as server:
        server.default = Respond(200, {"Content-Encoding": "gzip"}, body=bomb)
        t = _transport()
        try:
            resp = t.post(server.url + "/v1/traces", b"{}", {"Content-Type": "application/json"}, 10.0)
        finally:
            t.close()
        assert "accept-encoding" not in server.requests[0].headers or "gzip" not in server.requests[0].headers["accept-encoding"]
    assert len(resp.body) == len(bomb)  # the raw bytes, capped; never 32 MiB


def test_verification_and_insecure_options_are_the_defaults():
    cfg = TelemetryConfig.from_options(project_name="sec", env={})
    assert cfg.allow_insecure is False and cfg.ca_file is None
