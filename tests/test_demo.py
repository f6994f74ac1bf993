"""astrid demo: sends every kind of record, PII arrives redacted, prints a summary and the URL."""

from __future__ import annotations

import io
import json
import socket

import pytest

from astrid import cli, demo
from astrid.inspector import Inspector


def test_demo_reuses_a_running_inspector_and_pii_arrives_redacted():
    with Inspector(port=0) as insp:
        out = io.StringIO()
        assert demo.run_demo(port=insp.port, out=out) == 0
        text = out.getvalue()
        assert f"Using the inspector already running at {insp.url}" in text
        assert f"Inspector: {insp.url}" in text
        recs = insp.records(limit=5000)
        types = {r["type"] for r in recs}
        assert types == {"event", "span", "metric", "log", "error"}
        stored = json.dumps(recs)
        for secret in ("ada@example.com", "4111 1111 1111 1111", "hunter2", "7946 0958", "ada-1815"):
            assert secret not in stored
        stats = insp.stats()
        assert stats["redactions"], "the page's privacy counters stay empty"
        assert stats["sdk"]["astrid-demo"]["stats"]["sent"] >= 40
        spans = {r["name"]: r for r in recs if r["type"] == "span"}
        assert spans["payment.authorize"]["parent_span_id"] == spans["checkout"]["span_id"]


def test_demo_summary_table_matches_what_arrived():
    out = io.StringIO()
    assert demo.run_demo(port=0, out=out) == 0
    lines = out.getvalue().splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.strip().split(" ")[0] in
            ("event", "span", "metric", "log", "error")}
    assert set(rows) == {"event", "span", "metric", "log", "error"}
    for sent, arrived in rows.values():
        assert sent == arrived
    assert "astrid demo --keep-open" in out.getvalue()


def test_demo_moves_to_a_free_port_when_the_port_is_taken():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        out = io.StringIO()
        assert demo.run_demo(port=port, out=out) == 0
    assert f"Port {port} is taken" in out.getvalue()


def test_demo_keep_open_serves_until_ctrl_c(monkeypatch, tmp_path):
    def interrupt():
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_wait_forever", interrupt)
    out = io.StringIO()
    assert cli.main(["demo", "--port", "0", "--keep-open", "--db", str(tmp_path / "d.sqlite3")], out=out) == 0
    assert "until you press Ctrl-C" in out.getvalue() and "Stopped." in out.getvalue()
    with Inspector(port=0, db=str(tmp_path / "d.sqlite3")) as again:
        assert len(again.records(limit=5000)) >= 40


def test_sample_program_counts_what_it_made():
    import astrid
    from astrid.backends.memory import MemoryBackend

    backend = MemoryBackend()
    client = astrid.TelemetryClient("t", backend=backend, enabled=True, install_atexit=False)
    made = demo.sample_program(client)
    assert client.flush(timeout=10)
    client.shutdown(timeout=5)
    kinds = {}
    for r in backend.records:
        kinds[r.type] = kinds.get(r.type, 0) + 1
    assert kinds == made


@pytest.mark.parametrize("db", [None, "x.sqlite3"])
def test_demo_tells_how_to_keep_browsing(db, tmp_path):
    out = io.StringIO()
    path = str(tmp_path / db) if db else None
    demo.run_demo(port=0, db=path, out=out)
    hint = f"astrid inspect --db {path}" if db else "astrid demo --keep-open"
    assert hint in out.getvalue()
