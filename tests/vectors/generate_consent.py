"""Writes tests/vectors/consent.json: the opt-in truth table both SDKs run.

Each case gives the inputs (project name, the application's ``enabled`` argument, the environment,
the stored consent; in browsers the Do Not Track and Global Privacy Control signals) and the
decision (enabled: true/false, or null for "pending" in browsers) with the rule that made it.

The expected decisions come from ``expected()`` below, a plain transcription of the rules in
docs/configuration.md ("Switches an end user sets") written apart from ``astrid.consent``; the
script refuses to write the file when the Python SDK disagrees with it. Run ``python tests/vectors/generate_consent.py`` after editing; a
test fails when the JSON file and this script disagree.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

OUT = Path(__file__).with_name("consent.json")
PROJECT = "my-tool.cli"
SWITCH = "MY_TOOL_CLI_TELEMETRY"

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def _bool(value: Optional[str]) -> Optional[bool]:
    if value is None:
        return None
    v = value.strip().lower()
    return True if v in TRUE else False if v in FALSE else None


def expected(enabled: Optional[bool], env: Dict[str, str], stored: Optional[bool]) -> Tuple[bool, str]:
    """The opt-in rules (docs/configuration.md), in order: the first rule that speaks decides."""
    if _bool(env.get("DO_NOT_TRACK")):
        return False, "DO_NOT_TRACK"
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False, "OTEL_SDK_DISABLED"
    if enabled is not None:
        return enabled, "argument"
    for var in (SWITCH, "ASTRID_TELEMETRY"):
        b = _bool(env.get(var))
        if b is not None:
            return b, var
    ci = env.get("CI")
    in_ci = (_bool(ci) is not False and ci.strip() != "") if ci is not None else bool(env.get("GITHUB_ACTIONS"))
    if in_ci:
        return False, "ci"
    if stored is not None:
        return stored, "stored_consent"
    return False, "default"


def browser_expected(enabled: Optional[bool], dnt: bool, gpc: bool, stored: Optional[bool]) -> Tuple[Optional[bool], str]:
    """Browsers: DNT and GPC beat everything; then the application; then the remembered choice; else pending."""
    if dnt:
        return False, "do_not_track"
    if gpc:
        return False, "global_privacy_control"
    if enabled is not None:
        return enabled, "argument"
    if stored is not None:
        return stored, "stored_consent"
    return None, "pending"


def node_cases() -> List[Dict[str, Any]]:
    axes = [
        ("DO_NOT_TRACK", [None, "1", "0", " YES "]),
        ("OTEL_SDK_DISABLED", [None, "TRUE", "1"]),
        (SWITCH, [None, "1", "0", "maybe"]),
        ("ASTRID_TELEMETRY", [None, "on", "off"]),
        ("CI", [None, "true", "0", ""]),
    ]
    cases = []
    names = [a[0] for a in axes]
    for values in itertools.product(*[a[1] for a in axes]):
        env = {k: v for k, v in zip(names, values) if v is not None}
        for enabled in (None, True, False):
            for stored in (None, True, False):
                # keep the table small: where an earlier rule decides, one case shows it beating the rest
                off = _bool(env.get("DO_NOT_TRACK")) or env.get("OTEL_SDK_DISABLED", "").lower() == "true"
                if (off and (enabled, stored) != (True, True)) or (enabled is not None and stored is not True):
                    continue
                on, rule = expected(enabled, env, stored)
                cases.append({"enabled": enabled, "env": env, "stored": stored, "expect": {"enabled": on, "rule": rule}})
    # a CI system's own variable counts when CI is unset
    for env in ({"GITHUB_ACTIONS": "true"}, {"GITHUB_ACTIONS": "true", "CI": "false"}):
        for stored in (None, True):
            on, rule = expected(None, env, stored)
            cases.append({"enabled": None, "env": env, "stored": stored, "expect": {"enabled": on, "rule": rule}})
    for i, c in enumerate(cases):
        c["id"] = "node-%04d" % i
    return cases


def browser_cases() -> List[Dict[str, Any]]:
    cases = []
    for dnt, gpc, enabled, stored in itertools.product((False, True), (False, True), (None, True, False), (None, True, False)):
        on, rule = browser_expected(enabled, dnt, gpc, stored)
        cases.append(
            {
                "id": "browser-%02d" % len(cases),
                "enabled": enabled,
                "doNotTrack": dnt,
                "globalPrivacyControl": gpc,
                "stored": stored,
                "expect": {"enabled": on, "rule": rule},
            }
        )
    return cases


def check_against_python(cases: List[Dict[str, Any]]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    import tempfile

    from astrid.consent import ConsentStore, decide

    with tempfile.TemporaryDirectory() as home:
        for c in cases:
            env = dict(c["env"], XDG_CONFIG_HOME=home)
            store = ConsentStore(env)
            store.clear(PROJECT)
            if c["stored"] is not None:
                store.set(PROJECT, c["stored"])
            d = decide(PROJECT, c["enabled"], env)
            if (d.enabled, d.rule) != (c["expect"]["enabled"], c["expect"]["rule"]):
                raise SystemExit("astrid.consent.decide disagrees on %s: %r" % (c["id"], d))


def build() -> Dict[str, Any]:
    return {
        "description": "Opt-in truth table (docs/configuration.md, switches an end user sets). Node/Python cases: stored is the consent file's choice "
        "(null: no file). Browser cases: stored is the choice remembered in localStorage; enabled null in "
        "expect means pending (records wait for optIn/optOut).",
        "project": PROJECT,
        "switch": SWITCH,
        "node": node_cases(),
        "browser": browser_cases(),
    }


def dump(doc: Dict[str, Any]) -> str:
    head = {k: v for k, v in doc.items() if k not in ("node", "browser")}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ","]
    for key in ("node", "browser"):
        rows = ",\n".join("  " + json.dumps(c, ensure_ascii=False, sort_keys=True) for c in doc[key])
        lines.append('"%s": [\n%s\n]%s' % (key, rows, "," if key == "node" else ""))
    return "\n".join(lines) + "}\n"


if __name__ == "__main__":
    doc = build()
    check_against_python(doc["node"])
    OUT.write_text(dump(doc), encoding="utf-8")
    print("wrote %s: %d node cases, %d browser cases" % (OUT.name, len(doc["node"]), len(doc["browser"])))
