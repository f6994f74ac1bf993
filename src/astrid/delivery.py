"""DeliveryLane: hands prepared batches to one backend on its own thread, with retry, backoff and breaker."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, Optional

from .backends import Batch, ExportResult, backend_name
from .resilience import Backoff, CircuitBreaker

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import BatchProcessor

logger = logging.getLogger("astrid")


class Counters:
    """Delivery counters of one lane (guarded by the processor's condition)."""

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

    Batches wait here (FIFO, bounded by record count) while the backend is slow or down, so a
    failing backend never holds up another one or the caller.
    """

    def __init__(self, proc: "BatchProcessor", backend: Any) -> None:
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
        self.backoff = Backoff(cfg.backoff_base, cfg.backoff_max)
        self.breaker = CircuitBreaker(
            cfg.breaker_threshold, cfg.breaker_cooldown, on_change=self._breaker_changed
        )
        self.thread: Optional[threading.Thread] = None

    def _breaker_changed(self, old: str, new: str) -> None:
        level = logging.WARNING if new == CircuitBreaker.OPEN else logging.INFO
        logger.log(level, "backend %s: circuit breaker %s -> %s", self.name, old, new)

    # ---------------------------------------------------------------- worker side

    def submit(self, batch: Batch) -> None:
        """Queue a batch (caller holds proc.cond). Evicts the oldest batches beyond the bound."""
        self.pending.append(batch)
        self.pending_records += len(batch)
        limit = self.proc.config.max_queue_size
        while self.pending_records > limit and len(self.pending) > 1:
            old = self.pending[1] if self.busy else self.pending[0]
            self.pending.remove(old)
            self.pending_records -= len(old)
            self.counters.dropped += len(old)
            self.proc._note_loss()
            self.proc._warn_drop("backend %s is behind; dropped %d oldest records" % (self.name, len(old)))

    def progress(self, handed_no: int) -> int:
        return self.pending[0].seq - 1 if self.pending else handed_no

    # ---------------------------------------------------------------- lane thread

    def run(self) -> None:
        proc = self.proc
        cond = proc.cond
        while True:
            with cond:
                while True:
                    if proc.abandon_at is not None and time.monotonic() >= proc.abandon_at:
                        self._abandon()
                        return
                    if self.pending:
                        wait = self._seconds_until_ready()
                        if wait <= 0:
                            break
                    elif proc.stopped:
                        return
                    else:
                        wait = None
                    if proc.abandon_at is not None:
                        left = proc.abandon_at - time.monotonic()
                        wait = left if wait is None else min(wait, left)
                    cond.wait(wait)
                batch = self.pending[0]
                self.busy = True
            try:
                self._attempt(batch)
            finally:
                with cond:
                    self.busy = False
                    cond.notify_all()

    def _seconds_until_ready(self) -> float:
        now = time.monotonic()
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
        try:
            result = self.backend.export(batch, timeout)
        except Exception as exc:
            logger.debug("backend %s raised %s during export", self.name, type(exc).__name__, exc_info=True)
            result = ExportResult.retry("exception:%s" % type(exc).__name__)
        if result is None or result is True:
            result = ExportResult.success()
        elif result is False or not isinstance(result, ExportResult):
            result = ExportResult.retry("bad_result")
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
                    proc._note_loss()
                batch[:] = result.remaining
            if result.ok:
                self.breaker.record_success()
                c.sent += max(0, len(batch) - result.rejected)
                c.rejected += result.rejected
                c.failed += result.rejected
                if result.rejected:
                    c.count_failure("rejected")
                    proc._note_loss()
                c.batches += 1
                self._finish(batch)
            elif result.split and len(batch) > 1:
                # the receiver answered (refusing the size): retry the halves right away
                self.breaker.record_success()
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
                self.next_attempt = time.monotonic() + delay
                logger.debug(
                    "backend %s: %s; retry %d in %.2fs", self.name, result.reason, self.attempt, delay
                )
            else:
                # the server is alive but will never take this batch
                self.breaker.record_success()
                c.failed += len(batch)
                if result.remaining is None and result.rejected > 0:
                    c.rejected += min(result.rejected, len(batch))  # refused for good, by the receiver
                c.count_failure(result.reason)
                logger.warning(
                    "backend %s refused a batch of %d records (%s); not retried",
                    self.name,
                    len(batch),
                    result.reason,
                )
                proc._note_loss()
                self._finish(batch)
            self.pending_records = sum(len(b) for b in self.pending)

    def _finish(self, batch: Batch) -> None:
        if self.pending and self.pending[0] is batch:
            self.pending.popleft()
        self.attempt = 0
        self.next_attempt = 0.0

    def _abandon(self) -> None:
        """Shutdown deadline: what is still pending is lost (counted)."""
        lost = self.pending_records
        if lost:
            self.counters.dropped += lost
            self.counters.count_failure("shutdown_deadline")
            logger.warning("backend %s: %d records not delivered before the shutdown deadline", self.name, lost)
            self.proc._note_loss()
        self.pending.clear()
        self.pending_records = 0


def shutdown_backend(backend: Any, timeout: float) -> None:
    try:
        backend.shutdown(timeout)
    except Exception:
        logger.debug("backend shutdown failed", exc_info=True)
