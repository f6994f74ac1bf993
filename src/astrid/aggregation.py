"""In-process metric aggregation: counter sums, gauge last values, histogram buckets per interval."""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from typing import Any, Dict, List, Optional, Tuple

from .records import DEFAULT_HISTOGRAM_BOUNDS, Metric

METRIC_TYPES = ("counter", "gauge", "histogram")

# Raw series (as the caller wrote them) may outnumber sanitized ones many times over: ten
# thousand e-mail addresses in an attribute are one series once redacted. The raw table holds
# this many times max_series; the cap itself is applied to sanitized series in collect().
_RAW_FACTOR = 8


def _key_of(attributes: Dict[str, Any]) -> Any:
    """A hashable key for an attribute set (unhashable values fall back to their repr)."""
    try:
        return frozenset(attributes.items())
    except TypeError:
        try:
            return frozenset((k, repr(v)) for k, v in attributes.items())
        except Exception:
            return ("<unhashable>", id(attributes))


class _Series:
    __slots__ = ("attributes", "value", "count", "sum", "min", "max", "buckets", "unit", "last")

    def __init__(self, attributes: Dict[str, Any], unit: str, nbuckets: int) -> None:
        self.attributes = attributes
        self.last = 0  # when it was last updated (a tick), so merged gauges keep the latest
        self.value: float = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.buckets = [0] * nbuckets if nbuckets else []
        self.unit = unit


class MetricAggregator:
    """Folds ``track_metric`` calls into one point per (name, type, attributes) and interval.

    The caller pays for a lock and a dict update; ``collect()`` (on the worker) swaps the
    table out and turns it into Metric records. Given the privacy engine, ``collect()`` keys the
    series after sanitizing (two raw series that sanitize alike become one point) and applies
    the cap to sanitized series: calls of series beyond ``max_series`` are dropped and counted.
    """

    def __init__(
        self,
        max_series: int = 2000,
        bounds: Tuple[float, ...] = DEFAULT_HISTOGRAM_BOUNDS,
        privacy: Any = None,
    ):
        self.max_series = max_series
        #: the PrivacyEngine collect() sanitizes with (None: points leave as recorded)
        self.privacy = privacy
        self.bounds = bounds
        self._lock = threading.Lock()
        self._series: Dict[Tuple[str, str, Any], _Series] = {}
        self._start_ns = time.time_ns()
        self._tick = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._series)

    def record(self, name: str, value: float, metric_type: str, attributes: Dict[str, Any], unit: str) -> bool:
        key = (name, metric_type, _key_of(attributes))
        with self._lock:
            s = self._series.get(key)
            if s is None:
                if len(self._series) >= (
                    self.max_series if self.privacy is None else self.max_series * _RAW_FACTOR
                ):
                    self.dropped += 1
                    return False
                nb = len(self.bounds) + 1 if metric_type == "histogram" else 0
                s = self._series[key] = _Series(dict(attributes), unit, nb)
            if metric_type == "counter":
                s.value += value
            elif metric_type == "gauge":
                s.value = value
            else:
                s.buckets[bisect_left(self.bounds, value)] += 1
                s.sum += value
                if value < s.min:
                    s.min = value
                if value > s.max:
                    s.max = value
            s.count += 1
            self._tick += 1
            s.last = self._tick
        return True

    def collect(self, privacy: Any = None) -> List[Metric]:
        """Take the points aggregated since the last collect (delta temporality).

        With a privacy engine (``privacy``, else the aggregator's own), each point is sanitized
        here and points whose sanitized name, type, unit and attributes are equal are merged.
        """
        if privacy is None:
            privacy = self.privacy
        with self._lock:
            if not self._series:
                self._start_ns = time.time_ns()
                return []
            series, self._series = self._series, {}
            start, now = self._start_ns, time.time_ns()
            self._start_ns = now
        points: Dict[Any, Tuple[Metric, int]] = {}
        out: List[Metric] = []
        for (name, metric_type, _), s in series.items():
            if metric_type == "histogram":
                m = Metric(
                    name, metric_type, s.attributes, start, now,
                    count=s.count, sum=s.sum, min=s.min, max=s.max,
                    bounds=self.bounds, bucket_counts=s.buckets, unit=s.unit,
                )
            else:
                m = Metric(name, metric_type, s.attributes, start, now, value=s.value, count=s.count, unit=s.unit)
            if privacy is not None:
                try:
                    clean: Optional[Metric] = privacy.sanitize_record(m)
                except Exception:
                    clean = None
                if clean is None:  # never sent unsanitized
                    self.dropped += s.count
                    continue
                m = clean
            key = (m.name, metric_type, m.unit, _key_of(m.attributes))
            seen = points.get(key)
            if seen is None:
                if len(points) >= self.max_series:
                    self.dropped += s.count
                    continue
                points[key] = (m, s.last)
                out.append(m)
            else:
                points[key] = (seen[0], _merge(seen[0], m, seen[1], s.last))
        return out


def _merge(into: Metric, other: Metric, into_last: int, other_last: int) -> int:
    """Fold ``other`` into ``into`` (same series after sanitizing); returns the newer tick."""
    if into.metric_type == "counter":
        into.value += other.value
    elif into.metric_type == "gauge":
        if other_last > into_last:
            into.value = other.value
    else:
        into.bucket_counts = [a + b for a, b in zip(into.bucket_counts, other.bucket_counts)]
        into.sum += other.sum
        into.min = min(into.min, other.min)
        into.max = max(into.max, other.max)
    into.count += other.count
    return max(into_last, other_last)
