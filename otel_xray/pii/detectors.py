"""Detectors of personal and secret values in free text.

One compiled alternation scans a string once; each kind has a validator that
turns a look-alike down (a digit run that fails the Luhn check or has no card
network's prefix, an IPv4 octet above 255, a 40-character hex hash that is not an
AWS secret key), so order ids, timestamps and hashes pass through unchanged.

Kinds: ``email``, ``card``, ``ssn``, ``phone``, ``ip``, ``jwt``, ``bearer``,
``aws_access_key``, ``aws_secret_key``, ``url_password``, plus any extra pattern
from the settings (its name is its kind).

Example:
    >>> found = Detectors().find("mail bob@example.com or call +14155552671")
    >>> [(f.kind, f.text) for f in found]
    [('email', 'bob@example.com'), ('phone', '+14155552671')]
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from otel_xray.settings import SettingError

KINDS = (
    "url_password",
    "jwt",
    "bearer",
    "email",
    "aws_access_key",
    "aws_secret_key",
    "card",
    "ssn",
    "ip",
    "phone",
)

# Order matters where two kinds could start at the same place: the more specific first.
_PATTERNS: dict[str, str] = {
    # scheme://user:PASSWORD@host: only the password is the finding.
    "url_password": r"(?<=://)[^\s/:@]{1,256}:(?P<url_password_secret>[^\s/@]{1,256})(?=@)",
    "jwt": r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
    "bearer": r"(?i:\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/-]{8,}=*",
    "email": r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}",
    "aws_access_key": r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
    "aws_secret_key": r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
    # Starts like a card network's number (Visa 4, Mastercard 2/5, Amex/Diners/JCB 3,
    # Discover/UnionPay 6); length, prefix and Luhn are checked after.
    "card": r"(?<![\d-])[2-6]\d?(?:[ -]?\d){11,17}(?![\d-])",
    "ssn": r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])",
    "ip": r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w.:])",
    "ipv6": r"(?<![\w.:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w.:])",
    "phone": (
        r"(?<![\w+])(?:\+[1-9]\d{7,14}"  # E.164
        r"|\+\d{1,3}(?:[ .-]\(?\d{1,4}\)?){2,5}"  # +44 20 7946 0958
        r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"  # (415) 555-2671
        r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 415-555-2671
        r"|0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4})"  # 020 7946 0958
        r"(?![\w-])"
    ),
}

_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|35|6(?:011|5|4[4-9]|2))")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_valid(digits)


def _ssn(text: str) -> bool:
    digits = text.replace("-", "").replace(" ", "")
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _phone(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 8 <= digits <= 15


def _aws_secret(text: str) -> bool:
    # Mixed case and digits like a real key; a hex digest (sha1), an identifier or a
    # file path (many slashes) is not one.
    return (
        any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and any(c.isdigit() for c in text)
        and text.count("/") <= 4
    )


_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "card": _card,
    "ssn": _ssn,
    "ip": _ip,
    "ipv6": _ip,
    "phone": _phone,
    "aws_secret_key": _aws_secret,
}


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str


# Anything any gate looks for; a string without it (the common case) is not scanned at all.
_ANY_MARKER = re.compile(
    r"@|eyJ|://|(?:[Bb]earer|[Bb]asic|BEARER|BASIC) |A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)"
)
_KEY_PREFIX = re.compile(r"A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)")
_NO_DIGITS = str.maketrans("", "", "0123456789")


def _numbers_possible(text: str) -> bool:
    digits = len(text) - len(text.translate(_NO_DIGITS))
    # phone >= 8 digits, ssn 9, card 13; IPv4 needs 4 digits and 3 dots.
    return digits >= 8 or (digits >= 4 and text.count(".") >= 3)


# Kinds scanned together. Each family needs a marker (one scan of _ANY_MARKER tells),
# enough digits, or length; its own test then says whether to scan at all.
_FAMILIES: tuple[tuple[tuple[str, ...], str, Callable[[str], bool] | None], ...] = (
    (("url_password",), "marker", lambda t: "://" in t and "@" in t),
    (("jwt",), "marker", lambda t: "eyJ" in t),
    (
        ("bearer",),
        "marker",
        lambda t: "earer " in t or "asic " in t or "EARER " in t or "ASIC " in t,
    ),
    (("email",), "marker", lambda t: "@" in t),
    (("aws_access_key",), "marker", lambda t: _KEY_PREFIX.search(t) is not None),
    (("aws_secret_key",), "long", None),
    (("card", "ssn", "ip", "phone"), "numbers", None),
    (("ipv6",), "colons", None),
)


class Detectors:
    """A set of kinds (and extra named patterns) compiled into a few fast scanners."""

    def __init__(
        self, kinds: Iterable[str] = KINDS, extra_patterns: Mapping[str, str] | None = None
    ) -> None:
        enabled = set(kinds)
        if "ip" in enabled:
            enabled.add("ipv6")  # one kind, two patterns
        self._scanners: list[tuple[re.Pattern[str], str, Callable[[str], bool] | None]] = []
        #: Each kind on its own, to try the next kind where a look-alike was turned down.
        self._alternatives: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        for family, needs, gate in _FAMILIES:
            members = [k for k in family if k in enabled]
            if members:
                regex = re.compile("|".join(f"(?P<{k}>{_PATTERNS[k]})" for k in members))
                self._scanners.append((regex, needs, gate))
                for index, kind in enumerate(members):
                    self._alternatives[kind] = [
                        (later, re.compile(_PATTERNS[later])) for later in members[index + 1 :]
                    ]
        self._extra: dict[str, str] = {}
        for number, (name, pattern) in enumerate((extra_patterns or {}).items()):
            self._extra[f"extra{number}"] = name
            self._scanners.append((re.compile(f"(?P<extra{number}>{pattern})"), "always", None))

    def find(self, text: str) -> list[Finding]:
        """Every finding in ``text``, left to right, not overlapping."""
        marker = _ANY_MARKER.search(text) is not None
        numbers = _numbers_possible(text)
        colons = text.count(":") >= 2
        if not (marker or numbers or colons or len(text) >= 40 or self._extra):
            return []
        met = {
            "marker": marker,
            "numbers": numbers,
            "colons": colons,
            "long": len(text) >= 40,
            "always": True,
        }
        findings: list[tuple[int, int, Finding]] = []
        for priority, (regex, needs, gate) in enumerate(self._scanners):
            if not met[needs] or (gate is not None and not gate(text)):
                continue
            first = regex.search(text)
            if first is not None:
                findings.extend((f.start, priority, f) for f in self._scan(regex, text, first))
        if len(findings) < 2:
            return [f for _, _, f in findings]
        # Where two kinds overlap, the one starting first wins, then the more specific.
        findings.sort(key=lambda item: (item[0], item[1]))
        kept = [findings[0][2]]
        for _, _, finding in findings[1:]:
            if finding.start >= kept[-1].end:
                kept.append(finding)
        return kept

    def _scan(self, regex: re.Pattern[str], text: str, first: re.Match[str]) -> Iterator[Finding]:
        match: re.Match[str] | None = first
        while match is not None:
            finding, position = self._judge(match, text)
            if finding is not None:
                yield finding
            match = regex.search(text, position)

    def _judge(self, match: re.Match[str], text: str) -> tuple[Finding | None, int]:
        """The finding a match stands for (if any) and where to look next."""
        group = match.lastgroup
        if group in ("url_password_secret", "url_password"):
            start, end = match.span("url_password_secret")
            return Finding("password", start, end, text[start:end]), match.end()
        if group is None:
            group = next(k for k, v in match.groupdict().items() if v is not None)
        found = match.group(group)
        validator = _VALIDATORS.get(group)
        if validator is not None and not validator(found):
            # A look-alike of this kind may be another kind, here or further on.
            alternative = self._alternative(group, text, match.start())
            if alternative is None:
                return None, match.start() + 1
            return alternative, max(alternative.end, alternative.start + 1)
        kind = "ip" if group == "ipv6" else self._extra.get(group, group)
        finding = Finding(kind, match.start(), match.end(), found)
        return finding, max(match.end(), match.start() + 1)

    def _alternative(self, kind: str, text: str, start: int) -> Finding | None:
        for other, regex in self._alternatives.get(kind, ()):
            match = regex.match(text, start)
            if match is None:
                continue
            validator = _VALIDATORS.get(other)
            if validator is None or validator(match.group()):
                return Finding(other, start, match.end(), match.group())
        return None


def pattern_problem(name: str, pattern: str) -> str | None:
    """Why ``pattern`` cannot be an extra detector (``OTEL_XRAY_PII_PATTERNS``), or None.

    >>> pattern_problem("order_ref", "ORD-[0-9]{8}") is None
    True
    >>> pattern_problem("empty", "x*")
    "pattern 'x*' matches the empty string"
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name):
        return f"name {name!r} must be a letter then up to 31 letters, digits or _"
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        return f"pattern {pattern!r} is not a valid regular expression: {error}"
    if compiled.groupindex:
        return f"pattern {pattern!r} has named groups; use (?:...) instead"
    if compiled.match(""):
        return f"pattern {pattern!r} matches the empty string"
    return None


def usable_patterns(
    patterns: Mapping[str, str], variable: str = "OTEL_XRAY_PII_PATTERNS"
) -> tuple[dict[str, str], tuple[SettingError, ...]]:
    """The patterns that can be detectors, and one error for each that cannot."""
    usable: dict[str, str] = {}
    errors: list[SettingError] = []
    for name, pattern in patterns.items():
        problem = pattern_problem(name, pattern)
        if problem is None:
            usable[name] = pattern
        else:
            errors.append(
                SettingError(
                    variable,
                    f"{name}: {pattern!r}",
                    problem,
                    "the built-in detectors and the other patterns",
                )
            )
    return usable, tuple(errors)
