"""What the disk spool costs: per event with and without ``spool_dir`` (same run), and segment files vs SQLite.

    python benchmarks/bench_spool.py [--quick] [--json]

1. Caller: ``track_event`` p50/p99 with and without a spool (the spool never runs on the caller).
2. Worker: wall time per event from the first ``track_event`` to a completed ``flush()`` into the
   memory backend, with and without a spool: what sanitizing + writing + fsync adds per event.
3. Storage: the spool's segment files (one write + one fsync per batch) against SQLite in WAL mode
   (one transaction per batch, ``synchronous=FULL``), the alternative the design considered.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import astrid  # noqa: E402
from astrid.records import Event, Resource  # noqa: E402
from astrid.spool import Spool, encode_record  # noqa: E402


def _client(spool_dir: Optional[str]) -> "astrid.TelemetryClient":
    return astrid.TelemetryClient(
        project_name="bench-spool", backend="memory", enabled=True, spool_dir=spool_dir,
        max_queue_size=200_000, flush_interval=60, install_atexit=False,
    )


def caller_cost(spool_dir: Optional[str], n: int) -> Dict[str, float]:
    c = _client(spool_dir)
    attrs = {"plan": "pro", "items": 3, "region": "eu", "ok": True, "n": 1.5}
    samples: List[float] = []
    pc = time.perf_counter_ns
    for _ in range(n):
        t = pc()
        c.track_event("checkout", attrs)
        samples.append(pc() - t)
    c.flush(60)
    c.shutdown(5)
    samples.sort()
    return {"p50_us": samples[len(samples) // 2] / 1000, "p99_us": samples[int(len(samples) * 0.99)] / 1000}


def worker_cost(spool_dir: Optional[str], n: int) -> float:
    """Microseconds per event, first track to completed flush (memory backend)."""
    c = _client(spool_dir)
    attrs = {"plan": "pro", "items": 3, "region": "eu", "ok": True, "n": 1.5}
    t = time.perf_counter()
    for _ in range(n):
        c.track_event("checkout", attrs)
    assert c.flush(120)
    elapsed = time.perf_counter() - t
    c.shutdown(5)
    return elapsed / n * 1e6


def storage(kind: str, directory: str, batches: int, batch_size: int) -> float:
    """Microseconds per record to make a batch durable (write + fsync / commit)."""
    records = [Event("checkout", {"plan": "pro", "items": 3, "i": i}, 1_700_000_000_000_000_000 + i) for i in range(batch_size)]
    res = Resource({"service.name": "bench"})
    if kind == "segments":
        sp = Spool(directory, ["otlp"])
        t = time.perf_counter()
        for _ in range(batches):
            sp.append(records, res)
        elapsed = time.perf_counter() - t
        sp.close()
    else:
        db = sqlite3.connect(os.path.join(directory, "spool.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE batches (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        t = time.perf_counter()
        for _ in range(batches):
            body = json.dumps({"r": res.attributes, "x": [encode_record(r) for r in records]}, separators=(",", ":")).encode()
            db.execute("BEGIN")
            db.execute("INSERT INTO batches (body) VALUES (?)", (body,))
            db.execute("COMMIT")
        elapsed = time.perf_counter() - t
        db.close()
    return elapsed / (batches * batch_size) * 1e6


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    n = 20_000 if args.quick else 100_000
    rounds = 3 if args.quick else 5
    out: Dict[str, Any] = {}
    tmp = tempfile.mkdtemp(prefix="astrid-bench-spool-")
    try:
        caller = {"memory": [], "spool": []}  # type: Dict[str, List[Dict[str, float]]]
        worker = {"memory": [], "spool": []}  # type: Dict[str, List[float]]
        store = {"segments": [], "sqlite-wal": []}  # type: Dict[str, List[float]]
        for r in range(rounds):  # interleaved rounds: both sides see the same machine
            d = os.path.join(tmp, "r%d" % r)
            caller["memory"].append(caller_cost(None, n))
            caller["spool"].append(caller_cost(d + "c", n))
            worker["memory"].append(worker_cost(None, n))
            worker["spool"].append(worker_cost(d + "w", n))
            for kind in store:
                sd = os.path.join(tmp, "%s-%d" % (kind, r))
                os.makedirs(sd)
                store[kind].append(storage(kind, sd, 50 if args.quick else 200, 512))
        for k in caller:
            out["caller_p50_us_" + k] = statistics.median(x["p50_us"] for x in caller[k])
            out["caller_p99_us_" + k] = statistics.median(x["p99_us"] for x in caller[k])
            out["worker_us_per_event_" + k] = statistics.median(worker[k])
        out["spool_adds_us_per_event"] = out["worker_us_per_event_spool"] - out["worker_us_per_event_memory"]
        for kind, v in store.items():
            out["durable_us_per_record_" + kind] = statistics.median(v)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print("%-40s %10s" % ("measure (median of %d rounds, %d events)" % (rounds, n), "value"))
        for k, v in out.items():
            print("%-40s %10.3f" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
