"""ClickHouse backend: JSONEachRow INSERTs over ClickHouse's HTTP interface, into otel or events tables."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlencode

from ..config import warn_env_once
from ..export import BaseBackend, Batch, ExportResult
from ..network import TransportError, log_excerpt, redact_url
from ..records import Record, hex128
from ..resilience import RETRYABLE_STATUSES, parse_retry_after
from ..transport import HttpResponse, HttpTransport
from .clickhouse_nodes import Node, NodeSet, parse_endpoint, split_endpoints
from .clickhouse_rows import OTEL_ROW, RowContext, events_row, otel_kind
from .clickhouse_schema import (
    DEDUP_TOKEN_SINCE,
    DEFAULT_ZOOKEEPER_PATH,
    MAP_TYPES_SINCE,
    OLD_SERVER_HINT,
    SCHEMAS,
    Version,
    check_cluster,
    check_identifier,
    check_prefix,
    check_ttl_days,
    check_zookeeper_path,
    parse_version,
    schema_ddl,
    table_names,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..config import TelemetryConfig

logger = logging.getLogger("astrid")

DEFAULT_ENDPOINT = "http://localhost:8123"
AUTH_MODES = ("headers", "basic")

#: Error codes that say "try again later": overload, timeouts, replicas, keeper, memory.
RETRYABLE_CODES = frozenset(
    {
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY (a replica that lost its keeper session)
        173,  # CANNOT_ALLOCATE_MEMORY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        225,  # NO_ZOOKEEPER
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS
        285,  # TOO_FEW_LIVE_REPLICAS
        286,  # UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        999,  # KEEPER_EXCEPTION
    }
)
#: The table or database is gone: recreate it (when create_schema) and try again.
MISSING_CODES = frozenset({60, 81})
_CODE = re.compile(r"Code:\s*(\d+)")


def error_code(body: bytes) -> Optional[int]:
    """The ``Code: N`` of a ClickHouse error body, if there is one."""
    m = _CODE.search(body[:2000].decode("utf-8", "replace"))
    return int(m.group(1)) if m else None


_deferred = threading.local()


def _log(level: int, message: str, *args: Any) -> None:
    """Log now, or keep the line for later while this thread holds the backend's lock."""
    lines = getattr(_deferred, "lines", None)
    if lines is not None:
        lines.append((level, message, args))
    else:
        logger.log(level, message, *args)


def error_message(body: bytes, limit: int = 300) -> str:
    """The first line of a ClickHouse error, without the ``e.what()`` noise of old servers."""
    text = body[:4000].decode("utf-8", "replace").strip()
    text = re.sub(r",?\s*e\.what\(\) = DB::Exception\s*$", "", text)
    text = re.sub(r"\s+", " ", text)
    return log_excerpt(text, limit)


def classify(
    status: int, body: bytes, headers: Mapping[str, str], retry_after_max: float = 60.0
) -> ExportResult:
    """Decide by status **and** error code: a bad row is permanent even when the server says 500."""
    if 200 <= status < 300:
        return ExportResult.success(status=status)
    code = error_code(body)
    why = f"clickhouse_{code}" if code is not None else f"clickhouse_http_{status}"
    retry_after = parse_retry_after(headers.get("retry-after"), cap=retry_after_max)
    if code is not None:
        if code in RETRYABLE_CODES:
            return ExportResult.retry(why, retry_after=retry_after, status=status)
        return ExportResult.failure(why, status=status)
    if status == 413:
        return ExportResult.too_large(why, status=status)
    if status in RETRYABLE_STATUSES:  # no ClickHouse code: a proxy or load balancer answered
        return ExportResult.retry(why, retry_after=retry_after, status=status)
    return ExportResult.failure(why, status=status)


def dedup_token(records: List[Record]) -> str:
    """Stable for the same rows across retries: a hash of the record ids in order."""
    h = hashlib.sha256()
    for r in records:
        h.update(hex128(r.id).encode("ascii"))
    return "astrid-" + h.hexdigest()[:40]


class ClickHouseBackend(BaseBackend):
    """Inserts batches into ClickHouse tables; the pipeline owns retries and the breaker.

    ``endpoint`` may list several nodes (a list, or URLs separated by commas): batches go to one
    node and move to the next when it refuses connections or its breaker opens. ``cluster``
    names the servers' cluster: the tables are then created ``ON CLUSTER`` as replicated local
    tables under ``Distributed`` tables, and the client inserts into the Distributed tables.
    """

    name = "clickhouse"

    def __init__(
        self,
        config: TelemetryConfig,
        endpoint: Union[str, Sequence[str], None] = None,
        database: str = "default",
        username: Optional[str] = None,
        password: Optional[str] = None,
        auth: str = "headers",
        schema: str = "otel",
        create_schema: bool = True,
        table_prefix: str = "",
        ttl_days: Optional[int] = None,
        insert_settings: Optional[Mapping[str, Any]] = None,
        cluster: Optional[str] = None,
        zookeeper_path: str = DEFAULT_ZOOKEEPER_PATH,
    ) -> None:
        self.config = config
        bases, url_user, url_password = _nodes_of(config, endpoint)
        # credentials in a URL become the options, so exactly one auth scheme is sent
        if url_user is not None:
            username = username if username is not None else url_user
            if password is None and url_password is not None:
                password = url_password
        self._nodes = NodeSet(bases, config.breaker_cooldown)
        #: the first node's URL (kept for messages and single-node users)
        self.base_url = bases[0]
        self.database = check_identifier(database, "database")
        if schema not in SCHEMAS:
            allowed = ", ".join(map(repr, SCHEMAS))
            raise ValueError(f"schema must be one of {allowed}; got {schema!r}")
        self.schema = schema
        if auth not in AUTH_MODES:
            raise ValueError(
                f"auth must be 'headers' (X-ClickHouse-User/Key) or 'basic'; got {auth!r}"
            )
        for opt, val in (("username", username), ("password", password)):
            if val is not None and not isinstance(val, str):
                raise TypeError(f"{opt} must be a string or None")
        if not isinstance(create_schema, bool):
            raise TypeError("create_schema must be True or False")
        self.create_schema = create_schema
        self.table_prefix = check_prefix(table_prefix)
        self.ttl_days = check_ttl_days(ttl_days)
        if cluster is None:
            cluster = _cluster_from_env(config)
        self.cluster = check_cluster(cluster)
        self.zookeeper_path = check_zookeeper_path(zookeeper_path)
        self.tables = table_names(schema, self.table_prefix)
        for table in self.tables.values():
            check_identifier(table, "table_prefix + table name")
        self.insert_settings = _check_settings(insert_settings)
        self._headers = self._auth_headers(username, password, auth, config.headers)
        self._transport = HttpTransport(config)
        self._lock = threading.Lock()
        self._version: Optional[Version] = None
        self._schema_ready = not create_schema

    # ------------------------------------------------------------------ setup

    @staticmethod
    def _auth_headers(
        username: Optional[str], password: Optional[str], auth: str, extra: Mapping[str, str]
    ) -> Dict[str, str]:
        headers = {"Content-Type": "application/x-ndjson; charset=utf-8"}
        mine = username is not None or password is not None
        drop = {"authorization", "x-clickhouse-user", "x-clickhouse-key"} if mine else set()
        for k, v in extra.items():
            if k.lower() not in drop:  # never two auth schemes in one request
                headers[k] = v
        if mine:
            user = username if username is not None else "default"
            if auth == "basic":
                cred = f"{user}:{password or ''}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(cred).decode("ascii")
            else:
                headers["X-ClickHouse-User"] = user
                if password:
                    headers["X-ClickHouse-Key"] = password
        return headers

    def _post(
        self,
        node: Node,
        query: str,
        body: bytes,
        deadline: float,
        settings: Optional[Mapping[str, str]] = None,
    ) -> HttpResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportError("timeout", "export deadline passed")
        params: Dict[str, str] = {"query": query}
        params.update(settings or {})
        url = node.base_url + "?" + urlencode(params)
        return self._transport.post(url, body, self._headers, remaining)

    def _ensure_ready(self, node: Node, deadline: float) -> Optional[ExportResult]:
        """Learn the server version and create the tables, once. None when ready.

        Runs under the backend's lock, so its log lines are kept and written after the lock is
        released (a logging handler may call back into the SDK)."""
        _deferred.lines = []
        try:
            with self._lock:
                return self._ensure_ready_locked(node, deadline)
        finally:
            lines, _deferred.lines = _deferred.lines, None
            for level, message, args in lines or ():
                logger.log(level, message, *args)

    def _ensure_ready_locked(self, node: Node, deadline: float) -> Optional[ExportResult]:
        if self._version is None:
            outcome = self._attempt(node, "SELECT version()", b"", deadline)
            if isinstance(outcome, ExportResult):
                return outcome
            self._version = parse_version(outcome.body.decode("utf-8", "replace")) or (0, 0)
            _log(logging.DEBUG, "astrid: ClickHouse server version %s.%s", *self._version)
        if self._schema_ready:
            return None
        if self.schema == "otel" and (0, 0) < self._version < MAP_TYPES_SINCE:
            _log(logging.WARNING,
                "astrid: ClickHouse %s.%s at %s: %s; not creating the otel tables",
                self._version[0],
                self._version[1],
                redact_url(node.base_url),
                OLD_SERVER_HINT,
            )
            self._schema_ready = True
            return None
        statements = schema_ddl(
            self.schema,
            self.database,
            self.table_prefix,
            self.ttl_days,
            self._version,
            cluster=self.cluster,
            zookeeper_path=self.zookeeper_path,
        )
        node_missing = False
        for i, ddl in enumerate(statements):
            settings: Dict[str, str] = {}
            if self.cluster:
                # wait for the other nodes a bounded share of the deadline (a second once
                # one is known to be away); a node that is down runs the statements from
                # the cluster's DDL queue when it is back
                share = (deadline - time.monotonic()) / (len(statements) - i) - 0.5
                wait = 1 if node_missing else max(1, min(int(share), 30))
                settings["distributed_ddl_task_timeout"] = str(wait)
            outcome = self._attempt(node, ddl, b"", deadline, settings)
            if isinstance(outcome, ExportResult):
                if self.cluster and error_code_of(outcome) == 159:
                    _log(logging.DEBUG, "astrid: not every ClickHouse node ran the DDL yet")
                    node_missing = True
                    continue
                if outcome.retryable:
                    return outcome
                # no CREATE right is fine when the tables exist; the INSERT will tell
                _log(logging.WARNING,
                    "astrid: creating ClickHouse tables in %s failed (%s); "
                    "create them with `astrid schema clickhouse --schema %s%s`",
                    self.database,
                    outcome.reason,
                    self.schema,
                    f" --cluster {self.cluster}" if self.cluster else "",
                )
                break
        self._schema_ready = True
        return None

    def _attempt(
        self,
        node: Node,
        query: str,
        body: bytes,
        deadline: float,
        settings: Optional[Mapping[str, str]] = None,
    ) -> Any:
        """The response on success, else the ExportResult that describes the failure."""
        try:
            resp = self._post(node, query, body, deadline, settings)
        except TransportError as exc:
            _log(
                logging.DEBUG, "astrid: ClickHouse at %s unreachable: %s", redact_url(node.base_url), exc
            )
            return ExportResult.retry(exc.reason)
        if 200 <= resp.status < 300:
            return resp
        result = classify(resp.status, resp.body, resp.headers, self.config.retry_after_max)
        _log(
            logging.DEBUG if result.retryable else logging.WARNING,
            "astrid: ClickHouse refused %s (HTTP %d%s): %s",
            query.split(" FORMAT ")[0][:80]
            if query.startswith("INSERT")
            else query.split("(")[0][:80],
            resp.status,
            ", will retry" if result.retryable else "",
            error_message(resp.body) or "no error text",
        )
        return result

    # ------------------------------------------------------------------ export

    def _groups(self, batch: Batch) -> List[Tuple[str, List[Record]]]:
        if self.schema == "events":
            return [("events", list(batch))] if batch else []
        groups: Dict[str, List[Record]] = {}
        for record in batch:
            kind = otel_kind(record)
            if kind is None:
                logger.debug("astrid: ClickHouse otel schema has no table for %r; dropped", record)
                continue
            groups.setdefault(kind, []).append(record)
        return list(groups.items())

    def _body(self, kind: str, records: List[Record], ctx: RowContext) -> bytes:
        to_row = events_row if kind == "events" else OTEL_ROW[kind]
        lines = [
            json.dumps(to_row(r, ctx), ensure_ascii=False, separators=(",", ":")) for r in records
        ]
        return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")

    def _insert_settings(self, records: List[Record]) -> Dict[str, str]:
        settings: Dict[str, str] = {}
        if self._version is not None and self._version >= DEDUP_TOKEN_SINCE:
            # the same rows carry the same token on every try and every node, so a replica
            # that already has them (from a try whose answer was lost) stores them once
            settings["insert_deduplication_token"] = dedup_token(records)
        if self.cluster:
            # the insert returns once a replica of each shard has the rows, not when they
            # are queued on the node we talk to (a node that dies then would take them along)
            settings["insert_distributed_sync"] = "1"
        settings.update(self.insert_settings)
        return settings

    def export(self, batch: Batch, timeout: float) -> ExportResult:
        try:
            return self._export(batch, timeout)
        except Exception as exc:  # a bug here must not take the worker down
            logger.warning("astrid: ClickHouse export failed unexpectedly: %s", type(exc).__name__)
            logger.debug("astrid: ClickHouse export error", exc_info=True)
            return ExportResult.failure("clickhouse_internal_error")

    def _export(self, batch: Batch, timeout: float) -> ExportResult:
        deadline = time.monotonic() + max(0.001, timeout)
        if not batch:
            return ExportResult.success()
        tried: List[Node] = []
        while True:
            node = self._nodes.pick(exclude=tried)
            if node is None:
                if tried:
                    return ExportResult.retry("connection_refused")
                return ExportResult.retry("clickhouse_no_node_available")
            tried.append(node)
            result, landed = self._export_to(node, batch, deadline)
            if result.ok or not result.retryable:
                node.succeeded(landed)  # the node answered, even if it refused rows for good
                return result
            node.sent += landed
            if result.reason == "connection_refused" and not landed and len(self._nodes) > 1:
                # nothing reached this node: the next one takes the batch right away
                node.refused(result.reason)
                logger.debug(
                    "astrid: ClickHouse node %s refused the connection; trying the next",
                    redact_url(node.base_url),
                )
                if time.monotonic() < deadline:
                    continue
                return result
            node.failed(result.reason)  # its breaker opens after repeated failures
            return result

    def _export_to(self, node: Node, batch: Batch, deadline: float) -> Tuple[ExportResult, int]:
        """Send the batch to one node: the result, and how many records landed there."""
        not_ready = self._ensure_ready(node, deadline)
        if not_ready is not None:
            return not_ready, 0
        ctx = RowContext(batch.resource.attributes)
        delivered = rejected = 0
        remaining: List[Record] = []
        last_failure: Optional[ExportResult] = None
        stop: Optional[ExportResult] = None
        for kind, records in self._groups(batch):
            if stop is not None:  # an earlier table failed for now: these wait for the retry
                remaining.extend(records)
                continue
            table = self.tables[kind]
            query = f"INSERT INTO `{self.database}`.`{table}` FORMAT JSONEachRow"
            body = self._body(kind, records, ctx)
            outcome = self._attempt(node, query, body, deadline, self._insert_settings(records))
            if not isinstance(outcome, ExportResult):
                delivered += len(records)
                continue
            if error_code_of(outcome) in MISSING_CODES and self.create_schema:
                with self._lock:
                    self._schema_ready = False  # the table was dropped under us: recreate, retry
                outcome = ExportResult.retry(outcome.reason, status=outcome.status)
            if outcome.retryable:
                stop = outcome
                remaining.extend(records)
                continue
            rejected += len(records)
            last_failure = outcome
        if rejected:
            logger.warning("astrid: ClickHouse rejected %d record(s) for good", rejected)
        if stop is not None:
            if not delivered and not rejected:
                return stop, 0
            # part of the batch settled: say which, so a retry resends only the rest and the
            # pipeline counts the refused records as rejected, never as sent
            return (
                ExportResult.retry(
                    stop.reason,
                    retry_after=stop.retry_after,
                    status=stop.status,
                    delivered=delivered,
                    rejected=rejected,
                    remaining=remaining,
                ),
                delivered,
            )
        if rejected and not delivered:
            failure = last_failure or ExportResult.failure("clickhouse_rejected")
            return ExportResult.failure(failure.reason, failure.status, rejected=rejected), 0
        return ExportResult.success(rejected=rejected), delivered

    def stats(self) -> Dict[str, Any]:
        """Per-node state for ``client.stats()``: endpoint, breaker, active, sent, failures."""
        return {"cluster": self.cluster, "nodes": self._nodes.describe()}

    def shutdown(self, timeout: float) -> None:
        self._transport.close()

    def after_fork(self) -> None:
        """A forked child opens its own connections and takes a fresh lock (never the parent's)."""
        self._transport.after_fork()
        self._lock = threading.Lock()
        self._nodes.after_fork()


_Nodes = Tuple[List[str], Optional[str], Optional[str]]


def _parse_nodes(setting: Union[str, Sequence[str]], allow_insecure: bool) -> _Nodes:
    """Base URLs of the nodes and the credentials their URLs carry. ValueError/TypeError."""
    bases: List[str] = []
    url_user: Optional[str] = None
    url_password: Optional[str] = None
    for url in split_endpoints(setting):
        base, user, pw = parse_endpoint(url, allow_insecure)
        bases.append(base)
        if user is not None:
            if url_user is not None and (user, pw) != (url_user, url_password):
                raise ValueError(
                    "the ClickHouse endpoints carry different credentials; "
                    "use one username= and password= for all nodes"
                )
            url_user, url_password = user, pw
    return bases, url_user, url_password


def _nodes_of(config: TelemetryConfig, endpoint: Union[str, Sequence[str], None]) -> _Nodes:
    """The backend's endpoint= option > the client's endpoint= > ASTRID_CLICKHOUSE_ENDPOINT >
    ASTRID_ENDPOINT > the default. An argument raises when wrong; an end user's environment
    value that does not parse is logged (once) and skipped."""
    if endpoint is not None:
        return _parse_nodes(endpoint, config.allow_insecure)
    if config.endpoint and "endpoint" in config.explicit:
        return _parse_nodes(config.endpoint, config.allow_insecure)
    own = config.env.get("ASTRID_CLICKHOUSE_ENDPOINT", "").strip()
    if own:
        try:
            return _parse_nodes(own, config.allow_insecure)
        except (ValueError, TypeError) as exc:
            warn_env_once(
                "ASTRID_CLICKHOUSE_ENDPOINT", own, f"ASTRID_CLICKHOUSE_ENDPOINT ignored: {exc}"
            )
    try:
        return _parse_nodes(config.endpoint or DEFAULT_ENDPOINT, config.allow_insecure)
    except (ValueError, TypeError) as exc:
        warn_env_once("ASTRID_ENDPOINT", str(config.endpoint), f"ASTRID_ENDPOINT ignored: {exc}")
        return _parse_nodes(DEFAULT_ENDPOINT, config.allow_insecure)


def _cluster_from_env(config: TelemetryConfig) -> Optional[str]:
    raw = config.env.get("ASTRID_CLICKHOUSE_CLUSTER", "").strip()
    try:
        return check_cluster(raw or None)
    except ValueError as exc:
        warn_env_once("ASTRID_CLICKHOUSE_CLUSTER", raw, f"ASTRID_CLICKHOUSE_CLUSTER ignored: {exc}")
        return None


def error_code_of(result: ExportResult) -> Optional[int]:
    m = re.match(r"clickhouse_(\d+)$", result.reason or "")
    return int(m.group(1)) if m else None


_SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


def _check_settings(settings: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise TypeError("insert_settings must be a mapping of ClickHouse setting names to values")
    out: Dict[str, str] = {}
    for k, v in settings.items():
        if not isinstance(k, str) or not _SETTING.match(k) or k == "query":
            raise ValueError(f"insert_settings: {k!r} is not a ClickHouse setting name")
        if isinstance(v, bool):
            v = int(v)
        if not isinstance(v, (str, int, float)):
            raise TypeError(f"insert_settings[{k!r}] must be a string or a number")
        out[k] = str(v)
    return out


__all__ = ["ClickHouseBackend", "classify", "dedup_token", "schema_ddl"]
