"""Every example runs with the stdlib only and its telemetry arrives at a loopback inspector."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from astrid.inspector import Inspector

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# example -> (arguments, extra environment, record names that must arrive, expected exit code)
CASES = {
    "web_app.py": (["--self-test"], {}, {"page.view", "user.signup", "http.request"}, 0),
    "library_author.py": ([], {"WORDSTAT_TELEMETRY": "1"}, {"wordstat.top_words", "wordstat.duration"}, 0),
    "worker_metrics.py": (["--jobs", "50"], {}, {"jobs.processed", "job.duration", "queue.depth", "worker.run"}, 0),
    "logging_integration.py": ([], {}, {"example.billing", "ZeroDivisionError", "RuntimeError"}, 1),
    "custom_backend.py": (["--url", "{url}/collect"], {}, {"report.generated", "log"}, 0),
    "asgi_middleware.py": (["--self-test"], {}, {"GET /reports/{report_id}", "GET /export", "report.viewed"}, 0),
    "wsgi_middleware.py": (["--self-test"], {}, {"GET /orders/{order_id}", "GET /fail", "order.viewed", "RuntimeError",
                                                 "http.server.request.duration"}, 0),
}


def run_example(name: str, url: str, extra_env=None, args=()):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), ASTRID_ENDPOINT=url)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *[a.format(url=url) for a in args]],
        env=env, capture_output=True, text=True, timeout=60, cwd=str(ROOT),
    )


def wait_for(insp: Inspector, names, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = {r["name"] for r in insp.records(limit=5000)}
        if names <= got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_every_example_is_tested():
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs_and_its_telemetry_arrives(name):
    args, env, names, code = CASES[name]
    with Inspector(port=0) as insp:
        proc = run_example(name, insp.url, env, args)
        assert proc.returncode == code, proc.stdout + proc.stderr
        got = wait_for(insp, names)
        assert names <= got, (got, proc.stdout, proc.stderr)
        stored = str(insp.records(limit=5000))
        assert "@example.com" not in stored  # PII never arrives


def test_library_example_sends_nothing_without_opt_in():
    with Inspector(port=0) as insp:
        proc = run_example("library_author.py", insp.url)
        assert proc.returncode == 0, proc.stderr
        assert "telemetry: off" in proc.stderr
        assert "It is OFF unless you opt in" in proc.stderr  # the first-run notice
        time.sleep(0.3)
        assert insp.records() == []


def test_library_example_is_off_in_ci_even_with_stored_consent():
    from astrid.consent import ConsentStore

    ConsentStore().set("wordstat", True)  # the test's own config dir (conftest)
    with Inspector(port=0) as insp:
        assert "telemetry: on" in run_example("library_author.py", insp.url).stderr
        before = len(wait_for(insp, {"wordstat.top_words"}))
        proc = run_example("library_author.py", insp.url, {"CI": "true"})
        assert "telemetry: off" in proc.stderr and "opt in" not in proc.stderr
        time.sleep(0.3)
        assert len({r["name"] for r in insp.records(limit=5000)}) == before
        assert len(insp.records(name="top_words")) == 1
