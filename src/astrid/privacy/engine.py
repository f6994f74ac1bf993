"""PrivacyEngine: removes secrets, hashes identifiers, scrubs PII from values and enforces limits."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
from collections import abc
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from ..records import Record, _safe_str
from .detectors import ACTIONS, KINDS
from .keys import (
    DEFAULT_HASH_KEYS,
    DEFAULT_SECRET_KEYS,
    KEY_ALLOW,
    KEY_DENY,
    KEY_HASH,
    KEY_SCAN,
    KeyRules,
)
from .scrubber import Replacer, may_contain_pii, scrub_text

logger = logging.getLogger("astrid")

__all__ = [
    "DEFAULT_HASH_KEYS",
    "DEFAULT_SECRET_KEYS",
    "DETECTOR_KINDS",
    "PrivacyConfig",
    "PrivacyEngine",
]

DETECTOR_KINDS = KINDS
TRUNCATION_MARKER = "...[truncated]"
_HASHED_RE = re.compile(r"hash:[0-9a-f]{32}")
# the longest value a detector looks at, so a value cut at the limit is still scanned whole
_OVERLAP = 512
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PRIMITIVES = (str, bool, int, float)
_SCALARS = frozenset(_PRIMITIVES)
# strings shorter than this skip the length checks on the fast path
_SHORT = 1024
# integers at least this large may be card numbers written as numbers
_CARD_INT = 10**12
# distinct keys and names remembered as already clean (a flood of distinct ones clears it)
_CACHE_MAX = 4096
# our own placeholders, left out when a scrubbed key's rule is decided
_PLACEHOLDERS = re.compile(r"\[(?:REDACTED|HASHED|MASKED):[^\]]*\]")


def well_formed(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, as a JavaScript ``TextEncoder``
    does (a surrogate pair becomes its character), so it encodes as UTF-8 and hashes the same in
    both SDKs. A file name decoded with ``surrogateescape`` is the usual source."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


@dataclass(frozen=True)
class PrivacyConfig:
    """What the privacy engine removes, hashes and limits. Every option has a safe default.

    ``actions`` maps a detector kind (see ``DETECTOR_KINDS``) to ``"redact"`` (the default),
    ``"hash"``, ``"mask"``, ``"drop"`` (remove the attribute) or ``"off"``.
    """

    actions: Mapping[str, str] = field(default_factory=dict, hash=False)
    secret_keys: Tuple[str, ...] = DEFAULT_SECRET_KEYS
    hash_keys: Tuple[str, ...] = DEFAULT_HASH_KEYS
    allow_keys: Tuple[str, ...] = ()
    deny_keys: Tuple[str, ...] = ()
    salt: Optional[Union[str, bytes]] = None
    max_attributes: int = 128
    max_key_length: int = 256
    max_value_length: int = 4096
    max_depth: int = 5
    max_list_length: int = 128

    def __post_init__(self) -> None:
        # lists are accepted for convenience; tuples keep the frozen config hashable
        for name in ("secret_keys", "hash_keys", "allow_keys", "deny_keys"):
            value = getattr(self, name)
            if isinstance(value, (list, set, frozenset)):
                object.__setattr__(self, name, tuple(value))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the option and what is allowed."""
        if not isinstance(self.actions, Mapping):
            raise TypeError("actions must be a mapping of detector kind to action")
        for kind, action in self.actions.items():
            if kind not in KINDS:
                raise ValueError(
                    "actions: unknown detector {!r}; use one of {}".format(kind, ", ".join(KINDS))
                )
            if action not in ACTIONS:
                raise ValueError(
                    "actions[{!r}] must be one of {}; got {!r}".format(
                        kind, ", ".join(ACTIONS), action
                    )
                )
        for name in ("secret_keys", "hash_keys", "allow_keys", "deny_keys"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(k, str) for k in value):
                raise TypeError(f"{name} must be a list or tuple of key names (strings)")
        if self.salt is not None and not isinstance(self.salt, (str, bytes)):
            raise TypeError(
                "salt must be a string, bytes or None (None: derived from project_name)"
            )
        if self.salt is not None and len(self.salt) == 0:
            raise ValueError("salt must not be empty; use None for the per-project default")
        for name, lo, hi in (
            ("max_attributes", 1, 100_000),
            ("max_key_length", 8, 100_000),
            ("max_value_length", 32, 100_000_000),
            ("max_depth", 1, 64),
            ("max_list_length", 1, 1_000_000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer between {lo} and {hi}")
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo} and {hi}; got {value!r}")


_ATTRIBUTES_ONLY = frozenset({"event", "metric"})


class PrivacyEngine:
    """Sanitizes records before they leave the process. Never raises at run time.

    ``sanitize`` takes a record (changed in place and returned), a mapping of attributes (a new
    dict is returned) or a string (the scrubbed string is returned).
    """

    def __init__(self, config: Optional[PrivacyConfig] = None, project_name: str = "") -> None:
        if config is None:
            config = PrivacyConfig()
        if not isinstance(config, PrivacyConfig):
            raise TypeError("privacy must be a PrivacyConfig or None (None: the safe defaults)")
        if not isinstance(project_name, str):
            raise TypeError("project_name must be a string")
        self.config = config
        salt = config.salt
        if salt is None:
            # stable for one project, different for every other: hashes cannot be joined across
            # projects (a secret salt also keeps them from being guessed from the project name)
            salt = "astrid-privacy-salt:" + project_name
        self._salt = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
        self._actions: Dict[str, str] = {kind: "redact" for kind in KINDS}
        self._actions.update(config.actions)
        self._replacer = Replacer(self.hash_value)
        self._keys = KeyRules(
            config.secret_keys, config.hash_keys, config.allow_keys, config.deny_keys
        )
        self._max_attrs = config.max_attributes
        self._max_key = config.max_key_length
        self._max_value = config.max_value_length
        self._max_depth = config.max_depth
        self._max_list = config.max_list_length
        # raw key -> (clean key, rule) and raw name -> clean name, for keys and names found clean
        self._key_cache: Dict[str, Tuple[str, int]] = {}
        self._name_cache: Dict[str, str] = {}
        #: kind -> how many values were replaced (never the values themselves)
        self.found: Dict[str, int] = {}
        self.counts: Dict[str, int] = {
            "keys_removed": 0,
            "keys_hashed": 0,
            "attributes_dropped": 0,
            "values_truncated": 0,
            "records_failed": 0,
        }

    # ------------------------------------------------------------------ public

    def hash_value(self, value: str) -> str:
        """HMAC-SHA256 of ``value`` under the project's salt, as 32 hex digits."""
        mac = hmac.new(self._salt, well_formed(value).encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()[:32]

    def sanitize(self, item: Any) -> Any:
        """A sanitized copy of a string or mapping, or the record sanitized in place.

        Never raises: when something cannot be sanitized the result is ``None`` for a record
        (the pipeline then drops it), ``{}`` for a mapping and ``""`` for a string.
        """
        try:
            if isinstance(item, Record):  # the pipeline's case first: a cheap class check
                return self.sanitize_record(item)
            if isinstance(item, str):
                return self.sanitize_text(item)
            if isinstance(item, abc.Mapping):
                return self.sanitize_attributes(item)
            return self.sanitize_record(item)
        except Exception as exc:  # not a record, or a broken one: the host must not see it
            # the type only: a message or traceback could carry the very values being removed
            logger.warning(
                "privacy: sanitizing a %s failed (%s)", type(item).__name__, type(exc).__name__
            )
            self.counts["records_failed"] += 1
            return "" if isinstance(item, str) else ({} if isinstance(item, Mapping) else None)

    def sanitize_text(self, text: str) -> str:
        """Free text (a log body, a message): detected values replaced, length limited."""
        return self._text(text, tail=False)[0]

    def sanitize_attributes(self, attributes: Mapping[Any, Any]) -> Dict[str, Any]:
        """Attributes with key rules, value detectors and limits applied (a new dict)."""
        out: Dict[str, Any] = {}
        self._attrs(attributes, "", 1, out)
        return out

    def sanitize_name(self, name: Any) -> str:
        """An event, span, span-event or metric name: scanned like text (a name that is a URL
        keeps its path and loses secret query values). Clean names are remembered."""
        cached = self._name_cache.get(name) if type(name) is str else None
        if cached is not None:
            return cached
        text = name if type(name) is str else _safe_str(name)
        clean = self._text(text)[0]
        if clean == text and type(name) is str:
            cache = self._name_cache
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[text] = text
        return clean

    def sanitize_record(self, record: Any) -> Any:
        """Sanitize a record in place: name, attributes, log body, span events and status."""
        kind = getattr(record, "type", None)
        if kind in _ATTRIBUTES_ONLY:
            # events and metric points carry nothing else (the hot path: no failing lookups)
            name = record.name
            cached = self._name_cache.get(name) if type(name) is str else None
            record.name = cached if cached is not None else self.sanitize_name(name)
            record.attributes = self.sanitize_attributes(record.attributes or {})
            if kind == "metric":
                if record.unit:
                    record.unit = self.sanitize_name(record.unit)
                if record.description:
                    record.description = self.sanitize_name(record.description)
            return record
        finalize = getattr(record, "finalize", None)
        if finalize is not None:
            # an error record formats its exception lazily; its text must be scanned too
            finalize()
        record.attributes = self.sanitize_attributes(record.attributes or {})
        name = getattr(record, "name", None)
        if name is not None:
            record.name = self.sanitize_name(name)
        body = getattr(record, "body", None)
        if body is not None:
            record.body = self._text(body if isinstance(body, str) else _safe_str(body))[0]
        message = getattr(record, "status_message", None)
        if message:
            record.status_message = self._text(
                message if isinstance(message, str) else _safe_str(message)
            )[0]
        for event in getattr(record, "events", None) or ():
            event.name = self.sanitize_name(event.name)
            event.attributes = self.sanitize_attributes(event.attributes or {})
        return record

    def sanitize_batch(self, records: Iterable[Any]) -> List[Any]:
        """Sanitized records; one that cannot be sanitized is dropped and counted, never sent."""
        out = []
        for record in records:
            try:
                out.append(self.sanitize_record(record))
            except Exception:
                self.counts["records_failed"] += 1
                logger.warning(
                    "privacy: dropped a %s that could not be sanitized", type(record).__name__
                )
        return out

    def stats(self) -> Dict[str, int]:
        """What the engine removed so far, by detector kind and by rule (non-zero counts only).

        For example ``{"email": 2, "keys_removed": 1, "keys_hashed": 3}``; never the values.
        """
        out = {kind: n for kind, n in self.found.items() if n}
        out.update((name, n) for name, n in self.counts.items() if n)
        return out

    # ------------------------------------------------------------------ internals

    def _text(self, text: str, tail: bool = False) -> Tuple[str, bool]:
        if not text.isascii():
            text = well_formed(text)
        limit = self._max_value
        cut = len(text) > limit + _OVERLAP
        if cut:
            # no need to scan what truncation throws away
            text = text[-(limit + _OVERLAP) :] if tail else text[: limit + _OVERLAP]
        drop = False
        if may_contain_pii(text):
            text, drop = scrub_text(text, self._actions, self._replacer, self.found)
        if cut or len(text) > limit:
            self.counts["values_truncated"] += 1
            text = _truncate(text, limit, tail, force=True)
            # cutting can complete a pattern (a 20-digit run cut to a valid card): scan the cut
            # text again until nothing changes
            for _ in range(4):
                if not may_contain_pii(text):
                    break
                again, dropped = scrub_text(text, self._actions, self._replacer, self.found)
                drop = drop or dropped
                if again == text:
                    break
                text = _truncate(again, limit, tail)
        return text, drop

    def _attrs(
        self, attrs: Mapping[Any, Any], prefix: str, depth: int, out: Dict[str, Any]
    ) -> None:
        kcache = self._key_cache
        counts = self.counts
        max_key = self._max_key
        max_attrs = self._max_attrs
        short = min(_SHORT, self._max_value)
        try:
            items = list(attrs.items())
        except Exception:
            logger.warning("privacy: could not read the items of a %s", type(attrs).__name__)
            return
        for key, value in items:
            if type(key) is not str:
                key = _safe_str(key)
            if prefix:
                key = prefix + key
            entry = kcache.get(key)
            if entry is None:
                entry = self._key(key, max_key)
                if entry is None:  # the key itself holds a value whose action is drop
                    counts["attributes_dropped"] += 1
                    continue
            key, rule = entry
            t = type(value)
            if rule == KEY_SCAN and len(out) < max_attrs:
                # the common case, kept to a few cheap checks: a clean short string or a number
                if t is str:
                    if (
                        len(value) < short
                        and not may_contain_pii(value)
                        and (value.isascii() or well_formed(value) is value)
                    ):
                        out[key] = value
                        continue
                elif (t is bool or (t is int and -_CARD_INT < value < _CARD_INT)) or (
                    t is float and math.isfinite(value)
                ):
                    out[key] = value
                    continue
            if rule == KEY_DENY:
                counts["keys_removed"] += 1
                continue
            if value is None:
                continue
            if t is dict or (t not in _SCALARS and isinstance(value, abc.Mapping)):
                if depth >= self._max_depth:
                    value = "[nested too deep]"
                else:
                    self._attrs(value, key + ".", depth + 1, out)
                    continue
            if len(out) >= max_attrs and key not in out:
                counts["attributes_dropped"] += 1
                continue
            if rule == KEY_HASH:
                hashed = self._hash_attr(value)
                if hashed is not None:
                    if hashed != value:  # already hashed (sanitized twice) is not counted again
                        counts["keys_hashed"] += 1
                    out[key] = hashed
                continue
            cleaned = self._value(value, rule == KEY_ALLOW, key == "exception.stacktrace")
            if cleaned is _DROP:
                counts["attributes_dropped"] += 1
                continue
            out[key] = cleaned

    def _key(self, raw: str, max_key: int) -> Optional[Tuple[str, int]]:
        """The clean key and its rule; remembered when the key needed no change."""
        key = raw[:max_key] if len(raw) > max_key else raw
        key = well_formed(key)
        changed = key is not raw
        if may_contain_pii(key):
            # a key can hold what a value holds: {"ada@example.com": 1}, {"GET /r?token=x": 2}
            scrubbed, drop = scrub_text(key, self._actions, self._replacer, self.found)
            if drop:
                return None
            if scrubbed != key:
                changed = True
                key = scrubbed[:max_key]
        rules = self._keys
        # our placeholders say nothing about the key (and sanitizing twice must change nothing)
        decide = _PLACEHOLDERS.sub("", key) if "[" in key else key
        entry = (key, rules.rule(decide))
        if not changed:
            cache = self._key_cache
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[raw] = entry
        return entry

    def _value(self, value: Any, trusted: bool, tail: bool) -> Any:
        t = type(value)
        if t is str:
            if trusted:
                return _truncate(well_formed(value), self._max_value, tail)
            text, drop = self._text(value, tail)
            return _DROP if drop else text
        if t is bool:
            return value
        if t is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return self._value(str(value), trusted, tail)
            if not trusted and (value >= _CARD_INT or value <= -_CARD_INT):
                # a card number stored as a number is still a card number
                text, drop = self._text(str(value))
                if drop:
                    return _DROP
                return value if text == str(value) else text
            return value
        if t is float:
            return value if math.isfinite(value) else str(value)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)[: self._max_list]
            cleaned = []
            for item in items:
                if not isinstance(item, _PRIMITIVES) or isinstance(item, (list, tuple)):
                    item = _safe_str(item)
                v = self._value(item, trusted, False)
                if v is _DROP:
                    return _DROP
                cleaned.append(v)
            return cleaned
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value).decode("utf-8", "replace")
        elif isinstance(value, str):  # a subclass (a str enum): its own __str__ may differ
            value = str.__str__(value)
        elif isinstance(value, bool):
            value = bool(value)
        elif isinstance(value, int):
            value = int(value)
        elif isinstance(value, float):
            value = float(value)
        else:
            value = _safe_str(value)
        return self._value(value, trusted, tail)

    def _hash_attr(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [v for v in list(value)[: self._max_list] if v is not None]
            return [v if isinstance(v, bool) else self._hash_one(v) for v in items]
        return self._hash_one(value)

    def _hash_one(self, value: Any) -> str:
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        text = well_formed(str.__str__(value) if isinstance(value, str) else _safe_str(value))
        if _HASHED_RE.fullmatch(text):
            return text
        return "hash:" + self.hash_value(text)


class _Drop:
    __slots__ = ()


_DROP: Any = _Drop()


def _truncate(text: str, limit: int, tail: bool, force: bool = False) -> str:
    """Cut ``text`` to ``limit`` characters with a marker (``force``: something was cut already)."""
    if len(text) <= limit and not force:
        return text
    keep = min(len(text), limit - len(TRUNCATION_MARKER))
    if tail:
        return TRUNCATION_MARKER + text[len(text) - keep :]
    return text[:keep] + TRUNCATION_MARKER
