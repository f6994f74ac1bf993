"""Caller-side cost of the Astrid client, side by side with the OpenTelemetry SDK in the same run.

    python benchmarks/bench_client.py            # full run (a few minutes)
    python benchmarks/bench_client.py --quick    # rough figures in well under a minute
    python benchmarks/bench_client.py --json     # machine-readable results
    python benchmarks/bench_client.py --markdown # the table formatted for the README
    python benchmarks/bench_client.py --no-peer  # Astrid only

Measures: track_event latency (p50/p99 per call, batched mean), track_event latency while the
worker is busy exporting over OTLP (p50/p99/p99.9), the disabled client's cost per call, events/s through the whole pipeline, memory per queued event and ``import astrid`` time.
The peer (OpenTelemetry SDK) is optional: without it the peer column shows n/a.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
from typing import Any, Callable, Dict, List, Optional, Tuple

from _common import (
    HttpSink,
    Row,
    dump_json,
    import_times_ms,
    imported_modules,
    median_of,
    parse_args,
    percentiles,
    print_table,
    time_batched,
    time_each,
    time_each_paced,
    timer_overhead_ns,
    try_import,
)

try:
    import astrid
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src"))
    import astrid

from astrid.backends.memory import MemoryBackend
from astrid.export import ExportResult

PEER = "opentelemetry-sdk"
EVENT = "user.login"
#: five attributes of the usual kinds (the same mapping goes to both SDKs)
ATTRS: Dict[str, Any] = {"method": "sso", "plan": "pro", "items": 3, "ratio": 0.25, "beta": True}
#: modules ``import astrid`` should not load (they belong to the lazily loaded parts)
HEAVY_MODULES = (
    "dataclasses", "inspect", "logging", "ssl", "gzip", "zlib", "http.client", "json", "hashlib",
    "astrid.privacy", "astrid.transport", "astrid.client", "astrid.pipeline", "astrid.config",
)

SIZES = {
    # name: (full, quick)
    "latency_calls": (200_000, 20_000),
    "busy_rounds": (12, 3),  # per round: a burst for the worker, then paced calls timed one by one
    "busy_burst": (20_000, 10_000),
    "busy_calls": (2_000, 1_000),
    "batched_calls": (1_000_000, 100_000),
    "disabled_calls": (1_000_000, 200_000),
    "disabled_repeats": (5, 3),
    "throughput_events": (100_000, 10_000),
    "memory_events": (50_000, 10_000),
    "import_runs": (20, 7),
}


def size(name: str, quick: bool) -> int:
    full, small = SIZES[name]
    return small if quick else full


# ---------------------------------------------------------------------- Astrid side


class DiscardBackend:
    """Takes every batch and throws it away (measures the SDK, not a backend)."""

    name = "discard"

    def __init__(self) -> None:
        self.count = 0

    def export(self, batch: Any, timeout: float) -> ExportResult:
        self.count += len(batch)
        return ExportResult.success()

    def shutdown(self, timeout: float) -> None:
        return None


def astrid_client(backend: Any, **options: Any) -> Any:
    """An enabled client that ignores this machine's environment (DO_NOT_TRACK, CI, consent)."""
    return astrid.TelemetryClient("bench", backend=backend, enabled=True, env={}, **options)


# ---------------------------------------------------------------------- peer side


class Peer:
    """The OpenTelemetry SDK pieces the peer figures need (None when it is not installed)."""

    def __init__(self, enabled: bool = True) -> None:
        self.ok = False
        self.version: Optional[str] = None
        if not enabled:
            return
        self.trace_api = try_import("opentelemetry.trace")
        self.sdk_trace = try_import("opentelemetry.sdk.trace")
        self.export = try_import("opentelemetry.sdk.trace.export")
        self.in_memory = try_import("opentelemetry.sdk.trace.export.in_memory_span_exporter")
        self.ok = None not in (self.trace_api, self.sdk_trace, self.export, self.in_memory)
        version = try_import("opentelemetry.sdk.version")
        self.version = getattr(version, "__version__", None) if self.ok else None

    def discard_exporter(self) -> Any:
        base = self.export.SpanExporter
        success = self.export.SpanExportResult.SUCCESS

        class DiscardExporter(base):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                self.count = 0

            def export(self, spans: Any) -> Any:
                self.count += len(spans)
                return success

            def shutdown(self) -> None:
                return None

        return DiscardExporter()

    def otlp_exporter(self, url: str) -> Any:
        """OpenTelemetry's OTLP/HTTP protobuf span exporter (gzip), or None when it is not installed."""
        mod = try_import("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        http = try_import("opentelemetry.exporter.otlp.proto.http")
        if mod is None or http is None:
            return None
        return mod.OTLPSpanExporter(endpoint=url + "/v1/traces", compression=http.Compression.Gzip)

    def provider(self, exporter: Any, **processor_options: Any) -> Tuple[Any, Any]:
        provider = self.sdk_trace.TracerProvider()
        processor = self.export.BatchSpanProcessor(exporter, **processor_options)
        provider.add_span_processor(processor)
        return provider, processor


def otel_span_call(tracer: Any) -> Callable[[str, Dict[str, Any]], None]:
    start_span = tracer.start_span

    def call(name: str, attributes: Dict[str, Any]) -> None:
        start_span(name, attributes=attributes).end()

    return call


# ---------------------------------------------------------------------- 1. latency


def bench_latency(peer: Peer, quick: bool) -> List[Row]:
    n = size("latency_calls", quick)
    batched_n = size("batched_calls", quick)
    rounds = 4  # the SDKs take turns, so a noisy neighbour hurts both alike
    overhead = timer_overhead_ns()
    queue = 4 * batched_n  # nothing may drop, whatever the worker's pace

    # (name, call, drain): drain() empties the SDK's queue so its worker is idle during the other's turn
    subjects: List[Tuple[str, Callable[..., None], Callable[[], Any]]] = []
    client = astrid_client(DiscardBackend(), max_queue_size=queue)
    subjects.append(("astrid", client.track_event, lambda: client.flush(600.0)))
    provider = None
    if peer.ok:
        provider, processor = peer.provider(peer.discard_exporter(), max_queue_size=queue)
        subjects.append(("peer", otel_span_call(provider.get_tracer("bench")),
                         lambda: processor.force_flush(600_000)))
    samples: Dict[str, List[float]] = {name: [] for name, _, _ in subjects}
    figures: Dict[str, Dict[str, float]] = {}
    try:
        for _name, call, drain in subjects:  # warm-up: caches, worker threads, first allocations
            for _ in range(min(n, 10_000)):
                call(EVENT, ATTRS)
            drain()
        for _ in range(rounds):
            for name, call, drain in subjects:
                gc.collect()
                samples[name] += time_each(call, (EVENT, ATTRS), n // rounds, overhead)
                drain()
        for name, call, drain in subjects:
            ps = percentiles(samples[name], (50, 90, 99, 99.9))
            gc.collect()
            cpu0 = time.thread_time_ns()
            ps["mean"] = time_batched(call, (EVENT, ATTRS), batched_n)
            ps["mean_cpu"] = (time.thread_time_ns() - cpu0) / batched_n
            drain()
            figures[name] = {k: v / 1000.0 for k, v in ps.items()}  # ns -> µs
        dropped = client.stats().get("dropped", 0)
    finally:
        client.shutdown(30.0)
        if provider is not None:
            provider.shutdown()

    ours, theirs = figures["astrid"], figures.get("peer", {})
    note = "timer overhead %.0f ns subtracted; %d calls timed one by one, in %d turns" % (overhead, n, rounds)
    if dropped:
        note += "; %d events dropped (queue too small)" % dropped
    return [
        Row("track_event, 5 attrs: p50", "µs", ours["p50"], theirs.get("p50"), target=2.0, max_ratio=0.1, note=note,
            extra={"astrid": ours, "peer": theirs}),
        Row("track_event, 5 attrs: p99", "µs", ours["p99"], theirs.get("p99"), target=15.0, max_ratio=0.1),
        Row("track_event, 5 attrs: mean of %s" % _count(batched_n), "µs", ours["mean"], theirs.get("mean"),
            note="wall clock of one loop: includes the worker thread's share of the GIL"),
        Row("  same, caller thread CPU only", "µs", ours["mean_cpu"], theirs.get("mean_cpu")),
    ]


# ---------------------------------------------------------------------- 1b. latency, worker busy


def bench_busy_latency(peer: Peer, quick: bool) -> List[Row]:
    """track_event while the SDK's own threads export a burst over OTLP/protobuf + gzip.

    Each round tracks a burst (the worker now sanitizes, encodes, compresses and sends for a
    while), then times calls one by one with a little busy work between them, as an application
    thread would make them. A caller that waits behind the worker for the interpreter lock shows
    in the tail: p99.9 is the figure this measures.
    """
    rounds = size("busy_rounds", quick)
    burst = size("busy_burst", quick)
    calls = size("busy_calls", quick)
    gap_ns = 20_000
    overhead = timer_overhead_ns()
    queue = 4 * (burst + calls)
    sink = HttpSink()
    subjects: List[Tuple[str, Callable[..., None], Callable[[], Any]]] = []
    client = astrid_client("otlp", endpoint=sink.url, protocol="http/protobuf", compression="gzip",
                           max_queue_size=queue, flush_interval=0.2)
    subjects.append(("astrid", client.track_event, lambda: client.flush(600.0)))
    provider = None
    exporter = peer.otlp_exporter(sink.url) if peer.ok else None
    if exporter is not None:
        provider, processor = peer.provider(exporter, max_queue_size=queue, schedule_delay_millis=200)
        subjects.append(("peer", otel_span_call(provider.get_tracer("bench")),
                         lambda: processor.force_flush(600_000)))
    samples: Dict[str, List[float]] = {name: [] for name, _, _ in subjects}
    figures: Dict[str, Dict[str, float]] = {}
    try:
        for _name, call, drain in subjects:  # warm-up: connections, caches, threads
            for _ in range(2000):
                call(EVENT, ATTRS)
            drain()
        for _ in range(rounds):
            for name, call, drain in subjects:  # in turns: a noisy neighbour hurts both alike
                gc.collect()
                for _ in range(burst):
                    call(EVENT, ATTRS)
                samples[name] += time_each_paced(call, (EVENT, ATTRS), calls, gap_ns, overhead)
                drain()
        for name in samples:
            figures[name] = {k: v / 1000.0 for k, v in percentiles(samples[name], (50, 99, 99.9)).items()}
        dropped = client.stats().get("dropped", 0)
    finally:
        client.shutdown(30.0)
        if provider is not None:
            provider.shutdown()
        sink.close()
    ours, theirs = figures["astrid"], figures.get("peer", {})
    note = ("%d rounds: a burst of %d, then %d calls timed one by one, %d µs of work between calls; "
            "both SDKs export OTLP/protobuf + gzip to a loopback receiver"
            % (rounds, burst, calls, gap_ns // 1000))
    if dropped:
        note += "; %d events dropped" % dropped
    if peer.ok and exporter is None:
        note += "; peer n/a: opentelemetry-exporter-otlp-proto-http is not installed"
    return [
        Row("track_event, worker busy: p50", "µs", ours["p50"], theirs.get("p50"), note=note,
            extra={"astrid": ours, "peer": theirs}),
        Row("track_event, worker busy: p99", "µs", ours["p99"], theirs.get("p99")),
        Row("track_event, worker busy: p99.9", "µs", ours["p99.9"], theirs.get("p99.9"), max_ratio=0.1),
    ]


# ---------------------------------------------------------------------- 2. disabled client


def bench_disabled(peer: Peer, quick: bool) -> List[Row]:
    n = size("disabled_calls", quick)
    repeats = size("disabled_repeats", quick)
    client = astrid.TelemetryClient("bench", enabled=False, env={})
    assert not client.enabled
    ours = median_of(lambda: time_batched(client.track_event, (EVENT, ATTRS), n), repeats)
    theirs: Optional[float] = None
    if peer.ok:
        tracer = peer.trace_api.NoOpTracerProvider().get_tracer("bench")
        call = otel_span_call(tracer)
        theirs = median_of(lambda: time_batched(call, (EVENT, ATTRS), n), repeats)
    return [Row("disabled client: track_event", "ns", ours, theirs, target=300.0,
                note="peer: a span of the no-op tracer")]


# ---------------------------------------------------------------------- 3. throughput


def bench_throughput(peer: Peer, quick: bool) -> List[Row]:
    n = size("throughput_events", quick)

    backend = MemoryBackend()
    client = astrid_client(backend, max_queue_size=2 * n)
    try:
        client.track_event("warm-up", ATTRS)
        client.flush(30.0)
        backend.clear()
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(n):
            client.track_event(EVENT, ATTRS)
        complete = client.flush(600.0)
        elapsed = time.perf_counter() - t0
        delivered = len(backend.records)
    finally:
        client.shutdown(5.0)
    ours = delivered / elapsed
    note = "%d of %d delivered (privacy engine on)" % (delivered, n)
    if not complete:
        note += "; flush timed out"

    theirs: Optional[float] = None
    if peer.ok:
        exporter = peer.in_memory.InMemorySpanExporter()
        provider, processor = peer.provider(exporter, max_queue_size=2 * n)
        try:
            call = otel_span_call(provider.get_tracer("bench"))
            call("warm-up", ATTRS)
            processor.force_flush()
            exporter.clear()
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(n):
                call(EVENT, ATTRS)
            processor.force_flush(600_000)
            elapsed = time.perf_counter() - t0
            theirs = len(exporter.get_finished_spans()) / elapsed
        finally:
            provider.shutdown()
    return [Row("pipeline throughput to memory", "events/s", ours, theirs, higher_is_better=True, note=note)]


# ---------------------------------------------------------------------- 4. memory


def _bytes_per_item(track: Callable[[str, Dict[str, Any]], None], n: int) -> float:
    attrs = dict(ATTRS)
    track(EVENT, attrs)  # starts the worker thread before we count
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            track(EVENT, attrs)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / n


def bench_memory(peer: Peer, quick: bool) -> List[Row]:
    n = size("memory_events", quick)
    backend = DiscardBackend()
    # nothing is taken from the queue: the batch never fills and the interval never comes
    client = astrid_client(backend, batch_size=n + 10, max_queue_size=2 * n, flush_interval=86_400)
    try:
        ours = _bytes_per_item(client.track_event, n)
        held = client.stats().get("queued", 0)
    finally:
        client.shutdown(30.0)
    note = "tracemalloc; %d events held in the queue" % held
    theirs: Optional[float] = None
    if peer.ok:
        provider, processor = peer.provider(
            peer.discard_exporter(), max_queue_size=2 * n, max_export_batch_size=2 * n,
            schedule_delay_millis=86_400_000,
        )
        try:
            theirs = _bytes_per_item(otel_span_call(provider.get_tracer("bench")), n)
        finally:
            provider.shutdown()
    return [Row("memory per queued event", "bytes", ours, theirs, target=500.0, note=note)]


# ---------------------------------------------------------------------- 5. import time


def bench_import(peer: Peer, quick: bool) -> Tuple[List[Row], List[str]]:
    modules = ["astrid"] + (["opentelemetry.sdk.trace"] if peer.ok else [])
    # the folder astrid was imported from, so the child interpreters find the same copy
    path = [os.path.dirname(os.path.dirname(os.path.abspath(astrid.__file__)))]
    times = import_times_ms(modules, runs=size("import_runs", quick), path=path)
    loaded = imported_modules("astrid", path=path)
    heavy = [m for m in HEAVY_MODULES if m in loaded]
    note = "over a bare interpreter; heavy modules loaded: %s" % (", ".join(heavy) or "none")
    row = Row("import astrid", "ms", times["astrid"], times.get("opentelemetry.sdk.trace"), target=10.0,
              note=note, extra={"modules_loaded": loaded})
    return [row], heavy


# ---------------------------------------------------------------------- main


def _count(n: int) -> str:
    return "%dM" % (n // 1_000_000) if n % 1_000_000 == 0 else "%dk" % (n // 1000)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args((__doc__ or "").splitlines()[0], argv)

    peer = Peer(enabled=not args.no_peer)

    def log(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    if not peer.ok and not args.no_peer:
        log("note: %s is not installed; the peer column shows n/a" % PEER)

    rows: List[Row] = []
    steps: List[Tuple[str, Callable[[], List[Row]]]] = [
        ("import time", lambda: bench_import(peer, args.quick)[0]),
        ("track_event latency", lambda: bench_latency(peer, args.quick)),
        ("track_event latency, worker busy", lambda: bench_busy_latency(peer, args.quick)),
        ("disabled client", lambda: bench_disabled(peer, args.quick)),
        ("pipeline throughput", lambda: bench_throughput(peer, args.quick)),
        ("memory per queued event", lambda: bench_memory(peer, args.quick)),
    ]
    if args.only:
        steps = [(title, step) for title, step in steps if args.only in title]
    for title, step in steps:
        log("measuring %s ..." % title)
        rows.extend(step())

    peer_name = "otel %s" % peer.version if peer.version else "otel"
    if args.json:
        print(dump_json(rows, benchmark="client", quick=args.quick, peer=PEER, peer_version=peer.version,
                        astrid_version=astrid.__version__))
    else:
        print_table(rows, peer_name=peer_name, markdown=args.markdown)
        notes = [(r.metric.strip(), r.note) for r in rows if r.note]
        if notes and not args.markdown:
            print()
            for metric, text in notes:
                print("  %s: %s" % (metric, text))
    return 0 if all(r.status != "MISS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
