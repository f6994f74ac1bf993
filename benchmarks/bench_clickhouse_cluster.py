"""ClickHouse cluster figures: insert throughput to a two-replica cluster next to a single server,
and how long the client takes to move to the other node when the one it writes to dies.

Everything runs on loopback in one run: a single clickhouse-server, a ZooKeeper and two more
clickhouse-server processes configured as one shard with two replicas (the same fixtures as
tests/test_clickhouse_cluster.py). Needs clickhouse-server and Debian's zookeeper package (or
$ASTRID_TEST_CLICKHOUSE / $ASTRID_TEST_ZOOKEEPER); scripts/test installs both.

    python benchmarks/bench_clickhouse_cluster.py [--quick] [--json] [--rounds N]

Throughput is events/s from the first ``track_event`` to the end of ``flush()``, through the
whole SDK (privacy engine, batching, JSONEachRow, HTTP) with the events schema; the cluster
inserts go into the Distributed table with ``insert_distributed_sync=1``, so an insert returns
once a replica holds the rows. Failover time is from SIGKILL of the node being written to until
the other node has acknowledged its first batch, with the SDK's default backoff and breaker.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import astrid  # noqa: E402
from support.clickhouse import ClickHouseCluster, ClickHouseServer, find_server_binary  # noqa: E402
from support.zookeeper import ZooKeeper, find_zookeeper  # noqa: E402


def client(endpoint: Any, db: str, cluster: Any = None, **kw: Any) -> Any:
    opts: Dict[str, Any] = dict(
        project_name="bench", version="1.0.0", backend="clickhouse", endpoint=endpoint,
        enabled=True, install_atexit=False, env={}, database=db, schema="events",
        batch_size=kw.pop("batch_size", 1000), max_queue_size=200_000,
    )
    if cluster:
        opts["cluster"] = cluster
    opts.update(kw)
    return astrid.TelemetryClient(**opts)


def throughput(endpoint: Any, n: int, cluster: Any = None) -> float:
    db = "b_" + uuid.uuid4().hex[:10]
    warm = client(endpoint, db, cluster)  # creates the tables: not part of the figure
    warm.track_event("warmup")
    assert warm.shutdown(timeout=60.0), warm.stats()
    c = client(endpoint, db, cluster, flush_interval=0.2)
    start = time.perf_counter()
    for i in range(n):
        c.track_event("page.view", {"i": i, "path": "/products"})
    ok = c.flush(timeout=300.0)
    elapsed = time.perf_counter() - start
    stats = c.stats()
    c.shutdown(timeout=10.0)
    if not ok or stats["sent"] != n:
        raise RuntimeError(f"not every event was delivered: {stats}")
    return n / elapsed


def failover(cluster: ClickHouseCluster) -> Dict[str, float]:
    a, b = cluster.nodes
    db = "f_" + uuid.uuid4().hex[:10]
    c = client([a.url, b.url], db, cluster.name, flush_interval=0.05, batch_size=100)
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            c.track_event("order.placed", {"i": i})
            i += 1
            time.sleep(0.0005)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 60
        while c.stats()["backends"]["clickhouse"]["nodes"][0]["sent"] < 500:
            if time.monotonic() > deadline:
                raise RuntimeError("node A took nothing")
            time.sleep(0.01)
        before = c.stats()["backends"]["clickhouse"]["nodes"][1]["sent"]
        killed = time.monotonic()
        a.kill()
        while c.stats()["backends"]["clickhouse"]["nodes"][1]["sent"] <= before:
            if time.monotonic() - killed > 60:
                raise RuntimeError("the client never moved to node B")
            time.sleep(0.002)
        moved = time.monotonic() - killed
    finally:
        stop.set()
        t.join(10)
    ok = c.flush(timeout=60.0)
    stats = c.stats()
    c.shutdown(timeout=10.0)
    a.launch()
    a.wait(60.0)
    return {"failover_s": moved, "delivered_all": float(ok and stats["dropped"] == 0),
            "retries": float(stats["retries"])}


def main(argv: Any = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer events and rounds")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3, quick 1)")
    args = p.parse_args(argv)
    n = 5_000 if args.quick else 30_000
    rounds = args.rounds or (1 if args.quick else 3)
    server_cmd, zk_cmd = find_server_binary(), find_zookeeper()
    if server_cmd is None or zk_cmd is None:
        print("needs clickhouse-server and ZooKeeper (scripts/test installs both)", file=sys.stderr)
        return 2
    zk = ZooKeeper(zk_cmd)
    zk.launch()
    single = ClickHouseServer(server_cmd)
    cluster = ClickHouseCluster(server_cmd, zk.port)
    single.launch()
    try:
        zk.wait(60)
        cluster.start(60)
        single.wait(60)
        for node in cluster.nodes:  # each node has its keeper session before the first DDL
            deadline = time.monotonic() + 30
            while True:
                try:
                    node.query("SELECT count() FROM system.zookeeper WHERE path = '/'")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        single_eps: List[float] = []
        cluster_eps: List[float] = []
        for _ in range(rounds):  # interleaved, so a busy moment hurts both sides alike
            single_eps.append(throughput(single.url, n))
            cluster_eps.append(throughput(cluster.urls, n, cluster.name))
        fo = failover(cluster)
    finally:
        cluster.stop()
        single.stop()
        zk.stop()
    result = {
        "server_version": single.version,
        "events_per_round": n,
        "rounds": rounds,
        "single_server_events_per_s": statistics.median(single_eps),
        "cluster_events_per_s": statistics.median(cluster_eps),
        "cluster_vs_single": statistics.median(cluster_eps) / statistics.median(single_eps),
        **fo,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"ClickHouse {result['server_version']} on loopback, {n} events a round, "
              f"median of {rounds} interleaved round(s)")
        print(f"  single server          {result['single_server_events_per_s']:>10,.0f} events/s")
        print(f"  cluster (1 shard x 2)  {result['cluster_events_per_s']:>10,.0f} events/s"
              f"   ({result['cluster_vs_single']:.2f}x the single server)")
        print(f"  failover after SIGKILL {result['failover_s']:>10.2f} s"
              f"   (every event delivered: {'yes' if result['delivered_all'] else 'NO'}, "
              f"retries: {result['retries']:.0f})")
    return 0 if result["delivered_all"] else 1


if __name__ == "__main__":
    sys.exit(main())
