"""Process exit: every client flushes at once (bounded by the largest shutdown_timeout), on every
supported interpreter, to host names too, and a logging handler that re-enters the SDK never hangs it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.recorder import Recorder

SRC = str(Path(__file__).resolve().parent.parent / "src")
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"


def _interpreters():
    """This interpreter, plus 3.12.1 (no new thread at shutdown) and 3.13 when installed."""
    found = [pytest.param(sys.executable, id="current")]
    for version in ("3.12.1", "3.13.0"):
        exe = PYENV / version / "bin" / "python"
        marks = [] if exe.is_file() else [pytest.mark.skip(reason="Python %s is not installed" % version)]
        found.append(pytest.param(str(exe), id=version, marks=marks))
    return found


def _run(code: str, python: str = sys.executable, timeout: float = 60) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTRID_", "OTEL_")) and k != "DO_NOT_TRACK"}
    env["PYTHONPATH"] = SRC
    return subprocess.run([python, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.stop()


@pytest.mark.parametrize("python", _interpreters())
def test_the_exit_flush_reaches_a_host_name(recorder, python):
    r = _run(f"""
        import astrid
        c = astrid.TelemetryClient("exit", backend="otlp", endpoint="http://localhost:{recorder.port}",
                                   protocol="http/json", compression="none", enabled=True,
                                   flush_interval=60, env={{}})
        for i in range(10):
            c.track_event("at-exit", {{"i": i}})
    """, python)
    assert r.returncode == 0, r.stderr
    assert recorder.count("at-exit") == 10


@pytest.mark.parametrize("python", _interpreters())
def test_several_clients_flush_together_at_exit(python, tmp_path):
    # four clients whose backends never answer, 1.5 s each: one after the other they would hold the
    # exit for 6 s; together, for 1.5 s. Shown by order, not by the clock: when the first backend is
    # shut down, every client must already be shutting down (its deadline set).
    marks = tmp_path / "marks"
    r = _run(f"""
        import atexit, threading, time, astrid
        from astrid.export import ExportResult
        def mark(label):
            with open({str(marks)!r}, "a") as fh:
                fh.write("%s %f\\n" % (label, time.monotonic()))
        atexit.register(mark, "end")              # runs last
        class Hang:
            name = "hang"
            def export(self, batch, timeout):
                threading.Event().wait(60)
                return ExportResult.success()
            def shutdown(self, timeout):
                begun = sum(1 for c in clients if c._proc.abandon_at is not None)
                with open({str(marks)!r}, "a") as fh:
                    fh.write("begun %d\\n" % begun)
        clients = [astrid.TelemetryClient("exit%d" % i, backend=Hang(), enabled=True, shutdown_timeout=1.5,
                                          env={{}}) for i in range(4)]
        for c in clients:
            c.track_event("e")
        atexit.register(mark, "start")            # runs first
    """, python)
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in marks.read_text().splitlines()]
    assert lines[0][0] == "start" and lines[-1][0] == "end"
    begun = [int(n) for label, n in lines if label == "begun"]
    assert len(begun) == 4
    assert begun[0] == 4, "the first backend was shut down before the other clients began: one after another"


@pytest.mark.parametrize("python", _interpreters())
def test_several_clients_all_deliver_at_exit(python, tmp_path):
    outs = [tmp_path / ("out%d.jsonl" % i) for i in range(3)]
    r = _run(f"""
        import astrid
        outs = {[str(o) for o in outs]!r}
        clients = [astrid.TelemetryClient("exit", backend="file", path=p, enabled=True, flush_interval=60, env={{}})
                   for p in outs]
        for c in clients:
            for i in range(20):
                c.track_event("e", {{"i": i}})
    """, python)
    assert r.returncode == 0, r.stderr
    assert [len(o.read_text().splitlines()) for o in outs] == [20, 20, 20]


def test_a_logging_handler_that_re_enters_the_sdk_never_hangs_the_process():
    # The handler runs on the SDK's own threads (retry, breaker and refusal messages): it tracks a
    # log, reads stats and flushes. Nothing may deadlock, and the process exits within bounds.
    r = _run("""
        import logging, threading, astrid
        from astrid.export import ExportResult

        class Failing:
            name = "failing"
            def __init__(self):
                self.calls = 0
            def export(self, batch, timeout):
                self.calls += 1
                # retries (debug lines), then the breaker opens (a warning), then refusals (warnings)
                return ExportResult.retry("boom") if self.calls < 8 else ExportResult.failure("refused")
            def shutdown(self, timeout):
                pass

        c = astrid.TelemetryClient("reenter", backend=Failing(), enabled=True, flush_interval=0.02,
                                   backoff_base=0.001, backoff_max=0.01, breaker_cooldown=0.05,
                                   shutdown_timeout=2.0, env={})
        seen = []

        class ReEnter(logging.Handler):
            def emit(self, record):
                seen.append(threading.current_thread().name)
                c.track_log("astrid said: " + record.getMessage(), level="warning")
                c.stats()
                c.flush(0.5)

        log = logging.getLogger("astrid")
        log.addHandler(ReEnter())
        log.setLevel(logging.DEBUG)
        for i in range(200):
            c.track_event("e", {"i": i})
        c.flush(3.0)
        s = c.stats()
        assert isinstance(s["sent"], int)
        assert any(name.startswith("astrid-") for name in seen), seen
        print("handler calls", len(seen))
    """, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "handler calls" in r.stdout
