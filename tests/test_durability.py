"""The disk spool through the client: crashes, outages, shared directories, bursts, soak.

Every process here is a real one (``SIGKILL`` included) and every receiver a real loopback HTTP
server; each test is bounded in time.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from typing import List

import pytest

import astrid
from support.faultserver import FaultServer, Respond, refused_port

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the spool needs POSIX advisory locks")

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


def _ids(server: FaultServer) -> List[str]:
    out: List[str] = []
    for req in server.requests:
        if req.fault is not None and getattr(req.fault, "status", 0) == 200:
            out.extend(r["id"] for r in req.json()["records"])
    return out


def _client(spool, url, **kw):
    opts = dict(
        project_name="durable", backend="http", endpoint=url, enabled=True, spool_dir=str(spool),
        flush_interval=0.05, backoff_base=0.01, backoff_max=0.05, breaker_cooldown=0.05, timeout=2.0,
        install_atexit=False,
    )
    opts.update(kw)
    return astrid.TelemetryClient(**opts)


def _wait(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def _spawn(script: str, *args: str) -> "subprocess.Popen[str]":
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("DO_NOT_TRACK", None)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


_OUTAGE_CHILD = """
import sys, astrid
spool, url, n, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = astrid.TelemetryClient(project_name="durable", backend="http", endpoint=url, enabled=True,
    spool_dir=spool, flush_interval=0.05, backoff_base=0.01, backoff_max=0.05, timeout=1.0)
for i in range(n):
    c.track_event("outage", {"i": i, "tag": tag})
ok = c.flush(timeout=10)
print("flushed", ok, c.stats()["spooled"], flush=True)
sys.stdin.readline()          # wait here until SIGKILL
"""


def test_sigkill_after_flush_during_an_outage_loses_nothing(tmp_path):
    spool = tmp_path / "spool"
    dead = "http://127.0.0.1:%d" % refused_port()
    child = _spawn(_OUTAGE_CHILD, str(spool), dead, "300", "a")
    try:
        line = child.stdout.readline().split()
        assert line[:2] == ["flushed", "False"], child.stderr.read()
        assert int(line[2]) == 300  # flush returned once everything was durably spooled
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    with FaultServer() as server:
        c = _client(spool, server.url)  # no track_*: replay starts by itself
        try:
            assert _wait(lambda: len(_ids(server)) >= 300)
            assert c.flush(5)
            ids = _ids(server)
            assert len(ids) == 300 and len(set(ids)) == 300
            assert c.stats()["spooled"] == 0
        finally:
            c.shutdown(5)
        # a third process finds nothing left to send
        c2 = _client(spool, server.url)
        try:
            c2.flush(2)
            time.sleep(0.2)
            assert len(_ids(server)) == 300
        finally:
            c2.shutdown(5)
    assert not [p for p in os.listdir(spool) if p.endswith(".astrid")]


_HEALTHY_CHILD = """
import sys, astrid
spool, url = sys.argv[1], sys.argv[2]
c = astrid.TelemetryClient(project_name="durable", backend="http", endpoint=url, enabled=True,
    spool_dir=spool, flush_interval=0.02, batch_size=50, timeout=1.0)
i = 0
while True:
    for _ in range(37):
        c.track_event("healthy", {"i": i})
        i += 1
    if c.flush(timeout=5):
        print("acked", i, flush=True)
"""


def test_sigkill_at_random_points_keeps_every_acknowledged_event(tmp_path):
    rng = random.Random(7)
    with FaultServer() as server:
        for round_no in range(3):
            spool = tmp_path / ("spool%d" % round_no)
            server.clear()
            child = _spawn(_HEALTHY_CHILD, str(spool), server.url)
            acked = 0
            deadline = time.monotonic() + rng.uniform(0.3, 1.2)
            try:
                while time.monotonic() < deadline:
                    line = child.stdout.readline()
                    if line.startswith("acked"):
                        acked = int(line.split()[1])
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(10)
            # the child's own ids are random: compare by the "i" attribute it set
            def seen():
                out = Counter()
                for req in server.requests:
                    if getattr(req.fault, "status", 0) == 200:
                        for r in req.json()["records"]:
                            out[(r["id"], r["attributes"]["i"])] += 1
                return out

            replayer = _client(spool, server.url)
            try:
                replayer.flush(5)
                assert _wait(lambda: replayer.stats()["spooled"] == 0, 10)  # noqa: B023
            finally:
                replayer.shutdown(5)
            got = seen()
            numbers = {i for (_, i) in got}
            assert acked > 0
            assert set(range(acked)) <= numbers, "an event acknowledged by flush() never arrived"
            by_number = {}
            for (rid, i) in got:
                by_number.setdefault(i, set()).add(rid)
            assert all(len(v) == 1 for v in by_number.values()), "a re-sent event changed its id"


def test_two_processes_sharing_a_spool_are_replayed_once(tmp_path):
    spool = tmp_path / "shared"
    dead = "http://127.0.0.1:%d" % refused_port()
    kids = [_spawn(_OUTAGE_CHILD, str(spool), dead, "200", tag) for tag in ("x", "y")]
    try:
        for k in kids:
            assert k.stdout.readline().split()[:2] == ["flushed", "False"]
        # while both live, a third process cannot take their segments
        with FaultServer() as early:
            c = _client(spool, early.url)
            time.sleep(0.3)
            assert _ids(early) == []
            c.shutdown(2)
    finally:
        for k in kids:
            k.send_signal(signal.SIGKILL)
            k.wait(10)
    with FaultServer() as server:
        clients = [_client(spool, server.url) for _ in range(2)]  # two replayers race for them
        try:
            assert _wait(lambda: len(_ids(server)) >= 400)
            time.sleep(0.3)
            ids = _ids(server)
            assert len(ids) == 400 and len(set(ids)) == 400
        finally:
            for c in clients:
                c.shutdown(5)


def test_a_burst_larger_than_the_queue_spills_to_disk_instead_of_dropping(tmp_path):
    with FaultServer() as server:
        server.default = Respond(503)
        c = _client(tmp_path / "burst", server.url, max_queue_size=500, batch_size=100)
        try:
            for i in range(20_000):
                c.track_event("burst", {"i": i})
            c.flush(30)
            s = c.stats()
            assert s["dropped"] == 0, s
            server.default = Respond(200)
            assert _wait(lambda: len(set(_ids(server))) >= 20_000, 60), c.stats()
            assert c.flush(10)
        finally:
            c.shutdown(5)
        ids = _ids(server)
        assert len(set(ids)) == 20_000


def test_shutdown_leaves_what_it_could_not_deliver_in_the_spool(tmp_path):
    spool = tmp_path / "exit"
    with FaultServer() as server:
        server.default = Respond(503)
        c = _client(spool, server.url, shutdown_timeout=0.5)
        for i in range(50):
            c.track_event("late", {"i": i})
        assert c.shutdown(0.5) is False
        server.default = Respond(200)
        c2 = _client(spool, server.url)
        try:
            assert _wait(lambda: len(set(_ids(server))) >= 50)
        finally:
            c2.shutdown(5)


def test_an_unusable_spool_dir_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with FaultServer() as server:
        c = _client(blocker / "spool", server.url)
        try:
            c.track_event("still works")
            assert c.flush(5)
            assert c.stats()["spool"] == "unavailable"
            assert len(_ids(server)) == 1
        finally:
            c.shutdown(5)


def test_only_sanitized_records_reach_the_disk(tmp_path):
    spool = tmp_path / "private"
    dead = "http://127.0.0.1:%d" % refused_port()
    c = _client(spool, dead)
    try:
        c.track_event("signup", {"email": "jane.doe@example.com", "note": "card 4111 1111 1111 1111", "password": "hunter2"})
        c.flush(3)
    finally:
        c.shutdown(0.5)
    blob = b"".join((spool / p).read_bytes() for p in os.listdir(spool))
    assert blob  # something was spooled
    for secret in (b"jane.doe@example.com", b"4111 1111 1111 1111", b"hunter2"):
        assert secret not in blob


_SOAK_CHILD = """
import json, resource, sys, time, astrid
spool, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = astrid.TelemetryClient(project_name="soak", backend="http", endpoint=url, enabled=True,
    spool_dir=spool, flush_interval=0.2, backoff_base=0.05, backoff_max=0.5, breaker_cooldown=0.5,
    timeout=2.0, max_queue_size=20000, spool_max_bytes=512 * 1024 * 1024)
start = time.monotonic()
for i in range(n):
    c.track_event("soak", {"i": i, "kind": "k%d" % (i % 10)})
    if i % 2000 == 1999:
        time.sleep(0.02)   # a busy service (up to 100,000 events/s), not a bare loop
tracked = time.monotonic() - start
ok = False
end = time.monotonic() + 600
while time.monotonic() < end:
    ok = c.flush(timeout=1.0)
    s = c.stats()
    if ok and s["spooled"] == 0 and s["queued"] == 0:
        break
    time.sleep(0.2)
s = c.stats()
c.shutdown(5)
def peak_rss_kb():
    # VmHWM is this program's own peak; ru_maxrss also counts the parent's pages copied by fork
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"tracked_s": tracked, "total_s": time.monotonic() - start,
                  "rss_kb": peak_rss_kb(),
                  "dropped": s["dropped"], "spool_dropped": s["spool_dropped"], "sent": s["sent"],
                  "failed": s["failed"], "ok": ok, "stats": {k: v for k, v in s.items() if k != "backends"}}), flush=True)
"""


@pytest.mark.slow
def test_soak_a_million_events_through_a_flapping_receiver(tmp_path):
    """Up, down, slow, 429 + Retry-After in turn: RSS stays bounded and every event is accounted for."""
    n = int(os.environ.get("ASTRID_SOAK_EVENTS", "1000000"))
    phases = [Respond(200)] * 4 + [Respond(503)] * 2 + [Respond(200, delay=0.2)] * 2 + [Respond(429, {"Retry-After": "1"})]
    ids = set()
    with FaultServer() as server:
        start = time.monotonic()

        def flap(req):
            fault = phases[int((time.monotonic() - start) / 0.5) % len(phases)]
            if getattr(fault, "status", 0) == 200:
                for r in req.json()["records"]:
                    ids.add(r["id"])
            return fault

        server.handler = flap
        child = _spawn(_SOAK_CHILD, str(tmp_path / "soak"), server.url, str(n))
        try:
            out, err = child.communicate(timeout=900)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
    assert child.returncode == 0, err
    res = __import__("json").loads(out.strip().splitlines()[-1])
    print("soak:", n, "events", res, "delivered", len(ids))
    assert len(ids) + res["dropped"] + res["spool_dropped"] == n, res
    # the queue, the spill and the lanes stay bounded (about 40 MB measured; 200 MB leaves room)
    assert res["rss_kb"] < 200 * 1024, res
