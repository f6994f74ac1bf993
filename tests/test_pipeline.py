"""BatchProcessor: bounded queue, worker, flush/shutdown deadlines, retries, fan-out, fork, exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import astrid
from astrid.backends.memory import MemoryBackend
from astrid.export import Batch, ExportResult

SRC = str(Path(__file__).resolve().parent.parent / "src")


class Scripted:
    """A backend that answers from a script of results, then succeeds; records every attempt."""

    name = "scripted"

    def __init__(self, results=(), delay=0.0):
        self.results = list(results)
        self.delay = delay
        self.attempts = []  # (time, number of records)
        self.delivered = []
        self.lock = threading.Lock()

    def export(self, batch, timeout):
        with self.lock:
            self.attempts.append((time.monotonic(), len(batch)))
            result = self.results.pop(0) if self.results else ExportResult.success()
        if self.delay:
            time.sleep(self.delay)
        if callable(result):
            result = result(batch)
        if result.ok:
            with self.lock:
                self.delivered.extend(batch)
        return result

    def shutdown(self, timeout):
        pass


class Hanging:
    name = "hanging"

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def export(self, batch, timeout):
        self.calls += 1
        self.release.wait(30)
        return ExportResult.success()

    def shutdown(self, timeout):
        pass


def make(backend, **kw):
    kw.setdefault("flush_interval", 0.05)
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    return astrid.TelemetryClient("pipe", backend=backend, enabled=True, **kw)


def test_sixteen_threads_times_ten_thousand_events_arrive_exactly_once():
    mem = MemoryBackend()
    c = make(mem, max_queue_size=200_000)

    def work(t):
        for i in range(10_000):
            c.track_event("e", {"t": t, "i": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.flush(60)
    seen = {(r.attributes["t"], r.attributes["i"]) for r in mem.records}
    assert len(mem.records) == len(seen) == 160_000
    s = c.stats()
    assert (s["sent"], s["dropped"], s["failed"], s["enqueued"]) == (160_000, 0, 0, 160_000)
    c.shutdown(5)


def test_queue_full_drops_the_oldest_and_counts_them():
    backend = Hanging()
    c = make(backend, max_queue_size=100, batch_size=10, shutdown_timeout=0.5)
    for i in range(1000):
        c.track_event("e", {"i": i})
    s = c.stats()
    # the worker may hold one batch in flight and the lane a bounded backlog; the rest is dropped
    assert s["dropped"] >= 1000 - 100 - 100 - 10
    assert s["dropped"] + s["queued"] + 10 >= 1000 - 10
    assert c.flush(0.2) is False
    backend.release.set()
    c.shutdown(1)


def test_queue_full_keeps_the_newest_records():
    mem = MemoryBackend()
    c = make(mem, max_queue_size=50, batch_size=1000, flush_interval=60)
    for i in range(200):
        c.track_event("e", {"i": i})
    assert c.stats()["dropped"] == 150
    c.flush(5)
    assert [r.attributes["i"] for r in mem.records] == list(range(150, 200))
    c.shutdown(1)


def test_flush_honours_its_timeout_when_the_backend_hangs():
    backend = Hanging()
    c = make(backend)
    c.track_event("e")
    # the export hangs for 30 s and then succeeds: False means each call gave up at its timeout
    assert c.flush(0.3) is False
    assert c.shutdown(0.5) is False
    assert backend.calls == 1  # still the first, hung export: no call waited it out
    backend.release.set()


def test_track_event_never_blocks_while_the_backend_hangs():
    backend = Hanging()
    c = make(backend, shutdown_timeout=0.2)
    for _ in range(50_000):
        c.track_event("e", {"a": 1})
    # all 50k calls returned while the first export still hangs (it lasts 30 s): none waited
    # for it, and what did not fit was dropped, not blocked on
    assert backend.calls <= 1
    assert c.stats()["dropped"] > 0
    backend.release.set()
    c.shutdown(0.5)


def test_shutdown_is_idempotent_and_stops_the_threads():
    mem = MemoryBackend()
    c = make(mem)
    c.track_event("e")
    assert c.shutdown(5) is True
    assert c.shutdown(5) is True
    assert not [t for t in threading.enumerate() if t.name.startswith("astrid") and t.is_alive()
                and t is c._proc.worker]
    assert [r.name for r in mem.records] == ["e"]


def test_transient_failures_are_retried_until_delivered():
    backend = Scripted([ExportResult.retry("http_503", status=503)] * 3)
    c = make(backend)
    c.track_event("e")
    assert c.flush(5)
    assert len(backend.attempts) == 4 and len(backend.delivered) == 1
    s = c.stats()
    assert s["retries"] == 3 and s["sent"] == 1 and s["failures_by_reason"]["http_503"] == 3


def test_exceptions_from_a_backend_are_retried_not_raised():
    calls = []

    def boom(batch):
        calls.append(1)
        raise ConnectionError("down")

    backend = Scripted([boom, boom])
    c = make(backend)
    c.track_event("e")
    assert c.flush(5)
    assert len(backend.delivered) == 1
    assert c.stats()["failures_by_reason"]["exception:ConnectionError"] == 2


def test_permanent_failures_are_not_retried_and_counted():
    backend = Scripted([ExportResult.failure("http_400", status=400)])
    c = make(backend)
    for _ in range(3):
        c.track_event("e")
    assert c.flush(5) is False
    assert len(backend.attempts) == 1
    s = c.stats()
    assert s["failed"] == 3 and s["sent"] == 0 and s["retries"] == 0


def test_retry_after_is_honoured():
    backend = Scripted([ExportResult.retry("http_429", retry_after=0.5, status=429)])
    c = make(backend)
    c.track_event("e")
    assert c.flush(5)
    (t1, _), (t2, _) = backend.attempts
    assert t2 - t1 >= 0.5


def test_too_large_splits_the_batch_and_retries_the_halves():
    def too_large_if_big(batch):
        return ExportResult.too_large() if len(batch) > 2 else ExportResult.success()

    backend = Scripted([too_large_if_big] * 20)
    c = make(backend, flush_interval=60)
    for i in range(8):
        c.track_event("e", {"i": i})
    assert c.flush(5)
    assert sorted(r.attributes["i"] for r in backend.delivered) == list(range(8))
    assert [n for _, n in backend.attempts][:3] == [8, 4, 2]


def test_breaker_opens_after_five_failures_and_stops_requests():
    backend = Scripted([ExportResult.retry("http_503", status=503)] * 1000)
    c = make(backend, breaker_threshold=5, breaker_cooldown=30, backoff_base=0.001, backoff_max=0.001)
    c.track_event("e")
    deadline = time.monotonic() + 5
    while len(backend.attempts) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert len(backend.attempts) == 5
    assert c.stats()["breaker"] == "open"
    c.shutdown(0.2)


def test_breaker_half_open_probe_closes_it_on_success():
    backend = Scripted([ExportResult.retry("down")] * 3)
    c = make(backend, breaker_threshold=3, breaker_cooldown=0.3, backoff_base=0.001, backoff_max=0.001)
    c.track_event("e")
    assert c.flush(5)
    assert len(backend.delivered) == 1
    assert c.stats()["breaker"] == "closed"


def test_one_failing_backend_never_holds_up_another():
    slow = Hanging()
    mem = MemoryBackend()
    c = make([slow, mem], shutdown_timeout=0.3)
    for i in range(100):
        c.track_event("e", {"i": i})
    deadline = time.monotonic() + 5
    while len(mem.records) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(mem.records) == 100
    s = c.stats()
    assert s["backends"]["memory"]["sent"] == 100 and s["backends"]["hanging"]["sent"] == 0
    slow.release.set()
    c.shutdown(1)


def test_fanned_out_backends_each_receive_every_record():
    a, b = MemoryBackend(), MemoryBackend()
    c = make([a, b, "memory"])
    c.track_event("e")
    assert c.flush(5)
    assert len(a.records) == len(b.records) == 1
    c.shutdown(1)


def test_records_reach_the_backend_sanitized():
    mem = MemoryBackend()
    c = make(mem)
    c.track_event("signup", {"email": "jane.doe@example.com", "password": "hunter2",
                             "note": "call me at jane.doe@example.com"})
    c.flush(5)
    attrs = mem.events[0].attributes
    text = repr(attrs)
    assert "jane.doe@example.com" not in text and "hunter2" not in text
    c.shutdown(1)


def _run(code, timeout=30, env=None):
    full_env = dict(os.environ, PYTHONPATH=SRC, **(env or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def test_a_process_that_never_flushes_still_delivers_at_exit(tmp_path):
    out = tmp_path / "out.jsonl"
    r = _run(f"""
        import astrid
        c = astrid.TelemetryClient("exit", backend="file", path={str(out)!r}, enabled=True, flush_interval=60)
        for i in range(100):
            c.track_event("e", {{"i": i}})
    """)
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 100


def test_a_process_whose_backend_hangs_exits_within_shutdown_timeout(tmp_path):
    # the export hangs for 60 s; _run gives the process 30 s, so finishing at all means the exit
    # flush gave up at its timeout (the exact figure: benchmarks/bench_serverless.py)
    r = _run("""
        import threading, astrid
        from astrid.export import ExportResult
        class Hang:
            def export(self, batch, timeout):
                threading.Event().wait(60)
                return ExportResult.success()
            def shutdown(self, timeout):
                pass
        c = astrid.TelemetryClient("exit", backend=Hang(), enabled=True, shutdown_timeout=1.0)
        c.track_event("e")
    """)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_fresh_pipeline_and_both_deliver(tmp_path):
    parent_out = tmp_path / "parent.jsonl"
    child_out = tmp_path / "child.jsonl"
    r = _run(f"""
        import os, json, astrid
        from astrid.backends.file import FileBackend
        c = astrid.TelemetryClient("fork", backend="file", path={str(parent_out)!r}, enabled=True, flush_interval=0.05)
        c.track_event("before-fork")
        c.flush(5)
        c.track_event("pending-at-fork")
        pid = os.fork()
        if pid == 0:
            c._proc.backends[0].path = {str(child_out)!r}
            c.track_event("in-child")
            ok = c.flush(5)
            os._exit(0 if ok else 3)
        c.track_event("in-parent")
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0, status
        assert c.flush(5)
    """)
    assert r.returncode == 0, r.stderr
    parent = [__import__("json").loads(x)["name"] for x in parent_out.read_text().splitlines()]
    child = [__import__("json").loads(x)["name"] for x in child_out.read_text().splitlines()]
    assert child == ["in-child"]
    assert sorted(parent) == ["before-fork", "in-parent", "pending-at-fork"]


def test_multiprocessing_children_deliver_without_calling_flush(tmp_path):
    out = tmp_path / "mp.jsonl"
    r = _run(f"""
        import multiprocessing as mp, astrid
        c = astrid.TelemetryClient("mp", backend="file", path={str(out)!r}, enabled=True, flush_interval=60)
        def work(n):
            c.track_event("child", {{"n": n}})
        if __name__ == "__main__":
            ctx = mp.get_context("fork")
            ps = [ctx.Process(target=work, args=(n,)) for n in range(3)]
            [p.start() for p in ps]
            [p.join(20) for p in ps]
            assert all(p.exitcode == 0 for p in ps)
    """)
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 3


def test_batches_respect_batch_size():
    mem = MemoryBackend()
    c = make(mem, batch_size=100, flush_interval=60)
    for _ in range(1050):
        c.track_event("e")
    assert c.flush(5)
    sizes = [len(b) for b in mem.batches]
    assert max(sizes) <= 100 and sum(sizes) == 1050
    c.shutdown(1)


def test_flush_interval_exports_without_an_explicit_flush():
    mem = MemoryBackend()
    c = make(mem, flush_interval=0.1)
    c.track_event("e")
    deadline = time.monotonic() + 5
    while not mem.records and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mem.records
    c.shutdown(1)


def test_batch_split_keeps_resource_and_sequence():
    b = Batch([1, 2, 3], seq=7)  # type: ignore[list-item]
    x, y = b.split()
    assert list(x) + list(y) == [1, 2, 3] and x.seq == y.seq == 7 and x.resource is b.resource


def test_flush_is_answered_while_other_threads_keep_tracking():
    mem = MemoryBackend()
    c = make(mem, max_queue_size=1_000_000, flush_interval=60)
    stop = threading.Event()

    def spam():
        while not stop.is_set():
            c.track_event("noise")

    threads = [threading.Thread(target=spam) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        c.track_event("mine")
        assert c.flush(10)
        assert any(r.name == "mine" for r in mem.records)
    finally:
        stop.set()
        for t in threads:
            t.join()
        c.shutdown(5)


def test_queue_full_is_logged_once_per_burst_not_per_event(caplog, monkeypatch):
    import logging

    from astrid.pipeline import BatchProcessor

    monkeypatch.setattr(BatchProcessor, "drop_log_interval", 0.0)
    caplog.set_level(logging.WARNING, logger="astrid")
    mem = MemoryBackend()
    c = make(mem, max_queue_size=10, batch_size=1000, flush_interval=60)
    for _ in range(100):
        c.track_event("burst-1")
    assert c.flush(5) is False  # records were dropped
    for _ in range(100):
        c.track_event("burst-2")
    c.flush(5)
    warnings = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(warnings) == 2
    assert c.stats()["dropped"] == 180
    c.track_event("after")
    assert c.flush(5) is True  # nothing lost since the previous flush
    c.shutdown(1)


class Gated:
    """Holds every export until ``release`` is set, then delivers (records what arrived)."""

    def __init__(self, name="gated"):
        self.name = name
        self.release = threading.Event()
        self.delivered = []

    def export(self, batch, timeout):
        if not self.release.wait(timeout):
            return ExportResult.retry("gate_closed")
        self.delivered.extend(batch)
        return ExportResult.success()

    def shutdown(self, timeout):
        self.release.set()


@pytest.mark.parametrize("lanes", [1, 2])
def test_max_queue_size_bounds_the_queue_and_every_backlog_together(lanes):
    gates = [Gated("gated%d" % i) for i in range(lanes)]
    c = make(gates if lanes > 1 else gates[0], max_queue_size=100, batch_size=10, flush_interval=0.01,
             timeout=30.0, shutdown_timeout=5.0)
    highest = 0
    for i in range(1000):
        c.track_event("e", {"i": i})
        if i % 25 == 0:
            time.sleep(0.002)  # let the worker hand batches to the lanes
        s = c.stats()
        highest = max(highest, s["queued"])
        assert s["queued"] <= 100, s
    s = c.stats()
    assert 0 < s["queue_high_water"] <= 100
    assert highest <= s["queue_high_water"]
    for g in gates:
        g.release.set()
    c.flush(10)
    s = c.stats()
    for g in gates:
        got = [r.attributes["i"] for r in g.delivered]
        assert 999 in got  # the newest records are kept, the oldest dropped
        # every record is either delivered or counted as dropped, exactly once
        assert len(got) + s["backends"][g.name]["dropped"] + (s["dropped"] - sum(
            b["dropped"] for b in s["backends"].values())) == 1000
    c.shutdown(5)


def test_no_log_line_is_emitted_while_a_pipeline_lock_is_held():
    import logging

    class Failing:
        name = "failing"

        def __init__(self):
            self.calls = 0

        def export(self, batch, timeout):
            self.calls += 1
            return ExportResult.retry("boom") if self.calls < 8 else ExportResult.failure("refused")

        def shutdown(self, timeout):
            pass

    c = make(Failing(), breaker_cooldown=0.05, max_queue_size=20, batch_size=5)
    proc = c._proc
    seen, held = [], []

    class Check(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())
            locks = [proc.cond, proc.lock] + [lane.breaker._lock for lane in proc.lanes]
            for lock in locks:
                if lock.acquire(timeout=1.0):  # our own thread holding it would wait in vain
                    lock.release()
                else:
                    held.append(record.getMessage())

    log = logging.getLogger("astrid")
    handler, level = Check(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        for i in range(200):
            c.track_event("e", {"i": i})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("refused" in m for m in seen):
            c.track_event("more")
            time.sleep(0.02)
        c.shutdown(2)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    assert any("circuit breaker" in m for m in seen), seen
    assert any("refused" in m for m in seen), seen
    assert held == []


def test_flush_and_shutdown_called_from_a_backend_return_at_once():
    calls = []

    class ReEntrant:
        name = "reentrant"

        def export(self, batch, timeout):
            t0 = time.monotonic()
            calls.append((client.flush(30), client.stats()["enqueued"] > 0, time.monotonic() - t0))
            return ExportResult.success()

        def shutdown(self, timeout):
            pass

    client = make(ReEntrant())
    client.track_event("e")
    assert client.flush(10)
    client.shutdown(5)
    assert calls and all(elapsed < 5 for _, _, elapsed in calls)


def test_stats_flush_and_shutdown_return_while_a_thread_holds_the_pipeline_lock():
    mem = MemoryBackend()
    c = make(mem)
    c.track_event("e")
    assert c.flush(5)
    held, release = threading.Event(), threading.Event()

    def hold():
        with c._proc.cond:  # a thread stuck inside the SDK (a debugger, a misbehaving handler)
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    answers = {}

    def ask():
        answers["stats"] = c.stats()
        answers["flush"] = c.flush(0.3)
        answers["shutdown"] = c.shutdown(0.3)

    asker = threading.Thread(target=ask)
    asker.start()
    asker.join(10)
    stuck = asker.is_alive()
    release.set()
    holder.join(5)
    asker.join(5)
    assert not stuck, "stats/flush/shutdown waited for the lock past their timeouts"
    assert answers["stats"]["enqueued"] == 1
    assert answers["flush"] is False and answers["shutdown"] is False
