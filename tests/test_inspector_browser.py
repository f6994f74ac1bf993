"""The inspector page and the playground in headless Chromium (playwright-core)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from astrid.inspector import Inspector

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPT = HERE / "browser" / "inspector.spec.mjs"


def _chromium() -> str:
    for candidate in (os.environ.get("ASTRID_TEST_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return str(shutil.which(candidate))
    return ""


def _node_modules() -> Path:
    return Path(os.environ.get("ASTRID_TEST_NODE_MODULES") or HERE / "browser" / "node_modules")


def _artifacts() -> Path:
    path = Path(os.environ.get("ASTRID_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.browser
def test_inspector_page_in_chromium():
    chromium, node, modules = _chromium(), shutil.which("node"), _node_modules()
    if not chromium:
        pytest.skip("chromium not found (install Debian's chromium or set ASTRID_TEST_CHROMIUM)")
    if not node:
        pytest.skip("node not found on PATH")
    if not (modules / "playwright-core").is_dir():
        pytest.skip(f"playwright-core not installed in {modules} (./scripts/test installs it)")
    screenshot = _artifacts() / "inspector.png"
    if screenshot.exists():
        screenshot.unlink()
    with Inspector(port=0) as insp:
        env = dict(os.environ, INSPECTOR_URL=insp.url, CHROMIUM=chromium, NODE_MODULES=str(modules),
                   SCREENSHOT=str(screenshot))
        proc = subprocess.run([node, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '"ok":true' in proc.stdout
    assert screenshot.stat().st_size > 10_000


PLAYGROUND = HERE / "browser" / "playground.spec.mjs"


@pytest.mark.browser
def test_playground_sends_browser_events_from_the_shipped_bundle():
    chromium, node, modules = _chromium(), shutil.which("node"), _node_modules()
    if not chromium:
        pytest.skip("chromium not found (install Debian's chromium or set ASTRID_TEST_CHROMIUM)")
    if not node:
        pytest.skip("node not found on PATH")
    if not (modules / "playwright-core").is_dir():
        pytest.skip(f"playwright-core not installed in {modules} (./scripts/test installs it)")
    with Inspector(port=0) as insp:
        env = dict(os.environ, INSPECTOR_URL=insp.url, CHROMIUM=chromium, NODE_MODULES=str(modules))
        proc = subprocess.run([node, str(PLAYGROUND)], env=env, capture_output=True, text=True, timeout=120)
        kinds = {r["name"] for r in insp.records(type="event")}
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {"page.view", "element.click", "form.submit", "scroll.depth"} <= kinds
