"""The opt-in rules, the consent store and the first-run notice (consent.py)."""

from __future__ import annotations

import io
import os
import stat

import pytest

import astrid
from astrid.backends.memory import MemoryBackend
from astrid.consent import ConsentStore, decide, first_run_notice, is_ci

P = "my-lib"


def env(**kw: str) -> dict:
    return dict(kw)


@pytest.mark.parametrize(
    "variables, enabled, stored, expected, rule",
    [
        # nothing said: off
        ({}, None, None, False, "default"),
        # DO_NOT_TRACK beats everything, even enabled=True and stored consent
        ({"DO_NOT_TRACK": "1"}, True, True, False, "DO_NOT_TRACK"),
        ({"DO_NOT_TRACK": "true"}, None, True, False, "DO_NOT_TRACK"),
        ({"DO_NOT_TRACK": "YES"}, None, None, False, "DO_NOT_TRACK"),
        ({"DO_NOT_TRACK": "On", "MY_LIB_TELEMETRY": "1"}, None, None, False, "DO_NOT_TRACK"),
        # DO_NOT_TRACK=0/false does nothing
        ({"DO_NOT_TRACK": "0"}, True, None, True, "argument"),
        ({"DO_NOT_TRACK": "false", "MY_LIB_TELEMETRY": "1"}, None, None, True, "MY_LIB_TELEMETRY"),
        # OTEL_SDK_DISABLED=true: off, beats the argument
        ({"OTEL_SDK_DISABLED": "true"}, True, None, False, "OTEL_SDK_DISABLED"),
        ({"OTEL_SDK_DISABLED": "false"}, True, None, True, "argument"),
        # explicit argument beats project/global variables, CI and stored consent
        ({}, True, None, True, "argument"),
        ({"MY_LIB_TELEMETRY": "1"}, False, None, False, "argument"),
        ({"CI": "true"}, True, None, True, "argument"),
        ({}, False, True, False, "argument"),
        # project variable beats ASTRID_TELEMETRY
        ({"MY_LIB_TELEMETRY": "yes", "ASTRID_TELEMETRY": "0"}, None, None, True, "MY_LIB_TELEMETRY"),
        ({"MY_LIB_TELEMETRY": "off", "ASTRID_TELEMETRY": "1"}, None, None, False, "MY_LIB_TELEMETRY"),
        ({"MY_LIB_TELEMETRY": "maybe", "ASTRID_TELEMETRY": "1"}, None, None, True, "ASTRID_TELEMETRY"),
        ({"ASTRID_TELEMETRY": "no"}, None, True, False, "ASTRID_TELEMETRY"),
        # variables beat CI
        ({"CI": "1", "ASTRID_TELEMETRY": "1"}, None, None, True, "ASTRID_TELEMETRY"),
        # CI: off, and stored consent is ignored
        ({"CI": "true"}, None, True, False, "ci"),
        ({"CI": "anything"}, None, True, False, "ci"),
        ({"GITHUB_ACTIONS": "true"}, None, True, False, "ci"),
        # CI=false/0 is not CI
        ({"CI": "false"}, None, True, True, "stored_consent"),
        ({"CI": "0"}, None, True, True, "stored_consent"),
        # stored consent
        ({}, None, True, True, "stored_consent"),
        ({}, None, False, False, "stored_consent"),
    ],
)
def test_opt_in_truth_table(tmp_path, variables, enabled, stored, expected, rule):
    e = {"XDG_CONFIG_HOME": str(tmp_path), **variables}
    if stored is not None:
        ConsentStore(e).set(P, stored)
    d = decide(P, enabled, e)
    assert d.enabled is expected
    assert d.rule == rule
    assert d.reason
    # the client applies exactly the same decision
    client = astrid.TelemetryClient(P, backend=MemoryBackend(), enabled=enabled, env=e)
    try:
        assert client.enabled is expected
        assert client.decision.rule == rule
    finally:
        client.shutdown(1)


def test_project_variable_name_is_upper_cased_with_underscores(tmp_path):
    e = {"XDG_CONFIG_HOME": str(tmp_path), "MY_COOL_LIB_2_TELEMETRY": "1"}
    assert decide("my.cool-lib 2", None, e).rule == "MY_COOL_LIB_2_TELEMETRY"


def test_is_ci_reads_ci_variable_first():
    assert is_ci({"CI": "true"})
    assert not is_ci({"CI": "false", "GITHUB_ACTIONS": "true"})
    assert not is_ci({})
    assert is_ci({"GITLAB_CI": "true"})


def test_consent_store_writes_atomically_with_owner_only_permissions(tmp_path):
    e = {"XDG_CONFIG_HOME": str(tmp_path)}
    store = ConsentStore(e)
    path = store.set(P, True)
    assert path.parent.parent == tmp_path / "astrid"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert store.get(P) is True
    store.set(P, False)
    assert store.get(P) is False
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    assert store.clear(P) and store.get(P) is None


def test_consent_store_defaults_to_home_config(tmp_path):
    store = ConsentStore({"HOME": str(tmp_path)})
    assert store.path(P).parent == tmp_path / ".config" / "astrid" / "consent"


def test_corrupt_consent_file_counts_as_no_consent(tmp_path):
    e = {"XDG_CONFIG_HOME": str(tmp_path)}
    store = ConsentStore(e)
    store.path(P).parent.mkdir(parents=True)
    store.path(P).write_text("{not json")
    assert store.get(P) is None
    assert decide(P, None, e).rule == "default"


def test_set_consent_turns_a_client_on_and_off(tmp_path):
    e = {"XDG_CONFIG_HOME": str(tmp_path)}
    mem = MemoryBackend()
    client = astrid.TelemetryClient(P, backend=mem, env=e, flush_interval=0.05)
    assert not client.enabled
    client.track_event("before")
    assert client.set_consent(True) is True
    assert ConsentStore(e).get(P) is True
    client.track_event("after")
    assert client.flush(5)
    assert [r.name for r in mem.records] == ["after"]
    assert client.set_consent(False) is False
    client.track_event("revoked")
    client.flush(1)
    assert [r.name for r in mem.records] == ["after"]
    client.shutdown(1)


def test_disabled_client_starts_no_thread_and_writes_no_file(tmp_path):
    import threading

    before = set(threading.enumerate())
    e = {"XDG_CONFIG_HOME": str(tmp_path)}
    client = astrid.TelemetryClient(P, backend="file", path=str(tmp_path / "out.jsonl"), env=e)
    for i in range(100):
        client.track_event("e", {"i": i})
        client.track_metric("m", i)
        client.track_log("l")
        client.track_error(ValueError("x"))
        with client.span("s"):
            pass
    assert client.flush(1) and client.shutdown(1)
    assert set(threading.enumerate()) == before
    assert list(tmp_path.iterdir()) == []
    assert client.stats()["sent"] == 0


def test_first_run_notice_prints_once_per_user_and_project(tmp_path):
    e = {"XDG_CONFIG_HOME": str(tmp_path)}
    out = io.StringIO()
    assert first_run_notice(P, stream=out, env=e) is True
    assert "MY_LIB_TELEMETRY" in out.getvalue() and "OFF" in out.getvalue()
    assert first_run_notice(P, stream=out, env=e) is False
    assert first_run_notice("other", stream=out, env=e) is True


def test_first_run_notice_is_silent_in_ci_and_under_do_not_track(tmp_path):
    out = io.StringIO()
    assert first_run_notice(P, stream=out, env={"XDG_CONFIG_HOME": str(tmp_path), "CI": "true"}) is False
    assert first_run_notice(P, stream=out, env={"XDG_CONFIG_HOME": str(tmp_path), "DO_NOT_TRACK": "1"}) is False
    assert out.getvalue() == ""


def test_first_run_notice_never_raises_on_unwritable_config(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = io.StringIO()
    assert first_run_notice(P, stream=out, env={"XDG_CONFIG_HOME": str(blocker)}) is False


# ---------------------------------------------------------------- no home directory (issue 9, item 9)

import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

from astrid.consent import config_dir, consent_summary  # noqa: E402

_SRC = str(Path(__file__).resolve().parent.parent / "src")

# Everything the SDK may import is loaded first: after setuid the interpreter's own directory
# may be unreadable to the new uid.
_HOMELESS_PROGRAM = """
    import io, os, sys, json
    import astrid, astrid.client, astrid.pipeline, astrid.privacy, astrid.consent, astrid.transport
    import astrid.backends.otlp, astrid.backends.memory, astrid.encoding.otlp_proto
    warm = astrid.TelemetryClient("warm", backend="memory", enabled=True)
    warm.track_event("e"); warm.flush(2); warm.shutdown(2)
    {become}
    out = {{}}
    c = astrid.TelemetryClient("homeless-app", backend="memory")
    out["enabled"] = c.enabled
    out["rule"] = c.decision.rule
    out["set_consent"] = c.set_consent(True)
    c.track_event("e"); c.flush(1); c.shutdown(1)
    out["summary"] = astrid.consent.consent_summary("homeless-app")["rule"]
    out["notice"] = astrid.consent.first_run_notice("homeless-app", stream=io.StringIO())
    on = astrid.TelemetryClient("homeless-app", backend="memory", enabled=True)
    on.track_event("e"); out["flushed"] = on.flush(2); on.shutdown(2)
    print(json.dumps(out))
"""


def _run_homeless(become: str) -> "subprocess.CompletedProcess[str]":
    env = {k: v for k, v in os.environ.items()
           if k not in ("HOME", "XDG_CONFIG_HOME", "USERPROFILE", "CI") and not k.startswith(("ASTRID_", "OTEL_"))}
    env["PYTHONPATH"] = _SRC
    code = textwrap.dedent(_HOMELESS_PROGRAM.format(become=become.replace("\n", "\n    ")))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def _check_homeless(proc: "subprocess.CompletedProcess[str]") -> None:
    import json

    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # nobody opted in and nothing can be stored: off, without an exception, and the app's own
    # enabled=True still works
    assert out == {"enabled": False, "rule": "default", "set_consent": False, "summary": "default",
                   "notice": False, "flushed": True}
    assert proc.stderr == ""


@pytest.mark.skipif(not hasattr(os, "setuid") or os.geteuid() != 0, reason="needs root to become a uid without a passwd entry")
def test_a_user_without_a_passwd_entry_and_no_home_never_breaks_the_host():
    import pwd

    uid = 54321
    while True:
        try:
            pwd.getpwuid(uid)
            uid += 1
        except KeyError:
            break
    _check_homeless(_run_homeless("os.setgid(%d); os.setuid(%d)" % (uid, uid)))


def test_a_failing_password_database_and_no_home_never_breaks_the_host():
    # the same without root: HOME unset and the password lookup failing as for an unknown uid
    _check_homeless(_run_homeless(
        "import pwd\n"
        "def _missing(uid):\n"
        "    raise KeyError('getpwuid(): uid not found: %d' % uid)\n"
        "pwd.getpwuid = _missing"
    ))


def test_config_dir_without_any_home_raises_an_os_error_the_store_handles(monkeypatch):
    import pwd

    def missing(uid):
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", missing)
    monkeypatch.delenv("HOME", raising=False)
    env = {"XDG_CONFIG_HOME": "relative/dir"}  # a relative XDG_CONFIG_HOME is ignored (XDG spec)
    with pytest.raises(OSError):
        config_dir(env)
    store = ConsentStore(env)
    assert store.get("p") is None and store.clear("p") is False
    with pytest.raises(OSError):
        store.set("p", True)
    assert decide("p", None, env).rule == "default"
    assert consent_summary("p", env)["consent_file"] is None
    assert first_run_notice("p", stream=io.StringIO(), env=env) is False
