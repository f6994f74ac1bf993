"""The shared privacy vectors (tests/vectors/privacy.json) run against the Python engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest

from _vectors import generator
from astrid.privacy import PrivacyConfig, PrivacyEngine

VECTORS = Path(__file__).parent / "vectors" / "privacy.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES = DATA["cases"]


def run_case(case: Dict[str, Any]) -> Any:
    options = dict(DATA["defaults"])
    options.update(case.get("config", {}))
    project_name = options.pop("project_name")
    engine = PrivacyEngine(PrivacyConfig(**options), project_name=project_name)
    if case["type"] == "text":
        return engine.sanitize_text(case["input"])
    return engine.sanitize_attributes(case["input"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_vector(case: Dict[str, Any]) -> None:
    got = run_case(case)
    if case.get("known_limitation"):
        # a documented limitation: when the engine gets this right, drop the flag in the generator
        assert got != case["expected"], "fixed now: remove known_limitation from " + case["id"]
    else:
        assert got == case["expected"]


def test_vectors_cover_every_detector_with_more_negatives_than_positives() -> None:
    from astrid.privacy import DETECTOR_KINDS

    text = [c for c in CASES if c["type"] == "text" and not c.get("known_limitation")]
    positives = [c for c in text if c["detector"]]
    negatives = [c for c in text if not c["detector"]]
    assert len(CASES) >= 400
    assert {c["detector"] for c in positives} == set(DETECTOR_KINDS)
    assert len(negatives) >= len(positives)
    for kind in DETECTOR_KINDS:
        assert sum(1 for c in positives if c["detector"] == kind) >= 20, kind


def test_vectors_file_is_what_the_generator_writes() -> None:
    assert generator("privacy").render() == VECTORS.read_text(encoding="utf-8"), (
        "tests/vectors/privacy.json is stale: run python tests/vectors/generate_privacy.py"
    )


def test_vectors_are_language_neutral_json() -> None:
    # plain ASCII JSON with no numbers a JavaScript double cannot hold exactly
    raw = VECTORS.read_text(encoding="utf-8")
    assert raw.isascii()

    def walk(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int):
            assert abs(value) <= 2**53
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(DATA)


def precision_recall() -> Dict[str, float]:
    """Over text cases: a positive is caught when the output is exactly right; a negative is a
    false positive when it changes."""
    tp = fn = fp = tn = 0
    for case in CASES:
        if case["type"] != "text":
            continue
        right = run_case(case) == case["expected"]
        if case["detector"]:
            tp, fn = (tp + 1, fn) if right else (tp, fn + 1)
        else:
            tn, fp = (tn + 1, fp) if right else (tn, fp + 1)
    return {
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "positives": tp + fn,
        "negatives": tn + fp,
    }


def test_precision_and_recall_on_the_vectors_are_what_the_docs_say() -> None:
    pr = precision_recall()
    docs = (Path(__file__).parent.parent / "docs" / "privacy.md").read_text(encoding="utf-8")
    assert "precision %.1f%%" % (100 * pr["precision"]) in docs
    assert "recall %.1f%%" % (100 * pr["recall"]) in docs
    assert "hold {:,} cases".format(len(CASES)) in docs
    assert "{:,} benign look-alikes".format(int(pr["negatives"])) in docs
