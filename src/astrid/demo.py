"""``astrid demo``: a small sample program sending every kind of record to the local inspector."""

from __future__ import annotations

import http.client
import json
import os
import random
import sys
import tempfile
import time
from typing import IO, Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from ._version import __version__
from .inspector import DEFAULT_PORT, Inspector, probe

DEMO_PROJECT = "astrid-demo"


def default_db_path() -> str:
    """Where ``astrid inspect`` and ``astrid demo`` keep records unless told: one file per user."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"astrid-inspector-{uid}.sqlite3")


def sample_program(client: Any, rng: Optional[random.Random] = None) -> Dict[str, int]:
    """What a small shop backend might send. Returns how many records of each type it made."""
    rng = rng or random.Random(7)
    made = {"event": 0, "span": 0, "metric": 0, "log": 0, "error": 0}
    client.track_event("app.started", {"mode": "demo", "python": sys.version.split()[0]})
    made["event"] += 1
    # PII the privacy engine removes before anything leaves the process; the page shows markers.
    client.track_event(
        "user.signup", {"email": "ada@example.com", "plan": "pro", "user.id": "ada-1815"}
    )
    client.track_event("support.ticket", {"text": "call me on +44 20 7946 0958", "priority": 2})
    client.track_event(
        "user.login", {"method": "sso", "password": "hunter2", "user.id": "ada-1815"}
    )
    made["event"] += 3
    pages = ["/", "/pricing", "/docs", "/cart", "/checkout"]
    for _ in range(24):
        client.track_event("page.view", {"path": rng.choice(pages)})
    for _ in range(6):
        client.track_event("search", {"results": rng.randint(0, 40)})
    made["event"] += 30
    with client.span("checkout", {"items": 3}) as span:
        with client.span("inventory.reserve", {"sku.count": 3}):
            time.sleep(0.004)
        with client.span("payment.authorize", {"provider": "demo-pay"}):
            time.sleep(0.006)
        span.set_attribute("order.total", 42.5)
    made["span"] += 3
    for i in range(50):
        client.track_metric("jobs.done", 1, attributes={"queue": "emails" if i % 3 else "reports"})
        client.track_metric(
            "request.duration", rng.uniform(5, 180), metric_type="histogram", unit="ms"
        )
    client.track_metric("queue.depth", 17, metric_type="gauge", attributes={"queue": "emails"})
    made["metric"] += 4  # aggregated per interval: two counter series, one histogram, one gauge
    client.track_log("cache warmed in 120 ms", level="info")
    client.track_log("payment retried for card 4111 1111 1111 1111", level="warning")
    made["log"] += 2
    try:
        {"total": 1}["discount"]
    except KeyError as exc:
        client.track_error(exc, {"where": "invoice.render"})
        made["error"] += 1
    return made


def _start_inspector(port: int, db: Optional[str], out: IO[str]) -> Tuple[str, Optional[Inspector]]:
    """Reuse an inspector already on the port, else start one in-process (any port if taken)."""
    url = f"http://127.0.0.1:{port}"
    if port and probe(url):
        out.write(f"Using the inspector already running at {url}\n")
        return url, None
    try:
        insp = Inspector(port=port, db=db).start()
    except OSError:
        out.write(
            f"Port {port} is taken by another program; starting the inspector on a free port.\n"
        )
        insp = Inspector(port=0, db=db).start()
    return insp.url, insp


def _connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)


def _stored(url: str, insp: Optional[Inspector]) -> Dict[str, Any]:
    if insp is not None:
        return insp.stats()
    conn = _connect(url)
    try:
        conn.request("GET", "/api/stats")
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def run_demo(
    port: int = DEFAULT_PORT,
    db: Optional[str] = None,
    keep_open: bool = False,
    out: Optional[IO[str]] = None,
) -> int:
    """Run the demo; returns the exit code. ``keep_open`` serves the page until Ctrl-C."""
    import astrid

    out = out or sys.stdout
    url, insp = _start_inspector(port, db, out)
    before = _stored(url, insp).get("records", 0)
    client = astrid.TelemetryClient(
        DEMO_PROJECT,
        version=__version__,
        backend="otlp",
        endpoint=url,
        enabled=True,
        flush_interval=1.0,
        install_atexit=False,
    )
    try:
        made = sample_program(client)
        delivered = client.flush(timeout=10.0)
        stats = client.stats()
    finally:
        client.shutdown(timeout=5.0)
    _report_stats(url, stats)
    expected = sum(made.values())
    deadline = time.monotonic() + 5.0
    stored = _stored(url, insp)
    while stored.get("records", 0) - before < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        stored = _stored(url, insp)
    _summary(out, made, stats, stored, url, delivered)
    code = 0 if delivered else 1
    if insp is None:
        return code
    try:
        if keep_open:
            out.write(f"\nServing {url} until you press Ctrl-C.\n")
            out.flush()
            _wait_forever()
        elif db:
            out.write(
                f"\nThe demo has finished. To browse these records: astrid inspect --db {db}\n"
            )
        else:
            out.write("\nThe demo has finished. To keep the page open: astrid demo --keep-open\n")
    except KeyboardInterrupt:
        out.write("\nStopped.\n")
    finally:
        insp.stop()
    return code


def _wait_forever() -> None:
    while True:  # until Ctrl-C (KeyboardInterrupt)
        time.sleep(3600)


def _report_stats(url: str, stats: Dict[str, Any]) -> None:
    """Show the client's self-stats on the page too: the generic format carries them (sdk.stats)."""
    doc = {
        "sdk": {"name": "astrid", "version": __version__, "language": "python", "stats": stats},
        "resource": {"service.name": DEMO_PROJECT},
        "records": [],
    }
    conn = _connect(url)
    try:
        body = json.dumps(doc, default=str).encode()
        conn.request("POST", "/collect", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        pass  # the page just shows no self-stats
    finally:
        conn.close()


def _summary(
    out: IO[str],
    made: Dict[str, int],
    stats: Dict[str, Any],
    stored: Dict[str, Any],
    url: str,
    delivered: bool,
) -> None:
    by_type = stored.get("by_type", {})
    out.write(f"\n  {'records':<8} {'sent':>6} {'in inspector':>14}\n")
    for kind, n in made.items():
        out.write(f"  {kind:<8} {n:>6} {by_type.get(kind, 0):>14}\n")
    privacy = stats.get("privacy") or {}
    if privacy:
        out.write("\n  Redacted by the privacy engine before sending: ")
        out.write(", ".join(f"{k} x{v}" for k, v in sorted(privacy.items())) + "\n")
    sdk = ", ".join(f"{stats.get(k, '?')} {k}" for k in ("sent", "dropped", "failed"))
    out.write(f"\n  SDK records: {sdk}; export retries: {stats.get('retries', '?')}\n")
    if not delivered:
        reasons = stats.get("failures_by_reason") or "run with ASTRID_DEBUG=1 to see why"
        out.write(f"  Not everything was delivered: {reasons}\n")
    out.write(f"\n  Inspector: {url}\n")
    out.flush()
