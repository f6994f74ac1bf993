"""The astrid command line: every command, its help, exit codes and messages."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from astrid import cli
from astrid._version import __version__
from astrid.inspector import Inspector

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str):
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_version_command_and_flag(capsys):
    assert run("version") == (0, f"astrid {__version__}\n")
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and __version__ in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2():
    code, out = run()
    assert code == 2 and "demo" in out and "inspect" in out and "send-test" in out


@pytest.mark.parametrize(
    "argv",
    [[], ["status"], ["consent"], ["send-test"], ["schema"], ["schema", "clickhouse"], ["inspect"],
     ["demo"], ["version"]],
)
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv + ["--help"])
    assert exc.value.code == 0
    assert "usage: astrid" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["status"])  # --project is required
    assert exc.value.code == 2
    assert "--project" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["consent", "maybe", "-p", "x"])
    assert exc.value.code == 2


def test_status_says_which_rule_decided(monkeypatch):
    code, out = run("status", "--project", "my-lib")
    assert code == 0 and "OFF" in out and "decided by: default" in out and "MY_LIB_TELEMETRY" in out
    monkeypatch.setenv("MY_LIB_TELEMETRY", "1")
    code, out = run("status", "-p", "my-lib")
    assert "ON" in out and "decided by: MY_LIB_TELEMETRY" in out
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    code, out = run("status", "-p", "my-lib", "--json")
    info = json.loads(out)
    assert info["enabled"] is False and info["rule"] == "DO_NOT_TRACK"


def test_consent_grant_revoke_status_clear():
    code, out = run("consent", "status", "-p", "tool")
    assert code == 0 and "not given" in out
    code, out = run("consent", "grant", "-p", "tool")
    assert code == 0 and "granted" in out
    assert "decided by: stored_consent" in run("status", "-p", "tool")[1]
    assert "ON" in run("status", "-p", "tool")[1]
    code, out = run("consent", "revoke", "-p", "tool")
    assert "revoked" in out and "OFF" in run("status", "-p", "tool")[1]
    assert "removed" in run("consent", "clear", "-p", "tool")[1]
    assert "was not set" in run("consent", "clear", "-p", "tool")[1]


def test_consent_grant_in_ci_explains_that_ci_wins(monkeypatch):
    monkeypatch.setenv("CI", "true")
    code, out = run("consent", "grant", "-p", "tool")
    assert code == 0 and "OFF anyway because of ci" in out


def test_send_test_delivers_one_event_to_the_inspector():
    with Inspector(port=0) as insp:
        code, out = run("send-test", "-p", "probe", "--endpoint", insp.url, "--timeout", "10")
        assert code == 0, out
        assert "Sent 1 test event to otlp" in out
        deadline = time.monotonic() + 5
        while not insp.records() and time.monotonic() < deadline:
            time.sleep(0.05)
        (rec,) = insp.records()
        assert rec["name"] == "astrid.send_test" and rec["service"] == "probe"


def test_send_test_reports_failure_with_exit_1():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    code, out = run("send-test", "--endpoint", f"http://127.0.0.1:{port}", "--timeout", "1")
    assert code == 1 and "Failed to send" in out and "ASTRID_DEBUG=1" in out


def test_send_test_respects_do_not_track(monkeypatch):
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    code, out = run("send-test", "--endpoint", "http://127.0.0.1:9")
    assert code == 1 and "Not sent" in out and "DO_NOT_TRACK" in out


def test_schema_clickhouse_prints_ddl():
    code, out = run("schema", "clickhouse", "--database", "tele", "--ttl-days", "30")
    assert code == 0 and "CREATE TABLE" in out and "`tele`." in out and "30" in out
    code, out = run("schema", "clickhouse", "--schema", "events", "--table-prefix", "app_")
    assert code == 0 and "app_" in out


def test_schema_without_target_is_a_usage_error(capsys):
    assert run("schema")[0] == 2
    assert "astrid schema clickhouse" in capsys.readouterr().err


def test_inspect_refuses_a_busy_port(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        code, _ = run("inspect", "--port", str(s.getsockname()[1]))
    assert code == 1
    assert "cannot listen" in capsys.readouterr().err


def test_inspect_warns_when_binding_beyond_loopback(monkeypatch, capsys):
    import astrid.inspector

    def refuse(**kwargs):  # never actually bind to a public address in tests
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(astrid.inspector, "Inspector", refuse)
    assert run("inspect", "--host", "0.0.0.0", "--port", "1")[0] == 1
    err = capsys.readouterr().err
    assert "warning: binding to 0.0.0.0" in err and "no authentication" in err


def test_inspect_serves_until_interrupted(tmp_path):
    db = tmp_path / "r.sqlite3"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "astrid", "inspect", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("Astrid inspector"), first + proc.stderr.read()
        url = first.split(" on ")[1].split()[0]
        from astrid.inspector import probe

        assert probe(url, timeout=5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0 and "Stopped" in out
        assert db.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_python_dash_m_astrid_runs_the_cli():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-m", "astrid", "version"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"astrid {__version__}"


# ---------------------------------------------------------------- polish: timeouts, pipes, help, counts

def _hung_port():
    """A loopback port that accepts connections and never answers; closed by the caller."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def test_send_test_timeout_is_shared_by_the_flush_and_the_shutdown(monkeypatch):
    import astrid

    seen = {}

    class Recording(astrid.TelemetryClient):
        def flush(self, timeout=None):
            seen["flush"] = timeout
            return super().flush(timeout)

        def shutdown(self, timeout=None):
            seen["shutdown"] = timeout
            return super().shutdown(timeout)

    monkeypatch.setattr(astrid, "TelemetryClient", Recording)
    hung = _hung_port()
    try:
        code, out = run("send-test", "--endpoint", "http://127.0.0.1:%d" % hung.getsockname()[1], "--timeout", "1")
    finally:
        hung.close()
    assert code == 1 and "no answer within the 1 s timeout" in out
    # the two waits come out of one budget: together they never exceed --timeout
    assert 0 < seen["flush"] < 1.0 and seen["flush"] + seen["shutdown"] <= 1.0


def test_send_test_against_a_hung_endpoint_ends_by_itself():
    hung = _hung_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    try:
        # the subprocess limit only guards against a hang; the budget itself is checked above
        proc = subprocess.run([sys.executable, "-m", "astrid", "send-test", "--timeout", "1", "--endpoint",
                               "http://127.0.0.1:%d" % hung.getsockname()[1]],
                              capture_output=True, text=True, env=env, timeout=60)
    finally:
        hung.close()
    assert proc.returncode == 1 and "Failed to send" in proc.stdout and proc.stderr == ""


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_send_test_timeout_must_be_positive(value, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["send-test", "--timeout", value])
    assert exc.value.code == 2 and "--timeout" in capsys.readouterr().err


def test_failure_message_says_what_the_counts_count():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = run("send-test", "--endpoint", f"http://127.0.0.1:{port}", "--timeout", "1")
    assert code == 1
    assert "failed attempt" in out, out  # e.g. "connection_refused (3 failed attempts)"


@pytest.mark.parametrize("argv", [["status", "-p", "x"], ["version"], ["consent", "status", "-p", "x"],
                                  ["--help"], ["status", "--help"]])
def test_a_closed_pipe_is_quiet(argv):
    """`astrid status | head -c1`: the reader is gone before astrid writes; no traceback, no noise."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([sys.executable, "-m", "astrid", *argv], stdout=w, stderr=subprocess.PIPE,
                              env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), timeout=60)
    finally:
        os.close(w)
    assert proc.stderr == b"", proc.stderr.decode(errors="replace")
    assert proc.returncode in (0, cli.EXIT_BROKEN_PIPE)


def test_every_subcommand_help_has_a_description(capsys):
    import argparse

    parser = cli._parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    names = []
    for action in subparsers:
        for name, sub in action.choices.items():
            names.append(name)
            assert sub.description and len(sub.description.split()) >= 4, name
            for inner in (a for a in sub._actions if isinstance(a, argparse._SubParsersAction)):
                for inner_name, inner_sub in inner.choices.items():
                    assert inner_sub.description, "%s %s" % (name, inner_name)
    assert set(names) == set(cli._COMMANDS)
