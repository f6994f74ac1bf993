"""End to end: nothing a privacy detector catches reaches a backend, a file or a log line."""

from __future__ import annotations

import io
import json
import logging
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
