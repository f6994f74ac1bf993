"""What browsers send to the inspector: CORS preflight and origin rules, OTLP JSON, text/plain beacons, the playground."""

from __future__ import annotations

import http.client
import json
import time
from typing import Dict, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid.inspector import Inspector, origin_allowed
from astrid.inspector.server import BUNDLE_PATH


@pytest.fixture
def insp():
    with Inspector(port=0) as inspector:
        yield inspector


def request(
    insp: Inspector,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
) -> Tuple[int, bytes, Dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", insp.port, timeout=10)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def otlp_json_event(name: str, attrs: Dict[str, str]) -> bytes:
    now = time.time_ns()
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"scope": {"name": "astrid"}, "spans": [{
            "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "name": name, "kind": 1,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]
                          + [{"key": "astrid.record.type", "value": {"stringValue": "event"}}],
        }]}],
    }]}).encode()


def generic_body(name: str) -> bytes:
    return json.dumps({"resource": {"service.name": "shop"}, "records": [{
        "id": "f" * 32, "type": "event", "name": name,
        "timestamp": "2026-01-31T10:00:00.123Z", "attributes": {"url.path": "/cart"},
    }]}).encode()


@pytest.mark.parametrize("origin", [
    "http://localhost:3000", "http://127.0.0.1:5173", "https://localhost", "http://[::1]:8080",
    "http://127.0.0.2:8000",
])
def test_loopback_origins_are_allowed_by_default(origin):
    assert origin_allowed(origin)


@pytest.mark.parametrize("origin", [
    "https://evil.example", "http://localhost.evil.example", "null", "file://", "",
    "http://10.0.0.1:3000", "chrome-extension://abc", "http://localhost:3000/path",
])
def test_other_origins_are_refused_by_default(origin):
    assert not origin_allowed(origin)


def test_configured_origins_and_wildcard():
    assert origin_allowed("https://shop.example", ["https://shop.example"])
    assert not origin_allowed("https://other.example", ["https://shop.example"])
    assert origin_allowed("https://anything.example", ["*"])
    assert origin_allowed("null", ["null"])  # a page opened from a file


def test_cli_takes_repeated_allow_origin():
    from astrid.cli import _parser

    args = _parser().parse_args(["inspect", "--allow-origin", "https://shop.example", "--allow-origin", "null"])
    assert args.allow_origin == ["https://shop.example", "null"]
    assert _parser().parse_args(["inspect"]).allow_origin == []


@given(st.text(max_size=60))
def test_origin_check_never_raises(origin):
    assert origin_allowed(origin) in (True, False)


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/metrics", "/v1/logs", "/collect"])
def test_preflight_from_a_loopback_page_echoes_the_origin(insp, path):
    status, _, headers = request(insp, "OPTIONS", path, headers={
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,content-encoding",
    })
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    assert headers["vary"] == "Origin"
    assert "POST" in headers["access-control-allow-methods"]
    allowed = headers["access-control-allow-headers"].lower()
    assert "content-type" in allowed and "content-encoding" in allowed
    assert int(headers["access-control-max-age"]) > 0


def test_preflight_from_another_origin_is_refused_without_cors_headers(insp):
    status, body, headers = request(insp, "OPTIONS", "/v1/traces", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert "--allow-origin https://evil.example" in json.loads(body)["error"]


def test_preflight_answers_chromes_private_network_request(insp):
    status, _, headers = request(insp, "OPTIONS", "/v1/logs", headers={
        "Origin": "http://127.0.0.1:9000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Private-Network": "true"})
    assert status == 204 and headers["access-control-allow-private-network"] == "true"


def test_preflight_on_the_read_api_is_refused(insp):
    assert request(insp, "OPTIONS", "/api/records", headers={"Origin": "http://localhost:1"})[0] == 404


def test_configured_origin_may_send_and_read_the_answer():
    with Inspector(port=0, allowed_origins=["https://shop.example"]) as insp:
        origin = {"Origin": "https://shop.example"}
        status, _, headers = request(insp, "OPTIONS", "/v1/traces", headers=origin)
        assert status == 204 and headers["access-control-allow-origin"] == "https://shop.example"
        status, _, headers = request(insp, "POST", "/v1/traces", otlp_json_event("page.view", {}),
                                     dict(origin, **{"Content-Type": "application/json"}))
        assert status == 200 and headers["access-control-allow-origin"] == "https://shop.example"
        assert [r["name"] for r in insp.records()] == ["page.view"]


def test_post_from_a_refused_origin_is_not_stored(insp):
    # a text/plain POST needs no preflight, so the origin is checked on the POST itself
    status, _, headers = request(insp, "POST", "/collect", generic_body("evil"), {
        "Origin": "https://evil.example", "Content-Type": "text/plain;charset=UTF-8"})
    assert status == 403 and "access-control-allow-origin" not in headers
    assert insp.records() == []
    assert insp.stats()["counters"]["requests.rejected"] == 1


def test_clients_without_an_origin_are_unaffected(insp):
    status, _, headers = request(insp, "POST", "/v1/traces", otlp_json_event("cli.run", {}),
                                 {"Content-Type": "application/json"})
    assert status == 200 and "access-control-allow-origin" not in headers


def test_otlp_json_from_fetch_with_cors_headers(insp):
    status, body, headers = request(insp, "POST", "/v1/traces",
                                    otlp_json_event("element.click", {"element.tag": "button"}),
                                    {"Content-Type": "application/json",
                                     "Origin": "http://localhost:8080"})
    assert status == 200 and json.loads(body) == {}
    assert headers["access-control-allow-origin"] == "http://localhost:8080"
    (rec,) = insp.records()
    assert rec["name"] == "element.click" and rec["attributes"]["element.tag"] == "button"
    assert rec["source"] == "otlp/json"


@pytest.mark.parametrize("ctype", ["text/plain", "text/plain;charset=UTF-8"])
def test_otlp_json_beacon_sent_as_text_plain(insp, ctype):
    status, _, headers = request(insp, "POST", "/v1/traces", otlp_json_event("page.leave", {}),
                                 {"Content-Type": ctype, "Origin": "http://localhost:8080"})
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://localhost:8080"
    (rec,) = insp.records()
    assert rec["name"] == "page.leave" and rec["source"] == "otlp/json"


def test_generic_format_beacon_sent_as_text_plain(insp):
    status, body, _ = request(insp, "POST", "/collect", generic_body("page.leave"),
                              {"Content-Type": "text/plain;charset=UTF-8",
                               "Origin": "http://127.0.0.1:8080"})
    assert status == 200 and json.loads(body) == {"accepted": 1}
    assert [r["name"] for r in insp.records()] == ["page.leave"]


def test_text_plain_that_is_not_json_gets_400_with_cors_headers(insp):
    status, body, headers = request(insp, "POST", "/v1/traces", b"\x0a\x00not json",
                                    {"Content-Type": "text/plain", "Origin": "http://localhost:1"})
    assert status == 400 and "JSON" in json.loads(body)["error"]
    assert headers["access-control-allow-origin"] == "http://localhost:1"


def test_playground_page_loads_the_bundled_sdk_with_autocapture(insp):
    status, page, headers = request(insp, "GET", "/playground")
    assert status == 200 and headers["content-type"].startswith("text/html")
    text = page.decode()
    assert 'src="/static/astrid.min.js"' in text
    assert f'data-endpoint="http://127.0.0.1:{insp.port}"' in text
    assert 'data-enabled="true"' in text
    for feature in ("pageViews", "clicks", "outboundLinks", "fileDownloads", "forms",
                    "scrollDepth", "engagement", "pageLeave"):
        assert feature in text
    assert "{{" not in text
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    # nothing from another origin
    for needle in ('src="http', "src='http", "@import"):
        assert needle not in text


def test_playground_escapes_the_host_header(insp):
    status, page, _ = request(insp, "GET", "/playground", headers={"Host": 'localhost:1"><x'})
    # not a loopback name with a port: refused before any page is built
    assert status == 403 or b'"><x' not in page


def test_bundle_is_served_from_the_package(insp):
    status, body, headers = request(insp, "GET", "/static/astrid.min.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert body == BUNDLE_PATH.read_bytes()
    assert b"Astrid" in body


def test_download_link_target_is_an_attachment(insp):
    status, body, headers = request(insp, "GET", "/playground/sample.csv")
    assert status == 200 and "attachment" in headers["content-disposition"]


def test_bundle_is_package_data():
    # a fresh pip install must carry the bundle: the package-data patterns cover it
    import fnmatch
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = (root / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    patterns = re.findall(r'"([^"]+)"', section.split("astrid", 1)[1].split("]", 1)[0])
    rel = BUNDLE_PATH.relative_to(root / "src" / "astrid").as_posix()
    assert any(fnmatch.fnmatch(rel, p) for p in patterns), (rel, patterns)
    assert BUNDLE_PATH.stat().st_size > 10_000
