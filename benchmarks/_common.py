"""Shared helpers of the benchmark scripts: timing, percentiles, import time and the result table.

Benchmarks compare Astrid with a peer SDK measured in the same run; every row carries both
figures, their ratio and the target it is judged against. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

NA = "n/a"


# ---------------------------------------------------------------------- command line


def parse_args(description: str, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The flags every benchmark script takes: ``--quick``, ``--json``, ``--markdown``, ``--no-peer``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (rough figures, quickly)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument("--no-peer", action="store_true", help="measure Astrid only (the peer column shows n/a)")
    parser.add_argument("--only", metavar="TEXT", help="run only the steps whose title contains TEXT")
    return parser.parse_args(argv)


def try_import(module: str) -> Any:
    """The module, or None when it is not installed (the peer column then shows n/a)."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        return None


# ---------------------------------------------------------------------- timing


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Collect now, then keep the cyclic GC out of a measurement (restored afterwards)."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def timer_overhead_ns(samples: int = 200_000) -> float:
    """Median cost of one ``perf_counter_ns()`` pair (what a per-call timing adds to each sample)."""
    pc = time.perf_counter_ns
    out = [0] * samples
    for i in range(samples):
        t0 = pc()
        t1 = pc()
        out[i] = t1 - t0
    return float(statistics.median(out))


def time_each(fn: Callable[..., Any], args: Tuple[Any, ...], n: int, overhead_ns: float = 0.0) -> List[float]:
    """Time ``n`` calls of ``fn(*args)`` one by one; each sample has the timer overhead taken off."""
    pc = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = pc()
        fn(*args)
        t1 = pc()
        out[i] = t1 - t0
    return [max(0.0, s - overhead_ns) for s in out]


def time_each_paced(
    fn: Callable[..., Any], args: Tuple[Any, ...], n: int, gap_ns: int, overhead_ns: float = 0.0
) -> List[float]:
    """Like ``time_each``, with ``gap_ns`` of busy work between calls (an application doing its job)."""
    pc = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = pc()
        fn(*args)
        t1 = pc()
        out[i] = t1 - t0
        until = t1 + gap_ns
        while pc() < until:
            pass
    return [max(0.0, s - overhead_ns) for s in out]


_SINK_CODE = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type") or "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class HttpSink:
    """A loopback HTTP receiver in its own process that reads every POST and answers 200 (no decoding),
    so both SDKs' export threads do their full work (encode, compress, send) at little cost to the bench."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _SINK_CODE], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = "http://127.0.0.1:%d" % int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def time_batched(fn: Callable[..., Any], args: Tuple[Any, ...], n: int) -> float:
    """Mean nanoseconds per call of ``fn(*args)`` over ``n`` calls in one timed loop (loop cost removed)."""
    pc = time.perf_counter_ns
    loop = range(n)
    t0 = pc()
    for _ in loop:
        pass
    empty = pc() - t0
    t0 = pc()
    for _ in loop:
        fn(*args)
    total = pc() - t0
    return max(0.0, (total - empty) / n)


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ``samples``, nearest-rank on the sorted data."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, int(math.ceil(p / 100.0 * len(ordered))) - 1))
    return float(ordered[k])


def percentiles(samples: Sequence[float], ps: Sequence[float] = (50, 90, 99, 99.9)) -> Dict[str, float]:
    """Several percentiles at once, keyed ``"p50"``, ``"p99"``, ``"p99.9"``…"""
    ordered = sorted(samples)
    out: Dict[str, float] = {}
    for p in ps:
        k = max(0, min(len(ordered) - 1, int(math.ceil(p / 100.0 * len(ordered))) - 1))
        out["p%s" % ("%g" % p)] = float(ordered[k]) if ordered else math.nan
    return out


def median_of(fn: Callable[[], float], repeats: int) -> float:
    """The median of ``repeats`` calls of a measurement function (smooths a busy machine)."""
    return float(statistics.median(fn() for _ in range(repeats)))


# ---------------------------------------------------------------------- import time


def bench_env(path: Sequence[str] = ()) -> Dict[str, str]:
    """Environment for timing child interpreters: bytecode caching on, in a private cache dir.

    Without cached bytecode every run would compile the package from source, which no installed
    application does; a private prefix keeps the source tree clean. ``path`` goes first on the
    child's ``PYTHONPATH`` (for a package used from a checkout rather than installed).
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "astrid-bench-pycache")
    if path:
        env["PYTHONPATH"] = os.pathsep.join(list(path) + [p for p in [env.get("PYTHONPATH", "")] if p])
    return env


_IMPORT_PROBE = (
    "import time as _t\n"
    "_s = _t.perf_counter_ns()\n"
    "import {module}\n"
    "print(_t.perf_counter_ns() - _s)\n"
)


def import_times_ms(
    modules: Sequence[str], runs: int = 20, python: str = sys.executable, path: Sequence[str] = ()
) -> Dict[str, float]:
    """Median milliseconds ``import <module>`` adds to a fresh interpreter, for each module.

    Every run is a new process; modules are interleaved so a noisy neighbour hurts all alike.
    The timer starts after interpreter start-up, so this is the cost *over* ``python -c pass``.
    A module that fails to import gets NaN.
    """
    env = bench_env(path)
    samples: Dict[str, List[float]] = {m: [] for m in modules}
    failed: Set[str] = set()
    for m in modules:  # warm the bytecode cache
        warm = subprocess.run([python, "-c", "import " + m], env=env, capture_output=True)
        if warm.returncode != 0:
            failed.add(m)
    for _ in range(runs):
        for m in modules:
            if m in failed:
                continue
            r = subprocess.run(
                [python, "-c", _IMPORT_PROBE.format(module=m)], env=env, capture_output=True, text=True
            )
            if r.returncode == 0:
                samples[m].append(int(r.stdout.strip().splitlines()[-1]) / 1e6)
    return {m: (statistics.median(v) if v else math.nan) for m, v in samples.items()}


def imported_modules(module: str, python: str = sys.executable, path: Sequence[str] = ()) -> List[str]:
    """Modules that ``import <module>`` loads beyond a bare interpreter (sorted)."""
    code = (
        "import sys\n_b = set(sys.modules)\nimport {m}\n"
        "print('\\n'.join(sorted(set(sys.modules) - _b)))\n"
    ).format(m=module)
    r = subprocess.run([python, "-c", code], env=bench_env(path), capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if line] if r.returncode == 0 else []


# ---------------------------------------------------------------------- results


@dataclass
class Row:
    """One measured figure: ours, the peer's, and what it is judged against.

    ``target`` bounds our figure (at most, or at least when ``higher_is_better``);
    ``max_ratio`` bounds ours / peer (checked only when the peer was measured).
    """

    metric: str
    unit: str
    ours: Optional[float]
    peer: Optional[float] = None
    target: Optional[float] = None
    max_ratio: Optional[float] = None
    higher_is_better: bool = False
    note: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> Optional[float]:
        if not _finite(self.ours) or not _finite(self.peer) or not self.peer:
            return None
        return float(self.ours) / float(self.peer)  # type: ignore[arg-type]

    @property
    def status(self) -> str:
        if self.target is None and self.max_ratio is None:
            return "-"
        if not _finite(self.ours):
            return "MISS"
        ours = float(self.ours)  # type: ignore[arg-type]
        ok = True
        if self.target is not None:
            ok = ours >= self.target if self.higher_is_better else ours <= self.target
        ratio = self.ratio
        if self.max_ratio is not None and ratio is not None:
            ok = ok and ratio <= self.max_ratio
        return "PASS" if ok else "MISS"

    def target_text(self) -> str:
        parts = []
        if self.target is not None:
            parts.append("%s %s" % (">=" if self.higher_is_better else "<=", fmt(self.target, self.unit)))
        if self.max_ratio is not None:
            parts.append("<= %gx peer" % self.max_ratio)
        return ", ".join(parts) or "-"

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["status"] = self.status
        for k in ("ours", "peer", "target"):
            if not _finite(d[k]):
                d[k] = None
        return d


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def fmt(value: Any, unit: str = "") -> str:
    """A figure with its unit, three significant digits (``n/a`` when missing)."""
    if not _finite(value):
        return NA
    v = float(value)
    if abs(v) >= 1000:
        text = "{:,.0f}".format(v)
    elif abs(v) >= 100:
        text = "%.0f" % v
    elif abs(v) >= 10:
        text = "%.1f" % v
    else:
        text = "%.2f" % v
    return text + (" " + unit if unit else "")


def fmt_ratio(ratio: Optional[float]) -> str:
    if ratio is None:
        return NA
    return ("%.3fx" % ratio) if ratio < 0.1 else ("%.2fx" % ratio)


def table_lines(rows: Sequence[Row], peer_name: str = "peer", ours_name: str = "astrid", markdown: bool = False) -> List[str]:
    """The rows as an aligned text table (or a Markdown table for the README)."""
    header = ["metric", ours_name, peer_name, "ratio", "target", "result"]
    body = [
        [r.metric, fmt(r.ours, r.unit), fmt(r.peer, r.unit), fmt_ratio(r.ratio), r.target_text(), r.status]
        for r in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * 3 + ["---", ":---:"]) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return lines
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    right = {1, 2, 3}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), "  ".join("-" * w for w in widths)] + [line(c) for c in body]


def print_table(rows: Sequence[Row], title: str = "", peer_name: str = "peer", markdown: bool = False) -> None:
    if title:
        print(title)
    for line in table_lines(rows, peer_name=peer_name, markdown=markdown):
        print(line)


def machine_info() -> Dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
    }


def dump_json(rows: Sequence[Row], **meta: Any) -> str:
    doc = {"machine": machine_info(), **meta, "results": [r.to_dict() for r in rows]}
    return json.dumps(doc, indent=2, sort_keys=False, default=str)
