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
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from .aggregation import MetricAggregator
from .config import TelemetryConfig
from .delivery import DeliveryLane, shutdown_backend
from .export import Batch
from .records import Record, Resource
from .resilience import CircuitBreaker
from .spool import Spool

logger = logging.getLogger("astrid")


#: the worker releases the GIL after this many records, so a caller never waits a whole
#: switch interval (5 ms) behind a long sanitize/encode loop
YIELD_EVERY = 32

#: seconds between looks for spool segments left by processes that are gone
SPOOL_CLAIM_INTERVAL = 5.0

#: with a spool, records a full queue may hand to the worker for the disk (multiples of
#: max_queue_size, at least SPILL_MIN): the caller never blocks and nothing is dropped below it
SPILL_FACTOR = 4
SPILL_MIN = 50_000

#: seconds after a caller's last record during which the worker still pauses for callers
PACE_WINDOW = 0.05

#: how long stats() waits for the lock before it answers from an unlocked snapshot
_STATS_LOCK_WAIT = 0.25


def _backend_stats(backend: Any) -> Dict[str, Any]:
    """What a backend adds to its lane's stats (the ClickHouse backend: its nodes); it must
    answer from memory, without I/O. A backend without ``stats()`` adds nothing."""
    hook = getattr(backend, "stats", None)
    if not callable(hook):
        return {}
    try:
        extra = hook()
    except Exception:
        return {}
    return {str(k): v for k, v in extra.items()} if isinstance(extra, dict) else {}


class BatchProcessor:
    """The caller-facing bounded queue plus the worker thread that sanitizes and batches records.

    ``max_queue_size`` bounds everything held in memory: the queue plus every lane's backlog.
    No lock is held while logging or calling user code; log lines raised under a lock are
    queued (``log_later``) and emitted once the lock is released.
    """

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
        # series are keyed and capped after sanitizing (the raw table may hold more)
        self.aggregator.privacy = privacy
        self._init_state()
        self.spool: Optional[Spool] = None
        self._spill_cap = max(SPILL_MIN, SPILL_FACTOR * config.max_queue_size)
        if config.spool_dir is not None:
            self.spool = Spool(
                os.fspath(config.spool_dir), [lane.name for lane in self.lanes],
                config.spool_max_bytes, config.spool_max_age,
            )
        _register_fork_handler(self)
        if self.spool is not None and self.spool.available and _has_segments(self.spool.directory):
            # records of an earlier process wait on disk: deliver them without waiting for a track_*
            self._start()
            self.wake.set()

    def _init_state(self) -> None:
        self.lock = threading.Lock()  # guards the queue (held by callers for an append)
        self.cond = threading.Condition(threading.Lock())  # guards everything else
        self.wake = threading.Event()
        self.queue: Deque[Record] = deque()
        self.spill: Deque[Record] = deque()  # with a spool: records a full queue handed to the disk
        self._next_claim = 0.0
        self.backlog = 0  # records waiting in (or in flight from) the lanes, all lanes together
        self.high_water = 0  # the most records ever held (queue + backlogs)
        self._pace_seen = 0  # enqueued, as the pacer last saw it
        self._pace_until = 0.0  # the pacer pauses for callers until then
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
        self._logs: Deque[Tuple[int, str, Tuple[Any, ...]]] = deque()
        self.worker: Optional[threading.Thread] = None
        self.lanes = [DeliveryLane(self, b) for b in self.backends]
        _name_lanes_uniquely(self.lanes)
        self.pid = os.getpid()
        self.next_collect = time.monotonic() + self.config.flush_interval

    # ---------------------------------------------------------------- logging without locks

    def log_later(self, level: int, message: str, *args: Any) -> None:
        """Keep a log line for ``emit_logs`` (callable with locks held: a deque append is atomic)."""
        self._logs.append((level, message, args))

    def emit_logs(self) -> None:
        """Emit the kept log lines. Call with no lock held: a handler may re-enter the client."""
        logs = self._logs
        while logs:
            try:
                level, message, args = logs.popleft()
            except IndexError:
                return
            try:
                logger.log(level, message, *args)
            except Exception:
                pass

    # ---------------------------------------------------------------- caller side

    def enqueue(self, record: Record) -> None:
        """Never blocks, never raises: when memory is full the oldest records are dropped and counted."""
        if self.stopped:
            self.dropped += 1
            return
        q = self.queue
        lock = self.lock
        # acquire/release rather than `with`: half the cost on the caller's hot path
        lock.acquire()
        held = len(q) + self.backlog
        if held < self._max_queue_size:
            q.append(record)
            self.enqueued += 1
            n = len(q)
            lock.release()
            if held >= self.high_water:
                self.high_water = held + 1
        else:
            lock.release()
            n = self._enqueue_full(record)
        if self.worker is None:
            self._start()
        if n == self._batch_size:
            self.wake.set()

    def _enqueue_full(self, record: Record) -> int:
        """Slow path: make room by dropping the oldest records (a lane's backlog first), then append."""
        with self.cond:
            self._evict_oldest_batch(1)
        spilled = False
        with self.lock:
            q = self.queue
            if len(q) + self.backlog >= self._max_queue_size and q:
                spool = self.spool
                if spool is not None and spool.available and len(self.spill) < self._spill_cap:
                    # the worker sanitizes it and writes it to disk: kept, not dropped
                    self.spill.append(q.popleft())
                    spilled = True
                else:
                    q.popleft()
                    self.dropped += 1
                self.taken += 1
            q.append(record)
            self.enqueued += 1
            n = len(q)
            held = n + self.backlog
            if held > self.high_water:
                self.high_water = held
        if spilled:
            self.wake.set()
            return n
        if not self._dropping:
            self._dropping = True
            self.warn_drop(
                "queue full (max_queue_size=%d, queue and backlogs together); dropping the oldest records"
                % self._max_queue_size
            )
        self.emit_logs()
        return n

    def _evict_oldest_batch(self, incoming: int) -> None:
        """Drop the oldest waiting lane batches until ``incoming`` more records fit (caller holds cond)."""
        limit = self._max_queue_size
        while self.backlog and len(self.queue) + self.backlog + incoming > limit:
            oldest = None
            for lane in self.lanes:
                b = lane.oldest_evictable()
                if b is not None and (oldest is None or b.seq < oldest[1].seq):
                    oldest = (lane, b)
            if oldest is None:
                return  # only batches in flight: they cannot be taken back
            oldest[0].evict(oldest[1])

    def backlog_changed(self) -> None:
        """Recount the lanes' backlogs and the high-water mark (caller holds cond)."""
        self.backlog = sum(lane.pending_records for lane in self.lanes)
        held = len(self.queue) + self.backlog
        if held > self.high_water:
            self.high_water = held

    def warn_drop(self, message: str) -> None:
        now = time.monotonic()
        # once per burst (the worker ends a burst when it drains the queue), at most once a second
        if now - self._last_drop_log >= self.drop_log_interval:
            self._last_drop_log = now
            self.log_later(logging.WARNING, "%s", message)

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
        if self.config.install_atexit:
            _register_exit_flush()

    def _own_thread(self) -> bool:
        """Is the caller one of this processor's threads (a logging handler or backend re-entering)?"""
        t = threading.current_thread()
        if t is self.worker:
            return True
        return any(t is lane.thread for lane in self.lanes)

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
            except Exception:  # the worker must survive anything (no lock is held here)
                logger.debug("worker cycle failed", exc_info=True)
            self.emit_logs()
            with self.cond:
                if self.stopping and not self.queue and not self.spill:
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
        if self.spool is not None and self.spool.available:
            self._spool_cycle()
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
            self.emit_logs()
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

    def _spool_cycle(self) -> None:
        """Spilled records to disk, orphaned segments claimed, lanes refilled from disk as room allows."""
        spool = self.spool
        assert spool is not None
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + SPOOL_CLAIM_INTERVAL
            spool.claim_orphans()
        spill = self.spill
        size = self.config.batch_size
        while spill:
            records: List[Record] = []
            try:
                while spill and len(records) < size:
                    records.append(spill.popleft())
            except IndexError:
                pass
            prepared = self._prepare_all(records)
            if prepared and spool.append(prepared, self.resource, in_memory=False) is None:
                self._submit(prepared, None)  # the disk refused it: memory it is
        for lane in self.lanes:
            room = self._max_queue_size - len(self.queue) - self.backlog
            if room < size // 2 + 1 or self.stopping:
                return
            if not spool.has_backlog(lane.name):
                continue
            for token, records, resource in spool.backlog(lane.name, max(1, room // max(1, len(self.lanes)))):
                with self.cond:
                    lane.submit(Batch(records, resource, self.batch_no, token))
                    self.backlog_changed()
                    self.cond.notify_all()

    def may_pace(self) -> bool:
        """May the worker and lanes release the GIL between records? Not when memory is half full
        (the callers are outrunning us: pausing would only drop their records), nor at shutdown."""
        return not self.stopping and len(self.queue) + self.backlog < self._max_queue_size >> 1

    def pacer(self) -> Optional[Callable[[], bool]]:
        """None when the worker and lanes must not pause (see ``may_pace``); else a function that
        says, at each call, whether a caller tracked something in the last ``PACE_WINDOW``
        seconds: a pause helps only a caller that is there, and costs two thread switches."""
        if not self.may_pace():
            return None
        return self._caller_active

    def _caller_active(self) -> bool:
        n = self.enqueued
        now = time.monotonic()
        if n != self._pace_seen:
            self._pace_seen = n
            self._pace_until = now + PACE_WINDOW
            return True
        return now < self._pace_until

    def _prepare_all(self, records: List[Record]) -> List[Record]:
        # Latency first: release the GIL every few records, so a caller never waits a whole switch
        # interval behind this loop. When memory is half full the callers are outrunning us, and
        # yielding would only make us drop their records: then the worker keeps the GIL.
        pace = self.pacer()
        step = YIELD_EVERY if pace is not None else len(records)
        sanitize = getattr(self.privacy, "sanitize", None)
        # the common case (the engine on, no before_send) without a call per record in between
        one = sanitize if sanitize is not None and self.config.before_send is None else self._prepare
        prepared: List[Record] = []
        append = prepared.append
        for start in range(0, len(records), step or 1):
            if start and pace is not None and pace():
                time.sleep(0)
            for rec in records[start : start + step] if step < len(records) else records:
                try:
                    out = one(rec)
                except Exception:
                    self.prepare_errors += 1
                    logger.debug("dropping a record that could not be prepared", exc_info=True)
                    continue
                if out is not None:
                    append(out)
                elif one is sanitize:
                    self.filtered += 1
        return prepared

    def _hand(self, records: List[Record]) -> None:
        prepared = self._prepare_all(records)
        token = None
        if prepared and self.spool is not None:
            # on disk before the first export attempt (outside every lock: it fsyncs)
            token = self.spool.append(prepared, self.resource)
        self._submit(prepared, token)

    def _submit(self, prepared: List[Record], token: Optional[str]) -> None:
        with self.cond:
            self.batch_no += 1
            batch = Batch(prepared, self.resource, self.batch_no, token)
            if prepared:
                # room first (a fan-out adds a copy per lane), so the count never overshoots
                self._evict_oldest_batch(len(prepared) * len(self.lanes))
                for lane in self.lanes:
                    lane.submit(batch if len(self.lanes) == 1 else Batch(batch, self.resource, self.batch_no, token))
                self.backlog_changed()
            self.handed_no = self.batch_no
            self.cond.notify_all()

    def _prepare(self, rec: Record) -> Optional[Record]:
        """Sanitize (the engine formats errors first), then the user's before_send hook.

        Sampling happened before the record was queued (the client decides per trace).
        """
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

    def note_loss(self) -> None:
        """Records were lost (dropped or refused): a flush waiting now will report False."""
        self.loss_events += 1

    # ---------------------------------------------------------------- flush / shutdown

    def _progress(self) -> int:
        return min([lane.progress(self.handed_no) for lane in self.lanes] or [self.handed_no])

    def _acquire(self, deadline: Optional[float]) -> bool:
        """Take the condition's lock, but never past ``deadline``."""
        if deadline is None:
            return self.cond.acquire()
        return self.cond.acquire(True, max(0.0, deadline - time.monotonic()))

    def _request_flush(self, deadline: Optional[float]) -> Optional[int]:
        if not self._acquire(deadline):
            return None
        try:
            self.flush_gen += 1
            gen = self.flush_gen
        finally:
            self.cond.release()
        self.wake.set()
        return gen

    def _wait_flush(self, gen: Optional[int], deadline: Optional[float]) -> bool:
        if gen is None or not self._acquire(deadline):
            return False
        try:
            while not (self.flushed_gen >= gen and (self._progress() >= self.flushed_no or self._durable_and_stalled())):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.cond.wait(left if left is None or left < 0.5 else 0.5)
            # anything lost since the previous completed flush was enqueued before this call
            lost = self.loss_events + self.dropped
            clean = lost == self._lost_at_last_flush
            self._lost_at_last_flush = lost
            return clean and self._progress() >= self.flushed_no
        finally:
            self.cond.release()

    def _durable_and_stalled(self) -> bool:
        """With a spool: is everything a flush waits for on disk, and delivery not imminent? (holds cond)

        A lane that is delivering normally is waited for; one that is backing off or whose breaker
        is open is not: its records are safe on disk and the flush can answer (False) now.
        """
        spool = self.spool
        if spool is None or not spool.available or self.spill:
            return False
        for lane in self.lanes:
            if lane.progress(self.handed_no) >= self.flushed_no:
                continue
            if lane.attempt == 0 and lane.breaker.state == CircuitBreaker.CLOSED:
                return False
            for b in lane.pending:
                if b.seq <= self.flushed_no and not b.token:
                    return False
        return True

    def _idle(self) -> bool:
        return not self.queue and not self.backlog

    def flush(self, timeout: Optional[float]) -> bool:
        """Export everything enqueued before the call; True when all of it was delivered in time."""
        if self.worker is None or self.stopped:
            # after shutdown too: nothing pending anywhere is a clean flush
            return not self.queue and self.aggregator_empty() and not any(lane.pending_records for lane in self.lanes)
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        gen = self._request_flush(deadline)
        if self._own_thread():
            # called back from our own worker or lane (a logging handler, a backend): waiting here
            # would wait for ourselves, so ask for the flush and answer at once
            return False if gen is None else self._idle()
        return self._wait_flush(gen, deadline)

    def aggregator_empty(self) -> bool:
        return len(self.aggregator) == 0

    def shutdown(self, timeout: Optional[float]) -> bool:
        """Flush within ``timeout`` then stop the threads. Idempotent; never blocks past the deadline."""
        if timeout is None:
            timeout = self.config.shutdown_timeout
        deadline = time.monotonic() + max(0.0, timeout)
        return self._end_shutdown(self._begin_shutdown(deadline), deadline)

    def _begin_shutdown(self, deadline: float) -> Tuple[bool, Optional[int]]:
        """Ask the threads to drain and stop by ``deadline``; returns at once (exit flushes them all)."""
        if not self._acquire(deadline):
            return True, None
        try:
            already = self.stopping
            self.stopping = True
            gen: Optional[int] = None
            if not already and self.worker is not None:
                self.abandon_at = deadline
                self.flush_gen += 1
                gen = self.flush_gen
            self.cond.notify_all()
        finally:
            self.cond.release()
        self.wake.set()
        return already, gen

    def _end_shutdown(self, begun: Tuple[bool, Optional[int]], deadline: float) -> bool:
        already, gen = begun
        if self._own_thread():
            return False  # a handler or backend on our own thread: stopping is under way
        if already:
            return self._wait_stopped(deadline)
        if self.worker is None:
            self.stopped = True
            for lane in self.lanes:
                shutdown_backend(lane.backend, max(0.0, deadline - time.monotonic()))
            return True
        ok = self._wait_flush(gen, deadline)
        self.wake.set()
        stopped = self._wait_stopped(deadline)
        if self._acquire(deadline):
            self.cond.notify_all()
            self.cond.release()
        for lane in self.lanes:
            if lane.thread is not None and lane.thread is not threading.current_thread():
                lane.thread.join(max(0.0, deadline - time.monotonic()))
            shutdown_backend(lane.backend, max(0.0, deadline - time.monotonic()))
        if self.spool is not None:
            self.spool.close()  # what is not delivered stays on disk for the next process
        self.emit_logs()
        return ok and stopped

    def _wait_stopped(self, deadline: float) -> bool:
        if not self._acquire(deadline):
            return False
        try:
            while not self.stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True
        finally:
            self.cond.release()

    # ---------------------------------------------------------------- stats / fork

    def stats(self) -> Dict[str, Any]:
        # a stuck lock (a thread frozen in a debugger, a handler misbehaving) must not hang the caller:
        # after a short wait, answer from an unlocked snapshot
        locked = self.cond.acquire(True, _STATS_LOCK_WAIT)
        try:
            lanes: Dict[str, Dict[str, Any]] = {}
            for lane in list(self.lanes):
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
                lanes[lane.name].update(_backend_stats(lane.backend))
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
                "queue_high_water": self.high_water,
                "max_queue_size": self._max_queue_size,
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
                **(self.spool.stats() if self.spool is not None else _SPOOL_OFF),
            }
        finally:
            if locked:
                self.cond.release()

    def _after_fork_in_child(self) -> None:
        """A forked child starts with a fresh queue, threads, locks, aggregator and backends.

        The parent's records stay the parent's (it delivers them); the child delivers its own.
        """
        self._init_state()
        if self.spool is not None:
            self.spool.after_fork()  # the parent's segments stay the parent's
        self.aggregator = MetricAggregator(self.config.max_metric_series, self.aggregator.bounds, self.privacy)
        for backend in self.backends:
            hook = getattr(backend, "after_fork", None)
            if callable(hook):
                try:
                    hook()
                except Exception:
                    logger.debug("backend after_fork hook failed", exc_info=True)


_SPOOL_OFF: Dict[str, Any] = {"spool": "off", "spooled": 0, "spool_bytes": 0, "spool_dropped": 0}


def _has_segments(directory: str) -> bool:
    try:
        return any(name.endswith(".astrid") for name in os.listdir(directory))
    except OSError:
        return False


# ------------------------------------------------------------------ process exit


def _name_lanes_uniquely(lanes: Sequence[DeliveryLane]) -> None:
    """Two backends of one name get stats keys and log names "otlp" and "otlp#2"."""
    seen: Dict[str, int] = {}
    for lane in lanes:
        n = seen.get(lane.name, 0) + 1
        seen[lane.name] = n
        if n > 1:
            lane.name = "%s#%d" % (lane.name, n)


def _exit_flush_all() -> None:
    """Flush every client of this process at exit, all at once: the wait is the largest
    ``shutdown_timeout``, not their sum. Starts no thread (Python 3.12.1 refuses new threads
    at interpreter shutdown): each client's own worker and lanes do the work."""
    pid = os.getpid()
    procs = [
        p for p in list(_processors)
        if p.pid == pid and p.config.install_atexit and not p.stopping and p.worker is not None
    ]
    if not procs:
        return
    now = time.monotonic()
    begun = []
    for p in procs:
        deadline = now + max(0.0, p.config.shutdown_timeout)
        try:
            begun.append((p, p._begin_shutdown(deadline), deadline))
        except Exception:
            pass
    for p, state, deadline in begun:
        try:
            p._end_shutdown(state, deadline)
        except Exception:
            pass


_exit_registered_pid = 0
_exit_lock = threading.Lock()


def _register_exit_flush() -> None:
    """Register the exit flush once per process: atexit, plus multiprocessing's finalizers in a
    multiprocessing child, which leaves through ``os._exit`` and never runs atexit."""
    global _exit_registered_pid
    pid = os.getpid()
    if _exit_registered_pid == pid:
        return
    if not _exit_lock.acquire(False):
        return  # another thread is registering right now
    try:
        if _exit_registered_pid == pid:
            return
        _exit_registered_pid = pid
        if not _atexit_done[0]:
            _atexit_done[0] = True
            atexit.register(_exit_flush_all)  # inherited by forked children
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            try:
                # obj=None with an exitpriority: runs from multiprocessing's exit function, which a
                # Process child calls before os._exit (its registry is fresh in every child)
                mp_util.Finalize(None, _exit_flush_all, exitpriority=10)
            except Exception:
                pass
    finally:
        _exit_lock.release()


_atexit_done = [False]

_processors: "weakref.WeakSet[BatchProcessor]" = weakref.WeakSet()
_fork_hook_installed = False


def _register_fork_handler(proc: BatchProcessor) -> None:
    global _fork_hook_installed
    _processors.add(proc)
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reinit_after_fork)
        _fork_hook_installed = True


def _reinit_after_fork() -> None:
    global _exit_lock
    _exit_lock = threading.Lock()  # a thread of the parent may have held it at fork time
    for proc in list(_processors):
        try:
            proc._after_fork_in_child()
        except Exception:
            pass
    random.seed()
