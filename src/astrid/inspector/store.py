"""The inspector's SQLite store: records, redaction counters and SDK self-stats, bounded by count and age."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    rid TEXT,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    source TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_rid ON records(rid) WHERE rid IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_type_time ON records(type, time_ns);
CREATE INDEX IF NOT EXISTS records_received ON records(received_ns);
CREATE TABLE IF NOT EXISTS redactions (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sdk_stats (
    service TEXT PRIMARY KEY, received_ns INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""

_COLUMNS = ("seq", "rid", "type", "name", "service", "time_ns", "received_ns", "source", "data")


class Store:
    """Thread-safe record store. One connection, one lock: the inspector is a development tool."""

    def __init__(
        self,
        path: Optional[str] = None,
        max_records: int = 100_000,
        max_age: float = 7 * 86400.0,
    ) -> None:
        self.path = path or ":memory:"
        self.max_records = max_records
        self.max_age = max_age
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._inserts = 0

    # ------------------------------------------------------------ writing

    def add(
        self, records: Iterable[Dict[str, Any]], redactions: Optional[Counter[str]] = None
    ) -> int:
        """Store records (duplicates by id are ignored); returns how many were new."""
        now = time.time_ns()
        rows = []
        for r in records:
            resource = r.get("resource") or {}
            service = str(resource.get("service.name") or r.get("service") or "unknown")
            rows.append(
                (
                    r.get("id"),
                    str(r.get("type", "record")),
                    str(r.get("name", "")),
                    service,
                    int(r.get("time_ns") or now),
                    now,
                    str(r.get("source", "")),
                    json.dumps(r, default=str, separators=(",", ":")),
                )
            )
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO records (rid, type, name, service, time_ns, received_ns,"
                    " source, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                added = self._db.total_changes - before
                for kind, n in (redactions or {}).items():
                    self._db.execute(
                        "INSERT INTO redactions (kind, count) VALUES (?, ?) "
                        "ON CONFLICT(kind) DO UPDATE SET count = count + excluded.count",
                        (kind, n),
                    )
                self._bump("received", len(rows))
                self._bump("duplicates", len(rows) - added)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._inserts += len(rows)
            if self._inserts >= 500:
                self._inserts = 0
                self._prune()
        return added

    def count_request(self, outcome: str) -> None:
        """Count requests by outcome (accepted, rejected, unauthorized) for the stats panel."""
        with self._lock:
            self._bump("requests." + outcome, 1)

    def _bump(self, name: str, n: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, count) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET count = count + excluded.count",
            (name, n),
        )

    def set_sdk_stats(self, service: str, stats: Dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO sdk_stats (service, received_ns, data) VALUES (?, ?, ?)",
                (service, time.time_ns(), json.dumps(stats, default=str)),
            )

    def prune(self) -> None:
        with self._lock:
            self._prune()

    def _prune(self) -> None:
        # Age first, then count: the newest max_records survive.
        cutoff = time.time_ns() - int(self.max_age * 1e9)
        self._db.execute("DELETE FROM records WHERE received_ns < ?", (cutoff,))
        row = self._db.execute(
            "SELECT seq FROM records ORDER BY seq DESC LIMIT 1 OFFSET ?", (self.max_records,)
        ).fetchone()
        if row is not None:
            self._db.execute("DELETE FROM records WHERE seq <= ?", (row[0],))

    def clear(self) -> None:
        with self._lock:
            self._db.executescript(
                "DELETE FROM records; DELETE FROM redactions; DELETE FROM sdk_stats; DELETE FROM counters;"
            )

    # ------------------------------------------------------------ reading

    def records(
        self,
        type: Optional[str] = None,
        name: Optional[str] = None,
        service: Optional[str] = None,
        limit: int = 200,
        after: int = 0,
    ) -> List[Dict[str, Any]]:
        """Newest first. ``name`` matches a substring; ``after`` returns only seq > after."""
        where, args = ["seq > ?"], [after]  # type: List[str], List[Any]
        if type:
            where.append("type = ?")
            args.append(type)
        if name:
            where.append("instr(lower(name), lower(?)) > 0")
            args.append(name)
        if service:
            where.append("service = ?")
            args.append(service)
        sql = "SELECT {} FROM records WHERE {} ORDER BY seq DESC LIMIT ?".format(
            ", ".join(_COLUMNS),
            " AND ".join(where),
        )
        args.append(max(1, min(int(limit), 5000)))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_row(r) for r in rows]

    def services(self) -> List[str]:
        with self._lock:
            return [
                r[0] for r in self._db.execute("SELECT DISTINCT service FROM records ORDER BY 1")
            ]

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            by_type = dict(
                self._db.execute("SELECT type, COUNT(*) FROM records GROUP BY type").fetchall()
            )
            redactions = dict(self._db.execute("SELECT kind, count FROM redactions ORDER BY kind"))
            counters = dict(self._db.execute("SELECT name, count FROM counters ORDER BY name"))
            sdk = {
                service: {"received_ns": received, "stats": json.loads(data)}
                for service, received, data in self._db.execute(
                    "SELECT service, received_ns, data FROM sdk_stats ORDER BY service"
                )
            }
            last = self._db.execute("SELECT MAX(seq) FROM records").fetchone()[0] or 0
        return {
            "records": sum(by_type.values()),
            "by_type": by_type,
            "redactions": redactions,
            "counters": counters,
            "sdk": sdk,
            "last_seq": last,
            "max_records": self.max_records,
            "max_age_seconds": self.max_age,
        }

    def chart(
        self, minutes: int = 30, top: int = 6, now_ns: Optional[int] = None
    ) -> Dict[str, Any]:
        """Events per minute by name over the last ``minutes``; names beyond ``top`` are "other"."""
        minutes = max(1, min(int(minutes), 24 * 60))
        now_min = (now_ns or time.time_ns()) // 60_000_000_000
        first = now_min - minutes + 1
        with self._lock:
            rows = self._db.execute(
                "SELECT name, time_ns / 60000000000 AS m, COUNT(*) FROM records "
                "WHERE type = 'event' AND time_ns >= ? GROUP BY name, m",
                (first * 60_000_000_000,),
            ).fetchall()
        totals: Counter[str] = Counter()
        for name, m, n in rows:
            if first <= m <= now_min:
                totals[name] += n
        keep = [name for name, _ in totals.most_common(top)]
        series: Dict[str, List[int]] = {name: [0] * minutes for name in keep}
        for name, m, n in rows:
            if not first <= m <= now_min:
                continue
            key = name if name in series else "other"
            series.setdefault(key, [0] * minutes)[m - first] += n
        return {
            "minutes": [(first + i) * 60 for i in range(minutes)],
            "series": [{"name": k, "counts": v} for k, v in series.items()],
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(r: Any) -> Dict[str, Any]:
    rec: Dict[str, Any] = json.loads(r[8])
    rec.update(
        seq=r[0],
        id=r[1],
        type=r[2],
        name=r[3],
        service=r[4],
        time_ns=r[5],
        received_ns=r[6],
        source=r[7],
    )
    return rec
