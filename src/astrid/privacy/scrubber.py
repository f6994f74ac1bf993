"""The scrubber: the cheap pre-scan, then each detector's gate, pattern and validator in turn."""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Tuple

from .detectors import DETECTORS, Validator, gates

# The pre-scan: every detector's match contains one of these literals or a run of seven
# digit-like characters (or the digits and groups of an IBAN). Each pattern starts with a
# literal or one character class, so the regex engine skips ahead in C over characters that
# cannot start a match: a clean string, the common case, costs two fast searches.
_TRIGGER = re.compile(
    r"@|=|:|-----BEGIN|eyJ|Bearer|bearer|BEARER|Basic|basic|BASIC|AKIA|ASIA|ABIA|ACCA|ghp_|gho_"
    r"|ghs_|ghu_|ghr_|github_pat_|xox|sk_|rk_|AIza|sk-|/home/|/Users/|/users/|--|</|%40"
)
# (written with the leading \d outside the group so the engine can skip to digits quickly)
_TRIGGER_DIGITS = re.compile(r"\d(?:[\d \t().-]{5,}\d|\d ?[A-Z0-9]{4} ?[A-Z0-9]{4})")
_DIGIT_RUN = re.compile(r"\d[\d \t().-]*\d")

_VALUE_GROUPS = ("v", "v1", "v2")
# kinds whose value is a run of separated groups, where a shorter run can be the real value
_SHRINKABLE = frozenset({"iban", "phone", "card"})


def may_contain_pii(text: str) -> bool:
    """The cheap pre-scan: False means no detector can match ``text``."""
    if len(text) < 6:
        # nothing this short is worth finding except an IPv6 address such as "::2"
        return len(text) >= 3 and ":" in text
    return _TRIGGER.search(text) is not None or _TRIGGER_DIGITS.search(text) is not None


class Replacer:
    """Turns a found value into its replacement for one kind and action."""

    __slots__ = ("hasher",)

    def __init__(self, hasher: Callable[[str], str]) -> None:
        self.hasher = hasher

    def replace(self, kind: str, action: str, value: str) -> str:
        if action == "hash":
            return f"[HASHED:{kind}:{self.hasher(value)}]"
        if action == "mask":
            tail = "".join(ch for ch in value if ch.isalnum())[-4:]
            return f"[MASKED:{kind}:{tail}]"
        if kind == "home_path":
            return "~"
        return f"[REDACTED:{kind}]"


#: passes over one text at most: a value glued to another ("(030) 12345678eyJ...", an e-mail
#: right after base64) is only seen once its neighbour has been replaced
MAX_PASSES = 4


def scrub_text(
    text: str,
    actions: Dict[str, str],
    replacer: Replacer,
    found: Optional[Dict[str, int]] = None,
) -> Tuple[str, bool]:
    """Replace every detected value in ``text``, pass after pass until nothing changes.

    Returns the new text and whether a detector whose action is ``drop`` matched. ``found``
    (kind -> count) is updated with what was replaced; it never holds the values themselves.
    Text in which nothing is found costs one pass.
    """
    drop = False
    for _ in range(MAX_PASSES):
        new, dropped = _scrub_once(text, actions, replacer, found)
        drop = drop or dropped
        if new == text:
            break
        text = new
        if not may_contain_pii(text):
            break
    return text, drop


def _scrub_once(
    text: str,
    actions: Dict[str, str],
    replacer: Replacer,
    found: Optional[Dict[str, int]],
) -> Tuple[str, bool]:
    drop = False
    # gates are read on the text as given: replacing a value only ever removes matches
    for (kind, pattern, validator), open_ in zip(DETECTORS, gates(text, _longest_digit_run(text))):
        if not open_:
            continue
        action = actions.get(kind, "redact")
        if action == "off":
            continue
        sub = _Substitution(kind, action, validator, replacer)
        text = _sub_all(pattern, text, sub)
        if sub.hits:
            if found is not None:
                found[kind] = found.get(kind, 0) + sub.hits
            if action == "drop":
                drop = True
    return text, drop


def _longest_digit_run(text: str) -> int:
    return max(map(len, _DIGIT_RUN.findall(text)), default=0)


def _sub_all(pattern: re.Pattern[str], text: str, sub: _Substitution) -> str:
    """Like ``pattern.sub``, except that a match its validator rejects is searched again one
    character further on, so "AA0000000000 DE89..." still finds the IBAN inside the match."""
    parts: List[str] = []
    pos = last = 0
    n = len(text)
    while pos <= n:
        m = pattern.search(text, pos)
        if m is None:
            break
        replacement = sub(m)
        if replacement is None:
            pos = m.start() + 1
            continue
        parts.append(text[last : m.start()])
        parts.append(replacement)
        last = m.end()
        pos = last if last > m.start() else last + 1
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


class _Substitution:
    """The re.sub callback of one detector: validate, then replace only the value group."""

    __slots__ = ("kind", "action", "validator", "replacer", "hits")

    def __init__(self, kind: str, action: str, validator: Validator, replacer: Replacer) -> None:
        self.kind = kind
        # text cannot be dropped here; the caller drops the attribute that holds it
        self.action = "redact" if action == "drop" else action
        self.validator = validator
        self.replacer = replacer
        self.hits = 0

    def __call__(self, m: re.Match[str]) -> Optional[str]:
        groups = m.groupdict()
        for g in _VALUE_GROUPS:
            if groups.get(g) is not None:
                break
        else:  # pragma: no cover - every pattern has a value group
            return m.group(0)
        start, end = m.span(g)
        value = m.string[start:end]
        if self.validator is not None and not self.validator(value, m):
            if self.kind not in _SHRINKABLE:
                return None
            # "+44 20 7946 0958 12" or "DE89...3000 1": the pattern took one group too many
            # and the whole fails its check; a shorter run of the groups may be the real value
            while True:
                cut = max(value.rfind(" "), value.rfind("-"), value.rfind("."))
                if cut <= 0:
                    return None
                value = value[:cut]
                if self.validator(value, m):
                    end = start + len(value)
                    break
        self.hits += 1
        s = m.string
        return (
            s[m.start() : start]
            + self.replacer.replace(self.kind, self.action, value)
            + s[end : m.end()]
        )
