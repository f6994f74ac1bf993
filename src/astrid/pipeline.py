"""BatchProcessor: the bounded queue, the worker that prepares batches, flush/shutdown, fork safety."""

from __future__ import annotations

import atexit
import logging
import os
import random
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence

from .aggregation import MetricAggregator
from .backends import Batch
from .config import TelemetryConfig
from .delivery import DeliveryLane, shutdown_backend
from .records import Record, Resource

logger = logging.getLogger("astrid")

_SAMPLED_TYPES = ("event", "span")


class BatchProcessor:
    """The caller-facing bounded queue plus the worker thread that sanitizes and batches records."""

    drop_log_interval = 1.0

    def __init__(
        self,
        config: TelemetryConfig,
        backends: Sequence[Any],
        resource: Resource,
        privacy: Any = None,
        aggregator: Optional[MetricAggregator] = None,
    ) -> None:
        self.config = config
        # read on every enqueue; the config is frozen
        self._max_queue_size = config.max_queue_size
        self._batch_size = config.batch_size
        self.resource = resource
        self.backends = list(backends)
        self.privacy = privacy
        self.aggregator = aggregator if aggregator is not None else MetricAggregator(config.max_metric_series)
        self._init_state()
        self._atexit_registered = False
        _register_fork_handler(self)

    def _init_state(self) -> None:
        self.lock = threading.Lock()  # guards the queue (held by callers for an append)
        self.cond = threading.Condition(threading.Lock())  # guards everything else
        self.wake = threading.Event()
        self.queue: Deque[Record] = deque()
        self.enqueued = 0
        self.taken = 0  # records removed from the queue: taken by the worker or dropped
        self.dropped = 0  # dropped from the caller-side queue (full)
        self.sampled_out = 0
        self.filtered = 0
        self.prepare_errors = 0
        self.batch_no = 0
        self.handed_no = 0
        self.flush_gen = 0
        self.flushed_gen = 0
        self.flushed_no = 0
        self.loss_events = 0
        self._lost_at_last_flush = 0
        self.stopping = False
        self.stopped = False
        self.abandon_at: Optional[float] = None
        self._dropping = False
        self._last_drop_log = 0.0
        self.worker: Optional[threading.Thread] = None
        self.lanes = [DeliveryLane(self, b) for b in self.backends]
        _name_lanes_uniquely(self.lanes)
        self.pid = os.getpid()
        self.next_collect = time.monotonic() + self.config.flush_interval

    # ---------------------------------------------------------------- caller side

    def enqueue(self, record: Record) -> None:
        """Never blocks, never raises: full queue drops the oldest record and counts it."""
        if self.stopped:
            self.dropped += 1
            return
        q = self.queue
        lock = self.lock
        # acquire/release rather than `with`: half the cost on the caller's hot path
        lock.acquire()
        try:
            if len(q) >= self._max_queue_size:
                q.popleft()
                self.dropped += 1
                self.taken += 1
                dropping = True
            else:
                dropping = False
            q.append(record)
            self.enqueued += 1
            n = len(q)
        finally:
            lock.release()
        if self.worker is None:
            self._start()
        if n == self._batch_size:
            self.wake.set()
        if dropping and not self._dropping:
            self._dropping = True
            self._warn_drop("queue full (max_queue_size=%d); dropping the oldest records" % self.config.max_queue_size)

    def _warn_drop(self, message: str) -> None:
        now = time.monotonic()
        # once per burst (the worker ends a burst when it drains the queue), at most once a second
        if now - self._last_drop_log >= self.drop_log_interval:
            self._last_drop_log = now
            logger.warning(message)

    def _start(self) -> None:
        with self.cond:
            if self.worker is not None or self.stopped:
                return
            try:
                for lane in self.lanes:
                    t = threading.Thread(target=lane.run, name="astrid-export-%s" % lane.name, daemon=True)
                    lane.thread = t
                    t.start()
                w = threading.Thread(target=self._run, name="astrid-worker", daemon=True)
                self.worker = w
                w.start()
            except RuntimeError:  # interpreter shutting down
                self.worker = None
                return
            if self.config.install_atexit and not self._atexit_registered:
                self._atexit_registered = True
                atexit.register(_exit_flush, weakref.ref(self))

    # ---------------------------------------------------------------- worker side

    def _run(self) -> None:
        cfg = self.config
        while True:
            timeout = max(0.0, self.next_collect - time.monotonic())
            if len(self.queue) < cfg.batch_size and not self.stopping and self.flushed_gen >= self.flush_gen:
                self.wake.wait(timeout)
            self.wake.clear()
            try:
                self._cycle()
            except Exception:  # the worker must survive anything
                logger.debug("worker cycle failed", exc_info=True)
            with self.cond:
                if self.stopping and not self.queue:
                    # everything was drained and handed to the lanes: that answers every flush
                    self.flushed_gen = self.flush_gen
                    self.flushed_no = self.handed_no
                    self.stopped = True
                    self.cond.notify_all()
                    return

    def _cycle(self) -> None:
        cfg = self.config
        with self.cond:
            gen = self.flush_gen
        now = time.monotonic()
        due = now >= self.next_collect
        forced = gen > self.flushed_gen or self.stopping
        # take at most what is queued now, so a flush is answered even under sustained load
        budget = len(self.queue)
        while budget > 0:
            with self.lock:
                n = min(len(self.queue), budget)
                if n == 0 or (n < cfg.batch_size and not (due or forced)):
                    break
                take = min(n, cfg.batch_size)
                budget -= take
                records = [self.queue.popleft() for _ in range(take)]
                self.taken += take
            self._hand(records)
        self._dropping = False  # the queue has room again: the next drop starts a new burst
        if due or forced:
            self.next_collect = time.monotonic() + cfg.flush_interval
            metrics: List[Record] = list(self.aggregator.collect())
            if metrics:
                for i in range(0, len(metrics), cfg.batch_size):
                    self._hand(metrics[i : i + cfg.batch_size])
        with self.cond:
            if gen > self.flushed_gen:
                self.flushed_gen = gen
                self.flushed_no = self.handed_no
            self.cond.notify_all()

    def _hand(self, records: List[Record]) -> None:
        prepared: List[Record] = []
        for rec in records:
            try:
                out = self._prepare(rec)
            except Exception:
                self.prepare_errors += 1
                logger.debug("dropping a record that could not be prepared", exc_info=True)
                continue
            if out is not None:
                prepared.append(out)
        with self.cond:
            self.batch_no += 1
            batch = Batch(prepared, self.resource, self.batch_no)
            if prepared:
                for lane in self.lanes:
                    lane.submit(batch if len(self.lanes) == 1 else Batch(batch, self.resource, self.batch_no))
            self.handed_no = self.batch_no
            self.cond.notify_all()

    def _prepare(self, rec: Record) -> Optional[Record]:
        """Sample, sanitize (the engine formats errors first), then the user's before_send hook."""
        rate = self.config.sample_rate
        if rate < 1.0 and rec.type in _SAMPLED_TYPES and random.random() >= rate:
            self.sampled_out += 1
            return None
        if self.privacy is None:
            finalize = getattr(rec, "finalize", None)
            if finalize is not None:
                finalize()
        else:
            # the engine formats errors and span exceptions (finalize) before it scans them
            out = self.privacy.sanitize(rec)
            if out is None:
                self.filtered += 1
                return None
            rec = out
        hook = self.config.before_send
        if hook is not None:
            try:
                out = hook(rec)
            except Exception:
                # a broken hook must not let unfiltered data out, nor break the worker
                self.prepare_errors += 1
                logger.debug("before_send raised; record dropped", exc_info=True)
                return None
            if out is None:
                self.filtered += 1
                return None
            if not isinstance(out, Record):
                self.prepare_errors += 1
                logger.debug("before_send returned %s, not a record; dropped", type(out).__name__)
                return None
            rec = out
        return rec

    def _note_loss(self) -> None:
        """Records were lost (dropped or refused): a flush waiting now will report False."""
        self.loss_events += 1

    # ---------------------------------------------------------------- flush / shutdown

    def _progress(self) -> int:
        return min([lane.progress(self.handed_no) for lane in self.lanes] or [self.handed_no])

    def flush(self, timeout: Optional[float]) -> bool:
        """Export everything enqueued before the call; True when all of it was delivered in time."""
        if self.worker is None or self.stopped:
            # after shutdown too: nothing pending anywhere is a clean flush
            return not self.queue and self.aggregator_empty() and not any(lane.pending_records for lane in self.lanes)
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self.cond:
            self.flush_gen += 1
            gen = self.flush_gen
        self.wake.set()
        with self.cond:
            while not (self.flushed_gen >= gen and self._progress() >= self.flushed_no):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.cond.wait(left if left is None or left < 0.5 else 0.5)
            # anything lost since the previous completed flush was enqueued before this call
            lost = self.loss_events + self.dropped
            clean = lost == self._lost_at_last_flush
            self._lost_at_last_flush = lost
            return clean

    def aggregator_empty(self) -> bool:
        return len(self.aggregator) == 0

    def shutdown(self, timeout: Optional[float]) -> bool:
        """Flush within ``timeout`` then stop the threads. Idempotent; never blocks past the deadline."""
        if timeout is None:
            timeout = self.config.shutdown_timeout
        deadline = time.monotonic() + max(0.0, timeout)
        with self.cond:
            already = self.stopping
            self.stopping = True
        if already:
            return self._wait_stopped(deadline)
        if self.worker is None:
            self.stopped = True
            for lane in self.lanes:
                shutdown_backend(lane.backend, max(0.0, deadline - time.monotonic()))
            return True
        with self.cond:
            self.abandon_at = deadline
        ok = self.flush(max(0.0, deadline - time.monotonic()))
        self.wake.set()
        stopped = self._wait_stopped(deadline)
        with self.cond:
            self.cond.notify_all()
        for lane in self.lanes:
            if lane.thread is not None and lane.thread is not threading.current_thread():
                lane.thread.join(max(0.0, deadline - time.monotonic()))
            shutdown_backend(lane.backend, max(0.0, deadline - time.monotonic()))
        return ok and stopped

    def _wait_stopped(self, deadline: float) -> bool:
        with self.cond:
            while not self.stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    # ---------------------------------------------------------------- stats / fork

    def stats(self) -> Dict[str, Any]:
        with self.cond:
            lanes: Dict[str, Dict[str, Any]] = {}
            for lane in self.lanes:
                c = lane.counters
                lanes[lane.name] = {
                    "sent": c.sent,
                    "failed": c.failed,
                    "dropped": c.dropped,
                    "retries": c.retries,
                    "rejected": c.rejected,
                    "batches": c.batches,
                    "pending": lane.pending_records,
                    "breaker": lane.breaker.state,
                    "failures_by_reason": dict(c.failures_by_reason),
                }
            values = list(lanes.values())
            failures: Dict[str, int] = {}
            for v in values:
                for k, n in v["failures_by_reason"].items():
                    failures[k] = failures.get(k, 0) + n
            if self.dropped:
                failures["queue_full"] = failures.get("queue_full", 0) + self.dropped
            states = [v["breaker"] for v in values]
            breaker = "open" if "open" in states else ("half_open" if "half_open" in states else "closed")
            return {
                "enqueued": self.enqueued,
                "queued": len(self.queue) + sum(v["pending"] for v in values),
                "sent": sum(v["sent"] for v in values),
                "dropped": self.dropped + sum(v["dropped"] for v in values) + self.prepare_errors,
                "failed": sum(v["failed"] for v in values),
                "retries": sum(v["retries"] for v in values),
                "rejected": sum(v["rejected"] for v in values),
                "sampled_out": self.sampled_out,
                "filtered": self.filtered,
                "metric_series_dropped": self.aggregator.dropped,
                "breaker": breaker,
                "failures_by_reason": failures,
                "backends": lanes,
            }

    def _after_fork_in_child(self) -> None:
        """A forked child starts with a fresh queue and threads; the parent's records stay the parent's."""
        self._init_state()
        self.aggregator = MetricAggregator(self.config.max_metric_series, self.aggregator.bounds)
        # multiprocessing children leave through os._exit, which skips atexit: flush from its
        # finalizers. Process._bootstrap clears the finalizers after the fork, then runs the
        # after-fork registry, so the finalizer is registered from there.
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None and self.config.install_atexit:
            try:
                mp_util.register_after_fork(self, _register_mp_finalizer)
            except Exception:
                pass
        for backend in self.backends:
            hook = getattr(backend, "after_fork", None)
            if callable(hook):
                try:
                    hook()
                except Exception:
                    logger.debug("backend after_fork hook failed", exc_info=True)


def _register_mp_finalizer(proc: BatchProcessor) -> None:
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(proc, _exit_flush, args=(weakref.ref(proc),), exitpriority=10)


def _exit_flush(ref: "weakref.ref[BatchProcessor]") -> None:
    proc = ref()
    if proc is not None and not proc.stopping:
        try:
            proc.shutdown(proc.config.shutdown_timeout)
        except Exception:
            pass


_processors: "weakref.WeakSet[BatchProcessor]" = weakref.WeakSet()
_fork_hook_installed = False


def _register_fork_handler(proc: BatchProcessor) -> None:
    global _fork_hook_installed
    _processors.add(proc)
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reinit_after_fork)
        _fork_hook_installed = True


def _name_lanes_uniquely(lanes: Sequence[DeliveryLane]) -> None:
    """Two backends of one name get stats keys and log names "otlp" and "otlp#2"."""
    seen: Dict[str, int] = {}
    for lane in lanes:
        n = seen.get(lane.name, 0) + 1
        seen[lane.name] = n
        if n > 1:
            lane.name = "%s#%d" % (lane.name, n)


def _reinit_after_fork() -> None:
    for proc in list(_processors):
        try:
            proc._after_fork_in_child()
        except Exception:
            pass
    random.seed()
