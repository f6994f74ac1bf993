"""The ``astrid`` command line: status, consent, send-test, schema, inspect, demo, version."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import IO, Any, Dict, List, Optional

from ._version import __version__
from .config import environ

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a command whose reader went away

_DESCRIPTION = """\
Astrid: privacy-first telemetry. Commands:
  demo       send sample telemetry to the local inspector and print what arrived
  inspect    run the local inspector (receiver + web page) on 127.0.0.1:4318
  status     is telemetry on for a project, and which rule decided?
  consent    grant, revoke or show this user's stored consent for a project
  send-test  send one test event to the configured backend and print the outcome
  schema     print the ClickHouse DDL
  version    print the version
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="astrid",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"astrid {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser(
        "status",
        help="is telemetry on for a project, and why",
        description="Say whether telemetry is on for a project and which consent rule decided "
        "(DO_NOT_TRACK, OTEL_SDK_DISABLED, <PROJECT>_TELEMETRY, ASTRID_TELEMETRY, CI, stored consent, default).",
    )
    s.add_argument("--project", "-p", required=True, help="the project (library or app) name")
    s.add_argument("--json", action="store_true", help="print the decision as JSON")

    c = sub.add_parser(
        "consent",
        help="grant, revoke or show stored consent",
        description="Grant, revoke, show or clear this user's stored telemetry consent for a project "
        "(kept per user under the XDG config directory; ignored in CI).",
    )
    c.add_argument("action", choices=("grant", "revoke", "status", "clear"))
    c.add_argument("--project", "-p", required=True, help="the project (library or app) name")

    t = sub.add_parser(
        "send-test",
        help="send one test event to the configured backend",
        description="Send one test event through the configured backend (the same environment "
        "variables as your program) and say whether it was accepted: exit code 0 when it was, 1 when not.",
    )
    t.add_argument(
        "--project", "-p", default="astrid-send-test", help="project name (default: %(default)s)"
    )
    t.add_argument("--backend", help="backend name (default: ASTRID_BACKEND or otlp)")
    t.add_argument(
        "--endpoint", help="backend URL (default: ASTRID_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT)"
    )
    t.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=10.0,
        help="seconds the whole command may take, sending and shutting down included (default: %(default)s)",
    )

    sc = sub.add_parser(
        "schema", help="print database DDL", description="Print the DDL of the tables a backend writes to."
    )
    sc_sub = sc.add_subparsers(dest="target", metavar="TARGET")
    ch = sc_sub.add_parser(
        "clickhouse",
        help="CREATE TABLE statements for ClickHouse",
        description="Print the CREATE TABLE statements of the ClickHouse backend, to create the tables "
        "yourself (the backend otherwise creates them on first use).",
    )
    ch.add_argument(
        "--schema", choices=("otel", "events"), default="otel", help="table layout (default: otel)"
    )
    ch.add_argument("--database", default="default", help="database name (default: default)")
    ch.add_argument("--table-prefix", default="", help="prefix for every table name")
    ch.add_argument(
        "--ttl-days", type=int, default=None, help="drop rows older than this many days"
    )
    ch.add_argument(
        "--server-version",
        metavar="X.Y",
        default=None,
        help="the target server's version (SELECT version()): leaves out what it lacks, "
        "e.g. TTL before 19.6 (default: a current server)",
    )
    ch.add_argument(
        "--cluster",
        metavar="NAME",
        default=None,
        help="create the tables ON CLUSTER NAME: replicated local tables under Distributed tables",
    )
    ch.add_argument(
        "--zookeeper-path",
        metavar="PATH",
        default=None,
        help="ZooKeeper path of each replicated table, with --cluster "
        "(default: /clickhouse/tables/{shard}/{database}/{table})",
    )

    i = sub.add_parser(
        "inspect",
        help="run the local inspector (receiver + web page)",
        description="Run the local inspector until Ctrl-C: an OTLP/HTTP and generic-format receiver "
        "and a live web page of what arrived, on one port (loopback only by default).",
    )
    i.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)"
    )
    i.add_argument(
        "--port", type=int, default=4318, help="port (default: 4318, the OTLP/HTTP port)"
    )
    i.add_argument(
        "--db", help="SQLite file for records (default: one file per user in the temp dir)"
    )
    i.add_argument(
        "--max-records", type=int, default=100_000, help="records kept at most (default: 100000)"
    )
    i.add_argument(
        "--max-age-hours", type=float, default=168.0, help="hours records are kept (default: 168)"
    )
    i.add_argument(
        "--signing-secret-env",
        metavar="VAR",
        default="ASTRID_INSPECTOR_SECRET",
        help="environment variable holding the secret that /collect signatures are checked against "
        "(default: %(default)s; unset: signatures are not required)",
    )
    i.add_argument(
        "--allow-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="a browser origin (e.g. https://shop.example, or *) that may send besides loopback "
        "pages; repeat for more",
    )

    d = sub.add_parser(
        "demo",
        help="send sample telemetry to the inspector and summarise it",
        description="Send sample events, spans, metrics, logs and an error through the SDK to the local "
        "inspector (started if none runs on --port) and print a table of what was sent and what arrived.",
    )
    d.add_argument("--port", type=int, default=4318, help="inspector port (default: 4318)")
    d.add_argument("--db", help="SQLite file for the in-process inspector (default: in memory)")
    d.add_argument(
        "--keep-open",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep serving the page until Ctrl-C (default: yes in an interactive terminal, "
        "no when run from a script or CI)",
    )

    sub.add_parser("version", help="print the version", description="Print the installed version of Astrid.")
    return p


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def main(argv: Optional[List[str]] = None, out: Optional[IO[str]] = None) -> int:
    """Entry point of the ``astrid`` console script and ``python -m astrid``; returns the exit code."""
    out = out or sys.stdout
    try:
        try:
            code = _main(argv, out)
        except SystemExit:  # --help, --version and usage errors: argparse wrote to sys.stdout/stderr
            sys.stdout.flush()
            raise
        out.flush()
        return code
    except BrokenPipeError:
        # the reader went away (`astrid status | head -c1`): stop quietly, without a traceback
        # now or an "Exception ignored" when the interpreter flushes stdout at exit
        _silence(out)
        return EXIT_BROKEN_PIPE


def _silence(out: IO[str]) -> None:
    """Point the closed stream's descriptor at /dev/null, so the exit-time flush has nowhere to fail."""
    for stream in {id(out): out, id(sys.stdout): sys.stdout}.values():
        try:
            fd = stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        except (AttributeError, OSError, ValueError):
            pass


def _main(argv: Optional[List[str]], out: IO[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(out)
        return EXIT_USAGE
    try:
        handler = _COMMANDS[args.command]
        return int(handler(args, out))
    except KeyboardInterrupt:
        out.write("\nInterrupted.\n")
        return 130
    except BrokenPipeError:
        raise
    except (ValueError, TypeError, OSError) as exc:
        sys.stderr.write(f"astrid {args.command}: error: {exc}\n")
        return EXIT_FAILED


def _status(args: argparse.Namespace, out: IO[str]) -> int:
    from .consent import consent_summary

    info = consent_summary(args.project, environ())
    if args.json:
        out.write(json.dumps(info, indent=2) + "\n")
        return EXIT_OK
    state = "ON" if info["enabled"] else "OFF"
    out.write(f"Telemetry for {args.project} is {state}.\n")
    out.write(f"  decided by: {info['rule']} ({info['reason']})\n")
    stored = info["stored_consent"]
    label = {True: "granted", False: "revoked", None: "none"}[stored]
    out.write(f"  stored consent: {label} ({info['consent_file']})\n")
    out.write(f"  in CI: {'yes' if info['ci'] else 'no'}\n")
    out.write(
        f"  switch for this project: {info['switch']}=1 / {info['switch']}=0; DO_NOT_TRACK=1 turns everything off\n"
    )
    return EXIT_OK


def _consent(args: argparse.Namespace, out: IO[str]) -> int:
    from .consent import ConsentStore, decide

    env = environ()
    store = ConsentStore(env)
    if args.action in ("grant", "revoke"):
        path = store.set(args.project, args.action == "grant")
        verb = "granted" if args.action == "grant" else "revoked"
        out.write(f"Consent {verb} for {args.project} (saved in {path}).\n")
    elif args.action == "clear":
        removed = store.clear(args.project)
        out.write(f"Stored consent for {args.project} {'removed' if removed else 'was not set'}.\n")
    else:
        stored = store.get(args.project)
        label = {True: "granted", False: "revoked", None: "not given"}[stored]
        out.write(f"Stored consent for {args.project}: {label} ({store.path(args.project)}).\n")
    d = decide(args.project, None, env)
    if args.action != "status" and d.rule not in ("stored_consent", "default"):
        out.write(
            f"Note: telemetry is {'ON' if d.enabled else 'OFF'} anyway because of {d.rule}: {d.reason}.\n"
        )
    return EXIT_OK


def _send_test(args: argparse.Namespace, out: IO[str]) -> int:
    import astrid

    from .consent import decide

    # one deadline for the whole command: the request, the flush and the shutdown share it
    deadline = time.monotonic() + args.timeout
    env = environ()
    d = decide(args.project, True, env)
    if not d.enabled:
        out.write(f"Not sent: telemetry is off because of {d.rule} ({d.reason}).\n")
        return EXIT_FAILED
    options: Dict[str, Any] = {
        "enabled": True,
        "install_atexit": False,
        "timeout": args.timeout,
        "shutdown_timeout": args.timeout,
    }
    if args.backend:
        options["backend"] = args.backend
    if args.endpoint:
        options["endpoint"] = args.endpoint
    client = astrid.TelemetryClient(args.project, **options)
    try:
        client.track_event("astrid.send_test", {"source": "cli"})
        # keep a tenth of the time (at most a second) for the shutdown
        reserve = min(1.0, args.timeout / 10)
        delivered = client.flush(timeout=max(0.0, deadline - time.monotonic() - reserve))
        stats = client.stats()
    finally:
        client.shutdown(timeout=max(0.0, deadline - time.monotonic()))
    target = (
        args.endpoint
        or env.get("ASTRID_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or "default"
    )
    backend = args.backend or env.get("ASTRID_BACKEND") or "otlp"
    if delivered and stats.get("sent", 0) >= 1:
        out.write(f"Sent 1 test event to {backend} ({target}).\n")
        return EXIT_OK
    reasons = stats.get("failures_by_reason") or {}
    detail = ", ".join(
        f"{k} ({v} failed attempt{'s' if v != 1 else ''})" for k, v in reasons.items()
    ) or f"no answer within the {args.timeout:g} s timeout"
    out.write(f"Failed to send the test event to {backend} ({target}): {detail}.\n")
    out.write("Run again with ASTRID_DEBUG=1 for the SDK's diagnostics.\n")
    return EXIT_FAILED


def _schema(args: argparse.Namespace, out: IO[str]) -> int:
    if args.target != "clickhouse":
        sys.stderr.write(
            "usage: astrid schema clickhouse [--schema otel|events] [--database NAME] "
            "[--server-version X.Y] [--cluster NAME]\n"
        )
        return EXIT_USAGE
    from .backends.clickhouse_schema import (
        DEFAULT_ZOOKEEPER_PATH,
        TTL_SINCE,
        parse_version,
        schema_ddl,
    )

    version = None
    if args.server_version is not None:
        version = parse_version(args.server_version)
        if version is None:
            sys.stderr.write(
                "astrid schema clickhouse: --server-version must look like 24.8 or 18.16.1; "
                f"got {args.server_version!r}\n"
            )
            return EXIT_USAGE
    if args.zookeeper_path is not None and not args.cluster:
        sys.stderr.write("astrid schema clickhouse: --zookeeper-path needs --cluster NAME\n")
        return EXIT_USAGE
    try:
        statements = schema_ddl(
            schema=args.schema,
            database=args.database,
            table_prefix=args.table_prefix,
            ttl_days=args.ttl_days,
            server_version=version,
            cluster=args.cluster,
            zookeeper_path=args.zookeeper_path or DEFAULT_ZOOKEEPER_PATH,
        )
    except ValueError as exc:
        sys.stderr.write(f"astrid schema clickhouse: {exc}\n")
        return EXIT_USAGE
    if args.ttl_days and version is not None and version < TTL_SINCE:
        sys.stderr.write(
            f"astrid schema clickhouse: ClickHouse {version[0]}.{version[1]} has no TTL "
            "(it came in 19.6); --ttl-days is left out\n"
        )
    for stmt in statements:
        out.write(stmt.rstrip().rstrip(";") + ";\n\n")
    return EXIT_OK


def _inspect(args: argparse.Namespace, out: IO[str]) -> int:
    from .demo import default_db_path
    from .inspector import Inspector, is_loopback

    if not is_loopback(args.host):
        sys.stderr.write(
            f"warning: binding to {args.host} lets other machines send to and read this inspector; "
            "it has no authentication. Use it on trusted networks only.\n"
        )
    secret = environ().get(args.signing_secret_env) or None
    db = args.db or default_db_path()
    try:
        insp = Inspector(
            host=args.host,
            port=args.port,
            db=db,
            signing_secret=secret,
            max_records=args.max_records,
            max_age=args.max_age_hours * 3600,
            allowed_origins=args.allow_origin,
        )
    except OSError as exc:
        sys.stderr.write(
            f"astrid inspect: error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}).\n"
            "Is another inspector or an OpenTelemetry collector running? Choose another --port.\n"
        )
        return EXIT_FAILED
    out.write(f"Astrid inspector {__version__} on {insp.url}  (Ctrl-C to stop)\n")
    out.write(f"  page:      {insp.url}/\n")
    out.write(f"  browser:   {insp.url}/playground  (a page with the browser SDK, autocapture on)\n")
    out.write(f"  OTLP/HTTP: {insp.url}/v1/traces, /v1/metrics, /v1/logs (protobuf or JSON)\n")
    out.write(
        f"  generic:   {insp.url}/collect" + ("  (signatures required)" if secret else "") + "\n"
    )
    out.write(f"  records:   {db}\n")
    out.flush()
    try:
        insp.serve_forever()
    except KeyboardInterrupt:
        out.write("\nStopped.\n")
    finally:
        insp.stop()
    return EXIT_OK


def _demo(args: argparse.Namespace, out: IO[str]) -> int:
    from .demo import run_demo

    keep_open = args.keep_open
    if keep_open is None:
        # a person at a terminal wants to look at the page; a script wants the command to end
        keep_open = _interactive()
    return run_demo(port=args.port, db=args.db, keep_open=keep_open, out=out)


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _version(args: argparse.Namespace, out: IO[str]) -> int:
    out.write(f"astrid {__version__}\n")
    return EXIT_OK


_COMMANDS = {
    "status": _status,
    "consent": _consent,
    "send-test": _send_test,
    "schema": _schema,
    "inspect": _inspect,
    "demo": _demo,
    "version": _version,
}
