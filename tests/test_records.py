"""Records, ids, timestamps, resource defaults and the metric aggregator."""

from __future__ import annotations

import json
import math

from astrid.aggregation import MetricAggregator
from astrid.records import (
    DEFAULT_HISTOGRAM_BOUNDS,
    ErrorRecord,
    Event,
    Span,
    exception_attributes,
    new_id,
    new_span_id,
    rfc3339,
)


def test_ids_are_random_and_non_zero():
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and 0 not in ids
    assert all(0 < new_span_id() < 2**64 for _ in range(1000))


def test_rfc3339_has_nanoseconds_and_utc():
    assert rfc3339(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339(0) == "1970-01-01T00:00:00.000000000Z"


def test_event_as_span_ids_are_stable_and_derived_from_the_id():
    e = Event("e", {}, 5, id=(7 << 64) | 9)
    assert e.span_id == 9 and e.effective_trace_id == e.id
    child = Event("e", {}, 5, trace_id=3, parent_span_id=4)
    assert child.effective_trace_id == 3
    assert json.dumps(child.to_dict())


def test_error_record_is_formatted_on_finalize_only():
    try:
        raise ValueError("nope")
    except ValueError as exc:
        rec = ErrorRecord(exc, {}, 1)
    assert rec.exception is not None and "exception.type" not in rec.attributes
    rec.finalize()
    assert rec.exception is None
    assert rec.attributes["exception.type"] == "ValueError"
    assert rec.body == "ValueError: nope"
    assert rec.to_dict()["type"] == "error"


def test_exception_attributes_survive_a_broken_str():
    class Bad(Exception):
        def __str__(self):
            raise RuntimeError("x")

    attrs = exception_attributes(Bad())
    assert attrs["exception.type"].endswith("Bad")
    assert isinstance(attrs["exception.message"], str)


def test_span_to_dict_carries_duration_status_and_events():
    s = Span("work", {"a": 1}, 1_000, trace_id=1, span_id=2, parent_span_id=3)
    s.end_ns = 3_000_000
    s.pending_exceptions.append((KeyError("k"), 2_000))
    s.finalize()
    d = s.to_dict()
    assert d["duration_ms"] == 2.999 and d["parent_span_id"] == "%016x" % 3
    assert d["events"][0]["name"] == "exception"


def test_aggregator_bounds_series_and_counts_the_overflow():
    agg = MetricAggregator(max_series=3)
    for i in range(10):
        agg.record("m", 1, "counter", {"i": i}, "")
    assert len(agg) == 3 and agg.dropped == 7
    points = agg.collect()
    assert len(points) == 3 and len(agg) == 0


def test_aggregator_histogram_uses_otel_default_bounds():
    agg = MetricAggregator()
    for v in (0, 5, 5.1, 10_000, 10_001, -1):
        agg.record("h", v, "histogram", {}, "ms")
    (p,) = agg.collect()
    assert p.bounds == DEFAULT_HISTOGRAM_BOUNDS
    # buckets are (-inf, 0], (0, 5], (5, 10], ... (7500, 10000], (10000, +inf)
    assert p.bucket_counts[0] == 2 and p.bucket_counts[1] == 1 and p.bucket_counts[2] == 1
    assert p.bucket_counts[-2] == 1 and p.bucket_counts[-1] == 1
    assert (p.count, p.min, p.max) == (6, -1, 10_001)
    assert math.isclose(p.sum, 20_010.1)


def test_aggregator_accepts_unhashable_attribute_values():
    agg = MetricAggregator()
    agg.record("m", 1, "counter", {"l": [1, 2]}, "")
    agg.record("m", 2, "counter", {"l": [1, 2]}, "")
    (p,) = agg.collect()
    assert p.value == 3


def test_aggregator_keys_series_after_sanitizing_and_caps_sanitized_series():
    from astrid.privacy import PrivacyEngine

    agg = MetricAggregator(max_series=2, privacy=PrivacyEngine(project_name="t"))
    for i in range(10):  # ten raw series, one once the address is redacted
        agg.record("m", 1, "counter", {"to": "u%d@example.com" % i}, "")
    for q in ("a", "b", "c"):
        agg.record("jobs", 2, "counter", {"queue": q}, "")
    points = agg.collect()
    assert [(p.name, p.attributes, p.value) for p in points] == [
        ("m", {"to": "[REDACTED:email]"}, 10),
        ("jobs", {"queue": "a"}, 2),
    ]
    assert agg.dropped == 2  # the calls of the two series beyond the cap
