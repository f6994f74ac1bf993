"""End-to-end OTLP throughput (tracked → decoded by a loopback receiver), Astrid vs the OpenTelemetry SDK.

Run: ``.venv/bin/python benchmarks/bench_otlp.py [--events 50000] [--faults] [--json out.json]``.
Needs the test packages (opentelemetry-proto, opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http).
The receiver runs in its own process and fully decodes every request (protobuf with the official
classes, JSON with json.loads) before it answers, so "delivered" means decoded at the far end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


# ------------------------------------------------------------------ receiver (child process)


def run_receiver(port_file: str, mode: str) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    counts = {"items": 0, "requests": 0, "bytes": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            with lock:
                body = json.dumps(counts).encode()
            self._answer(200, body, "application/json")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if mode == "hang":
                time.sleep(3600)
            if mode == "dead":
                with lock:
                    counts["requests"] += 1
                self._answer(503, b"", "text/plain")
                return
            body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype:
                doc = json.loads(body)
                n = sum(len(ss.get("spans", [])) for rs in doc["resourceSpans"] for ss in rs["scopeSpans"])
            else:
                msg = ExportTraceServiceRequest.FromString(body)
                n = sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)
            with lock:
                counts["items"] += n
                counts["requests"] += 1
                counts["bytes"] += len(raw)
            self._answer(200, b"{}" if "json" in ctype else b"", ctype or "application/x-protobuf")

        def _answer(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


class Receiver:
    def __init__(self, mode: str = "ok") -> None:
        self.port_file = ROOT / f".bench-port-{os.getpid()}-{mode}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--receiver", str(self.port_file), mode])
        deadline = time.monotonic() + 20
        while not self.port_file.exists() or not self.port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port_file.read_text()}"

    def stats(self) -> Dict[str, int]:
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def wait_items(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stats()["items"] >= count:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.port_file.unlink(missing_ok=True)


# ------------------------------------------------------------------ the two SDKs


ATTRS = {"method": "sso", "plan": "pro", "count": 3, "ok": True, "latency_ms": 12.5, "path": "/checkout/cart"}


def astrid_run(rx: Receiver, events: int, protocol: str, compression: str) -> Dict[str, Any]:
    import astrid

    before = rx.stats()["items"]
    client = astrid.TelemetryClient(
        project_name="bench", backend="otlp", endpoint=rx.url, enabled=True, protocol=protocol,
        compression=compression, max_queue_size=events, batch_size=512, flush_interval=0.2,
        install_atexit=False, env={},
    )  # fmt: skip
    start = time.perf_counter()
    for _ in range(events):
        client.track_event("user.checkout", ATTRS)
    tracked = time.perf_counter()
    client.flush(120)
    ok = rx.wait_items(before + events, 60)
    end = time.perf_counter()
    stats = client.stats()
    client.shutdown(5)
    return {
        "sdk": "astrid", "protocol": protocol, "compression": compression, "events": events,
        "delivered": rx.stats()["items"] - before, "complete": ok, "dropped": stats["dropped"],
        "seconds": end - start, "events_per_s": events / (end - start),
        "caller_us_per_event": (tracked - start) / events * 1e6,
    }  # fmt: skip


def otel_run(rx: Receiver, events: int, compression: str) -> Dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    before = rx.stats()["items"]
    exporter = OTLPSpanExporter(
        endpoint=rx.url + "/v1/traces",
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=events, max_export_batch_size=512, schedule_delay_millis=200)
    )
    tracer = provider.get_tracer("bench")
    start = time.perf_counter()
    for _ in range(events):
        tracer.start_span("user.checkout", attributes=ATTRS).end()
    tracked = time.perf_counter()
    provider.force_flush(120_000)
    ok = rx.wait_items(before + events, 60)
    end = time.perf_counter()
    provider.shutdown()
    return {
        "sdk": "opentelemetry-sdk", "protocol": "http/protobuf", "compression": compression, "events": events,
        "delivered": rx.stats()["items"] - before, "complete": ok, "dropped": events - (rx.stats()["items"] - before),
        "seconds": end - start, "events_per_s": events / (end - start),
        "caller_us_per_event": (tracked - start) / events * 1e6,
    }  # fmt: skip


# ------------------------------------------------------------------ faults


def _caller_p99(client: Any, count: int = 5000) -> float:
    samples = []
    for i in range(count):
        t = time.perf_counter()
        client.track_event("latency", {"n": i})
        samples.append(time.perf_counter() - t)
        if i % 200 == 0:
            time.sleep(0.001)
    return statistics.quantiles(samples, n=100)[98] * 1e6


def fault_runs() -> Dict[str, Any]:
    import astrid

    def client(url: str, **kw: Any) -> Any:
        opts = dict(project_name="bench", backend="otlp", endpoint=url, enabled=True, timeout=1.0,
                    flush_interval=0.05, install_atexit=False, env={}, breaker_cooldown=1.0)  # fmt: skip
        opts.update(kw)
        return astrid.TelemetryClient(**opts)

    out: Dict[str, Any] = {}
    ok_rx, hung_rx, dead_rx = Receiver("ok"), Receiver("hang"), Receiver("dead")
    try:
        # both clients live side by side and are measured in turns: a p99 of microseconds
        # moves with every interpreter-lock switch, so one round of each says little
        healthy = client(ok_rx.url)
        hung = client(hung_rx.url)
        hung.track_event("warm-up", {})
        time.sleep(0.3)
        rounds: Dict[str, List[float]] = {"healthy": [], "hung": []}
        for _ in range(5):
            rounds["healthy"].append(_caller_p99(healthy))
            rounds["hung"].append(_caller_p99(hung))
        out["caller_p99_us_healthy"] = statistics.median(rounds["healthy"])
        out["caller_p99_us_hung"] = statistics.median(rounds["hung"])
        healthy.shutdown(5)
        t = time.monotonic()
        hung.shutdown(timeout=2)
        out["shutdown_s_hung"] = time.monotonic() - t
        dead = client(dead_rx.url, max_queue_size=10_000)
        start = time.monotonic()
        opened_at = None
        while time.monotonic() - start < 12:
            for i in range(500):
                dead.track_event("dead", {"n": i})
            if opened_at is None and dead.stats()["breaker"] == "open":
                opened_at, sent_at_open = time.monotonic(), dead_rx.stats()["requests"]
            time.sleep(0.05)
        stats = dead.stats()
        if opened_at is not None:
            out["dead_requests_per_s_after_open"] = (dead_rx.stats()["requests"] - sent_at_open) / (
                time.monotonic() - opened_at
            )
        out["dead_queued_max"] = stats["queued"]
        out["dead_dropped"] = stats["dropped"]
        t = time.monotonic()
        dead.shutdown(timeout=2)
        out["shutdown_s_dead"] = time.monotonic() - t
    finally:
        for rx in (ok_rx, hung_rx, dead_rx):
            rx.close()
    return out


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds, interleaved; medians are reported")
    parser.add_argument("--faults", action="store_true", help="also measure hung/dead server behaviour")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--receiver", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(*args.receiver)
        return
    rx = Receiver()
    runs: Dict[Any, List[Dict[str, Any]]] = {}
    try:
        astrid_run(rx, 2000, "http/protobuf", "gzip")  # warm up imports and caches
        for _ in range(args.repeat):  # interleaved, so a busy machine slows both SDKs alike
            for compression in ("gzip", "none"):
                r = otel_run(rx, args.events, compression)
                runs.setdefault((r["sdk"], r["protocol"], compression), []).append(r)
                for protocol in ("http/protobuf", "http/json"):
                    r = astrid_run(rx, args.events, protocol, compression)
                    runs.setdefault((r["sdk"], r["protocol"], compression), []).append(r)
    finally:
        rx.close()
    results: List[Dict[str, Any]] = []
    peer_rounds = {key[2]: rounds for key, rounds in runs.items() if key[0] != "astrid"}
    for key, rounds in runs.items():
        median = dict(sorted(rounds, key=lambda r: r["events_per_s"])[len(rounds) // 2])
        median["rounds_events_per_s"] = [round(r["events_per_s"]) for r in rounds]
        median["delivered"] = min(r["delivered"] for r in rounds)
        # each round runs both SDKs back to back: the ratio within a round is the steadier figure
        # on a machine whose load changes from round to round
        peer = peer_rounds.get(key[2], [])
        ratios = sorted(r["events_per_s"] / p["events_per_s"] for r, p in zip(rounds, peer))
        median["round_ratios_vs_otel"] = [round(x, 2) for x in ratios]
        median["median_round_ratio_vs_otel"] = ratios[len(ratios) // 2] if ratios else None
        results.append(median)
    otel = {r["compression"]: r["events_per_s"] for r in results if r["sdk"] != "astrid"}
    print(f"median of {args.repeat} rounds of {args.events:,} events; vs otel: ratio of the medians; "
          f"per round: median of the ratios within each round; lost = fewest delivered")
    print(f"{'sdk':<18} {'protocol':<14} {'gzip':<5} {'events/s':>10} {'vs otel':>8} {'per round':>10} "
          f"{'caller µs':>10} {'lost':>6}")
    for r in results:
        ratio = r["events_per_s"] / otel[r["compression"]]
        r["ratio_vs_otel"] = ratio
        print(
            f"{r['sdk']:<18} {r['protocol']:<14} {r['compression'] == 'gzip'!s:<5} {r['events_per_s']:>10,.0f} "
            f"{ratio:>7.1f}x {r['median_round_ratio_vs_otel']:>9.1f}x "
            f"{r['caller_us_per_event']:>10.1f} {r['events'] - r['delivered']:>6}"
        )
    report: Dict[str, Any] = {"events": args.events, "repeat": args.repeat, "python": sys.version.split()[0],
                              "results": results}  # fmt: skip
    if args.faults:
        report["faults"] = fault_runs()
        for k, v in report["faults"].items():
            print(f"{k:<34} {v:,.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
