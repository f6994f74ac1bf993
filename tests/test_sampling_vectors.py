"""The shared sampling vectors (tests/vectors/sampling.json): which traces ``sample_rate`` keeps.

The JS suite runs the same cases through its pipeline (js-sdk/test/sampling.test.mjs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import astrid
from _vectors import generator
from astrid import records
from astrid.backends.memory import MemoryBackend
from astrid.client import _MASK64, _sample_bound
from astrid.records import Span

VECTORS = Path(__file__).parent / "vectors" / "sampling.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES = DATA["cases"]


@pytest.mark.parametrize("rate", sorted({c["rate"] for c in CASES}))
def test_the_client_keeps_exactly_the_traces_the_vectors_keep(
    rate: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    mem = MemoryBackend()
    c = astrid.TelemetryClient(
        "sampling", backend=mem, enabled=True, sample_rate=rate, max_queue_size=100_000
    )
    try:
        bound = _sample_bound(rate)
        cases = [x for x in CASES if x["rate"] == rate]
        for case in cases:
            tid = int(case["trace_id"], 16)
            assert (bound is None or (tid & _MASK64) < bound) == case["keep"], case
            before = c.stats()["sampled_out"]
            # a span follows its trace id; an event outside any span its own id (the public path)
            c._enqueue(Span("s", {}, 0, tid, 1))
            monkeypatch.setattr(records, "getrandbits", lambda _bits, tid=tid: tid)
            c.track_event("e")
            assert c.stats()["sampled_out"] - before == (0 if case["keep"] else 2), case
        assert c.flush(10)
        assert sorted(r.id for r in mem.events) == sorted(
            int(x["trace_id"], 16) for x in cases if x["keep"]
        )
    finally:
        c.shutdown(1)


def test_vector_file_is_what_the_generator_writes() -> None:
    gen = generator("sampling")
    assert VECTORS.read_text(encoding="utf-8") == gen.dump(gen.build()), (
        "run tests/vectors/generate_sampling.py"
    )


def test_vectors_sit_on_both_sides_of_every_boundary() -> None:
    for rate in {c["rate"] for c in CASES}:
        keeps = {c["keep"] for c in CASES if c["rate"] == rate}
        assert keeps == ({False} if rate == 0 else {True, False}), rate
    assert len(CASES) > 150
