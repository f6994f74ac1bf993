"""Real OTLP receivers for conformance tests: rotel (from PyPI) and the OpenTelemetry Collector.

``rotel_binary()`` / ``otelcol_binary()`` find the executables (or return None);
``Collector.start(kind)`` runs one on a free loopback port with a debug exporter that prints
every item it receives, and ``collector.output()`` returns what it printed so far. The pytest
fixtures ``rotel`` and ``otelcol`` skip, with the reason in the summary, when a binary is missing:

* rotel: ``rotel-agent`` next to the interpreter, inside the installed ``rotel`` package, or on PATH;
* otelcorecol: ``$ASTRID_TEST_OTELCOL``, else ``otelcorecol`` on PATH or in ``$(go env GOPATH)/bin``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rotel_binary() -> Optional[str]:
    candidates = [Path(sys.executable).parent / "rotel-agent"]
    spec = importlib.util.find_spec("rotel")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "rotel-agent" for p in spec.submodule_search_locations]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which("rotel-agent")


def otelcol_binary() -> Optional[str]:
    explicit = os.environ.get("ASTRID_TEST_OTELCOL")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("otelcorecol")
    if found:
        return found
    go = shutil.which("go")
    if go:
        try:
            gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            gopath = ""
        for root in filter(None, gopath.split(os.pathsep)):
            path = Path(root) / "bin" / "otelcorecol"
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


_OTELCOL_CONFIG = """
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
    metrics: {{receivers: [otlp], exporters: [debug]}}
    logs: {{receivers: [otlp], exporters: [debug]}}
"""


class Collector:
    """One running receiver process; everything it prints goes to a temporary file."""

    def __init__(self, kind: str, argv: List[str], port: int, workdir: Path) -> None:
        self.kind, self.port, self.workdir = kind, port, workdir
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(workdir / "output.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir)

    @classmethod
    def start(cls, kind: str, binary: str, timeout: float = 30.0) -> Collector:
        workdir = Path(tempfile.mkdtemp(prefix=f"astrid-{kind}-"))
        port = free_port()
        if kind == "rotel":
            argv = [
                binary, "start", "--otlp-http-endpoint", f"127.0.0.1:{port}",
                "--otlp-grpc-endpoint", f"127.0.0.1:{free_port()}", "--exporter", "blackhole",
                "--debug-log", "traces", "--debug-log", "metrics", "--debug-log", "logs",
                "--debug-log-verbosity", "detailed", "--pid-file", str(workdir / "rotel.pid"),
            ]  # fmt: skip
        else:
            (workdir / "config.yaml").write_text(_OTELCOL_CONFIG.format(port=port))
            argv = [binary, "--config", str(workdir / "config.yaml")]
        collector = cls(kind, argv, port, workdir)
        if not collector.wait_ready(timeout):
            out = collector.output()
            collector.stop()
            raise RuntimeError(f"{kind} did not start listening on {port}:\n{out[-3000:]}")
        return collector

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def output(self) -> str:
        self._log.flush()
        return (self.workdir / "output.log").read_text(errors="replace")

    def wait_for_text(self, text: str, timeout: float = 10.0) -> bool:
        """Debug exporters print asynchronously: poll until ``text`` appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def rotel() -> Iterator[Collector]:
    binary = rotel_binary()
    if binary is None:
        pytest.skip("rotel-agent not found: install the 'rotel' package (scripts/test does) to run this test")
    collector = Collector.start("rotel", binary)
    yield collector
    collector.stop()


@pytest.fixture(scope="module")
def otelcol() -> Iterator[Collector]:
    binary = otelcol_binary()
    if binary is None:
        pytest.skip(
            "otelcorecol not found: scripts/test builds it with the collector builder (ocb) and "
            "sets ASTRID_TEST_OTELCOL; or set ASTRID_TEST_OTELCOL to a collector binary yourself"
        )
    collector = Collector.start("otelcol", binary)
    yield collector
    collector.stop()
