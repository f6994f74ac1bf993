"""Local backends: console lines, JSON Lines file with rotation, memory, custom objects, registry."""

from __future__ import annotations

import io
import json

import pytest

import astrid
from astrid.backends.console import ConsoleBackend
from astrid.backends.file import FileBackend
from astrid.backends.memory import MemoryBackend
from astrid.config import TelemetryConfig
from astrid.export import Batch, ExportResult, create_backends, register_backend
from astrid.records import Event, Log, Resource


def test_console_backend_prints_one_readable_line_per_record():
    out = io.StringIO()
    c = astrid.TelemetryClient("con", backend=ConsoleBackend(stream=out), enabled=True)
    c.track_event("user.login", {"method": "sso"})
    c.track_log("warm", level="warning")
    c.track_metric("jobs", 3)
    with c.span("work"):
        pass
    assert c.flush(5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert any("event" in line and "user.login" in line and 'method="sso"' in line for line in lines)
    assert any("[WARN] warm" in line for line in lines)
    assert any("value=3" in line for line in lines)
    assert any("status=unset" in line for line in lines)
    c.shutdown(1)


def test_console_backend_writes_to_stderr_by_default(capsys):
    c = astrid.TelemetryClient("con", backend="console", enabled=True)
    c.track_event("hello")
    c.flush(5)
    assert "hello" in capsys.readouterr().err
    c.shutdown(1)


def test_file_backend_writes_json_lines_in_the_generic_format(tmp_path):
    path = tmp_path / "sub" / "t.jsonl"
    c = astrid.TelemetryClient("file", backend="file", path=str(path), enabled=True)
    c.track_event("e", {"a": 1})
    c.track_error(ValueError("bad"))
    assert c.flush(5)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["type"] for r in rows] == ["event", "error"]
    assert rows[0]["attributes"] == {"a": 1} and rows[0]["resource"]["service.name"] == "file"
    assert rows[0]["timestamp"].endswith("Z") and len(rows[0]["id"]) == 32
    assert rows[1]["attributes"]["exception.type"] == "ValueError"
    c.shutdown(1)


def test_file_backend_rotates_by_size(tmp_path):
    path = tmp_path / "t.jsonl"
    backend = FileBackend(path=str(path), max_bytes=2048, backup_count=2)
    res = Resource({"service.name": "x"})
    for i in range(60):
        assert backend.export(Batch([Event("e", {"i": i, "pad": "x" * 100}, 1)], res), 1).ok
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t.jsonl", "t.jsonl.1", "t.jsonl.2"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 2048
    newest = [json.loads(x)["attributes"]["i"] for x in path.read_text().splitlines()]
    assert newest[-1] == 59


def test_file_backend_rejects_bad_options():
    with pytest.raises(ValueError):
        FileBackend(path="x", max_bytes=10)
    with pytest.raises(TypeError):
        FileBackend(path=3)  # type: ignore[arg-type]


def test_file_backend_reports_an_unwritable_path_as_retryable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    backend = FileBackend(path=str(blocker / "t.jsonl"))
    result = backend.export(Batch([Log("x", 9, {}, 1)]), 1)
    assert not result.ok and result.retryable


def test_memory_backend_keeps_records_by_type_and_can_be_bounded():
    mem = MemoryBackend(max_records=3)
    for i in range(5):
        mem.export(Batch([Event("e%d" % i, {}, 1)]), 1)
    assert [r.name for r in mem.events] == ["e2", "e3", "e4"]
    mem.clear()
    assert mem.records == []


def test_custom_backend_objects_and_registered_names_work():
    class Mine:
        def __init__(self):
            self.got = []

        def export(self, batch, timeout):
            self.got.extend(batch)
            return ExportResult.success()

        def shutdown(self, timeout):
            self.closed = True

    mine = Mine()
    register_backend("mine", lambda config, **kw: mine)
    c = astrid.TelemetryClient("custom", backend="mine", enabled=True)
    c.track_event("e")
    assert c.flush(5) and [r.name for r in mine.got] == ["e"]
    c.shutdown(1)
    assert mine.closed


def test_create_backends_passes_only_matching_options(tmp_path):
    cfg = TelemetryConfig.from_options(project_name="x", env={})
    (fb,) = create_backends("file", cfg, {"path": str(tmp_path / "a.jsonl")})
    assert fb.path.endswith("a.jsonl")
    with pytest.raises(TypeError):
        create_backends("file", cfg, {"nope": 1})


def test_a_backend_returning_none_counts_as_success():
    class Lenient:
        def export(self, batch, timeout):
            return None

        def shutdown(self, timeout):
            pass

    c = astrid.TelemetryClient("l", backend=Lenient(), enabled=True)
    c.track_event("e")
    assert c.flush(5) and c.stats()["sent"] == 1
    c.shutdown(1)
