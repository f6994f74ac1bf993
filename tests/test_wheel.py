"""The published artifact works, not only the editable checkout: build the sdist and the wheel
(the wheel from the sdist), install the wheel into a fresh venv without any index, and use it
from outside the source tree — imports, ``astrid version``, one event to a loopback inspector
started from the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from astrid._version import __version__

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(cmd, cwd, env=None, timeout=300):
    proc = subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, "%s failed (exit %d)\n%s\n%s" % (cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def _clean_env(**extra: str):
    """The environment of a user of the installed package: no PYTHONPATH, no telemetry switches."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DO_NOT_TRACK", "CI")
           and not k.startswith(("ASTRID_", "OTEL_", "PIP_"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """sdist and wheel built from a copy of the checkout (the shared tree gets no build litter)."""
    pytest.importorskip("build", reason="the `build` package (requirements-test.txt) builds the sdist and wheel")
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("checkout")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend comes from this venv (requirements-test.txt), so the
    # build needs no network; without --sdist/--wheel, build makes the wheel *from the sdist*,
    # which proves the sdist is complete
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, src], cwd=src)
    wheels = list(out.glob("astrid_telemetry-%s-py3-none-any.whl" % __version__))
    sdists = list(out.glob("astrid_telemetry-%s.tar.gz" % __version__))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return wheels[0], sdists[0]


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory):
    """A fresh venv with only the wheel installed, from no index (a dependency would fail here)."""
    wheel, _ = dist
    where = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", where], cwd=where.parent)
    _run([where / "bin" / "python", "-m", "pip", "install", "-q", "--no-index", wheel], cwd=where.parent,
         env=_clean_env())
    return where


def test_the_artifacts_hold_the_package_data_and_no_stray_files(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("astrid/__init__.py", "astrid/py.typed", "astrid/inspector/page.html",
                   "astrid/inspector/playground.html", "astrid/inspector/static/astrid.min.js",
                   "astrid/integrations/wsgi.py", "astrid/integrations/asgi.py"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tests/", "docs/", "benchmarks/")) or "__pycache__" in n]
    meta = zipfile.ZipFile(wheel).read("astrid_telemetry-%s.dist-info/METADATA" % __version__).decode()
    assert "Requires-Dist" not in meta  # zero runtime dependencies
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
    assert any(m.endswith("src/astrid/__init__.py") for m in members)
    assert any(m.endswith("/pyproject.toml") for m in members)


def test_the_installed_wheel_imports_and_reports_its_version(venv, tmp_path):
    py = venv / "bin" / "python"
    code = ("import astrid, astrid.client, astrid.integrations.wsgi, astrid.integrations.asgi, astrid.inspector;"
            "print(astrid.__version__); print(astrid.__file__)")
    out = _run([py, "-c", code], cwd=tmp_path, env=_clean_env()).split("\n")
    assert out[0] == __version__
    assert Path(out[1]).resolve().is_relative_to(venv.resolve())  # the venv's copy, not the checkout
    assert _run([venv / "bin" / "astrid", "version"], cwd=tmp_path, env=_clean_env()).strip() == "astrid " + __version__


def test_the_installed_wheel_sends_an_event_to_its_own_inspector(venv, tmp_path):
    env = _clean_env(XDG_CONFIG_HOME=str(tmp_path / "config"))
    inspector = subprocess.Popen([str(venv / "bin" / "astrid"), "inspect", "--port", "0", "--db", str(tmp_path / "r.db")],
                                 cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = inspector.stdout.readline()
        assert first.startswith("Astrid inspector"), first + inspector.stderr.read()
        url = first.split(" on ")[1].split()[0]
        script = ("import astrid\n"
                  "c = astrid.TelemetryClient('wheel-smoke', endpoint=%r, enabled=True)\n"
                  "c.track_event('wheel.installed', {'email': 'someone@example.com'})\n"
                  "assert c.shutdown(timeout=10), c.stats()\n" % url)
        _run([venv / "bin" / "python", "-c", script], cwd=tmp_path, env=env, timeout=120)
        records = []
        deadline = time.monotonic() + 10
        while not records and time.monotonic() < deadline:
            with urllib.request.urlopen(url + "/api/records?name=wheel.installed", timeout=5) as resp:
                records = json.loads(resp.read())
                records = records.get("records", records) if isinstance(records, dict) else records
            if not records:
                time.sleep(0.1)
        assert len(records) == 1 and records[0]["service"] == "wheel-smoke", records
        assert "someone@example.com" not in json.dumps(records)  # the privacy engine ran in the installed copy
        with urllib.request.urlopen(url + "/", timeout=5) as resp:
            assert resp.status == 200 and b"<html" in resp.read().lower()  # the page ships in the wheel
        # the playground and the browser SDK it loads ship in the wheel too
        with urllib.request.urlopen(url + "/playground", timeout=5) as resp:
            assert resp.status == 200 and b'src="/static/astrid.min.js"' in resp.read()
        with urllib.request.urlopen(url + "/static/astrid.min.js", timeout=5) as resp:
            assert resp.status == 200 and len(resp.read()) > 10_000
    finally:
        inspector.send_signal(signal.SIGINT)
        try:
            inspector.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            inspector.kill()
            inspector.communicate(timeout=5)
