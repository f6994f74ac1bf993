"""In-process metric aggregation: counter sums, gauge last values, histogram buckets per interval."""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from typing import Any, Dict, List, Tuple

from .records import DEFAULT_HISTOGRAM_BOUNDS, Metric

METRIC_TYPES = ("counter", "gauge", "histogram")


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
    __slots__ = ("attributes", "value", "count", "sum", "min", "max", "buckets", "unit")

    def __init__(self, attributes: Dict[str, Any], unit: str, nbuckets: int) -> None:
        self.attributes = attributes
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
    table out and turns it into Metric records. The number of series per interval is bounded:
    calls beyond ``max_series`` are dropped and counted.
    """

    def __init__(self, max_series: int = 2000, bounds: Tuple[float, ...] = DEFAULT_HISTOGRAM_BOUNDS):
        self.max_series = max_series
        self.bounds = bounds
        self._lock = threading.Lock()
        self._series: Dict[Tuple[str, str, Any], _Series] = {}
        self._start_ns = time.time_ns()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._series)

    def record(self, name: str, value: float, metric_type: str, attributes: Dict[str, Any], unit: str) -> bool:
        key = (name, metric_type, _key_of(attributes))
        with self._lock:
            s = self._series.get(key)
            if s is None:
                if len(self._series) >= self.max_series:
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
        return True

    def collect(self) -> List[Metric]:
        """Take the points aggregated since the last collect (delta temporality)."""
        with self._lock:
            if not self._series:
                self._start_ns = time.time_ns()
                return []
            series, self._series = self._series, {}
            start, now = self._start_ns, time.time_ns()
            self._start_ns = now
        out = []
        for (name, metric_type, _), s in series.items():
            if metric_type == "histogram":
                out.append(
                    Metric(
                        name, metric_type, s.attributes, start, now,
                        count=s.count, sum=s.sum, min=s.min, max=s.max,
                        bounds=self.bounds, bucket_counts=s.buckets, unit=s.unit,
                    )
                )
            else:
                value = s.value
                out.append(Metric(name, metric_type, s.attributes, start, now, value=value, count=s.count, unit=s.unit))
        return out
