"""End to end: nothing a privacy detector catches reaches a backend, a file or a log line."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import List

import pytest

import astrid
from astrid.backends.console import ConsoleBackend
from astrid.backends.memory import MemoryBackend

# One value for each detector, plus secret-named and identifier keys.
SECRETS: List[str] = [
    "ada@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "078-05-1120",
    "DE89370400440532013000",
    "203.0.113.7",
    "2001:db8::7",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "dXNlcjpwYXNzd29yZA==",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "MIIEowIBAAKCAQEA1234",
    "s3cr3t-in-url",
    "tok3n-in-query",
    "hunter2-assigned",
    "/home/ada/",
    "hunter2-keyed",
    "u-ada-1815",
]

TEXT = (
    "mail ada@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111; ssn 078-05-1120; "
    "iban DE89370400440532013000; from 203.0.113.7 and 2001:db8::7; "
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U; Authorization: Basic dXNlcjpwYXNzd29yZA==; "
    "AKIAIOSFODNN7EXAMPLE ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789; "
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234\n-----END RSA PRIVATE KEY-----; "
    "https://ada:s3cr3t-in-url@db.example.com/x?token=tok3n-in-query; password=hunter2-assigned; "
    'File "/home/ada/app.py", line 1'
)
ATTRIBUTES = {
    "text": TEXT,
    "nested": {"deeper": {"text": TEXT}},
    "list": [TEXT, "plain"],
    "password": "hunter2-keyed",
    "user_id": "u-ada-1815",
}


def _leaks(text: str) -> List[str]:
    return [s for s in SECRETS if s in text]


def test_nothing_a_detector_catches_reaches_any_backend_or_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="astrid")
    memory = MemoryBackend()
    console = io.StringIO()
    path = tmp_path / "telemetry.jsonl"
    client = astrid.TelemetryClient(
        "privacy-e2e",
        backend=[memory, "file", ConsoleBackend(stream=console)],
        path=str(path),
        enabled=True,
        flush_interval=0.05,
    )
    client.track_event("user.signup", ATTRIBUTES)
    client.track_metric("logins", 1, attributes={"text": TEXT, "user_id": "u-ada-1815"})
    client.track_log(TEXT, level="warning", attributes=ATTRIBUTES)
    try:
        raise RuntimeError(TEXT)
    except RuntimeError as exc:
        client.track_error(exc, ATTRIBUTES)
    with client.span("checkout", ATTRIBUTES):
        pass
    try:
        with client.span("payment", {"card": TEXT}):
            raise ValueError(TEXT)
    except ValueError:
        pass
    assert client.shutdown(timeout=10)

    types = {r.type for r in memory.records}
    assert {"event", "metric", "log", "error", "span"} <= types
    exported = json.dumps([r.to_dict() for r in memory.records], default=str)
    assert "[REDACTED:email]" in exported and "hash:" in exported
    assert _leaks(exported) == []
    assert _leaks(path.read_text(encoding="utf-8")) == []
    assert console.getvalue() and _leaks(console.getvalue()) == []
    assert _leaks(caplog.text) == []
    stats = client.stats()["privacy"]
    assert stats["email"] > 0 and stats["keys_removed"] > 0
    assert _leaks(json.dumps(stats)) == []


# ---------------------------------------------------------------- issue 9: the holes, closed


def _client(backend: object, **kw: object) -> astrid.TelemetryClient:
    options = dict(enabled=True, flush_interval=0.05, install_atexit=False, env={})
    options.update(kw)
    return astrid.TelemetryClient("privacy-holes", backend=backend, **options)  # type: ignore[arg-type]


def _exported(memory: MemoryBackend) -> str:
    return json.dumps([r.to_dict() for r in memory.records], default=str)


def test_an_ended_span_is_sealed_and_late_changes_never_reach_a_backend() -> None:
    memory = MemoryBackend()
    client = _client(memory)
    with client.span("checkout", {"items": 3}) as span:
        span.set_attribute("step", "pay")
    assert client.flush(timeout=10)
    # after the block: every change is ignored and counted, and the call never raises
    span.set_attribute("email", "ada@example.com")
    span.set_attributes({"note": "mail ada@example.com"})
    span.set_status("error", "declined card 4111 1111 1111 1111")
    span.add_event("late", {"card": "4111 1111 1111 1111"})
    span.record_exception(ValueError("ada@example.com"))
    span.end()  # a second end is harmless, not counted
    assert client.stats()["invalid"] == 5
    # the caller's own record object is no longer the worker's: mutating it changes nothing
    span.record.attributes["leak"] = "ada@example.com"
    span.record.status_message = "4111 1111 1111 1111"
    assert client.shutdown(timeout=10)
    (exported,) = memory.spans
    assert exported is not span.record
    assert exported.attributes == {"items": 3, "step": "pay"}
    assert exported.status == "unset" and exported.status_message == ""
    assert exported.events == []
    text = _exported(memory)
    assert "ada@example.com" not in text and "4111 1111 1111 1111" not in text


def test_the_worker_gets_a_copy_of_a_span_when_it_ends() -> None:
    # a backend that holds the batch while the caller keeps writing to the record it has
    release = threading.Event()
    seen: List[object] = []

    class Slow(MemoryBackend):
        def export(self, batch, timeout):  # type: ignore[no-untyped-def]
            seen.extend(batch)
            release.wait(5)
            return MemoryBackend.export(self, batch, timeout)

    slow = Slow()
    client = _client(slow)
    span = client.span("upload")
    with span:
        pass
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen, "the span was not exported"
    rec = span.record
    rec.attributes["email"] = "ada@example.com"  # straight into the caller's dict
    release.set()
    assert client.shutdown(timeout=10)
    (exported,) = slow.spans
    assert exported is not rec and exported.attributes is not rec.attributes
    assert "email" not in exported.attributes


class _Hostile:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing")

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        raise RuntimeError("no printing")


def test_span_methods_never_raise_whatever_they_are_given() -> None:
    memory = MemoryBackend()
    client = _client(memory)
    with client.span("work") as span:
        span.set_status(_Hostile())  # type: ignore[arg-type]
        span.set_status(["ok"])  # type: ignore[arg-type]
        span.set_status("error", _Hostile())  # type: ignore[arg-type]
        span.set_attributes(_Hostile())  # type: ignore[arg-type]
        span.add_event(_Hostile(), _Hostile())  # type: ignore[arg-type]
        span.set_attribute(_Hostile(), _Hostile())  # type: ignore[arg-type]
    span.set_status(_Hostile())  # type: ignore[arg-type]
    assert client.shutdown(timeout=10)
    assert len(memory.spans) == 1


SECRET_URL = "GET /reset?token=t0k3n-reset&email=ada@example.com"


def test_names_keys_bodies_and_span_event_names_are_scanned() -> None:
    memory = MemoryBackend()
    client = _client(memory)
    client.track_event(SECRET_URL, {"ada@example.com": 1, "GET /x?token=t0k3n-key": 2})
    client.track_metric("signup ada@example.com", 1, attributes={"ada@example.com": "x"})
    client.track_log(SECRET_URL)
    with client.span(SECRET_URL) as span:
        span.add_event(SECRET_URL, {"phone +44 20 7946 0958": True})
    assert client.shutdown(timeout=10)
    text = _exported(memory)
    for leak in ("ada@example.com", "t0k3n-reset", "t0k3n-key", "7946 0958"):
        assert leak not in text, leak
    (event,) = memory.events
    # a name that is a URL keeps its path
    assert event.name == "GET /reset?token=[REDACTED:url_secret]&email=[REDACTED:email]"
    # a key that ends in a secret word once its value is taken out is a secret key: removed
    assert event.attributes == {"[REDACTED:email]": 1}
    (span_rec,) = memory.spans
    assert span_rec.name == event.name and span_rec.events[0].name == event.name
    (metric,) = memory.of_type("metric")
    assert metric.name == "signup [REDACTED:email]"


def test_resource_attributes_pass_the_engine_once(tmp_path: Path) -> None:
    memory = MemoryBackend()
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.owner=ada%40example.com,"
        "db.url=postgres%3A%2F%2Fapp%3As3cr3t-db%40db.internal%2Fapp,api.token=t0k3n-res",
    }
    client = _client(
        memory, env=env, resource_attributes={"team.phone": "+44 20 7946 0958", "region": "eu"}
    )
    client.track_event("e")
    assert client.shutdown(timeout=10)
    res = memory.resource.attributes
    text = json.dumps(res)
    for leak in ("ada@example.com", "s3cr3t-db", "t0k3n-res", "7946 0958"):
        assert leak not in text, leak
    assert res["region"] == "eu" and res["service.name"] == "privacy-holes"
    assert res["deployment.owner"] == "[REDACTED:email]" and "api.token" not in res
    assert client.resource.attributes is res or client.resource.attributes == res


def test_lone_surrogates_become_replacement_characters_and_never_fail_a_batch(
    tmp_path: Path,
) -> None:
    from support.faultserver import FaultServer

    bad = "report-\udcff\ud800.txt"  # a file name decoded with surrogateescape
    path = tmp_path / "t.jsonl"
    with FaultServer() as server:
        memory = MemoryBackend()
        client = _client(
            [memory, "file", "http"],
            path=str(path),
            endpoint=server.url + "/collect",
            compression="none",
        )
        client.track_event("open", {"file": bad, "user_id": bad})
        client.track_event(bad, {bad: 1})
        client.track_log("cannot read " + bad)
        client.track_event("after", {"ok": True})
        assert client.shutdown(timeout=10)
        bodies = [r.body for r in server.requests]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    names = [json.loads(line)["name"] for line in lines]
    assert names == ["open", "report-\ufffd\ufffd.txt", "log", "after"]
    docs = [json.loads(b.decode("utf-8")) for b in bodies]  # strict UTF-8 on the wire
    assert sum(len(d["records"]) for d in docs) == 4
    first = memory.events[0]
    assert first.attributes["file"] == "report-\ufffd\ufffd.txt"
    # the identifier hash is the one a JS TextEncoder-based HMAC gives
    engine = client._privacy
    import hashlib
    import hmac

    expected = hmac.new(
        engine._salt, "report-\ufffd\ufffd.txt".encode("utf-8"), hashlib.sha256
    ).hexdigest()[:32]
    assert first.attributes["user_id"] == "hash:" + expected


def test_session_id_is_hashed_and_fills_the_clickhouse_session_column() -> None:
    from astrid.backends.clickhouse_rows import RowContext, events_row

    memory = MemoryBackend()
    client = _client(memory)
    client.track_event("page.view", {"session.id": "s-8f2a-41", "sessionid": "cookie-v4l"})
    assert client.shutdown(timeout=10)
    (event,) = memory.events
    assert event.attributes["session.id"].startswith("hash:")
    assert "sessionid" not in event.attributes  # a session cookie's name: a secret, removed
    row = events_row(event, RowContext({"service.name": "privacy-holes"}))
    assert row["session_id"] == event.attributes["session.id"]
    assert "s-8f2a-41" not in json.dumps(row) and "cookie-v4l" not in json.dumps(row)


def test_metric_series_are_keyed_after_sanitizing() -> None:
    memory = MemoryBackend()
    client = _client(memory, max_metric_series=3, flush_interval=60)
    # twenty raw series, one after sanitizing: one point, nothing dropped
    for i in range(20):
        client.track_metric("logins", 1, attributes={"who": "user%d@example.com" % i})
    client.track_metric("load", 5, metric_type="gauge", attributes={"who": "a@example.com"})
    client.track_metric("load", 7, metric_type="gauge", attributes={"who": "b@example.com"})
    for v in (1, 50):
        client.track_metric("took", v, metric_type="histogram", attributes={"m": "x%d@e.com" % v})
    assert client.flush(timeout=10)
    points = memory.of_type("metric")
    keys = [(p.name, json.dumps(p.attributes, sort_keys=True)) for p in points]
    assert len(keys) == len(set(keys)) == 3
    by_name = {p.name: p for p in points}
    assert by_name["logins"].value == 20 and by_name["logins"].count == 20
    assert by_name["load"].value == 7
    assert by_name["took"].count == 2 and by_name["took"].sum == 51
    assert by_name["took"].min == 1 and by_name["took"].max == 50
    assert client.stats()["metric_series_dropped"] == 0
    # the cap counts sanitized series: five distinct clean series, three kept, two dropped
    for i in range(5):
        client.track_metric("jobs", 1, attributes={"queue": "q%d" % i})
    assert client.shutdown(timeout=10)
    assert len([p for p in memory.of_type("metric") if p.name == "jobs"]) == 3
    assert client.stats()["metric_series_dropped"] == 2
