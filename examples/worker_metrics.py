"""Metrics in a worker loop: counters, a histogram and a gauge, aggregated in-process.

``python examples/worker_metrics.py --jobs 200`` sends a handful of aggregated points per
flush interval, not one per call.
"""

from __future__ import annotations

import argparse
import queue
import random
import time

import astrid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    client = astrid.TelemetryClient("example-worker", enabled=True, flush_interval=1.0)
    jobs: "queue.Queue[int]" = queue.Queue()
    for i in range(args.jobs):
        jobs.put(i)
    rng = random.Random(1)
    with client.span("worker.run", {"jobs": args.jobs}):
        while True:
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            ok = rng.random() > 0.1
            outcome = "ok" if ok else "failed"
            client.track_metric("jobs.processed", 1, attributes={"outcome": outcome})
            client.track_metric(
                "job.duration",
                (time.perf_counter() - started) * 1000 + job % 7,
                metric_type="histogram",
                unit="ms",
            )
            client.track_metric("queue.depth", jobs.qsize(), metric_type="gauge")
    delivered = client.shutdown(timeout=10)
    print(f"processed {args.jobs} jobs; telemetry delivered: {delivered}")


if __name__ == "__main__":
    main()
