"""A throwaway standalone ZooKeeper on loopback, for the ClickHouse cluster tests.

``find_zookeeper()`` returns the ``java`` command and class path that start one (or None):
``$ASTRID_TEST_ZOOKEEPER`` (a class path: the server jar, whose manifest names its
dependencies), else the jar Debian's ``zookeeper`` package installs; ``java`` from
``$JAVA_HOME``, else PATH. ``ZooKeeper(...).start()`` runs it on a free port with its own
data directory and no admin web server; ``stop()`` kills it and removes the directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

DEBIAN_JAR = "/usr/share/java/zookeeper.jar"
#: keeps the server silent: Debian's jar names slf4j-api but no binding
QUIET_LOGGING = "/usr/share/java/slf4j-nop.jar"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_zookeeper() -> Optional[List[str]]:
    """``[java, classpath]`` for a ZooKeeper server, or None when one is missing."""
    classpath = os.environ.get("ASTRID_TEST_ZOOKEEPER") or (
        DEBIAN_JAR if os.path.isfile(DEBIAN_JAR) else ""
    )
    if not classpath or not all(os.path.exists(p) for p in classpath.split(os.pathsep)):
        return None
    java = ""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        java = os.path.join(home, "bin", "java")
    java = java or shutil.which("java") or ""
    if not java:
        return None
    if os.path.isfile(QUIET_LOGGING) and QUIET_LOGGING not in classpath:
        classpath += os.pathsep + QUIET_LOGGING
    return [java, classpath]


def four_letters(port: int, word: str = "srvr", timeout: float = 1.0) -> str:
    """A ZooKeeper four-letter command's answer ('' when the server does not answer)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode("ascii"))
            chunks = []
            while True:
                data = s.recv(4096)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return ""


class ZooKeeper:
    """A standalone ZooKeeper server (one JVM) on 127.0.0.1."""

    def __init__(self, command: List[str]) -> None:
        self.java, self.classpath = command
        self.dir = tempfile.mkdtemp(prefix="astrid-zk-")
        self.port = free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def launch(self) -> None:
        """Start the JVM and return at once; :meth:`wait` tells when it serves."""
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(
                f"tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={self.dir}/data\n"
                f"clientPort={self.port}\nclientPortAddress=127.0.0.1\n"
                "maxClientCnxns=0\nadmin.enableServer=false\n"
                "4lw.commands.whitelist=srvr,ruok,stat\n"
                # short sessions: a killed ClickHouse node's ephemeral nodes go away quickly
                "minSessionTimeout=1000\nmaxSessionTimeout=10000\n"
            )
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.java,
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.admin.enableServer=false",
                "-cp",
                self.classpath,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                cfg,
            ],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait(self, timeout: float = 30.0) -> "ZooKeeper":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                break
            if "Mode: standalone" in four_letters(self.port):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("ZooKeeper did not start on 127.0.0.1 within %.0fs" % timeout)

    def start(self, timeout: float = 30.0) -> "ZooKeeper":
        self.launch()
        return self.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
