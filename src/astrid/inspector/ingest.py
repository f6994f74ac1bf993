"""Turning request bodies (OTLP protobuf/JSON, the generic HTTP format) into the inspector's records."""

from __future__ import annotations

import calendar
import json
import re
import time
import zlib
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .otlp_decode import DecodeError, decode_proto
from .otlp_json import decode_json

#: What the privacy engine leaves in place of a value: ``[REDACTED:email]``,
#: ``[HASHED:email:3f2a…]`` or ``[MASKED:card:1111]``.
PLACEHOLDER = re.compile(r"\[(REDACTED|HASHED|MASKED):([a-z_]{1,40})(?::[0-9A-Za-z]{0,64})?\]")
#: A value whose key names an identifier (``user_id``, ``email``…): ``hash:`` + 32 hex digits.
HASHED_KEY = re.compile(r"^hash:[0-9a-f]{32}$")

RECORD_TYPES = ("event", "span", "metric", "log", "error")


class BadRequest(ValueError):
    """The request cannot be read; the message is the reason sent back with the 400."""


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo Content-Encoding (gzip/deflate/identity) without ever inflating past ``limit`` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise BadRequest(f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    wbits = 31 if encoding in ("gzip", "x-gzip") else 15
    try:
        d = zlib.decompressobj(wbits)
        out = d.decompress(body, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise BadRequest(f"decompressed body is larger than {limit} bytes")
        if not d.eof:
            raise BadRequest(f"{encoding} body is truncated")
        return out
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {encoding}: {exc}")


# ---------------------------------------------------------------- OTLP → records


def _span_type(item: Dict[str, Any]) -> str:
    attrs = item["attributes"]
    declared = attrs.get("astrid.record.type")
    if declared in RECORD_TYPES:
        return str(declared)
    # The SDK sends events as zero-length spans; a real span lasts and may hold span events.
    if item["end_ns"] <= item["start_ns"] and not item["events"]:
        return "event"
    return "span"


def _log_type(item: Dict[str, Any]) -> str:
    attrs = item["attributes"]
    declared = attrs.get("astrid.record.type")
    if declared in RECORD_TYPES:
        return str(declared)
    if "exception.type" in attrs or "exception.message" in attrs:
        return "error"
    if item.get("event_name") or "event.name" in attrs:
        return "event"
    return "log"


def otlp_records(signal: str, body: bytes, content_type: str, now_ns: int) -> List[Dict[str, Any]]:
    """Decode one OTLP request body (already decompressed) into inspector records."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    try:
        if ctype == "application/json":
            try:
                doc = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise BadRequest(f"body is not valid JSON: {exc}")
            triples = decode_json(signal, doc)
            source = "otlp/json"
        elif ctype in ("application/x-protobuf", "application/protobuf", ""):
            triples = decode_proto(signal, body)
            source = "otlp/protobuf"
        else:
            raise BadRequest(
                f"unsupported Content-Type {ctype!r} (use application/x-protobuf or application/json)"
            )
    except DecodeError as exc:
        raise BadRequest(f"malformed OTLP {signal} request: {exc}")
    out = []
    for resource, scope, item in triples:
        signal_kind = item.pop("signal")
        rec: Dict[str, Any] = {"resource": resource, "scope": scope, "source": source}
        if signal_kind == "span":
            rec.update(item)
            rec["type"] = _span_type(item)
            rec["time_ns"] = item["start_ns"]
            rec["duration_ms"] = max(0, item["end_ns"] - item["start_ns"]) / 1e6
            rec["id"] = (item["trace_id"] + item["span_id"]) or None
        elif signal_kind == "log":
            rec.update(item)
            rec["type"] = _log_type(item)
            attrs = item["attributes"]
            rec["name"] = str(
                attrs.get("exception.type")
                or item.get("event_name")
                or attrs.get("event.name")
                or attrs.get("log.logger")
                or "log"
            )
            uid = attrs.get("log.record.uid")
            rec["id"] = str(uid) if uid else None
        else:
            rec.update(item)
            rec["type"] = "metric"
            rec["id"] = None
        if not rec.get("time_ns"):
            rec["time_ns"] = now_ns
        out.append(rec)
    return out


# ---------------------------------------------------------------- generic format → records

_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def parse_timestamp(text: Any) -> int:
    """RFC 3339 → Unix nanoseconds (BadRequest for anything else)."""
    m = _TS.match(text) if isinstance(text, str) else None
    if not m:
        raise BadRequest(f"timestamp {text!r} is not RFC 3339 (e.g. 2026-01-31T10:00:00.123Z)")
    try:
        seconds = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise BadRequest(f"timestamp {text!r} is not a real date")
    if m.group(3) != "Z":
        sign = 1 if m.group(3)[0] == "+" else -1
        seconds -= sign * (int(m.group(3)[1:3]) * 3600 + int(m.group(3)[4:6]) * 60)
    return seconds * 1_000_000_000 + int((m.group(2) or "0").ljust(9, "0"))


def generic_records(
    body: bytes,
) -> Tuple[List[Dict[str, Any]], Optional[Dict[str, Any]], Dict[str, Any]]:
    """Read the generic JSON format: (records, sdk info or None, resource attributes)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}")
    if not isinstance(doc, dict):
        raise BadRequest('body must be a JSON object with a "records" array')
    records = doc.get("records")
    if not isinstance(records, list):
        raise BadRequest('body must have a "records" array')
    resource = doc.get("resource") or {}
    sdk = doc.get("sdk")
    if not isinstance(resource, dict):
        raise BadRequest('"resource" must be a JSON object')
    if sdk is not None and not isinstance(sdk, dict):
        raise BadRequest('"sdk" must be a JSON object')
    out = []
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise BadRequest(f"records[{i}] must be a JSON object")
        rtype, name = r.get("type"), r.get("name")
        if rtype not in RECORD_TYPES:
            raise BadRequest(f"records[{i}].type must be one of {', '.join(RECORD_TYPES)}")
        if not isinstance(name, str):
            raise BadRequest(f"records[{i}].name must be a string")
        if not isinstance(r.get("attributes", {}), dict):
            raise BadRequest(f"records[{i}].attributes must be a JSON object")
        try:
            time_ns = parse_timestamp(r.get("timestamp"))
        except BadRequest as exc:
            raise BadRequest(f"records[{i}]: {exc}")
        rec = dict(r)
        rec.update(
            time_ns=time_ns, resource=resource, source="http", attributes=r.get("attributes") or {}
        )
        rid = r.get("id")
        rec["id"] = rid if isinstance(rid, str) and rid else None
        out.append(rec)
    return out, sdk, resource


# ---------------------------------------------------------------- redaction counting


def _strings(value: Any, depth: int = 0) -> Iterable[str]:
    if depth > 40:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, depth + 1)


def redactions(record: Dict[str, Any]) -> Counter[str]:
    """Count what the privacy engine left visible in one record: markers by kind, and hashes."""
    seen: Counter[str] = Counter()
    parts = [record.get("attributes"), record.get("body"), record.get("events")]
    for text in _strings(parts):
        for action, kind in PLACEHOLDER.findall(text):
            seen[kind if action == "REDACTED" else f"{kind} ({action.lower()})"] += 1
        if HASHED_KEY.match(text):
            seen["identifier (hashed)"] += 1
    return seen
