"""Value-level PII detectors: the kinds, their patterns, validators and cheap gates."""

from __future__ import annotations

import ipaddress
import re
from typing import Callable, Optional, Tuple

# Every pattern below is written for bounded backtracking: runs have an upper bound, each
# pattern starts with a negative look-behind on its own leading character class (so inside a
# long run only the first position does any work), and repeated groups start with a fixed
# separator so a string can be split into groups in one way only. That keeps a scan linear in
# the length of the text even on adversarial input.

#: Detector kinds, in the order they run. Earlier detectors win over later ones.
KINDS: Tuple[str, ...] = (
    "private_key",
    "url_credentials",
    "url_secret",
    "jwt",
    "auth_header",
    "api_key",
    "secret",
    "email",
    "iban",
    "card",
    "ssn",
    "phone",
    "ip",
    "home_path",
)

ACTIONS: Tuple[str, ...] = ("redact", "hash", "mask", "drop", "off")

# Our own placeholders must never be matched again: that keeps sanitizing idempotent.
_NOT_PLACEHOLDER = r"(?!\[(?:REDACTED|HASHED|MASKED):)"
_PLACEHOLDER_HEAD = re.compile(r"\[(?:HASHED|MASKED):[a-z_]*$")

_PRIVATE_KEY = re.compile(
    r"(?P<v>-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY[ A-Z]{0,10}-----"
    r"(?:[^-]|-(?!----)){0,16384}"
    r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY[ A-Z]{0,10}-----)?)"
)

_URL_CREDENTIALS = re.compile(r"://(?P<v>[^\s/?#@:\[\]]{0,128}:[^\s/?#@\[\]]{1,256})@")

_URL_SECRET_NAMES = (
    "access_token|refresh_token|id_token|auth_token|private_token|token|api_key|apikey|api-key|"
    "key|password|passwd|pwd|secret|client_secret|sig|signature|session|sessionid|session_id|"
    "jwt|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    "x-goog-credential|code|auth|authorization|auth_key|authkey|accesstoken|access-token|"
    "session_token|sessiontoken|csrf_token|csrf|xsrf_token|oauth_token|oauth_verifier|"
    "oauth_signature|client_assertion|assertion|samlresponse|credential|credentials|"
    "private_key|access_key|secret_key|otp|ticket"
)
_URL_SECRET = re.compile(
    r"[?&;#](?i:" + _URL_SECRET_NAMES + r")=" + _NOT_PLACEHOLDER + r"(?P<v>[^&#\s\"'<>()]{1,2048})"
)

_JWT = re.compile(
    r"(?<![A-Za-z0-9_-])(?P<v>eyJ[A-Za-z0-9_-]{5,8192}\.eyJ[A-Za-z0-9_-]{2,16384}"
    r"\.[A-Za-z0-9_-]{0,8192})(?![A-Za-z0-9_-])"
)

_AUTH_HEADER = re.compile(
    r"(?<![A-Za-z0-9])(?i:bearer|basic)[ \t]{1,4}(?P<v>[A-Za-z0-9._~+/-]{8,4096}={0,3})"
    r"(?![A-Za-z0-9._~+/=-])"
)

_API_KEY = re.compile(
    r"(?<![A-Za-z0-9_-])(?P<v>"
    r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,255}"
    r"|github_pat_[A-Za-z0-9_]{20,255}"
    r"|xox[abposre]-[A-Za-z0-9-]{10,250}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{10,247}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|sk-[A-Za-z0-9_-]{20,250}"
    r")(?![A-Za-z0-9_-])"
    # an AWS secret access key is only recognisable next to a hint that names it
    r"|(?<![A-Za-z0-9])(?i:aws)[A-Za-z0-9_.-]{0,32}?(?i:secret|key)[A-Za-z0-9_.-]{0,20}?"
    r"[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?(?P<v2>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)

_SECRET_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|credentials?|session[_-]?id"
)
_SECRET = re.compile(
    # the name starts a word: after a separator, a camel-case hump (dbPassword, db_password) or,
    # in an upper-case environment variable, right after its prefix (PGPASSWORD, MYSQLPWD)
    r"(?:(?<![A-Za-z0-9])|(?<=[a-z0-9])(?=[A-Z])"
    r"|(?<=[A-Z])(?=(?:PASSWORD|PASSWD|PASSPHRASE|PWD|SECRET|TOKEN)[\"']?[ \t]{0,3}[:=]))"
    r"(?i:" + _SECRET_WORDS + r")"
    r"(?P<sep>[\"']?[ \t]{0,3}[:=][ \t]{0,3})" + _NOT_PLACEHOLDER + r"(?:\"(?P<v1>[^\"\n]{1,256})\""
    r"|'(?P<v2>[^'\n]{1,256})'|(?P<v>[^\s\"',;&<>(){}\[\]]{1,256}))"
)

# a command-line flag with its value after a space or '=': --password hunter2, --db-token=abc
_SECRET_FLAG = re.compile(
    r"(?<![A-Za-z0-9-])--(?:[A-Za-z0-9]{1,20}-){0,3}(?i:" + _SECRET_WORDS + r"|client-secret)"
    r"(?:[ \t]{1,3}|=)" + _NOT_PLACEHOLDER + r"(?:\"(?P<v1>[^\"\n]{1,256})\""
    r"|'(?P<v2>[^'\n]{1,256})'|(?P<v>[^\s\"',;&<>(){}\[\]-][^\s\"',;&<>(){}\[\]]{0,255}))"
)

# an XML element: <password>hunter2</password>, <db_password>...</db_password>, <dbPassword>
_SECRET_XML = re.compile(
    r"<[A-Za-z0-9_.:-]{0,40}?(?i:" + _SECRET_WORDS + r")>" + _NOT_PLACEHOLDER
    + r"(?P<v>[^<>\n]{1,256})</"
)

_EMAIL = re.compile(
    # the @ may be URL-encoded (?email=ada%40example.com)
    r"(?<![A-Za-z0-9._%+-])(?P<v>[A-Za-z0-9._%+-]{1,64}(?:@|%40)[A-Za-z0-9-]{1,63}"
    r"(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24})(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
)

_IBAN = re.compile(
    r"(?<![A-Za-z0-9])(?P<v>[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)"
    r"(?![A-Za-z0-9])"
)

_CARD = re.compile(
    # plain, or 3-5 groups under one separator: 4-4-4-4, 4-6-5, 4-3-3-3, 4-4-4-4-3, 6-13 ...
    r"(?<![A-Za-z0-9_-])(?P<v>[2-6]\d{12,18}"
    r"|[2-6]\d{3,5}(?P<s1>[ .-])\d{2,13}(?:(?P=s1)\d{1,7}){0,3})(?![A-Za-z0-9_])"
)

_SSN = re.compile(
    r"(?<![A-Za-z0-9_-])(?P<v>(?!000|666|9\d\d)\d{3}(?P<s>[- ])(?!00)\d{2}(?P=s)(?!0000)\d{4})"
    r"(?![A-Za-z0-9_-])"
)

_PHONE = re.compile(
    r"(?<![A-Za-z0-9_+])(?P<v>"
    # international: compact E.164, or country code then groups with separators
    r"\+[1-9]\d{6,14}(?!\d)"
    r"|\+[1-9]\d{0,3}(?:[ .-]?\(\d{1,5}\))?[ .-]?\d{1,8}(?:[ .-]\d{1,8}){0,6}(?!\d)"
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567, 1-555-123-4567
    r"|(?<![.-])(?:1[ .-])?(?:\([2-9]\d{2}\)[ ]?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}(?![\d]|[.-]\d)"
    # national with a trunk 0: 020 7946 0958, 06 12 34 56 78, 030-1234567
    # (not inside a longer run of digit groups: "5105 1051 0510 5101" is no phone number)
    r"|(?<![.-])(?<!\d )0[1-9]\d{0,3}(?:[ .-]\d{2,8}){1,4}(?!\d|[.-]\d)"
    # a two- to four-digit area code in brackets: (030) 12345678, (11) 91234-5678, (02) 9876 5432
    r"|\(0?[1-9]\d{0,3}\)[ ]?\d{2,8}(?:[ .-]\d{2,8}){0,3}(?!\d|[.-]\d)"
    # the 00 international prefix: 0049 30 12345678
    r"|(?<![.-])(?<!\d )00[1-9]\d{0,3}(?:[ .-]\d{1,8}){1,6}(?!\d|[.-]\d)"
    # a slash after the area code: 030/12345678
    r"|(?<![/.-])0[1-9]\d{1,4}/\d{3,10}(?![\d/]|\.\w)"
    r")"
)

_IPV4 = re.compile(
    r"(?<![A-Za-z0-9_.])(?P<v>(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))(?![A-Za-z0-9_]|\.\d)"
)
_IPV6 = re.compile(
    r"(?<![A-Za-z0-9_:.])(?P<v>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}"
    r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?)(?![A-Za-z0-9_:]|\.[A-Za-z0-9])"
)

_HOME_END = r"(?=[/\\\s\"'<>:|,;)\]]|$)"
_HOME = re.compile(
    r"(?<![A-Za-z0-9_.~-])(?P<v>/(?:home|Users)/[^/\\\s\"'<>:|*?()\[\]]{1,64})"
    + _HOME_END
    # C:\Users\<u>, C:/Users/<u>, and the same folder under WSL and Cygwin/MSYS mounts
    + r"|(?<![A-Za-z0-9_])(?P<v2>(?:[A-Za-z]:|(?:/mnt|/cygdrive)?/[A-Za-z](?=/))(?:\\{1,2}|/)"
    r"(?i:users)(?:\\{1,2}|/)"
    r"[^/\\\s\"'<>:|*?()\[\]]{1,64})" + _HOME_END
)
_SHARED_HOMES = frozenset({"shared", "public", "default", "default user", "all users"})

_FILE_EXTENSIONS = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "ico",
        "bmp",
        "css",
        "js",
        "mjs",
        "ts",
        "tsx",
        "jsx",
        "map",
        "json",
        "txt",
        "py",
        "md",
        "html",
        "htm",
        "xml",
        "yaml",
        "yml",
        "toml",
        "lock",
        "whl",
    ]
)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string (payment cards)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """Length and the ISO 13616 mod-97 check of an IBAN (spaces ignored)."""
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _card_ok(v: str, m: re.Match[str]) -> bool:
    digits = v.replace(" ", "").replace("-", "").replace(".", "")
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _phone_ok(v: str, m: re.Match[str]) -> bool:
    n = sum(1 for ch in v if ch.isdigit())
    if v.startswith("+"):
        return 8 <= n <= 15
    if v.startswith("00"):
        return 10 <= n <= 17
    if v.startswith("0") or v.startswith("("):
        return 9 <= n <= 12
    return True


def _email_ok(v: str, m: re.Match[str]) -> bool:
    return v.rsplit(".", 1)[-1].lower() not in _FILE_EXTENSIONS


def _ipv4_ok(v: str, m: re.Match[str]) -> bool:
    return not (v.startswith("127.") or v in ("0.0.0.0", "255.255.255.255"))


def _ipv6_ok(v: str, m: re.Match[str]) -> bool:
    # an address has "::" or all eight groups (six when it ends in an IPv4 address); checking
    # that first keeps the parser away from clock times and other colon-separated text
    if "::" not in v and v.count(":") < 6:
        return False
    try:
        addr = ipaddress.IPv6Address(v)
    except ValueError:
        return False
    return not (addr.is_loopback or addr.is_unspecified)


def _secretish(v: str, m: re.Match[str]) -> bool:
    """A word after ``Bearer``/``Basic`` is a credential only if it does not look like prose."""
    return any(ch.isdigit() or ch in "+/=._~-" for ch in v) or any(ch.isupper() for ch in v[1:])


def _home_ok(v: str, m: re.Match[str]) -> bool:
    name = re.split(r"[\\/]+", v.rstrip("\\/"))[-1]
    return name.lower() not in _SHARED_HOMES


def _secret_ok(v: str, m: re.Match[str]) -> bool:
    s = m.string
    start = m.start()
    if _PLACEHOLDER_HEAD.search(s, max(0, start - 24), start):
        # "[HASHED:api_key:3f2a...]" is our own output, not an assignment
        return False
    sep = m.start("sep")
    if s[sep - 3 : sep].lower() == "pwd" and _PATHLIKE.match(v):
        # PWD=/home/ada/app is the shell's working directory, not a password
        return False
    # "Invalid token: expired" is prose; "token: s3cr3t" and "password: correcthorsebatterystaple"
    # are not. An unquoted value after ':' therefore must not read as one short word, unless
    # the line holds nothing but the assignment (a YAML or .env line: "pwd: letmein").
    if m.group("v") is None or "=" in m.group("sep"):
        return True
    if len(v) >= 16 or not v.isalpha():
        return True
    end = m.end()
    return (end == len(s) or s[end] in "\r\n") and _LINE_START.fullmatch(
        s, s.rfind("\n", 0, start) + 1, start
    ) is not None


_PATHLIKE = re.compile(r"[/~]|[A-Za-z]:[\\/]")
# what may stand before a key on its line: indentation, a YAML list dash, an opening quote
_LINE_START = re.compile(r"[ \t]*(?:- )?[\"']?[A-Za-z0-9_.-]*")


def _iban_ok(v: str, m: re.Match[str]) -> bool:
    return iban_ok(v)


Validator = Optional[Callable[[str, "re.Match[str]"], bool]]

_API_HINT = re.compile(
    r"AKIA|ASIA|ABIA|ACCA|ghp_|gho_|ghs_|ghu_|ghr_|github_pat_|xox|k_live_|k_test_|AIza|sk-"
)
_IBAN_HINT = re.compile(r"[A-Z]{2}\d\d ?[A-Z0-9]{4}")
_SECRET_HINT = re.compile(r"pass|pwd|secret|token|key|credential|session")

#: Every detector in the order it runs: (kind, pattern, validator). The value is the group
#: named v (or v1/v2); the validator, when there is one, has the last word on a match.
DETECTORS: Tuple[Tuple[str, re.Pattern[str], Validator], ...] = (
    ("private_key", _PRIVATE_KEY, None),
    ("url_credentials", _URL_CREDENTIALS, None),
    ("url_secret", _URL_SECRET, None),
    ("jwt", _JWT, None),
    ("auth_header", _AUTH_HEADER, _secretish),
    ("api_key", _API_KEY, None),
    ("secret", _SECRET, _secret_ok),
    ("secret", _SECRET_FLAG, None),
    ("secret", _SECRET_XML, None),
    ("email", _EMAIL, _email_ok),
    ("iban", _IBAN, _iban_ok),
    ("card", _CARD, _card_ok),
    ("ssn", _SSN, None),
    ("phone", _PHONE, _phone_ok),
    ("ip", _IPV6, _ipv6_ok),
    ("ip", _IPV4, _ipv4_ok),
    ("home_path", _HOME, _home_ok),
)


def gates(text: str, digit_run: int) -> Tuple[bool, ...]:
    """For each of DETECTORS, a cheap necessary condition for it to match ``text``.

    ``digit_run`` is the length of the longest run of digits and separators. Most text opens
    no gate, so most detectors never run their pattern.
    """
    lower = text.lower()
    return (
        "-----BEGIN" in text,
        "://" in text and "@" in text,
        "=" in text,
        "eyJ" in text,
        "bearer" in lower or "basic" in lower,
        "aws" in lower or _API_HINT.search(text) is not None,
        ("=" in text or ":" in text) and _SECRET_HINT.search(lower) is not None,
        "--" in text and _SECRET_HINT.search(lower) is not None,
        "</" in text and _SECRET_HINT.search(lower) is not None,
        "@" in text or "%40" in text,
        _IBAN_HINT.search(text) is not None,
        # the shortest card is 13 digits, an SSN 11 characters, a phone number or IPv4 address 7
        digit_run >= 13,
        digit_run >= 11,
        digit_run >= 7,
        text.count(":") >= 2,
        digit_run >= 7,
        "/home/" in text or "/users/" in lower or "\\users\\" in lower,
    )
