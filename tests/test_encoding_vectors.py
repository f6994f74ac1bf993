"""The shared encoding vectors (tests/vectors/encoding.json) against the Python encoders.

The JavaScript suite runs the same file, so the two SDKs cannot drift apart on the wire.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from _vectors import generator
from astrid._version import __version__

VECTORS = Path(__file__).parent / "vectors" / "encoding.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES = DATA["cases"]
SCHEMA = Path(__file__).parent.parent / "docs" / "http-format.schema.json"


GEN = generator("encoding")


def _fill(doc: Any) -> Any:
    text = json.dumps(doc).replace("{sdk_version}", __version__).replace("{sdk_language}", "python")
    return json.loads(text)


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_python_encoders_write_the_vector(case: Dict[str, Any]) -> None:
    from astrid.backends.http import encode_document
    from astrid.encoding import otlp_common, otlp_json

    records = [GEN.to_record(d) for d in case["records"]]
    expected = _fill(case["expected"])
    got: Dict[str, Any] = {}
    for signal, group in otlp_common.split_by_signal(records, case["events_as"]).items():
        got[signal] = json.loads(otlp_json.encode(signal, group, DATA["resource"]))
    got["http"] = json.loads(encode_document(GEN.Batch(records, GEN.R.Resource(DATA["resource"]))))
    assert got == expected


def test_vectors_file_is_what_the_generator_writes() -> None:
    assert GEN.render() == VECTORS.read_text(encoding="utf-8"), (
        "tests/vectors/encoding.json is stale: run python tests/vectors/generate_encoding.py"
    )


def test_http_documents_match_the_published_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for case in CASES:
        jsonschema.validate(_fill(case["expected"]["http"]), schema)


def test_vectors_cover_every_signal_and_both_event_modes() -> None:
    seen = {(signal, c["events_as"]) for c in CASES for signal in c["expected"]}
    for needed in [("traces", "spans"), ("metrics", "spans"), ("logs", "spans"), ("logs", "logs")]:
        assert needed in seen
    types = {r["type"] for c in CASES for r in c["records"]}
    assert types == {"event", "span", "metric", "log", "error"}
    kinds = {r["metric_type"] for c in CASES for r in c["records"] if r["type"] == "metric"}
    assert kinds == {"counter", "gauge", "histogram"}


def test_vectors_are_language_neutral_json() -> None:
    # ASCII, integers a JavaScript double holds exactly, and no integral floats among the values
    # that decide intValue/asInt versus doubleValue/asDouble (JSON cannot tell 2.0 from 2 in JS)
    assert VECTORS.read_text(encoding="utf-8").isascii()
    for case in CASES:
        for record in case["records"]:
            values = list(_walk(record.get("attributes", {}))) + [record.get("value", 0)]
            for v in values:
                if isinstance(v, bool):
                    continue
                if isinstance(v, int):
                    assert abs(v) <= 2**53, (case["id"], v)
                if isinstance(v, float):
                    assert math.isfinite(v) and not v.is_integer(), (case["id"], v)
            for key in ("id", "trace_id"):
                if key in record:
                    assert re.fullmatch(r"[0-9a-f]{32}", record[key]), (case["id"], key, record[key])
            for key in ("span_id", "parent_span_id"):
                if key in record:
                    assert re.fullmatch(r"[0-9a-f]{16}", record[key]), (case["id"], key, record[key])
            assert str(int(record["time_ns"])) == record["time_ns"]
