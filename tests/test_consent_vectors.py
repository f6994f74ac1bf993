"""The shared consent truth table (tests/vectors/consent.json) run against the Python rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest

from _vectors import generator
from astrid.consent import ConsentStore, decide

VECTORS = Path(__file__).parent / "vectors" / "consent.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES = DATA["node"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_consent_vector(case: Dict[str, Any], tmp_path: Path) -> None:
    env = dict(case["env"], XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
    if case["stored"] is not None:
        ConsentStore(env).set(DATA["project"], case["stored"])
    d = decide(DATA["project"], case["enabled"], env)
    assert {"enabled": d.enabled, "rule": d.rule} == case["expect"]


def test_vector_file_is_what_the_generator_writes() -> None:
    gen = generator("consent")
    assert VECTORS.read_text(encoding="utf-8") == gen.dump(gen.build()), "run tests/vectors/generate_consent.py"


def test_table_covers_every_rule() -> None:
    rules = {c["expect"]["rule"] for c in CASES}
    assert rules == {"DO_NOT_TRACK", "OTEL_SDK_DISABLED", "argument", DATA["switch"], "ASTRID_TELEMETRY", "ci", "stored_consent", "default"}
    assert {c["expect"]["rule"] for c in DATA["browser"]} == {"do_not_track", "global_privacy_control", "argument", "stored_consent", "pending"}
