"""Writes tests/vectors/sampling.json: which traces `sample_rate` keeps, for both SDKs.

A trace is kept when the low 64 bits of its 128-bit id are below ``round(rate * 2**64)``
(OpenTelemetry's TraceIdRatioBased rule); an event outside any span is decided by its own id.
The expected answers are computed here from that rule, written apart from ``astrid.client``; the
Python test checks the SDK against them, the JS suite its pipeline. Cases sit on both sides of each
rate's boundary, where a float shortcut would go wrong. Run ``python tests/vectors/generate_sampling.py``
after editing; a test fails when the JSON file and this script disagree.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Dict, List

OUT = Path(__file__).with_name("sampling.json")
RATES = [0.0, 1e-9, 0.001, 0.1, 0.25, 1 / 3, 0.5, 0.7, 0.999, 1 - 2**-53]


def bound(rate: float) -> int:
    return round(rate * 2**64)


def build() -> Dict[str, Any]:
    rnd = random.Random(20261203)
    cases: List[Dict[str, Any]] = []
    for rate in RATES:
        b = bound(rate)
        lows = {0, 1, 2**64 - 1, 2**63, 2**32, 2**32 - 1}
        for d in (-(2**12), -2049, -2048, -1, 0, 1, 2048, 2**12):
            if 0 <= b + d < 2**64:
                lows.add(b + d)
        lows.update(rnd.getrandbits(64) for _ in range(6))
        for low in sorted(lows):
            trace_id = (rnd.getrandbits(64) << 64) | low
            cases.append({"rate": rate, "trace_id": "%032x" % trace_id, "keep": low < b})
    return {
        "description": "sample_rate / sampleRate: keep is true when the low 64 bits of trace_id are below round(rate * 2**64). Rates of 1 keep everything and are not listed.",
        "cases": cases,
    }


def dump(data: Dict[str, Any]) -> str:
    return json.dumps(data, indent=1) + "\n"


if __name__ == "__main__":
    OUT.write_text(dump(build()), encoding="utf-8")
    print("wrote", OUT)
