"""Forked children and multiprocessing: fresh backends, connections, locks and aggregator; delivery at the child's exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import astrid
from astrid.backends.memory import MemoryBackend
from support.recorder import Recorder

SRC = str(Path(__file__).resolve().parent.parent / "src")

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _run(code: str, timeout: float = 60, cwd: str = None) -> subprocess.CompletedProcess:  # type: ignore[assignment]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTRID_", "OTEL_")) and k != "DO_NOT_TRACK"}
    env["PYTHONPATH"] = SRC
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.stop()


def _otlp_client(url: str, extra: str = "") -> str:
    return (
        f"astrid.TelemetryClient('fork', backend='otlp', endpoint={url!r}, protocol='http/json', "
        f"compression='none', enabled=True, flush_interval=60, env={{}}{extra})"
    )


@needs_fork
def test_a_forked_child_opens_its_own_connection_and_exports_its_metrics(recorder):
    r = _run(f"""
        import os, signal, astrid
        c = {_otlp_client(recorder.url)}
        c.track_event("parent-before")
        assert c.flush(10)                      # leaves a keep-alive connection in the pool
        pid = os.fork()
        if pid == 0:
            signal.alarm(30)                    # a hang in the child fails the test, never the run
            c.track_event("child-event")
            c.track_metric("child.metric", 3)
            os._exit(0 if c.flush(10) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        c.track_event("parent-after")
        c.track_metric("parent.metric", 1)
        assert c.flush(10)
        c.shutdown(5)
    """)
    assert r.returncode == 0, r.stderr
    parent = set(recorder.ports_with("parent-before") + recorder.ports_with("parent-after"))
    child = set(recorder.ports_with("child-event"))
    assert child, "the child's event never arrived"
    # two processes never write one TCP stream: the child's requests come on its own connection
    assert not (child & parent)
    assert recorder.count("child.metric") == 1
    assert recorder.count("parent.metric") == 1
    assert recorder.count("parent-before") == 1  # the parent's records stay the parent's


@needs_fork
def test_a_forked_child_never_waits_for_a_lock_held_at_fork_time(recorder):
    r = _run(f"""
        import os, signal, threading, astrid
        c = {_otlp_client(recorder.url)}
        c.track_event("warm")
        assert c.flush(10)
        proc = c._proc
        locks = [proc.lock, proc.cond, proc.aggregator._lock, proc.backends[0]._transport._lock, c._lock]
        held, release = threading.Event(), threading.Event()
        def hold():
            for lock in locks:
                lock.acquire()
            held.set()
            release.wait(30)
            for lock in reversed(locks):
                lock.release()
        t = threading.Thread(target=hold)
        t.start()
        assert held.wait(10)
        pid = os.fork()
        if pid == 0:
            signal.alarm(30)
            c.track_event("child-event")
            c.track_metric("child.metric", 2)
            ok = c.flush(10)
            c.set_consent(True)                 # takes the client's lock
            os._exit(0 if ok else 3)
        release.set()
        t.join()
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        c.shutdown(5)
    """)
    assert r.returncode == 0, r.stderr
    assert recorder.count("child-event") == 1
    assert recorder.count("child.metric") == 1


@needs_fork
def test_a_forked_child_delivers_its_metrics_to_a_file(tmp_path):
    parent_out, child_out = tmp_path / "parent.jsonl", tmp_path / "child.jsonl"
    r = _run(f"""
        import os, astrid
        c = astrid.TelemetryClient("fork", backend="file", path={str(parent_out)!r}, enabled=True,
                                   flush_interval=60, env={{}})
        c.track_metric("jobs", 1)
        assert c.flush(10)
        c.track_metric("jobs", 5)                # pending in the parent's aggregator at fork time
        pid = os.fork()
        if pid == 0:
            c._proc.backends[0].path = {str(child_out)!r}
            c.track_metric("jobs", 2)
            os._exit(0 if c.flush(10) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0, status
        assert c.flush(10)
    """)
    assert r.returncode == 0, r.stderr
    child = [json.loads(line) for line in child_out.read_text().splitlines()]
    parent = [json.loads(line) for line in parent_out.read_text().splitlines()]
    assert [m["value"] for m in child] == [2]
    assert sorted(m["value"] for m in parent) == [1, 5]


_MP_SCRIPT = """
import multiprocessing as mp, sys, astrid

def work(path, n):
    # created INSIDE the child: no flush, no shutdown, the child leaves through os._exit
    c = astrid.TelemetryClient("mp", backend="file", path=path, enabled=True, flush_interval=60, env={})
    for i in range(n):
        c.track_event("child", {"i": i})
    c.track_metric("child.jobs", n)

def pool_work(args):
    work(*args)
    return 1

if __name__ == "__main__":
    method, out = sys.argv[1], sys.argv[2]
    ctx = mp.get_context(method)
    ps = [ctx.Process(target=work, args=("%s.%d" % (out, k), 5)) for k in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(60)
    assert all(p.exitcode == 0 for p in ps), [p.exitcode for p in ps]
    with ctx.Pool(2) as pool:
        assert sum(pool.map(pool_work, [("%s.pool%d" % (out, k), 3) for k in range(2)])) == 2
        pool.close()
        pool.join()
"""


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_client_created_in_a_multiprocessing_child_delivers_at_the_childs_exit(tmp_path, method):
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip("start method %s is not available here" % method)
    script = tmp_path / "mp_child.py"
    script.write_text(_MP_SCRIPT)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTRID_", "OTEL_")) and k != "DO_NOT_TRACK"}
    env["PYTHONPATH"] = SRC
    r = subprocess.run([sys.executable, str(script), method, str(out)], capture_output=True, text=True,
                       timeout=120, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    for k in range(2):
        lines = [json.loads(x) for x in Path("%s.%d" % (out, k)).read_text().splitlines()]
        assert sorted(x["attributes"]["i"] for x in lines if x["type"] == "event") == list(range(5))
        assert [x["value"] for x in lines if x["type"] == "metric"] == [5]
    for k in range(2):
        lines = [json.loads(x) for x in Path("%s.pool%d" % (out, k)).read_text().splitlines()]
        assert len([x for x in lines if x["type"] == "event"]) == 3


def test_every_built_in_backend_renews_itself_after_fork(tmp_path):
    from astrid.config import TelemetryConfig
    from astrid.export import BaseBackend, create_backends

    cfg = TelemetryConfig.from_options(project_name="f", endpoint="http://127.0.0.1:9", env={})
    names = ["console", "file", "memory", "otlp", "http", "clickhouse"]
    backends = create_backends(names, cfg, {"path": str(tmp_path / "x.jsonl")})
    for backend in backends:
        lock = getattr(backend, "_lock", None)
        if lock is not None:
            lock.acquire()  # as if a parent thread held it at fork time
        transport = getattr(backend, "_transport", None)
        if transport is not None:
            transport._lock.acquire()
        backend.after_fork()
        if lock is not None:
            assert backend._lock.acquire(timeout=1), backend.name
        if transport is not None:
            assert transport._lock.acquire(timeout=1), backend.name
            assert transport._idle == {}
    assert BaseBackend().after_fork() is None


def test_the_memory_backend_starts_empty_in_a_forked_child():
    mem = MemoryBackend()
    c = astrid.TelemetryClient("f", backend=mem, enabled=True, env={})
    c.track_event("parent")
    assert c.flush(5)
    mem.after_fork()
    assert mem.records == [] and mem.batches == []
    c.shutdown(1)
