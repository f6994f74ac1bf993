"""Key rules: which attribute keys name a secret (removed) or a person's identifier (hashed)."""

from __future__ import annotations

import re
from typing import Dict, FrozenSet, Iterable, List, Tuple

#: Keys whose value is a secret; the attribute is removed. Matched on the key's last words,
#: ignoring case and separators: ``db_password``, ``X-Api-Key`` and ``user.authToken`` match.
#: ``sessionid`` (one word: the name of a session cookie) is a secret; ``session.id`` is not.
DEFAULT_SECRET_KEYS: Tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "secret_key",
    "private_key",
    "authorization",
    "auth",
    "cookie",
    "set-cookie",
    "session",
    "sessionid",
    "jsessionid",
    "phpsessid",
    "csrf",
    "xsrf",
    "credential",
    "credentials",
    "credit_card",
    "card_number",
    "cc_number",
    "cvv",
    "cvc",
    "ssn",
    "social_security_number",
    "iban",
    "bank_account",
    "account_number",
    "jwt",
)

#: Keys that name a person's identifier; the value is replaced by a keyed hash. A key whose
#: words are exactly these words (``session.id``, ``session_id``, ``sessionId``) is hashed even
#: when its letters run together into a secret key (``sessionid``).
DEFAULT_HASH_KEYS: Tuple[str, ...] = (
    "user_id",
    "user",
    "username",
    "user_name",
    "email",
    "e_mail",
    "email_address",
    "mail",
    "ip",
    "ip_address",
    "client_ip",
    "remote_addr",
    "remote_ip",
    "client_address",
    "enduser_id",
    "phone",
    "phone_number",
    "customer_id",
    "account_id",
    "device_id",
    "session_id",
)

# Words that make a key secret wherever they stand in it (``password_hint``, ``secret_arn``).
_ALWAYS_SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "secret"})

KEY_SCAN, KEY_DENY, KEY_HASH, KEY_ALLOW = 0, 1, 2, 3

_CAMEL_1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_CACHE_MAX = 4096


def key_words(key: str) -> List[str]:
    """``user.authToken`` → ``["user", "auth", "token"]``."""
    spaced = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", key))
    return [w for w in _NON_ALNUM.split(spaced.lower()) if w]


def normalize_key(key: str) -> str:
    """The key without case or separators: ``X-Api-Key`` → ``xapikey``."""
    return "".join(key_words(key))


def _names(keys: Iterable[str]) -> FrozenSet[str]:
    return frozenset(n for n in (normalize_key(k) for k in keys) if n)


def _ends_with_name(words: List[str], names: FrozenSet[str]) -> bool:
    return any("".join(words[i:]) in names for i in range(len(words)))


def _word_names(keys: Iterable[str]) -> FrozenSet[Tuple[str, ...]]:
    return frozenset(t for t in (tuple(key_words(k)) for k in keys) if t)


def _ends_with_words(words: List[str], names: FrozenSet[Tuple[str, ...]]) -> bool:
    return any(tuple(words[i:]) in names for i in range(len(words)))


class KeyRules:
    """Decides, once per distinct key, what happens to an attribute (the answer is cached)."""

    def __init__(
        self,
        secret_keys: Iterable[str],
        hash_keys: Iterable[str],
        allow_keys: Iterable[str],
        deny_keys: Iterable[str],
    ) -> None:
        secret_keys, hash_keys = tuple(secret_keys), tuple(hash_keys)
        self._secret = _names(secret_keys)
        self._secret_words = _word_names(secret_keys)
        self._always = _ALWAYS_SECRET_WORDS & self._secret
        self._hash = _names(hash_keys)
        self._hash_words = _word_names(hash_keys)
        self._allow = _names(allow_keys)
        self._deny = _names(deny_keys)
        self.cache: Dict[str, int] = {}

    def rule(self, key: str) -> int:
        """KEY_DENY (remove), KEY_HASH, KEY_ALLOW (never scanned) or KEY_SCAN."""
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        rule = self._decide(key)
        if len(self.cache) >= _CACHE_MAX:
            # keys are usually a small fixed set; a flood of distinct keys must not grow memory
            self.cache.clear()
        self.cache[key] = rule
        return rule

    def _decide(self, key: str) -> int:
        words = key_words(key)
        whole = "".join(words)
        if whole in self._deny:
            return KEY_DENY
        if whole in self._allow:
            return KEY_ALLOW
        if any(w in self._always for w in words) or _ends_with_words(words, self._secret_words):
            return KEY_DENY
        # word for word an identifier (session.id) beats letters that run into a secret (sessionid)
        if _ends_with_words(words, self._hash_words):
            return KEY_HASH
        if _ends_with_name(words, self._secret):
            return KEY_DENY
        if _ends_with_name(words, self._hash):
            return KEY_HASH
        return KEY_SCAN
