"""Spool: sanitized batches on disk between the worker and the lanes, so a crash or an outage loses nothing.

Layout. Each process appends to its own segment files ``seg-<pid>-<token>-<n>.astrid`` in the
spool directory (0700; files 0600). A segment starts with a header (magic, format version) and
holds frames: ``SYNC kind length crc32 payload``. Kind ``B`` is a batch (its sanitized records
with their original ids), kind ``A`` acknowledges a batch for one backend (``"*"``: for all).
Frames are only ever appended; a segment is deleted when every batch in it is acknowledged.

Ownership. A process holds an exclusive ``flock`` on every segment it writes or replays, for as
long as the file exists. Another process that can take the lock knows the owner is gone and
claims the segment for replay, so no batch is replayed by two processes and none is skipped.
A forked child closes the parent's descriptors and starts segments of its own.

Damage. A torn last frame, bytes that fail their checksum, a stray file, or a segment written by
a newer format version are counted, logged once and skipped: every intact frame is still read.
If the directory cannot be used at all, the client keeps working in memory and says so in stats.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import threading
import time
import zlib
from collections import OrderedDict
from random import getrandbits
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from .records import ErrorRecord, Event, Log, Metric, Record, Resource, Span, SpanEvent

try:  # POSIX only: without advisory locks there is no safe sharing, so no spool
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("astrid")

MAGIC = b"ASTRIDSP"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">8sHH")  # magic, version, reserved
SYNC = b"\xa5\x7e"
_FRAME = struct.Struct(">2scII")  # sync, kind, payload length, crc32(kind + payload)
MAX_FRAME = 64 * 1024 * 1024
SEGMENT_RE = re.compile(r"^seg-(\d+)-([0-9a-f]{8})-(\d+)\.astrid$")
KIND_BATCH = b"B"
KIND_ACK = b"A"
ALL = "*"


# ---------------------------------------------------------------- record codec


def _enc_events(events: List[SpanEvent]) -> List[Any]:
    return [[e.name, e.time_ns, e.attributes] for e in events]


def encode_record(rec: Record) -> List[Any]:
    """A sanitized record as a JSON-able list (its id kept, so a replay can be de-duplicated)."""
    t = rec.type
    head = [t, "%x" % rec.id, rec.name, rec.time_ns, rec.attributes]
    if isinstance(rec, Span):
        return head + [
            rec.trace_id, rec.span_id, rec.parent_span_id, rec.end_ns,
            rec.status, rec.status_message, _enc_events(rec.events), rec.kind,
        ]
    if isinstance(rec, Event):
        return head + [rec.trace_id, rec.parent_span_id]
    if isinstance(rec, Metric):
        return head + [
            rec.metric_type, rec.start_ns, rec.value, rec.count, rec.sum, rec.min, rec.max,
            list(rec.bounds), list(rec.bucket_counts), rec.unit, rec.description,
        ]
    if isinstance(rec, Log):
        return head + [rec.body, rec.severity_number, rec.trace_id, rec.span_id]
    raise TypeError("cannot spool a %s" % type(rec).__name__)


def decode_record(row: List[Any]) -> Record:
    """The inverse of :func:`encode_record`; raises ValueError/TypeError/IndexError on bad input."""
    t, rid, name, time_ns, attrs = row[0], int(row[1], 16), row[2], int(row[3]), row[4]
    if not isinstance(name, str) or not isinstance(attrs, dict):
        raise ValueError("bad record")
    rec: Record
    if t == "span":
        span = Span(name, attrs, time_ns, int(row[5]), int(row[6]), int(row[7]), id=rid)
        span.end_ns = int(row[8])
        span.status, span.status_message = str(row[9]), str(row[10])
        span.events = [SpanEvent(str(e[0]), int(e[1]), dict(e[2])) for e in row[11]]
        span.kind = int(row[12])
        rec = span
    elif t == "event":
        rec = Event(name, attrs, time_ns, int(row[5]), int(row[6]), id=rid)
    elif t == "metric":
        rec = Metric(
            name, str(row[5]), attrs, int(row[6]), time_ns, row[7], int(row[8]), row[9], row[10],
            row[11], tuple(float(b) for b in row[12]), [int(c) for c in row[13]], str(row[14]),
            str(row[15]), id=rid,
        )
    elif t in ("log", "error"):
        if t == "error":
            err = ErrorRecord(None, attrs, time_ns, int(row[7]), int(row[8]), int(row[6]), id=rid)
            err.name, err.body = name, str(row[5])
            rec = err
        else:
            rec = Log(str(row[5]), int(row[6]), attrs, time_ns, int(row[7]), int(row[8]), name, id=rid)
    else:
        raise ValueError("unknown record type %r" % (t,))
    return rec


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str, ensure_ascii=False).encode("utf-8", "replace")


def frame(kind: bytes, payload: bytes) -> bytes:
    return _FRAME.pack(SYNC, kind, len(payload), zlib.crc32(kind + payload)) + payload


def header() -> bytes:
    return _HEADER.pack(MAGIC, FORMAT_VERSION, 0)


class SegmentDamage(Exception):
    """A segment that cannot be read at all (not ours, or from a newer format version)."""


def read_frames(data: bytes) -> Tuple[List[Tuple[int, bytes, bytes]], int]:
    """Every intact frame of a segment as (offset, kind, payload), and how many damaged spots were skipped.

    Raises SegmentDamage when the header is not ours or names a newer version. Never raises
    anything else, whatever the bytes.
    """
    if len(data) < _HEADER.size:
        raise SegmentDamage("short header")
    magic, version, _ = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise SegmentDamage("not a spool segment")
    if version > FORMAT_VERSION:
        raise SegmentDamage("format version %d is newer than this SDK's %d" % (version, FORMAT_VERSION))
    frames: List[Tuple[int, bytes, bytes]] = []
    damaged = 0
    pos = _HEADER.size
    end = len(data)
    bad_run = False
    while pos + _FRAME.size <= end:
        sync, kind, length, crc = _FRAME.unpack_from(data, pos)
        body_at = pos + _FRAME.size
        ok = (
            sync == SYNC
            and kind in (KIND_BATCH, KIND_ACK)
            and length <= MAX_FRAME
            and body_at + length <= end
            and zlib.crc32(kind + data[body_at : body_at + length]) == crc
        )
        if ok:
            frames.append((pos, kind, data[body_at : body_at + length]))
            pos = body_at + length
            bad_run = False
            continue
        if not bad_run:
            damaged += 1
            bad_run = True
        nxt = data.find(SYNC, pos + 1)
        if nxt < 0:
            break
        pos = nxt
    if pos < end and not bad_run and pos + _FRAME.size > end:
        damaged += 1  # a torn frame header at the very end
    return frames, damaged


# ---------------------------------------------------------------- the spool


class _Segment:
    __slots__ = ("path", "fd", "size", "live", "active", "created", "closed")

    def __init__(self, path: str, fd: int, size: int, active: bool, created: float) -> None:
        self.path = path
        self.fd = fd
        self.size = size
        self.live = 0  # batches in it not yet acknowledged by every lane
        self.active = active  # the segment this process appends new batches to
        self.created = created
        self.closed = False  # set (under the io lock) once fd is closed: never write to it again


class _Entry:
    __slots__ = ("token", "segment", "offset", "count", "need", "in_memory", "parts")

    def __init__(self, token: str, segment: _Segment, offset: int, count: int, need: Set[str]) -> None:
        self.token = token
        self.segment = segment
        self.offset = offset
        self.count = count
        self.need = need  # lanes that have not acknowledged it
        self.in_memory: Set[str] = set()  # lanes that hold it in memory right now
        self.parts: Dict[str, int] = {}  # lane -> outstanding pieces after 413 splits


class Spool:
    """Sanitized batches on disk; see the module docstring. Thread-safe; never raises."""

    def __init__(
        self,
        directory: str,
        lanes: List[str],
        max_bytes: int = 64 * 1024 * 1024,
        max_age: float = 7 * 86400.0,
        segment_bytes: Optional[int] = None,
    ) -> None:
        self.directory = os.fspath(directory)
        self.lanes = list(lanes)
        self.max_bytes = int(max_bytes)
        self.max_age = float(max_age)
        self.segment_bytes = int(segment_bytes or max(64 * 1024, min(4 * 1024 * 1024, self.max_bytes // 8)))
        self.lock = threading.Lock()  # the index: short sections, never any I/O (callers may wait on it)
        self.io = threading.Lock()  # file writes, fsync, unlink, close; taken before ``lock``, never after
        self._logged: Set[str] = set()
        self._pending_logs: List[Tuple[int, str]] = []
        self.available = False
        self.reason = ""
        # counters
        self.spooled_batches = 0
        self.dropped = 0  # records deleted unsent (caps, unusable files)
        self.errors = 0
        self.damaged = 0
        self.replayed = 0  # records read back from disk
        self._init_state()
        self._open_directory()

    def _init_state(self) -> None:
        self.pid = os.getpid()
        self.prefix = "seg-%d-%08x-" % (self.pid, getrandbits(32))
        self.seq = 0
        self.segments: List[_Segment] = []
        self.entries: "OrderedDict[str, _Entry]" = OrderedDict()
        self.active: Optional[_Segment] = None
        self._claimed: Set[str] = set()

    # ---------------------------------------------------------------- logging outside the lock

    def _note(self, key: str, level: int, message: str) -> None:
        """Queue a log line (once per key); emitted by _flush_logs after the lock is released."""
        if key not in self._logged:
            self._logged.add(key)
            self._pending_logs.append((level, message))

    def _flush_logs(self) -> None:
        if self._pending_logs:
            pending, self._pending_logs = self._pending_logs, []
            for level, message in pending:
                logger.log(level, "spool: %s", message)

    # ---------------------------------------------------------------- setup

    def _open_directory(self) -> None:
        if fcntl is None:
            self.reason = "no advisory file locks on this platform"
        else:
            try:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                st = os.stat(self.directory)
                if st.st_uid == os.getuid() and st.st_mode & 0o077:
                    os.chmod(self.directory, 0o700)
                if not os.access(self.directory, os.W_OK | os.X_OK):
                    raise PermissionError("directory is not writable")
                self.available = True
            except OSError as exc:
                self.reason = "%s (%s)" % (type(exc).__name__, exc.strerror or exc)
            except Exception as exc:  # a path that is not a path
                self.reason = type(exc).__name__
        if not self.available:
            self._note("unavailable", logging.WARNING, "cannot use %s: %s; records stay in memory" % (self.directory, self.reason))
        self._flush_logs()

    # ---------------------------------------------------------------- writing

    def _new_segment(self) -> _Segment:
        name = "%s%d.astrid" % (self.prefix, self.seq)
        self.seq += 1
        path = os.path.join(self.directory, name)
        # made under a hidden name, locked, then renamed: no other process ever sees it unlocked
        tmp = os.path.join(self.directory, "." + name + ".new")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, header())
            os.rename(tmp, path)
        except BaseException:
            os.close(fd)
            _unlink(tmp)
            raise
        return _Segment(path, fd, _HEADER.size, True, time.time())

    def _write(self, seg: _Segment, data: bytes) -> int:
        offset = seg.size
        n = os.write(seg.fd, data)
        if n != len(data):
            seg.size += n
            raise OSError(28, "short write")
        os.fsync(seg.fd)
        seg.size += n
        return offset

    def append(self, records: List[Record], resource: Resource, in_memory: bool = True) -> Optional[str]:
        """Write one sanitized batch (one write, one fsync). Returns its token, or None if not spooled."""
        if not self.available or not records:
            return None
        try:
            token = "%032x" % getrandbits(128)
            payload = _dumps({"b": token, "t": time.time(), "r": resource.attributes, "x": [encode_record(r) for r in records]})
        except Exception as exc:
            with self.lock:
                self.errors += 1
                self._note("encode", logging.WARNING, "a batch could not be encoded (%s); it stays in memory" % type(exc).__name__)
            self._flush_logs()
            return None
        data = frame(KIND_BATCH, payload)
        with self.io:
            if self.pid != os.getpid():
                return None  # a fork child that has not been re-initialised yet
            try:
                seg = self.active
                if seg is None or (seg.size + len(data) > self.segment_bytes and seg.size > _HEADER.size):
                    new = self._new_segment()
                    with self.lock:
                        if seg is not None:
                            seg.active = False
                            dead = [seg] if seg.live <= 0 else []
                        else:
                            dead = []
                        self.segments.append(new)
                        self.active = seg = new
                    self._close_files(dead)
                offset = self._write(seg, data)
            except OSError as exc:
                with self.lock:
                    self.errors += 1
                    self._note("write:%s" % exc.errno, logging.WARNING, "cannot write to %s (%s); batches stay in memory until it can" % (self.directory, exc.strerror or exc))
                token = ""
            else:
                entry = _Entry(token, seg, offset, len(records), set(self.lanes))
                if in_memory:
                    entry.in_memory = set(self.lanes)
                with self.lock:
                    self.entries[token] = entry
                    seg.live += 1
                    self.spooled_batches += 1
                    dead = self._cap_victims()
                self._close_files(dead)
        self._flush_logs()
        return token or None

    def _ack_frame(self, seg: _Segment, token: str, lane: str) -> None:
        """Append an acknowledgement (caller holds io, not lock)."""
        if seg.closed:
            return
        try:
            self._write(seg, frame(KIND_ACK, _dumps({"b": token, "l": lane})))
        except OSError as exc:
            with self.lock:
                self.errors += 1
                self._note("ack:%s" % exc.errno, logging.WARNING, "cannot record a delivery in %s (%s); it may be sent again after a restart" % (self.directory, exc.strerror or exc))

    def split(self, token: Optional[str], lane: str) -> None:
        """A lane split the batch in two (413): both halves must be acknowledged."""
        if not token:
            return
        with self.lock:
            e = self.entries.get(token)
            if e is not None:
                e.parts[lane] = e.parts.get(lane, 1) + 1

    def ack(self, token: Optional[str], lane: str) -> None:
        """The lane is done with the batch (delivered, or refused for good): never send it to that lane again."""
        if not token:
            return
        with self.io:
            with self.lock:
                e = self.entries.get(token)
                if e is None or lane not in e.need:
                    return
                left = e.parts.get(lane, 1) - 1
                if left > 0:
                    e.parts[lane] = left
                    return
                e.parts.pop(lane, None)
                e.need.discard(lane)
                e.in_memory.discard(lane)
                seg = e.segment
                done = not e.need
                dead: List[_Segment] = []
                if done:
                    del self.entries[token]
                    seg.live -= 1
                    if seg.live <= 0 and (not seg.active or seg.size >= self.segment_bytes):
                        seg.active = False  # a full segment with nothing left: start afresh
                        dead.append(seg)
            if dead:
                self._close_files(dead)  # every batch in it is done: no need to write the ack
            else:
                self._ack_frame(seg, token, ALL if done else lane)
        self._flush_logs()

    def evict(self, token: Optional[str], lane: str) -> bool:
        """The lane drops the batch from memory; True when it stays on disk for that lane (not lost)."""
        if not token:
            return False
        with self.lock:
            e = self.entries.get(token)
            if e is None or lane not in e.need:
                return False
            e.in_memory.discard(lane)
            e.parts.pop(lane, None)
            return True

    def _close_files(self, segs: List[_Segment]) -> None:
        """Delete finished segments (caller holds io, not lock). Unlinked while still locked, so a
        claimer never mistakes a half-deleted file for an orphan."""
        for seg in segs:
            if seg.closed:
                continue
            _unlink(seg.path)
            seg.closed = True
            try:
                os.close(seg.fd)
            except OSError:
                pass
        if segs:
            with self.lock:
                for seg in segs:
                    if seg in self.segments:
                        self.segments.remove(seg)
                    if seg is self.active:
                        self.active = None

    def _cap_victims(self) -> List[_Segment]:
        """Segments beyond spool_max_bytes / spool_max_age, their entries forgotten (caller holds lock)."""
        total = sum(s.size for s in self.segments if not s.closed)
        now = time.time()
        out: List[_Segment] = []
        for seg in list(self.segments):
            if seg.closed or seg is self.active:
                continue
            too_big = total > self.max_bytes
            too_old = now - seg.created > self.max_age
            if not (too_big or too_old):
                continue
            lost = 0
            for token in [t for t, e in self.entries.items() if e.segment is seg]:
                lost += self.entries.pop(token).count
            self.dropped += lost
            total -= seg.size
            why = "spool_max_bytes" if too_big else "spool_max_age"
            self._note("cap:" + why, logging.WARNING, "over %s: deleted the oldest segment (%d records unsent)" % (why, lost))
            seg.live = 0
            out.append(seg)
        return out

    # ---------------------------------------------------------------- reading back

    def claim_orphans(self) -> int:
        """Take over the segments of processes that are gone; returns how many batches they hold."""
        if not self.available:
            return 0
        found = 0
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            with self.lock:
                self.errors += 1
                self._note("list", logging.WARNING, "cannot list %s (%s)" % (self.directory, exc.strerror or exc))
            self._flush_logs()
            return 0
        for name in names:
            if name.startswith(self.prefix) or name in self._claimed:
                continue
            if name.startswith(".seg-") and name.endswith(".new"):
                _remove_stale(os.path.join(self.directory, name))  # a process died while creating it
                continue
            if not SEGMENT_RE.match(name):
                if not name.startswith(".") and name not in self._claimed:
                    with self.lock:
                        self._claimed.add(name)
                        self.damaged += 1
                        self._note("stray:" + name, logging.INFO, "ignoring %s: not a spool segment" % name)
                continue
            with self.io:
                found += self._claim(os.path.join(self.directory, name))
        self._flush_logs()
        return found

    def _claim(self, path: str) -> int:
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return 0  # gone meanwhile, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return 0  # its owner is alive, or another process is replaying it
        try:
            st = os.fstat(fd)
            if st.st_nlink == 0:
                os.close(fd)
                return 0  # deleted by its owner after we opened it
            data = _read_all(fd, st.st_size)
            frames, damaged = read_frames(data)
        except SegmentDamage as exc:
            os.close(fd)
            with self.lock:
                self.damaged += 1
                self._claimed.add(os.path.basename(path))
                self._note("damage:" + os.path.basename(path), logging.WARNING, "skipping %s: %s" % (os.path.basename(path), exc))
            return 0
        except Exception as exc:
            os.close(fd)
            with self.lock:
                self.errors += 1
                self._note("read:" + os.path.basename(path), logging.WARNING, "cannot read %s (%s)" % (os.path.basename(path), type(exc).__name__))
            return 0
        with self.lock:
            if damaged:
                self.damaged += damaged
                self._note("frames:" + os.path.basename(path), logging.WARNING, "%s: skipped %d damaged spot(s); intact batches are replayed" % (os.path.basename(path), damaged))
            self._claimed.add(os.path.basename(path))
            seg = _Segment(path, fd, st.st_size, False, st.st_mtime)
            batches: "OrderedDict[str, Tuple[int, int]]" = OrderedDict()
            acked: Dict[str, Set[str]] = {}
            for offset, kind, payload in frames:
                try:
                    doc = json.loads(payload.decode("utf-8"))
                    token = str(doc["b"])
                    if kind == KIND_BATCH:
                        batches[token] = (offset, len(doc["x"]))
                    else:
                        acked.setdefault(token, set()).add(str(doc["l"]))
                except Exception:
                    self.damaged += 1
            self.segments.append(seg)
            n = 0
            for token, (offset, count) in batches.items():
                done = acked.get(token, set())
                if ALL in done or token in self.entries:
                    continue
                need = set(self.lanes) - done
                if not need:
                    continue
                self.entries[token] = _Entry(token, seg, offset, count, need)
                seg.live += 1
                n += 1
            dead = self._cap_victims()
            if seg.live <= 0:
                dead.append(seg)
        self._close_files(dead)
        return n

    def backlog(self, lane: str, max_records: int) -> List[Tuple[str, List[Record], Resource]]:
        """Batches on disk that ``lane`` still needs and does not hold in memory (oldest first)."""
        out: List[Tuple[str, List[Record], Resource]] = []
        if not self.available:
            return out
        with self.io:
            with self.lock:
                wanted = [e for e in self.entries.values() if lane in e.need and lane not in e.in_memory]
            room = max_records
            dead: List[_Segment] = []
            for e in wanted:
                if room <= 0:
                    break
                try:
                    if e.segment.closed:
                        continue  # deleted by a cap meanwhile
                    records, resource = self._load(e)
                except Exception:
                    # unreadable now (the disk changed under us): give up on it, counted
                    with self.lock:
                        self.damaged += 1
                        self.dropped += e.count
                        if self.entries.pop(e.token, None) is not None:
                            e.segment.live -= 1
                            if e.segment.live <= 0 and not e.segment.active:
                                dead.append(e.segment)
                    continue
                with self.lock:
                    if e.token not in self.entries or lane not in e.need:
                        continue
                    e.in_memory.add(lane)
                    self.replayed += len(records)
                out.append((e.token, records, resource))
                room -= len(records)
            self._close_files(dead)
        self._flush_logs()
        return out

    def has_backlog(self, lane: str) -> bool:
        with self.lock:
            return any(lane in e.need and lane not in e.in_memory for e in self.entries.values())

    def _load(self, e: _Entry) -> Tuple[List[Record], Resource]:
        head = os.pread(e.segment.fd, _FRAME.size, e.offset)
        sync, kind, length, crc = _FRAME.unpack(head)
        payload = os.pread(e.segment.fd, length, e.offset + _FRAME.size)
        if sync != SYNC or kind != KIND_BATCH or zlib.crc32(kind + payload) != crc:
            raise ValueError("frame changed on disk")
        doc = json.loads(payload.decode("utf-8"))
        return [decode_record(r) for r in doc["x"]], Resource(doc.get("r") or {})

    # ---------------------------------------------------------------- state

    def pending_records(self) -> int:
        with self.lock:
            return sum(e.count for e in self.entries.values())

    def stats(self) -> Dict[str, Any]:
        with self.lock:
            return {
                "spool": "on" if self.available else "unavailable",
                "spooled": sum(e.count for e in self.entries.values()),
                "spool_bytes": sum(s.size for s in self.segments if not s.closed),
                "spool_dropped": self.dropped,
                "spool_errors": self.errors,
                "spool_damaged": self.damaged,
                "spool_replayed": self.replayed,
            }

    def close(self) -> None:
        """Release every segment; what is unacknowledged stays on disk for the next process."""
        with self.io:
            with self.lock:
                segs = list(self.segments)
                for seg in segs:
                    seg.active = False
            self._close_files([s for s in segs if s.live <= 0])
            for seg in segs:
                if not seg.closed:
                    seg.closed = True
                    try:
                        os.close(seg.fd)
                    except OSError:
                        pass
            with self.lock:
                self.segments = []
                self.entries.clear()
                self.active = None

    def after_fork(self) -> None:
        """In a forked child: forget the parent's segments (without unlocking them) and start afresh."""
        self.lock = threading.Lock()
        self.io = threading.Lock()
        for seg in self.segments:
            try:
                os.close(seg.fd)  # the parent's open file description keeps its lock
            except OSError:
                pass
        self._pending_logs = []
        self._init_state()


def _read_all(fd: int, size: int) -> bytes:
    chunks: List[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, max(65536, size - offset), offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _remove_stale(path: str, age: float = 60.0) -> None:
    try:
        if time.time() - os.stat(path).st_mtime > age:
            os.unlink(path)
    except OSError:
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def iter_segment_records(data: bytes) -> Iterator[Record]:
    """Every record of every intact, unacknowledged batch in a segment's bytes (tests and tools)."""
    frames, _ = read_frames(data)
    acked: Set[str] = set()
    docs = []
    for _, kind, payload in frames:
        doc = json.loads(payload.decode("utf-8"))
        if kind == KIND_ACK and doc.get("l") == ALL:
            acked.add(doc["b"])
        elif kind == KIND_BATCH:
            docs.append(doc)
    for doc in docs:
        if doc["b"] not in acked:
            for row in doc["x"]:
                yield decode_record(row)
