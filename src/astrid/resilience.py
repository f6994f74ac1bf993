"""Retry policy pieces: exponential backoff with full jitter, Retry-After parsing, a circuit breaker."""

from __future__ import annotations

import random
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping, Optional

from .export import ExportResult

#: HTTP statuses worth another try (the OTLP spec's list plus 408 and 504).
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(max, base * 2**n))."""

    def __init__(self, base: float = 0.5, maximum: float = 30.0, rng: Optional[random.Random] = None):
        self.base = base
        self.maximum = maximum
        self._rng = rng or random.Random()

    def ceiling(self, attempt: int) -> float:
        return min(self.maximum, self.base * float(1 << min(max(attempt, 0), 62)))

    def delay(self, attempt: int) -> float:
        return self._rng.uniform(0.0, self.ceiling(attempt))


def parse_retry_after(
    value: Optional[str],
    now: Optional[float] = None,
    cap: float = 60.0,
    clock: Callable[[], float] = time.time,
) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped; None if absent/bad.

    An HTTP-date is measured against ``now`` or, when that is None, ``clock()`` (wall-clock
    seconds since the epoch; tests pass a fake one).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    seconds: Optional[float]
    try:
        seconds = float(value)
        if seconds != seconds:  # NaN
            return None
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (clock() if now is None else now)
    return max(0.0, min(cap, seconds))


def result_from_status(
    status: int,
    headers: Optional[Mapping[str, str]] = None,
    reason: str = "",
    retry_after_max: float = 60.0,
    clock: Callable[[], float] = time.time,
) -> ExportResult:
    """Classify an HTTP response: success, retry (with Retry-After), split (413) or permanent failure.

    ``clock`` is the wall clock an HTTP-date ``Retry-After`` is measured against."""
    if 200 <= status < 300:
        return ExportResult.success(status=status)
    why = reason or "http_%d" % status
    if status == 413:
        return ExportResult.too_large(why, status=status)
    if status in RETRYABLE_STATUSES:
        retry_after = None
        if headers:
            retry_after = parse_retry_after(_header(headers, "retry-after"), cap=retry_after_max, clock=clock)
        return ExportResult.retry(why, retry_after=retry_after, status=status)
    return ExportResult.failure(why, status=status)


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    value = headers.get(name)
    if value is not None:
        return value
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


class CircuitBreaker:
    """closed → open after ``threshold`` consecutive failures → half-open after ``cooldown`` → closed.

    While open, ``allow()`` is False and the pipeline sends nothing; after the cool-down one probe
    is let through (half-open). A failed probe re-opens it with a longer cool-down (doubling up to
    ``max_cooldown``) so a dead endpoint costs almost nothing.
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 10.0,
        max_cooldown: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Optional[Callable[[str, str], Any]] = None,
    ) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max(cooldown, max_cooldown)
        self._cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = self.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_at = 0.0
        self.times_opened = 0

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == self.OPEN and self._clock() - self._opened_at >= self._cooldown:
                return self.HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """May a request go out now? In half-open state, only one probe at a time."""
        with self._lock:
            if self._state == self.CLOSED:
                return True
            now = self._clock()
            if self._state == self.OPEN and now - self._opened_at >= self._cooldown:
                self._set(self.HALF_OPEN)
                self._probe_at = now
                return True
            if self._state == self.HALF_OPEN and now - self._probe_at >= self._cooldown:
                # the probe's outcome was never recorded (e.g. a 413 split): let another one go
                self._probe_at = now
                return True
            return False

    def seconds_until_probe(self) -> float:
        """Seconds until ``allow()`` may say yes (0 when closed)."""
        with self._lock:
            if self._state == self.OPEN:
                return max(0.0, self._cooldown - (self._clock() - self._opened_at))
            if self._state == self.HALF_OPEN:
                return max(0.0, self._cooldown - (self._clock() - self._probe_at))
            return 0.0

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._cooldown = self.base_cooldown
            if self._state != self.CLOSED:
                self._set(self.CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == self.HALF_OPEN:
                self._cooldown = min(self.max_cooldown, self._cooldown * 2)
                self._open()
            elif self._state == self.CLOSED and self._failures >= self.threshold:
                self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self.times_opened += 1
        self._set(self.OPEN)

    def _set(self, state: str) -> None:
        old, self._state = self._state, state
        if self._on_change is not None and old != state:
            try:
                self._on_change(old, state)
            except Exception:  # a diagnostics hook must not break delivery
                pass
