"""Test fixtures: a throwaway clickhouse-server, a chdb-backed ClickHouse HTTP stand-in and a fault proxy."""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

WRITER = ("writer", "s3cret")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_query(url: str, sql: str, timeout: float = 10.0) -> str:
    """Run one statement over the HTTP interface as the default user; raise on an error status."""
    req = urllib.request.Request(url.rstrip("/") + "/", data=sql.encode("utf-8"), method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return resp.read().decode("utf-8")


# ------------------------------------------------------------------ real server


def find_server_binary(env: Optional[Dict[str, str]] = None) -> Optional[List[str]]:
    """The command that starts a server: $ASTRID_TEST_CLICKHOUSE, then PATH, then /usr/sbin."""
    env = dict(os.environ if env is None else env)
    candidates = [env.get("ASTRID_TEST_CLICKHOUSE", "")]
    candidates += [shutil.which("clickhouse-server") or "", shutil.which("clickhouse") or ""]
    candidates += ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            # the single multi-call binary needs its sub-command
            return [path, "server"] if os.path.basename(path) == "clickhouse" else [path]
    return None


_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <mlock_executable>false</mlock_executable>
</yandex>
"""
_USER = (
    "<{name}><password>{password}</password><networks><ip>127.0.0.1</ip></networks>"
    "<profile>default</profile><quota>default</quota></{name}>"
)
_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>{users}</users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
  <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


class ClickHouseServer:
    """A clickhouse-server on 127.0.0.1 with a throwaway config and data directory."""

    def __init__(self, command: List[str]) -> None:
        self.command = command
        self.dir = tempfile.mkdtemp(prefix="astrid-ch-")
        self.http_port = free_port()
        self.tcp_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.version = ""
        #: more server configuration (an XML document), written to config.d/ before start
        self.extra_config = ""

    def launch(self) -> None:
        """Write the configuration and start the process; :meth:`wait` tells when it serves."""
        for sub in ("data", "tmp", "log", "user_files", "format_schemas", "config.d"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        users = _USER.format(name="default", password="") + _USER.format(
            name=WRITER[0], password=WRITER[1]
        )
        with open(os.path.join(self.dir, "config.xml"), "w") as f:
            f.write(_CONFIG.format(d=self.dir, http=self.http_port, tcp=self.tcp_port))
        with open(os.path.join(self.dir, "users.xml"), "w") as f:
            f.write(_USERS.format(users=users))
        if self.extra_config:
            with open(os.path.join(self.dir, "config.d", "extra.xml"), "w") as f:
                f.write(self.extra_config)
        cfg = os.path.join(self.dir, "config.xml")
        self.proc = subprocess.Popen(
            self.command + [f"--config-file={cfg}"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait(self, wait: float = 30.0) -> ClickHouseServer:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as r:  # noqa: S310
                    if r.read().strip() == b"Ok.":
                        self.version = self.query("SELECT version()").strip()
                        return self
            except OSError:
                time.sleep(0.05)
        log = self._log_tail()
        self.stop()
        raise RuntimeError(f"clickhouse-server did not answer /ping: {log}")

    def start(self, wait: float = 30.0) -> ClickHouseServer:
        self.launch()
        return self.wait(wait)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye to clients, ZooKeeper or the other replicas."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "log", "err.log"), errors="replace") as f:
                return f.read()[-800:]
        except OSError:
            return ""

    def query(self, sql: str) -> str:
        return http_query(self.url, sql)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------ chdb stand-in

#: Settings that make the in-process engine read JSON as strictly as a default server.
STRICT_SETTINGS = (
    "async_insert=0",
    "input_format_skip_unknown_fields=0",
    "input_format_json_read_numbers_as_strings=0",
    "input_format_json_read_bools_as_numbers=0",
    "input_format_json_read_objects_as_strings=0",
    "input_format_json_read_arrays_as_strings=0",
    "input_format_json_try_infer_numbers_from_strings=0",
    "input_format_null_as_default=0",
    "input_format_allow_errors_num=0",
    "date_time_input_format='basic'",
    # not UTC on purpose: a row that depends on the server's time zone shows up wrong
    "session_timezone='Asia/Tokyo'",
)
_STATUS_BY_CODE = {60: 404, 81: 404, 62: 400, 115: 400, 192: 401, 193: 401, 516: 401, 497: 403}
_INSERT = re.compile(
    r"^\s*(INSERT\s+INTO\s+\S+(?:\s*\([^)]*\))?)\s+FORMAT\s+(\w+)\s*$", re.I | re.S
)
_SKIP_PARAMS = {"query", "database", "user", "password", "default_format"}


class ChdbClickHouse:
    """A loopback HTTP server speaking enough of ClickHouse's HTTP interface, run by chdb."""

    def __init__(self, users: Optional[Dict[str, str]] = None) -> None:
        from chdb import session  # test-only dependency

        self.dir = tempfile.mkdtemp(prefix="astrid-chdb-")
        self.session = session.Session(self.dir)
        for setting in STRICT_SETTINGS:
            self.session.query("SET " + setting)
        self.version = self._run("SELECT version()").decode().strip()
        self.users = users or {"default": "", WRITER[0]: WRITER[1]}
        self.requests: List[Dict[str, Any]] = []
        self._lock = threading.Lock()  # one engine: one statement at a time
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/ping"):
                    self._reply(200, b"Ok.\n")
                else:
                    self._handle(b"")

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                self._handle(self.rfile.read(n))

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, body: bytes) -> None:
                status, out = outer.handle(self.path, dict(self.headers.items()), body)
                self._reply(status, out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _run(self, sql: str, fmt: str = "TabSeparated") -> bytes:
        return bytes(self.session.query(sql, fmt).bytes())

    def query(self, sql: str) -> str:
        with self._lock:
            return self._run(sql).decode("utf-8")

    def _auth(self, headers: Dict[str, str], params: Dict[str, str]) -> Optional[Tuple[int, bytes]]:
        h = {k.lower(): v for k, v in headers.items()}
        via_header = "x-clickhouse-user" in h or "x-clickhouse-key" in h
        if "authorization" in h and via_header:
            return 403, (
                b"Code: 516. DB::Exception: Invalid authentication: it is not allowed to use "
                b"Authorization HTTP header and authentication via parameters or X-ClickHouse-* "
                b"headers simultaneously. (AUTHENTICATION_FAILED)"
            )
        user, key = "default", ""
        if "authorization" in h and h["authorization"].startswith("Basic "):
            user, _, key = base64.b64decode(h["authorization"][6:]).decode().partition(":")
        elif via_header:
            user, key = h.get("x-clickhouse-user", "default"), h.get("x-clickhouse-key", "")
        elif "user" in params:
            user, key = params["user"], params.get("password", "")
        if self.users.get(user) != key:
            return 401, (
                b"Code: 516. DB::Exception: " + user.encode() + b": Authentication failed: "
                b"password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)"
            )
        return None

    def handle(self, path: str, headers: Dict[str, str], body: bytes) -> Tuple[int, bytes]:
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        self.requests.append(
            {"path": path, "params": params, "headers": headers, "size": len(body)}
        )
        denied = self._auth(headers, params)
        if denied:
            return denied
        if headers.get("Content-Encoding", headers.get("content-encoding", "")) == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return 400, b"Code: 354. DB::Exception: inflate failed. (ZLIB_INFLATE_FAILED)"
        query = params.get("query", "")
        settings = {k: v for k, v in params.items() if k not in _SKIP_PARAMS}
        m = _INSERT.match(query)
        if m:
            clause = ""
            if settings:
                clause = " SETTINGS " + ", ".join(f"{k}={_literal(v)}" for k, v in settings.items())
            sql = f"{m.group(1)}{clause} FORMAT {m.group(2)}\n" + body.decode("utf-8", "replace")
        else:
            sql = (query + "\n" + body.decode("utf-8", "replace")).strip()
        try:
            with self._lock:
                return 200, self._run(sql)
        except Exception as exc:  # the engine's error text is ClickHouse's own
            text = str(exc).strip()
            text = re.sub(r"^(Code: \d+\. DB::Exception: )\1", r"\1", text)
            code = re.search(r"Code: (\d+)", text)
            status = _STATUS_BY_CODE.get(int(code.group(1)), 500) if code else 500
            return status, text.encode("utf-8") + b"\n"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        try:
            self.session.close()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _literal(value: str) -> str:
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ------------------------------------------------------------------ fault proxy


class FaultProxy:
    """A loopback HTTP proxy in front of a ClickHouse URL that injects planned faults.

    Faults apply, in order, to requests whose ``query`` starts with ``match`` (INSERTs by
    default, so the version probe and DDL go through): ``"pass"``, ``"status:503"``,
    ``"code:241"`` (a ClickHouse error body with that code), ``"reset"`` (close before
    forwarding) and ``"forward_then_reset"`` (the server stores the rows, the client never
    hears back: the case that makes duplicates).
    """

    def __init__(self, upstream: str) -> None:
        target = urllib.parse.urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.plan: List[str] = []
        self.match = "INSERT"
        self.seen: List[str] = []
        self.requests: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                fault = outer._next(query.get("query", ""))
                outer.requests.append(
                    {"query": query, "headers": {k.lower(): v for k, v in self.headers.items()}}
                )
                if fault == "reset":
                    return self._reset()
                if fault.startswith("status:"):
                    return self._reply(int(fault[7:]), b"service unavailable\n", {})
                if fault.startswith("code:"):
                    text = f"Code: {fault[5:]}. DB::Exception: injected by the test proxy\n"
                    return self._reply(500, text.encode(), {})
                status, data, headers = outer._forward(self.command, self.path, self.headers, body)
                if fault == "forward_then_reset":
                    return self._reset()
                self._reply(status, data, headers)

            do_GET = do_POST

            def _reply(self, status: int, body: bytes, headers: Dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower().startswith("x-clickhouse") or k.lower() == "content-type":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _reset(self) -> None:
                # SO_LINGER 0: an RST, as a crashed server or a dropped link would send
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def set_plan(self, faults: List[str], match: str = "INSERT") -> None:
        with self._lock:
            self.plan = list(faults)
            self.match = match
            self.seen = []

    def _next(self, query: str) -> str:
        """The fault for this request; ``seen`` lists what matching requests met."""
        with self._lock:
            if not query.lstrip().upper().startswith(self.match):
                return "pass"
            fault = self.plan.pop(0) if self.plan else "pass"
            self.seen.append(fault)
            return fault

    def _forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> Tuple[int, bytes, Dict[str, str]]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            fwd = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            conn.request(method, path, body=body, headers=fwd)
            resp = conn.getresponse()
            return resp.status, resp.read(), dict(resp.getheaders())
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ a replicated cluster

CLUSTER = "astrid"

_NODE_CONFIG = """<?xml version="1.0"?>
<yandex>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>{interserver}</interserver_http_port>
  <zookeeper>
    <node><host>127.0.0.1</host><port>{zk}</port></node>
    <session_timeout_ms>4000</session_timeout_ms>
  </zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
  <macros><shard>{shard}</shard><replica>{replica}</replica><own_shard>{own}</own_shard></macros>
  <remote_servers>
    <{cluster}>{shards}</{cluster}>
    <{sharded}>{own_shards}</{sharded}>
  </remote_servers>
</yandex>
"""


class ClickHouseCluster:
    """clickhouse-server nodes on loopback sharing one ZooKeeper: ``shards`` × ``replicas``.

    Every node knows the whole cluster (``remote_servers``), its own ``{shard}``/``{replica}``
    macros and the distributed DDL queue, so ``ON CLUSTER`` statements, Replicated tables and
    Distributed tables work as on a real deployment. Nodes start in parallel.

    The same nodes also form a second cluster, ``sharded_name``, in which every node is a shard
    of its own; its tables take their ZooKeeper path from the ``{own_shard}`` macro.
    """

    def __init__(
        self, command: List[str], zookeeper_port: int, shards: int = 1, replicas: int = 2
    ) -> None:
        self.name = CLUSTER
        self.sharded_name = CLUSTER + "_sharded"
        self.nodes: List[ClickHouseServer] = []
        self.layout: List[Tuple[int, str]] = []  # (shard, replica) of each node
        for shard in range(1, shards + 1):
            for r in range(replicas):
                self.nodes.append(ClickHouseServer(command))
                self.layout.append((shard, f"r{shard}{chr(ord('a') + r)}"))
        xml_shards = ""
        for shard in range(1, shards + 1):
            members = [n for n, (s, _) in zip(self.nodes, self.layout) if s == shard]
            xml_shards += "<shard><internal_replication>true</internal_replication>"
            xml_shards += "".join(
                f"<replica><host>127.0.0.1</host><port>{n.tcp_port}</port></replica>"
                for n in members
            )
            xml_shards += "</shard>"
        own_shards = "".join(
            "<shard><internal_replication>true</internal_replication>"
            f"<replica><host>127.0.0.1</host><port>{n.tcp_port}</port></replica></shard>"
            for n in self.nodes
        )
        for i, (node, (shard, replica)) in enumerate(zip(self.nodes, self.layout)):
            node.extra_config = _NODE_CONFIG.format(
                interserver=free_port(),
                zk=zookeeper_port,
                shard=f"{shard:02d}",
                replica=replica,
                own=f"s{i + 1}",
                cluster=self.name,
                shards=xml_shards,
                sharded=self.sharded_name,
                own_shards=own_shards,
            )

    @property
    def urls(self) -> List[str]:
        return [n.url for n in self.nodes]

    def start(self, wait: float = 60.0) -> "ClickHouseCluster":
        for node in self.nodes:
            node.launch()
        try:
            for node in self.nodes:
                node.wait(wait)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
