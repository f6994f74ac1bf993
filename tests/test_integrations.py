"""The logging handler and the uncaught-exception hooks: forward, never raise, never recurse."""

from __future__ import annotations

import logging
import os
import sys
import threading

import pytest

import astrid
from astrid.backends.memory import MemoryBackend
from astrid.integrations import TelemetryHandler, install_excepthook, uninstall_excepthook
from astrid.integrations.logging_handler import level_name


@pytest.fixture
def client():
    backend = MemoryBackend()
    c = astrid.TelemetryClient("integrations", backend=backend, enabled=True, install_atexit=False)
    c.memory = backend
    yield c
    c.shutdown(timeout=5)


@pytest.fixture
def logger():
    log = logging.getLogger("tests.integrations")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for h in list(log.handlers):
        log.removeHandler(h)


def sent(client):
    assert client.flush(timeout=10)
    return client.memory.records


def test_handler_forwards_records_at_or_above_its_level(client, logger):
    logger.addHandler(TelemetryHandler(client, level=logging.WARNING))
    logger.info("not forwarded")
    logger.warning("disk %d%% full", 91)
    logger.error("boom")
    logs = sent(client)
    assert [(r.body, r.severity_text) for r in logs] == [("disk 91% full", "WARN"), ("boom", "ERROR")]
    assert logs[0].attributes["log.logger"] == "tests.integrations"
    assert logs[0].attributes["code.function"] == "test_handler_forwards_records_at_or_above_its_level"


def test_handler_attaches_the_exception(client, logger):
    logger.addHandler(TelemetryHandler(client))
    try:
        raise ValueError("bad input")
    except ValueError:
        logger.exception("import failed")
    (rec,) = sent(client)
    assert rec.body == "import failed"
    assert rec.attributes["exception.type"] == "ValueError"
    assert "bad input" in rec.attributes["exception.message"]
    assert "Traceback" in rec.attributes["exception.stacktrace"]


def test_handler_ignores_the_sdks_own_loggers(client):
    handler = TelemetryHandler(client, level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("astrid").warning("sdk diagnostics")
        logging.getLogger("astrid.pipeline").error("export failed")
    finally:
        root.removeHandler(handler)
    assert sent(client) == []


def test_handler_does_not_recurse_when_the_client_logs(logger):
    calls = []

    class LoggingClient:
        def track_log(self, message, level="info", attributes=None):
            calls.append(message)
            logger.error("logged from inside the client")  # would recurse forever without a guard

    logger.addHandler(TelemetryHandler(LoggingClient()))
    logger.error("outer")
    assert calls == ["outer"]


def test_handler_never_raises_into_the_program(logger, monkeypatch):
    class Broken:
        def track_log(self, *a, **k):
            raise RuntimeError("client broke")

    monkeypatch.setattr(logging, "raiseExceptions", False)
    logger.addHandler(TelemetryHandler(Broken()))
    logger.error("still fine")  # no exception


def test_handler_uses_the_default_client(logger, monkeypatch):
    backend = MemoryBackend()
    c = astrid.TelemetryClient("default", backend=backend, enabled=True, install_atexit=False)
    monkeypatch.setattr(astrid, "get_client", lambda: c)
    logger.addHandler(TelemetryHandler())
    logger.critical("via default")
    assert c.flush(timeout=10)
    assert [r.body for r in backend.records] == ["via default"]
    c.shutdown(timeout=5)
    monkeypatch.setattr(astrid, "get_client", lambda: None)
    logger.critical("no client: dropped quietly")


def test_level_names():
    assert [level_name(n) for n in (5, 10, 20, 30, 40, 50)] == [
        "trace", "debug", "info", "warning", "error", "critical"]


@pytest.fixture
def hooks(monkeypatch):
    # monkeypatch restores the interpreter's hooks after each test; this undoes ours first
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    yield
    uninstall_excepthook()


def test_excepthook_tracks_flushes_and_chains(client, hooks, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *a: seen.append(a[0].__name__))
    install_excepthook(client)
    install_excepthook(client)  # idempotent: one pair of hooks
    try:
        raise KeyError("missing")
    except KeyError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert seen == ["KeyError"]
    (rec,) = client.memory.records  # already flushed by the hook
    assert rec.type == "error" and rec.attributes["exception.type"] == "KeyError"
    assert rec.attributes["exception.escaped"] is True
    uninstall_excepthook()
    assert sys.excepthook.__name__ == "<lambda>"  # the previous hook is back


def test_thread_hook_reports_exceptions_in_threads(client, hooks, monkeypatch):
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_type.__name__))
    install_excepthook(client)

    def work():
        raise RuntimeError("worker died")

    t = threading.Thread(target=work, name="worker-1")
    t.start()
    t.join(timeout=10)
    assert seen == ["RuntimeError"]
    (rec,) = client.memory.records
    assert rec.attributes["thread.name"] == "worker-1"


def test_excepthook_skips_keyboard_interrupt_and_survives_a_broken_client(hooks, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *a: seen.append(a[0].__name__))

    class Broken:
        def track_error(self, *a, **k):
            raise RuntimeError("broken")

    install_excepthook(Broken())
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    sys.excepthook(ValueError, ValueError("x"), None)
    assert seen == ["KeyboardInterrupt", "ValueError"]  # the previous hook always runs


def test_integrations_are_exported_from_the_package():
    assert astrid.TelemetryHandler is TelemetryHandler
    assert astrid.install_excepthook is install_excepthook


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_inherits_a_held_excepthook_lock():
    from astrid.integrations import excepthook

    held, release = threading.Event(), threading.Event()

    def holder():
        with excepthook._lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os._exit(0 if excepthook._lock.acquire(timeout=2) else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        t.join(5)
    assert os.WEXITSTATUS(status) == 0
