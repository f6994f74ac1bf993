"""ClickHouse clusters: ON CLUSTER DDL, replicated and Distributed tables, several nodes, failover.

The tests marked ``clickhouse`` run a real cluster on loopback: one ZooKeeper and two
clickhouse-server processes as one shard with two replicas (``support.clickhouse``,
``support.zookeeper``). They skip, with the reason, when either program is missing;
``scripts/test`` installs both.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid.backends.clickhouse import ClickHouseBackend
from astrid.backends.clickhouse_nodes import NodeSet, split_endpoints
from astrid.backends.clickhouse_schema import (
    DEFAULT_ZOOKEEPER_PATH,
    check_cluster,
    check_identifier,
    check_zookeeper_path,
    schema_ddl,
)
from astrid.config import TelemetryConfig
from astrid.export import Batch
from astrid.records import Event, Resource
from support.clickhouse import (
    ClickHouseCluster,
    ClickHouseServer,
    FaultProxy,
    find_server_binary,
)
from support.faultserver import refused_port
from support.zookeeper import ZooKeeper, find_zookeeper

ROOT = Path(__file__).resolve().parent.parent
RESOURCE = Resource({"service.name": "shop", "service.version": "1.2.0"})


def config(**kw: Any) -> TelemetryConfig:
    kw.setdefault("headers", {})
    kw.setdefault("resource_attributes", {})
    env = kw.pop("env", {})
    return TelemetryConfig.from_options(project_name="shop", env=env, **kw)


def events(n: int, name: str = "page.view") -> List[Event]:
    now = time.time_ns()
    return [Event(name, {"i": i}, now + i) for i in range(n)]


def fresh_db() -> str:
    return "c_" + uuid.uuid4().hex[:12]


# ------------------------------------------------------------------ DDL, without a server


def test_cluster_ddl_is_on_cluster_replicated_and_distributed() -> None:
    ddl = schema_ddl("events", "telemetry", cluster="prod", server_version=(24, 8), ttl_days=30)
    assert len(ddl) == 3
    assert ddl[0] == "CREATE DATABASE IF NOT EXISTS `telemetry` ON CLUSTER `prod`"
    local, dist = ddl[1], ddl[2]
    assert local.startswith("CREATE TABLE IF NOT EXISTS `telemetry`.`events_local` ON CLUSTER `prod` (")
    # de-duplication by record id survives: still a Replacing engine, still ordered by id
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/telemetry/events_local', '{replica}')" in local
    )
    assert "ORDER BY (`type`, `name`, `timestamp`, `id`)" in local and "TTL" in local
    assert "non_replicated_deduplication_window" not in local  # replicated tables need none
    assert dist == (
        "CREATE TABLE IF NOT EXISTS `telemetry`.`events` ON CLUSTER `prod` AS `telemetry`.`events_local`\n"
        "ENGINE = Distributed('prod', 'telemetry', 'events_local', cityHash64(`id`))"
    )


def test_otel_cluster_ddl_replicates_every_table() -> None:
    ddl = schema_ddl("otel", "otel", cluster="prod", zookeeper_path="/ch/{shard}/{table}")
    tables = [re.search(r"`otel`\.`(\w+)` ON CLUSTER", s).group(1) for s in ddl[1:]]  # type: ignore[union-attr]
    assert tables == [
        "otel_traces_local", "otel_traces", "otel_logs_local", "otel_logs",
        "otel_metrics_sum_local", "otel_metrics_sum", "otel_metrics_gauge_local",
        "otel_metrics_gauge", "otel_metrics_histogram_local", "otel_metrics_histogram",
    ]
    for local, dist in zip(ddl[1::2], ddl[2::2]):
        table = re.search(r"`otel`\.`(\w+)_local`", local).group(1)  # type: ignore[union-attr]
        assert f"ENGINE = ReplicatedMergeTree('/ch/{{shard}}/{table}_local', '{{replica}}')" in local
        assert "ENGINE = MergeTree()" not in local
        assert f"ENGINE = Distributed('prod', 'otel', '{table}_local', cityHash64(" in dist


def test_otel_ddl_for_an_old_server_says_what_it_needs() -> None:
    with pytest.raises(ValueError, match=r'needs ClickHouse 21\.12\+, or use `schema="events"`'):
        schema_ddl("otel", server_version=(21, 8))
    assert schema_ddl("events", server_version=(18, 16), ttl_days=7)  # events: any version
    assert "TTL" not in "".join(schema_ddl("events", server_version=(18, 16), ttl_days=7))
    assert "TTL" in "".join(schema_ddl("events", server_version=(19, 6), ttl_days=7))


@pytest.mark.clickhouse
def test_cluster_ddl_of_both_schemas_parses_on_a_current_server() -> None:
    """The otel cluster DDL needs a 21.12+ server, which the cluster tests do not have: a current
    ClickHouse (chdb) parses every statement, and its canonical form keeps what matters."""
    chdb = pytest.importorskip("chdb.session", reason="chdb (test dependency) is not installed")
    sess = chdb.Session()
    try:
        for schema in ("otel", "events"):
            for stmt in schema_ddl(schema, "tel", cluster="prod", ttl_days=7):
                quoted = stmt.replace("\\", "\\\\").replace("'", "\\'")
                canonical = str(sess.query(f"SELECT formatQuery('{quoted}')", "TabSeparated"))
                assert "ON CLUSTER prod" in canonical, canonical
                if "ENGINE = Distributed" in stmt:
                    assert "cityHash64(" in canonical
                elif stmt.startswith("CREATE TABLE"):
                    assert re.search(r"ENGINE = Replicated(Replacing)?MergeTree\(", canonical)
    finally:
        sess.close()


@given(st.text(max_size=40) | st.sampled_from(["A\n", "db\n", "/t/{table}\n"]))
def test_only_safe_cluster_names_and_paths_reach_sql(text: str) -> None:
    checks = (check_cluster, check_zookeeper_path, lambda v: check_identifier(v, "database"))
    for check in checks:
        try:
            value = check(text)
        except ValueError:
            continue
        if value is not None:
            assert not set(value) & set("'`\"\\ \n;()")


def test_cli_prints_the_cluster_ddl_for_the_target_version(capsys: Any) -> None:
    from astrid.cli import main

    assert main(["schema", "clickhouse", "--schema", "events", "--cluster", "prod",
                 "--server-version", "18.16.1", "--ttl-days", "30"]) == 0
    out, err = capsys.readouterr()
    expected = schema_ddl("events", cluster="prod", server_version=(18, 16), ttl_days=30)
    assert out == "".join(s + ";\n\n" for s in expected)
    assert "TTL" not in out and "has no TTL" in err
    assert main(["schema", "clickhouse", "--schema", "otel", "--server-version", "20.3"]) == 2
    assert 'needs ClickHouse 21.12+, or use `schema="events"`' in capsys.readouterr().err
    assert main(["schema", "clickhouse", "--schema", "events", "--ttl-days", "3",
                 "--server-version", "24.8"]) == 0
    assert "TTL timestamp + toIntervalDay(3)" in capsys.readouterr().out
    assert main(["schema", "clickhouse", "--zookeeper-path", "/x/{table}"]) == 2


# ------------------------------------------------------------------ options, without a server


def test_endpoint_lists_and_comma_strings_name_every_node() -> None:
    urls = ["http://127.0.0.1:8123", "http://127.0.0.1:8124/"]
    assert split_endpoints(" http://127.0.0.1:8123 ,http://127.0.0.1:8124/,") == urls
    b = ClickHouseBackend(config(), endpoint=urls, schema="events")
    assert [n["endpoint"] for n in b.stats()["nodes"]] == [
        "http://127.0.0.1:8123/", "http://127.0.0.1:8124/"
    ]
    env = {"ASTRID_CLICKHOUSE_ENDPOINT": ",".join(urls), "ASTRID_ENDPOINT": "http://127.0.0.1:1",
           "ASTRID_CLICKHOUSE_CLUSTER": "prod"}
    b = ClickHouseBackend(config(env=env), schema="events")
    assert len(b.stats()["nodes"]) == 2 and b.cluster == "prod"
    # the client's endpoint= (a list too) wins over the environment
    b = ClickHouseBackend(config(env=env, endpoint=["http://127.0.0.1:9000"]), cluster="other")
    assert [n["endpoint"] for n in b.stats()["nodes"]] == ["http://127.0.0.1:9000/"]
    assert b.cluster == "other"
    with pytest.raises(ValueError, match="different credentials"):
        ClickHouseBackend(config(), endpoint="http://a:1@127.0.0.1:1,http://b:2@127.0.0.1:2")
    with pytest.raises(ValueError, match="cluster must be"):
        ClickHouseBackend(config(), cluster="prod; DROP")
    with pytest.raises(ValueError, match="zookeeper_path"):
        ClickHouseBackend(config(), cluster="prod", zookeeper_path="/no/table/macro")


@given(st.text(max_size=60), st.text(max_size=30))
def test_no_environment_value_makes_the_backend_raise(endpoints: str, cluster: str) -> None:
    env = {"ASTRID_CLICKHOUSE_ENDPOINT": endpoints, "ASTRID_CLICKHOUSE_CLUSTER": cluster}
    if "\x00" in endpoints + cluster:
        return  # no environment can hold a NUL
    backend = ClickHouseBackend(config(env=env), schema="events")
    assert backend.stats()["nodes"] and backend.cluster in (None, cluster.strip())


def test_nodes_stay_on_one_node_and_move_on_when_its_breaker_opens() -> None:
    nodes = NodeSet(["http://a/", "http://b/", "http://c/"], cooldown=60.0)
    a, b, c = nodes.nodes
    assert nodes.pick() is a and nodes.pick() is a
    a.failed("timeout")
    assert nodes.pick() is a  # one failure is not yet a dead node
    a.failed("timeout")
    assert nodes.pick() is b
    b.refused("connection_refused")  # refused: at once
    assert nodes.pick() is c and nodes.pick(exclude=[c]) is None
    assert [n["state"] for n in nodes.describe()] == ["open", "open", "closed"]
    assert [n["active"] for n in nodes.describe()] == [False, False, True]


# ------------------------------------------------------------------ a real cluster


@pytest.fixture(scope="session")
def ch_cluster() -> Iterator[ClickHouseCluster]:
    server = find_server_binary()
    if server is None:
        pytest.skip("no clickhouse-server binary (set ASTRID_TEST_CLICKHOUSE or install clickhouse-server)")
    zk_command = find_zookeeper()
    if zk_command is None:
        pytest.skip("no ZooKeeper (install Debian's zookeeper package and a JRE, or set "
                    "ASTRID_TEST_ZOOKEEPER to its class path)")
    zk = ZooKeeper(zk_command)
    zk.launch()
    cluster = ClickHouseCluster(server, zk.port, shards=1, replicas=2)
    try:
        zk.wait(60.0)
        cluster.start(60.0)
        wait_for_keeper(cluster.nodes, 30.0)
    except Exception:
        cluster.stop()
        zk.stop()
        raise
    yield cluster
    cluster.stop()
    zk.stop()


def wait_for_keeper(nodes: List[ClickHouseServer], timeout: float) -> None:
    """Every node has its ZooKeeper session (the DDL queue and replicated tables need it)."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        while True:
            try:
                node.query("SELECT count() FROM system.zookeeper WHERE path = '/'")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def q(node: ClickHouseServer, sql: str) -> str:
    return node.query(sql).strip()


def sync(node: ClickHouseServer, db: str, table: str, timeout: float = 30.0) -> None:
    """Wait until the replica has fetched everything its log names (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            node.query(f"SYSTEM SYNC REPLICA {db}.{table}")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def caught_up(node: ClickHouseServer, db: str, rows: int, timeout: float = 60.0) -> None:
    """Wait (bounded) until the replica's own table holds ``rows`` distinct records: a restarted
    replica first reads the replication log, then fetches what it missed."""
    deadline = time.monotonic() + timeout
    have = "?"
    while time.monotonic() < deadline:
        try:
            node.query(f"SYSTEM SYNC REPLICA {db}.events_local")
            have = q(node, f"SELECT uniqExact(id) FROM {db}.events_local")
            if have == str(rows):
                return
        except OSError:
            pass
        time.sleep(0.2)
    queue = q(node, "SELECT type, new_part_name, num_tries, last_exception FROM system.replication_queue "
              f"WHERE database = '{db}'")
    raise AssertionError(f"{node.url} has {have} of {rows} records after {timeout}s; queue: {queue}")


def cluster_backend(urls: Any, db: str, **kw: Any) -> ClickHouseBackend:
    kw.setdefault("cluster", "astrid")
    return ClickHouseBackend(config(**kw.pop("cfg", {})), endpoint=urls, database=db,
                             schema="events", **kw)


def version_of(node: ClickHouseServer) -> Tuple[int, int]:
    major, minor = node.version.split(".")[:2]
    return int(major), int(minor)


@pytest.mark.clickhouse
@pytest.mark.slow
def test_cluster_ddl_runs_once_and_creates_every_table_on_every_node(
    ch_cluster: ClickHouseCluster,
) -> None:
    a, b = ch_cluster.nodes
    db = fresh_db()
    proxy = FaultProxy(a.url)
    try:
        backend = cluster_backend([proxy.url, b.url], db)
        assert backend.export(Batch(events(5), RESOURCE), 30.0).ok
        assert backend.export(Batch(events(5), RESOURCE), 30.0).ok
        ddl = [r["query"]["query"] for r in proxy.requests if r["query"]["query"].startswith("CREATE")]
        assert ddl == schema_ddl("events", db, server_version=version_of(a), cluster="astrid")
    finally:
        proxy.stop()
    for node in (a, b):
        tables = q(node, f"SELECT name, engine FROM system.tables WHERE database = '{db}' ORDER BY name")
        assert tables.split() == ["events", "Distributed", "events_local", "ReplicatedReplacingMergeTree"]
        macros = dict(line.split("\t") for line in q(node, "SELECT macro, substitution FROM system.macros").splitlines())
        path = DEFAULT_ZOOKEEPER_PATH.replace("{shard}", macros["shard"]).replace(
            "{database}", db).replace("{table}", "events_local")
        replicas = q(node, f"SELECT name FROM system.zookeeper WHERE path = '{path}/replicas' ORDER BY name")
        assert replicas.split() == ["r1a", "r1b"]
    sync(b, db, "events_local")
    assert q(b, f"SELECT count() FROM {db}.events_local") == "10"


@pytest.mark.clickhouse
@pytest.mark.slow
def test_rows_inserted_through_one_node_are_read_through_the_other(
    ch_cluster: ClickHouseCluster,
) -> None:
    a, b = ch_cluster.nodes
    db = fresh_db()
    backend = cluster_backend(a.url, db)
    recs = events(40, "through.a")
    assert backend.export(Batch(recs, RESOURCE), 30.0).ok
    sync(b, db, "events_local")
    assert q(b, f"SELECT count() FROM {db}.events_local") == "40"
    assert q(b, f"SELECT count() FROM {db}.events FINAL") == "40"
    ids = q(b, f"SELECT id FROM {db}.events_local ORDER BY id").split()
    assert ids == sorted(f"{r.id:032x}" for r in recs)
    # the same batch again (a retry whose answer was lost), through the other node: stored once
    again = cluster_backend(b.url, db)
    assert again.export(Batch(recs, RESOURCE), 30.0).ok
    sync(a, db, "events_local")
    assert q(a, f"SELECT count() FROM {db}.events FINAL") == "40"


@pytest.mark.clickhouse
@pytest.mark.slow
def test_two_shards_each_record_on_one_shard_and_a_resent_batch_stored_once(
    ch_cluster: ClickHouseCluster,
) -> None:
    a, b = ch_cluster.nodes
    db = fresh_db()
    path = "/clickhouse/tables/{own_shard}/{database}/{table}"
    recs = events(200, "sharded")
    through_a = cluster_backend(a.url, db, cluster=ch_cluster.sharded_name, zookeeper_path=path)
    assert through_a.export(Batch(recs, RESOURCE), 30.0).ok
    # the same batch again, through the other node: the sharding key sends every row to the
    # shard that has it already, where it is stored once
    through_b = cluster_backend(b.url, db, cluster=ch_cluster.sharded_name, zookeeper_path=path)
    assert through_b.export(Batch(recs, RESOURCE), 30.0).ok
    on_a = int(q(a, f"SELECT count() FROM {db}.events_local FINAL"))
    on_b = int(q(b, f"SELECT count() FROM {db}.events_local FINAL"))
    assert on_a > 0 and on_b > 0 and on_a + on_b == 200, (on_a, on_b)
    ids_a = set(q(a, f"SELECT id FROM {db}.events_local").split())
    ids_b = set(q(b, f"SELECT id FROM {db}.events_local").split())
    assert not ids_a & ids_b and ids_a | ids_b == {f"{r.id:032x}" for r in recs}
    for node in (a, b):
        assert q(node, f"SELECT count() FROM {db}.events FINAL") == "200"
        assert q(node, f"SELECT uniqExact(id) FROM {db}.events") == "200"


@pytest.mark.clickhouse
@pytest.mark.slow
def test_a_node_down_while_the_ddl_runs_does_not_stop_delivery(
    ch_cluster: ClickHouseCluster,
) -> None:
    a, b = ch_cluster.nodes
    db = fresh_db()
    b.kill()
    try:
        backend = cluster_backend([a.url, b.url], db, cfg={"timeout": 6.0})
        recs = events(30, "while.b.is.down")
        # the DDL waits a bounded time for node B, then the rows go to node A's replica
        assert backend.export(Batch(recs, RESOURCE), 6.0).ok
        assert q(a, f"SELECT count() FROM {db}.events FINAL") == "30"
    finally:
        b.launch()
        b.wait(60.0)
        wait_for_keeper([b], 30.0)
    # node B runs the queued DDL when it is back, then fetches the rows
    deadline = time.monotonic() + 60.0
    while True:
        try:
            sync(b, db, "events_local", 5.0)
            if q(b, f"SELECT count() FROM {db}.events_local") == "30":
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "node B never caught up"
        time.sleep(0.2)
    assert q(b, f"SELECT engine FROM system.tables WHERE database = '{db}' AND name = 'events'") == "Distributed"


def cluster_client(urls: Any, db: str, **kw: Any) -> Any:
    import astrid

    kw.setdefault("batch_size", 50)
    return astrid.TelemetryClient(
        project_name="shop", version="1.2.0", backend="clickhouse", endpoint=urls,
        enabled=True, flush_interval=0.05, backoff_base=0.05, backoff_max=0.5,
        breaker_cooldown=30.0, install_atexit=False, env={}, database=db, schema="events",
        cluster="astrid", **kw,
    )


@pytest.mark.clickhouse
@pytest.mark.slow
def test_a_node_killed_mid_run_costs_no_record_and_duplicates_none(
    ch_cluster: ClickHouseCluster,
) -> None:
    a, b = ch_cluster.nodes
    db = fresh_db()
    c = cluster_client([a.url, b.url], db)
    total = 3000
    killed = threading.Event()

    def produce() -> None:
        for i in range(total):
            c.track_event("order.placed", {"i": i})
            if i == total // 3:
                killed.wait(10.0)
            if i % 100 == 0:
                time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        # kill node A once it has taken rows, while the producer is still running
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            nodes = c.stats()["backends"]["clickhouse"]["nodes"]
            if nodes[0]["sent"] > 0:
                break
            time.sleep(0.01)
        a.kill()
        killed.set()
        producer.join(60.0)
        assert c.flush(timeout=60.0)
        stats = c.stats()
        assert c.shutdown(timeout=10.0)
    finally:
        killed.set()
        producer.join(60.0)
        if not a.alive():
            a.launch()
            a.wait(60.0)
            wait_for_keeper([a], 30.0)
    lane = stats["backends"]["clickhouse"]
    assert stats["sent"] == total and stats["dropped"] == 0 and stats["failed"] == 0, stats
    assert lane["nodes"][0]["state"] in ("open", "half_open") and lane["nodes"][1]["active"], lane
    assert lane["nodes"][0]["sent"] > 0 and lane["nodes"][1]["sent"] > 0, lane
    # rows A took before it died come back with it; then every replica has each row once
    # (both first: a Distributed read on one node may be served by the other replica)
    for node in (a, b):
        caught_up(node, db, total)
    for node in (a, b):
        assert q(node, f"SELECT count() FROM {db}.events_local FINAL") == str(total)
        assert q(node, f"SELECT uniqExact(id) FROM {db}.events_local") == str(total)
        assert q(node, f"SELECT count() FROM {db}.events FINAL") == str(total)


@pytest.mark.clickhouse
@pytest.mark.slow
def test_a_node_refusing_connections_hands_the_batch_to_the_next_at_once(
    ch_cluster: ClickHouseCluster,
) -> None:
    _, b = ch_cluster.nodes
    db = fresh_db()
    dead = f"http://127.0.0.1:{refused_port()}"
    c = cluster_client(f"{dead},{b.url}", db)
    for i in range(20):
        c.track_event("signup", {"i": i})
    assert c.flush(timeout=30.0)
    stats = c.stats()
    assert c.shutdown(timeout=10.0)
    nodes: List[Dict[str, Any]] = stats["backends"]["clickhouse"]["nodes"]
    # the refused connection costs no backoff step at all: the same export went to node B
    assert stats["sent"] == 20 and stats["retries"] == 0, stats
    assert nodes[0]["state"] == "open" and nodes[0]["last_error"] == "connection_refused"
    assert nodes[1]["active"] and nodes[1]["sent"] == 20
    sync(b, db, "events_local")
    assert q(b, f"SELECT count() FROM {db}.events_local FINAL") == "20"


# ------------------------------------------------------------------ docs/scaling.md stays true


def test_scaling_guide_shows_the_ddl_the_client_runs() -> None:
    text = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    block = text.split("<!-- ddl:events-cluster:start -->", 1)[1].split("<!-- ddl:events-cluster:end -->", 1)[0]
    sql = block.split("```sql\n", 1)[1].rsplit("```", 1)[0]
    expected = schema_ddl("events", "telemetry", cluster="telemetry", server_version=(24, 8))
    assert sql.strip() == "".join(s + ";\n\n" for s in expected).strip()
