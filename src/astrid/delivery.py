"""DeliveryLane: hands prepared batches to one backend on its own thread, with retry, backoff and breaker."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Optional, Protocol

from .config import TelemetryConfig
from .export import Batch, ExportResult, backend_name
from .resilience import Backoff, CircuitBreaker
from .spool import Spool

logger = logging.getLogger("astrid")


class LaneHost(Protocol):
    """The narrow interface between a lane and the processor that feeds it (BatchProcessor).

    A lane knows nothing else of the processor: it waits and counts under the shared condition
    (a flush waits on it for the lanes' progress), reports losses and backlog changes, queues log
    lines to be written once no lock is held, and reaches the spool the processor owns.
    """

    config: TelemetryConfig
    #: guards every lane's queue and counters; notified when a lane makes progress
    cond: threading.Condition
    #: set to wake the worker (room again: it reads spooled batches back)
    wake: threading.Event
    spool: Optional[Spool]
    #: shutdown deadline (monotonic seconds): past it, what is pending is given up
    abandon_at: Optional[float]
    stopped: bool

    def note_loss(self) -> None:
        """Records were lost (dropped or refused): a flush waiting now reports False."""
        ...

    def backlog_changed(self) -> None:
        """A lane's pending record count changed (caller holds ``cond``)."""
        ...

    def warn_drop(self, message: str) -> None:
        """Warn (rate-limited, later) that records were dropped."""
        ...

    def log_later(self, level: int, message: str, *args: Any) -> None:
        """Keep a log line until no lock is held (callable with locks held)."""
        ...

    def emit_logs(self) -> None:
        """Write the kept log lines (call with no lock held)."""
        ...

    def may_pace(self) -> bool:
        """May the export release the GIL between records (memory is not pressed)?"""
        ...

    def pacer(self) -> Optional[Callable[[], bool]]:
        """None when the export must not pause; else: pause now (a caller is active)?"""
        ...


class Counters:
    """Delivery counters of one lane (guarded by the host's condition)."""

    __slots__ = ("sent", "failed", "dropped", "retries", "rejected", "batches", "failures_by_reason")

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.retries = 0
        self.rejected = 0
        self.batches = 0
        self.failures_by_reason: Dict[str, int] = {}

    def count_failure(self, reason: str) -> None:
        reason = reason or "unknown"
        self.failures_by_reason[reason] = self.failures_by_reason.get(reason, 0) + 1


class DeliveryLane:
    """Delivers prepared batches to one backend on its own thread: retry, backoff, breaker.

    Batches wait here (FIFO) while the backend is slow or down, so a failing backend never holds
    up another one or the caller. The processor bounds the queue and all backlogs together.
    Nothing here logs while holding a lock: log lines go through ``proc.log_later``.
    """

    def __init__(self, proc: LaneHost, backend: Any) -> None:
        cfg = proc.config
        self.proc = proc
        self.backend = backend
        self.name = backend_name(backend)
        self.pending: Deque[Batch] = deque()
        self.pending_records = 0
        self.busy = False
        self.attempt = 0
        self.next_attempt = 0.0
        self.counters = Counters()
        #: the clock of retry and breaker timing (monotonic seconds); tests replace it with a fake
        #: one and wake the lane (``proc.cond.notify_all()``) instead of sleeping through delays.
        #: Shutdown deadlines stay on the real clock.
        self.clock: Callable[[], float] = time.monotonic
        self.backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
        self.breaker = CircuitBreaker(
            cfg.breaker_threshold, cfg.breaker_cooldown, clock=lambda: self.clock(), on_change=self._breaker_changed
        )
        self.thread: Optional[threading.Thread] = None

    def _breaker_changed(self, old: str, new: str) -> None:
        # called with the breaker's lock (and often the processor's) held: log later
        level = logging.WARNING if new == CircuitBreaker.OPEN else logging.INFO
        self.proc.log_later(level, "backend %s: circuit breaker %s -> %s", self.name, old, new)

    # ---------------------------------------------------------------- worker side

    def submit(self, batch: Batch) -> None:
        """Queue a batch (caller holds proc.cond; the processor then enforces the memory bound)."""
        self.pending.append(batch)
        self.pending_records += len(batch)

    def oldest_evictable(self) -> Optional[Batch]:
        """The oldest batch that is not being exported right now (caller holds proc.cond)."""
        if not self.pending:
            return None
        if self.busy:
            return self.pending[1] if len(self.pending) > 1 else None
        return self.pending[0]

    def evict(self, batch: Batch) -> None:
        """Drop a waiting batch to keep memory bounded; counted (caller holds proc.cond).

        With a spool the batch stays on disk and is read back when there is room: not a loss.
        """
        self.pending.remove(batch)
        self.pending_records -= len(batch)
        spool = self.proc.spool
        if spool is not None and spool.evict(batch.token, self.name):
            self.proc.backlog_changed()
            return
        self.counters.dropped += len(batch)
        self.counters.count_failure("queue_full")
        proc = self.proc
        proc.note_loss()
        proc.backlog_changed()
        proc.warn_drop("backend %s is behind; dropped %d oldest records" % (self.name, len(batch)))

    def progress(self, handed_no: int) -> int:
        return self.pending[0].seq - 1 if self.pending else handed_no

    # ---------------------------------------------------------------- lane thread

    def run(self) -> None:
        proc = self.proc
        cond = proc.cond
        while True:
            batch: Optional[Batch] = None
            with cond:
                while True:
                    if proc.abandon_at is not None and time.monotonic() >= proc.abandon_at:
                        self._abandon()
                        break
                    wait: Optional[float] = None
                    if self.pending:
                        wait = self._seconds_until_ready()
                        if wait <= 0:
                            batch = self.pending[0]
                            self.busy = True
                            break
                    elif proc.stopped:
                        break
                    if proc.abandon_at is not None:
                        left = proc.abandon_at - time.monotonic()
                        wait = left if wait is None else min(wait, left)
                    cond.wait(wait)
            if batch is None:
                proc.emit_logs()
                return
            try:
                self._attempt(batch)
            finally:
                with cond:
                    self.busy = False
                    cond.notify_all()
            proc.emit_logs()

    def _seconds_until_ready(self) -> float:
        now = self.clock()
        wait = self.next_attempt - now
        probe = self.breaker.seconds_until_probe()
        return max(wait, probe)

    def _attempt(self, batch: Batch) -> None:
        proc = self.proc
        if not self.breaker.allow():
            return
        timeout = proc.config.timeout
        if proc.abandon_at is not None:
            timeout = max(0.001, min(timeout, proc.abandon_at - time.monotonic()))
        before = len(batch)
        encoder = sys.modules.get("astrid.encoding.otlp_proto")
        if encoder is not None:
            encoder.pacing(proc.pacer())  # let callers have the GIL between records, unless pressed
        try:
            result = self.backend.export(batch, timeout)
        except Exception as exc:
            logger.debug("backend %s raised %s during export", self.name, type(exc).__name__, exc_info=True)
            result = ExportResult.retry("exception:%s" % type(exc).__name__)
        if result is None or result is True:
            result = ExportResult.success()
        elif result is False or not isinstance(result, ExportResult):
            result = ExportResult.retry("bad_result")
        settled = False
        with proc.cond:
            c = self.counters
            # older backends report a partial delivery by shrinking the batch in place
            delivered_part = max(0, before - len(batch))
            c.sent += delivered_part
            if not result.ok and result.remaining is not None:
                # a partial delivery, reported in the result: count what settled, keep the rest
                c.sent += max(0, result.delivered)
                if result.rejected > 0:
                    c.rejected += result.rejected
                    c.failed += result.rejected
                    c.count_failure("rejected")
                    proc.note_loss()
                batch[:] = result.remaining
            if result.ok:
                self.breaker.record_success()
                c.sent += max(0, len(batch) - result.rejected)
                c.rejected += result.rejected
                c.failed += result.rejected
                if result.rejected:
                    c.count_failure("rejected")
                    proc.note_loss()
                c.batches += 1
                self._finish(batch)
                settled = True
            elif result.split and len(batch) > 1:
                # the receiver answered (refusing the size): retry the halves right away
                self.breaker.record_success()
                if proc.spool is not None:
                    proc.spool.split(batch.token, self.name)
                first, second = batch.split()
                self.pending.popleft()
                self.pending.appendleft(second)
                self.pending.appendleft(first)
                c.count_failure(result.reason or "payload_too_large")
            elif result.retryable and not result.split:
                self.breaker.record_failure()
                c.retries += 1
                c.count_failure(result.reason)
                delay = self.backoff.delay(self.attempt)
                if result.retry_after is not None:
                    delay = max(delay, result.retry_after)
                self.attempt += 1
                self.next_attempt = self.clock() + delay
                proc.log_later(
                    logging.DEBUG, "backend %s: %s; retry %d in %.2fs", self.name, result.reason, self.attempt, delay
                )
            else:
                # the server is alive but will never take this batch
                self.breaker.record_success()
                c.failed += len(batch)
                if result.remaining is None and result.rejected > 0:
                    c.rejected += min(result.rejected, len(batch))  # refused for good, by the receiver
                c.count_failure(result.reason)
                proc.log_later(
                    logging.WARNING,
                    "backend %s refused a batch of %d records (%s); not retried",
                    self.name,
                    len(batch),
                    result.reason,
                )
                proc.note_loss()
                self._finish(batch)
                settled = True
            self.pending_records = sum(len(b) for b in self.pending)
            proc.backlog_changed()
        spool = proc.spool
        if spool is not None and batch.token:
            if settled:
                spool.ack(batch.token, self.name)  # outside the lock: it writes to disk
            if not self.pending:
                proc.wake.set()  # room again: the worker reads the next batches back from disk

    def _finish(self, batch: Batch) -> None:
        if self.pending and self.pending[0] is batch:
            self.pending.popleft()
        self.attempt = 0
        self.next_attempt = 0.0

    def _abandon(self) -> None:
        """Shutdown deadline: what is still pending is lost (counted), unless it waits in the spool."""
        spool = self.proc.spool
        if spool is not None:
            on_disk = [b for b in self.pending if b.token and spool.evict(b.token, self.name)]
            for b in on_disk:
                self.pending.remove(b)
            self.pending_records = sum(len(b) for b in self.pending)
        lost = self.pending_records
        if lost:
            self.counters.dropped += lost
            self.counters.count_failure("shutdown_deadline")
            self.proc.log_later(
                logging.WARNING, "backend %s: %d records not delivered before the shutdown deadline", self.name, lost
            )
            self.proc.note_loss()
        self.pending.clear()
        self.pending_records = 0
        self.proc.backlog_changed()


def shutdown_backend(backend: Any, timeout: float) -> None:
    try:
        backend.shutdown(timeout)
    except Exception:
        logger.debug("backend shutdown failed", exc_info=True)
