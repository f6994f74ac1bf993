"""What a serverless function pays to flush at the end of each invocation, when the endpoint is up or down.

Scenarios: a loopback inspector that answers, a closed port (connection refused) and a port
that accepts but never answers (a hung collector). For each: the time of ``flush(timeout)``
after one invocation's events, and the wall time of a whole process that tracks one event and
exits (the exit-time flush, bounded by ``shutdown_timeout``), against a process that does not
use telemetry. The OpenTelemetry SDK's ``force_flush`` is measured in the same run when it is
installed. Standard library only; loopback only; every wait is bounded.

    python benchmarks/bench_serverless.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

FLUSH_TIMEOUT = 2.0  # what docs/frameworks.md recommends for a function's end-of-invocation flush


class _Hung:
    """A TCP port that accepts connections and never answers (a hung collector)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: List[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self) -> None:
        self._stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _flush_times(endpoint: str, rounds: int) -> List[float]:
    import astrid

    client = astrid.TelemetryClient("bench-fn", enabled=True, endpoint=endpoint, install_atexit=False,
                                    timeout=FLUSH_TIMEOUT)
    out = []
    for i in range(rounds):
        client.track_event("invocation", {"i": i})
        t = time.perf_counter()
        client.flush(timeout=FLUSH_TIMEOUT)
        out.append(time.perf_counter() - t)
    client.shutdown(timeout=0.5)
    return out


def _otel_flush_times(endpoint: str, rounds: int) -> List[float]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces",
                                                                    timeout=FLUSH_TIMEOUT)))
    tracer = provider.get_tracer("bench-fn")
    out = []
    for i in range(rounds):
        with tracer.start_as_current_span("invocation") as span:
            span.set_attribute("i", i)
        t = time.perf_counter()
        provider.force_flush(timeout_millis=int(FLUSH_TIMEOUT * 1000))
        out.append(time.perf_counter() - t)
    threading.Thread(target=provider.shutdown, daemon=True).start()  # its shutdown may wait on a hung port
    return out


_CHILD = """
import sys, time
t = time.perf_counter()
import astrid
if sys.argv[1] != "none":
    c = astrid.TelemetryClient("bench-fn", enabled=True, endpoint=sys.argv[1], shutdown_timeout=%r, timeout=%r)
    c.track_event("invocation")
""" % (FLUSH_TIMEOUT, FLUSH_TIMEOUT)


def _exit_time(endpoint: str, rounds: int) -> float:
    times = []
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", _CHILD, endpoint], env=env, check=True, timeout=60)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    rounds = 3 if args.quick else 10
    from astrid.inspector import Inspector

    try:
        import opentelemetry.sdk  # noqa: F401
        peer = True
    except ImportError:
        peer = False
    hung = _Hung()
    rows: List[Tuple[str, Dict[str, Any]]] = []
    with Inspector(port=0) as insp:
        scenarios = [("endpoint up (loopback inspector)", insp.url),
                     ("endpoint down (connection refused)", "http://127.0.0.1:%d" % _closed_port()),
                     ("endpoint hung (accepts, never answers)", "http://127.0.0.1:%d" % hung.port)]
        base = _exit_time("none", rounds)
        for label, url in scenarios:
            flushes = _flush_times(url, rounds)
            row: Dict[str, Any] = {
                "flush_median_s": statistics.median(flushes), "flush_max_s": max(flushes),
                "process_exit_extra_s": _exit_time(url, max(1, rounds // 2)) - base,
            }
            if peer:
                otel = _otel_flush_times(url, rounds)
                row["otel_force_flush_median_s"] = statistics.median(otel)
                row["otel_force_flush_max_s"] = max(otel)
            rows.append((label, row))
    hung.close()
    if args.json:
        print(json.dumps({"flush_timeout_s": FLUSH_TIMEOUT, "process_baseline_s": base, "rows": dict(rows)}, indent=2))
        return 0
    print("flush(timeout=%.1f) per invocation; process baseline (import astrid, no telemetry): %.3f s" % (
        FLUSH_TIMEOUT, base))
    head = "%-40s %12s %12s %16s" % ("scenario", "flush p50", "flush max", "exit (+ base)")
    if peer:
        head += " %14s %14s" % ("otel p50", "otel max")
    print(head)
    for label, r in rows:
        line = "%-40s %11.4fs %11.4fs %15.3fs" % (label, r["flush_median_s"], r["flush_max_s"], r["process_exit_extra_s"])
        if peer:
            line += " %13.4fs %13.4fs" % (r["otel_force_flush_median_s"], r["otel_force_flush_max_s"])
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
