"""End to end through TelemetryClient → OTLP → a fault-injecting loopback server: nothing is lost."""

from __future__ import annotations

import statistics
import time
from email.utils import formatdate
from typing import Any, Iterator, List, Set

import pytest

from astrid import TelemetryClient
from support.faultserver import FaultServer, Hang, Request, Reset, Respond, refused_port
from support.otlp import RESPONSES, attrs, decode_request, spans


def make_client(url: str, **kw: Any) -> TelemetryClient:
    opts = dict(
        project_name="faults", backend="otlp", endpoint=url, enabled=True, flush_interval=0.05,
        backoff_base=0.05, backoff_max=0.5, breaker_threshold=5, breaker_cooldown=1.0, timeout=1.0,
        install_atexit=False, env={},
    )  # fmt: skip
    opts.update(kw)
    return TelemetryClient(**opts)


@pytest.fixture()
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def answered_ok(req: Request) -> bool:
    return isinstance(req.fault, Respond) and 200 <= req.fault.status < 300


def delivered(server: FaultServer) -> List[int]:
    """The ``n`` attribute of every event span a receiver accepted (duplicates included)."""
    out: List[int] = []
    for req in server.requests:
        if answered_ok(req) and req.path == "/v1/traces":
            out += [attrs(s.attributes)["n"] for s in spans(decode_request(req))]
    return out


def shuts_down(client: TelemetryClient, timeout: float) -> bool:
    """Call shutdown(timeout) on a thread; True when it returned before the faults could have
    ended it (they last 30 s). How close it comes to ``timeout`` is a benchmark figure
    (benchmarks/bench_otlp.py --faults), not a unit-test bound a loaded machine could miss."""
    import threading

    t = threading.Thread(target=client.shutdown, args=(timeout,), daemon=True)
    t.start()
    t.join(timeout + 15)
    return not t.is_alive()


def track(client: TelemetryClient, count: int, start: int = 0) -> Set[int]:
    for n in range(start, start + count):
        client.track_event("fault.test", {"n": n})
    return set(range(start, start + count))


def test_a_503_burst_loses_nothing(server: FaultServer) -> None:
    server.script(Respond(503), Respond(503), Respond(503))
    c = make_client(server.url)
    expected = track(c, 50)
    assert c.flush(10)
    assert set(delivered(server)) == expected
    st = c.stats()
    assert st["retries"] >= 3 and st["failures_by_reason"].get("http_503", 0) >= 3
    assert c.shutdown(2)


@pytest.mark.parametrize("header", ["1", "date"])
def test_no_request_before_retry_after_elapses(server: FaultServer, header: str) -> None:
    # an HTTP-date has one-second resolution: 2 s ahead means at least 1 s of waiting
    value = "1" if header == "1" else formatdate(time.time() + 2, usegmt=True)
    server.script(Respond(429, {"Retry-After": value}))
    c = make_client(server.url)
    expected = track(c, 10)
    assert c.flush(10)
    first, second = server.requests[:2]
    assert second.time - first.time >= 0.9
    assert set(delivered(server)) == expected
    c.shutdown(2)


def test_400_is_not_retried(server: FaultServer) -> None:
    server.default = Respond(400)
    c = make_client(server.url)
    track(c, 5)
    c.flush(3)
    time.sleep(0.5)  # a retry would come within backoff_max
    assert len(server.requests) == 1
    st = c.stats()
    assert st["failed"] == 5 and st["retries"] == 0 and st["failures_by_reason"] == {"http_400": 1}
    c.shutdown(2)


def test_413_splits_the_batch_until_it_fits(server: FaultServer) -> None:
    server.handler = lambda req: Respond(413) if len(spans(decode_request(req))) > 4 else None
    c = make_client(server.url, flush_interval=30.0, batch_size=16)
    expected = track(c, 16)
    assert c.flush(10)
    assert sorted(delivered(server)) == sorted(expected)
    assert any(isinstance(r.fault, Respond) and r.fault.status == 413 for r in server.requests)
    c.shutdown(2)


def test_connection_resets_lose_nothing(server: FaultServer) -> None:
    server.script(Reset(), Reset())
    c = make_client(server.url)
    expected = track(c, 30)
    assert c.flush(10)
    assert set(delivered(server)) == expected
    assert c.stats()["failures_by_reason"].get("connection_reset", 0) >= 2
    c.shutdown(2)


def test_a_slow_response_times_out_and_is_retried(server: FaultServer) -> None:
    server.script(Respond(200, delay=3.0))
    c = make_client(server.url, timeout=0.5)
    expected = track(c, 10)
    assert c.flush(10)
    assert set(delivered(server)) == expected  # duplicates are fine: receivers de-duplicate by span id
    assert c.stats()["failures_by_reason"].get("timeout", 0) >= 1
    c.shutdown(2)


def test_every_event_arrives_once_recovered_from_mixed_faults(server: FaultServer) -> None:
    server.script(Respond(503), Reset(), Respond(429, {"Retry-After": "0"}), Respond(502), Respond(504))
    c = make_client(server.url, batch_size=20)
    expected = track(c, 200)
    assert c.flush(15)
    got = delivered(server)
    assert set(got) == expected
    ids = {s.span_id for r in server.requests if answered_ok(r) for s in spans(decode_request(r))}
    assert len(ids) == len(expected)  # one stable wire id per event, whatever was resent
    c.shutdown(2)


def test_partial_success_is_counted_as_rejected(server: FaultServer) -> None:
    resp = RESPONSES["traces"]()
    resp.partial_success.rejected_spans = 2
    resp.partial_success.error_message = "too old"
    server.script(Respond(200, {"Content-Type": "application/x-protobuf"}, resp.SerializeToString()))
    c = make_client(server.url, flush_interval=30.0, batch_size=5)
    track(c, 5)
    c.flush(5)
    st = c.stats()
    assert st["rejected"] == 2 and st["sent"] == 3
    c.shutdown(2)


def _p99(samples: List[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def _track_latencies(c: TelemetryClient, count: int) -> List[float]:
    out = []
    for n in range(count):
        t = time.perf_counter()
        c.track_event("latency", {"n": n})
        out.append(time.perf_counter() - t)
        if n % 100 == 0:
            time.sleep(0.001)  # let the worker run, as a real application would
    return out


def test_a_hung_server_does_not_slow_the_caller(server: FaultServer) -> None:
    healthy = make_client(server.url)
    base = _p99(_track_latencies(healthy, 3000))
    healthy.shutdown(2)
    server.default = Hang(30)
    c = make_client(server.url, timeout=0.5)
    c.track_event("warm-up", {})
    time.sleep(0.2)  # the first request is now hanging
    hung = _p99(_track_latencies(c, 3000))
    assert hung < base * 5 + 0.0005, (hung, base)
    assert shuts_down(c, 2)


def test_the_breaker_caps_requests_to_a_dead_server(server: FaultServer) -> None:
    server.default = Respond(503)
    c = make_client(server.url, max_queue_size=200)
    deadline = time.monotonic() + 4.0
    n = 0
    opened = False
    while time.monotonic() < deadline:
        track(c, 20, n)
        n += 20
        opened = opened or c.stats()["breaker"] == "open"
        time.sleep(0.05)
    requests = server.requests
    late = [r for r in requests if r.time > deadline - 2.0]
    assert opened
    assert len(requests) < 15, len(requests)  # 5 to open, then a probe per (doubling) cool-down
    assert len(late) <= 2  # fewer than 1 request/s once open
    st = c.stats()
    assert st["queued"] <= 200 + 20 and st["dropped"] > 0  # memory stays bounded
    assert shuts_down(c, 2)


def test_a_refusing_port_opens_the_breaker_and_shuts_down_fast() -> None:
    c = make_client(f"http://127.0.0.1:{refused_port()}")
    track(c, 10)
    deadline = time.monotonic() + 3
    while c.stats()["breaker"] != "open" and time.monotonic() < deadline:
        time.sleep(0.05)
    st = c.stats()
    assert st["breaker"] == "open" and st["failures_by_reason"].get("connection_refused", 0) >= 5
    assert c.shutdown(timeout=2) is False  # nothing could be delivered


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault",
    [Hang(30), Respond(503), Respond(429, {"Retry-After": "30"}), Reset(), Respond(200, delay=10), None],
    ids=["hang", "503", "429-retry-after-30", "reset", "slow", "refused"],
)
def test_shutdown_returns_within_its_timeout_in_every_fault(server: FaultServer, fault: Any) -> None:
    url = server.url if fault is not None else f"http://127.0.0.1:{refused_port()}"
    if fault is not None:
        server.default = fault
    c = make_client(url, timeout=5.0)
    track(c, 50)
    time.sleep(0.3)  # the first export is under way
    assert shuts_down(c, 2)
