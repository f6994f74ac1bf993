"""Backoff with full jitter, Retry-After parsing, status classification and the circuit breaker."""

from __future__ import annotations

import random
from email.utils import formatdate
from typing import List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid.resilience import (
    RETRYABLE_STATUSES,
    Backoff,
    CircuitBreaker,
    parse_retry_after,
    result_from_status,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ backoff


def test_backoff_ceiling_doubles_up_to_the_maximum() -> None:
    b = Backoff(0.5, 30.0)
    assert [b.ceiling(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert b.ceiling(10_000) == 30.0


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 10), st.floats(0, 100), st.integers(0, 500), st.integers(0, 2**32))
def test_backoff_delay_is_full_jitter_within_the_ceiling(base: float, maximum: float, attempt: int, seed: int) -> None:
    b = Backoff(base, maximum, random.Random(seed))
    assert 0.0 <= b.delay(attempt) <= b.ceiling(attempt) <= maximum


def test_backoff_jitter_spreads_delays() -> None:
    b = Backoff(1.0, 60.0, random.Random(7))
    delays = [b.delay(3) for _ in range(200)]
    assert min(delays) < 2.0 and max(delays) > 6.0  # uniform over [0, 8]


# ------------------------------------------------------------------ Retry-After


@pytest.mark.parametrize(
    "value,expected",
    [("5", 5.0), (" 2.5 ", 2.5), ("0", 0.0), ("-3", 0.0), ("120", 60.0), ("1e400", 60.0), ("", None),
     (None, None), ("soon", None), ("nan", None)],
)  # fmt: skip
def test_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, cap=60.0) == expected


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0  # a fixed "now": the wall clock never enters the test
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after(formatdate(now + 3600, usegmt=True), now=now, cap=10) == 10


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_retry_after_never_raises_and_stays_in_bounds(value: str) -> None:
    got = parse_retry_after(value, cap=5.0)
    assert got is None or 0.0 <= got <= 5.0


# ------------------------------------------------------------------ statuses


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_success(status: int) -> None:
    assert result_from_status(status).ok


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_transient_statuses_are_retried(status: int) -> None:
    r = result_from_status(status, {"Retry-After": "3"})
    assert r.retryable and not r.split and r.retry_after == 3 and r.status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 415, 422, 501, 505])
def test_other_statuses_are_permanent(status: int) -> None:
    r = result_from_status(status)
    assert not r.ok and not r.retryable and r.reason == f"http_{status}"


def test_413_asks_for_a_split() -> None:
    r = result_from_status(413)
    assert r.split and r.retryable


def test_an_http_date_retry_after_is_measured_against_the_injected_clock() -> None:
    now = 1_700_000_000.0
    header = {"Retry-After": formatdate(now + 20, usegmt=True)}
    assert result_from_status(503, header, clock=lambda: now).retry_after == 20.0
    assert result_from_status(503, header, clock=lambda: now + 15).retry_after == 5.0
    assert result_from_status(503, header, clock=lambda: now + 60).retry_after == 0.0  # already past
    assert parse_retry_after(header["Retry-After"], clock=lambda: now - 100, cap=60) == 60.0


def test_retry_after_is_capped_and_read_case_insensitively() -> None:
    assert result_from_status(503, {"RETRY-AFTER": "999"}, retry_after_max=7).retry_after == 7
    assert result_from_status(429, {}).retry_after is None


# ------------------------------------------------------------------ circuit breaker


def make_breaker(threshold: int = 3, cooldown: float = 10.0) -> Tuple[CircuitBreaker, Clock, List[str]]:
    clock = Clock()
    changes: List[str] = []
    b = CircuitBreaker(threshold, cooldown, max_cooldown=40.0, clock=clock, on_change=lambda o, n: changes.append(n))
    return b, clock, changes


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    b, _, changes = make_breaker()
    for _ in range(2):
        b.record_failure()
        assert b.allow() and b.state == "closed"
    b.record_failure()
    assert b.state == "open" and not b.allow() and changes == ["open"]


def test_a_success_resets_the_failure_count() -> None:
    b, _, _ = make_breaker()
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"


def test_breaker_lets_one_probe_through_after_the_cool_down() -> None:
    b, clock, changes = make_breaker()
    for _ in range(3):
        b.record_failure()
    clock.now += 9.9
    assert not b.allow() and b.seconds_until_probe() == pytest.approx(0.1)
    clock.now += 0.1
    assert b.state == "half_open"
    assert b.allow()
    assert not b.allow()  # only one probe at a time
    b.record_success()
    assert b.state == "closed" and b.allow() and changes == ["open", "half_open", "closed"]


def test_a_failed_probe_reopens_with_a_doubled_cool_down() -> None:
    b, clock, _ = make_breaker()
    for _ in range(3):
        b.record_failure()
    for expected in (20.0, 40.0, 40.0):
        clock.now += 100
        assert b.allow()
        b.record_failure()
        assert b.state == "open" and b.seconds_until_probe() == expected
    clock.now += 40
    assert b.allow()
    b.record_success()
    for _ in range(3):
        b.record_failure()
    assert b.seconds_until_probe() == 10.0  # a success resets the cool-down


def test_a_probe_whose_outcome_is_never_recorded_does_not_wedge_the_breaker() -> None:
    b, clock, _ = make_breaker()
    for _ in range(3):
        b.record_failure()
    clock.now += 10
    assert b.allow()  # the probe goes out, and e.g. a 413 split records nothing
    assert not b.allow() and b.seconds_until_probe() == 10.0  # no busy loop: a real wait
    clock.now += 10
    assert b.allow()


def test_dead_endpoint_costs_few_requests() -> None:
    b, clock, _ = make_breaker(threshold=5, cooldown=1.0)
    sent = 0
    for _ in range(6000):  # ten minutes in 0.1 s steps
        if b.allow():
            sent += 1
            b.record_failure()
        clock.now += 0.1
    assert sent < 5 + 10 + 600 / 40  # threshold, the doubling, then one per max cool-down


def test_a_broken_on_change_hook_is_ignored() -> None:
    def hook(old: str, new: str) -> None:
        raise RuntimeError("diagnostics broke")

    b = CircuitBreaker(1, 1.0, on_change=hook)
    b.record_failure()
    assert b.state == "open"


# ------------------------------------------------------------------ in the pipeline, on a fake clock


def _until(predicate, what: str) -> None:
    """Wait for the lane thread to act (bounded; this is not a timing assertion)."""
    import time

    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline, "the lane never " + what
        time.sleep(0.005)


def test_a_lane_retries_opens_the_breaker_and_probes_by_its_clock_not_by_sleeping() -> None:
    import astrid
    from astrid.export import ExportResult

    class Flaky:
        name = "flaky"

        def __init__(self) -> None:
            self.attempts = 0

        def export(self, batch, timeout):  # type: ignore[no-untyped-def]
            self.attempts += 1
            return ExportResult.success() if self.attempts > 5 else ExportResult.retry("http_503", status=503)

        def shutdown(self, timeout):  # type: ignore[no-untyped-def]
            pass

    backend = Flaky()
    # an hour of cool-down and up to a minute of backoff: only the fake clock makes this test quick
    c = astrid.TelemetryClient("lane-clock", backend=backend, enabled=True, install_atexit=False, env={},
                               breaker_threshold=5, breaker_cooldown=3600.0, backoff_base=30.0, backoff_max=60.0,
                               flush_interval=0.05)
    proc = c._proc
    (lane,) = proc.lanes
    clock = Clock()
    lane.clock = clock
    lane.backoff = Backoff(30.0, 60.0, random.Random(7))  # seeded: every delay is known to be above zero
    assert min(Backoff(30.0, 60.0, random.Random(7)).delay(n) for n in range(5)) > 1.0

    def tick(seconds: float) -> None:
        clock.now += seconds
        with proc.cond:
            proc.cond.notify_all()

    try:
        c.track_event("e")
        for n in range(1, 6):  # five failures, each followed by a backoff measured on the fake clock
            _until(lambda n=n: backend.attempts == n, "made attempt %d" % n)
            _until(lambda: lane.next_attempt > clock.now or lane.breaker.state == "open", "scheduled a retry")
            if n < 5:
                assert lane.next_attempt - clock.now <= 60.0  # backoff_max
                tick(61)
        assert lane.breaker.state == "open" and c.stats()["breaker"] == "open"
        tick(3599)  # a second before the probe: the lane goes back to waiting
        assert lane.breaker.seconds_until_probe() == 1.0 and backend.attempts == 5
        tick(1)  # the cool-down is over: one probe, which succeeds and closes the breaker
        _until(lambda: c.stats()["sent"] == 1, "delivered with the probe")
        assert backend.attempts == 6 and lane.breaker.state == "closed"
    finally:
        c.shutdown(timeout=1)
