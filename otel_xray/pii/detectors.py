"""Detectors of personal and secret values in free text.

One compiled alternation scans a string once; each kind has a validator that
turns a look-alike down (a digit run that fails the Luhn check or has no card
network's prefix, an IPv4 octet above 255, a 40-character hex hash that is not an
AWS secret key), so order ids, timestamps and hashes pass through unchanged.

Kinds: ``email``, ``card``, ``iban``, ``ssn``, ``phone``, ``ip``, ``jwt``,
``bearer``, ``aws_access_key``, ``aws_session_token``, ``aws_secret_key``,
``url_password``, plus any extra pattern from the settings (its name is its kind).
The full list, with what is left alone, is docs/privacy.md.

What each validator turns down, on purpose: a uuid's digits (never a card, phone,
SSN, IBAN or address), a number whose first digit and length no card network issues
(an epoch timestamp: a card number starting with 1 is UATP's, 15 digits), a
13-digit number with no word saying card before it (an EAN-13 barcode), a GTIN-14
after a word saying barcode, a version string (``Chrome/120.0.0.0``, ``v1.2.3.4``),
a dotted quad nothing calls an address (``4.2.0.1``; a port or a word such as
``client`` or ``host`` before it makes it one), an address of infrastructure
(loopback, link-local, RFC 1918, ULA), a date (``01-11-2026``), a bare number of 10
to 15 digits with no word saying phone before it or not in a phone's shape (epoch
seconds ``1735689600``; ``bare_phone_shape``), and a 40-character cursor
with neither ``/`` nor ``+`` nor a word saying secret before it nor an access key id
in the same text.

Example:
    >>> found = Detectors().find("mail bob@example.com or call +14155552671")
    >>> [(f.kind, f.text) for f in found]
    [('email', 'bob@example.com'), ('phone', '+14155552671')]
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

from otel_xray.lazy_re import LazyPattern
from otel_xray.settings import SettingError

KINDS = (
    "url_password",
    "jwt",
    "bearer",
    "email",
    "aws_access_key",
    "aws_session_token",
    "aws_secret_key",
    "iban",
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
    # Local parts and domains in any script (josé.garcía@correo.es, 用户@例子.中国),
    # IDN domains in their punycode form too (xn--...).
    "email": (
        r"[\w.%+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})*\.(?:[^\W\d_]{2,24}|xn--[A-Za-z0-9-]{1,59})"
    ),
    "aws_access_key": r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
    # STS session tokens are base64, a few hundred to a thousand characters.
    "aws_session_token": r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{100,}={0,2}(?![A-Za-z0-9/+=])",
    "aws_secret_key": r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
    # ISO 13616: country, check digits, up to 30 letters and digits, grouped by four.
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    # Any issuer (Maestro, RuPay, Elo, UATP...): 13 to 19 digits, spaces, dots or dashes
    # between them; length, Luhn and look-alikes are checked after.
    # Unbroken, or in groups of 3 to 6 (the last one shorter at times), as printed.
    "card": (
        r"(?<!\d)(?<!\d[.-])(?:\d{13,19}|\d{3,6}(?:[ .-]\d{3,6}){1,4}(?:[ .-]\d{1,6})?)"
        r"(?!\d)(?![.-]\d)"
    ),
    "ssn": r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])",
    # With a port (every proxy's X-Forwarded-For); not after a slash (Chrome/120.0.0.0).
    "ip": r"(?<![\w.:/])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.:])",
    "ipv6": (
        r"(?<![\w.:])(?:(?:[0-9A-Fa-f]{0,4}:){2,6}(?:\d{1,3}\.){3}\d{1,3}"  # ::ffff:203.0.113.7
        r"|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})(?![\w.:])"
    ),
    "phone": (
        r"(?<![\w+])(?:\+[1-9]\d{7,14}"  # E.164
        # +44 20 7946 0958, +44 (0)20 7946 0958, +49 30 12345678, +33 6 12 34 56 78,
        # +91 98765 43210, +55 11 91234-5678, +1 (415) 555-2671
        r"|\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?\(?\d{1,5}\)?(?:[ .-]\d{1,8}){1,5}"
        r"|\(\d{2,4}\)[ .-]?\d{3,5}[ .-]?\d{4}"  # (415) 555-2671, (11) 91234-5678
        r"|[2-9]\d{2}[ .-][2-9]\d{2}[ .-]\d{4}"  # 415-555-2671, 415 555 2671 (NANP)
        r"|0[1-9]\d{0,3}(?:[ .-]\d{2,8}){1,4}"  # trunk 0: 020 7946 0958, 06 12 34 56 78
        r"|[6-9]\d{4}[ -]\d{5}"  # India: 98765 43210
        # International with 00 for +: 0044 20 7946 0958, 0049 30 12345678.
        r"|00[1-9]\d{0,2}[ .-](?:\(0\)[ .-]?)?\(?\d{1,5}\)?(?:[ .-]\d{1,8}){1,5}"
        # Unbroken: NANP 4155552671 / 14155552671, UK 07700900123, FR 0612345678,
        # India 9876543210, 447700900123, 00442079460958 (all need a word saying phone
        # before them, and a shape: bare_phone_shape).
        r"|00[1-9]\d{8,14}|\d{10,15})"
        r"(?![\w-])"
    ),
}

_DIGITS = LazyPattern(r"\d")
_GROUPS = LazyPattern(r"[ .-]")
_UUID = LazyPattern(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: Kinds that a uuid (a Lambda request id, an order id) can look like in part.
_NUMERIC_KINDS = frozenset({"card", "phone", "ssn", "ip", "iban"})
#: Words that say phone, in the languages of the formats above (English, German,
#: French, Spanish, Portuguese; India and the US write English). Short ones are whole
#: words, plural or not (not "hotel", "recall", "callback", "textract", "telemetry");
#: ``_`` and digits may follow (``contact_number``, ``tel2``).
PHONE_WORDS = (
    r"(?:phone|mobile|msisdn|whatsapp|telefon|t[ée]l[ée]phone|tel[ée]fono|telefone|cell?ular"
    r"|m[óo]vil|portable|handy|rufnummer|natel|(?<![a-z])(?:tel|sms|call|fax|cell|contact"
    r"|mobil|appel|ligar|llamar|anruf|text)s?(?![a-z]))"
)
#: A phone word just before a bare number of 10 to 15 digits, up to two short words between
#: ("SMS to 07700900123", "call me at 4155552671", "Telefon: 03012345678").
_PHONE_CUE = LazyPattern(PHONE_WORDS + r"\w*(?:\W{1,4}\w{1,7}){0,2}\W{1,4}$")
_VERSION_CUE = LazyPattern(r"(?:\bv|version|ver|release|build|rev)\s*[:=]?\s*$")
_BARCODE_CUE = LazyPattern(r"(?:ean|gtin|barcode|upc|isbn|sku|article)\w*\W{0,4}$")
_SECRET_CUE = LazyPattern(r"(?:secret|credential|private|signing)[\w-]{0,24}\W{0,4}$")
_TOKEN_CUE = LazyPattern(r"(?:token|session|secret|credential)[\w-]{0,24}\W{0,4}$")
#: Words that say a dotted quad is an address: the issue's address, host, ip, peer,
#: client, and the headers' and servers' forwarded, remote, addr, from.
_ADDRESS_CUE = LazyPattern(r"addr|host|ips?\b|ip[_-]|ipv4|peer|client|forwarded|remote|\bfrom\b")
#: Words just before a 13-digit number that say it is a card.
_CARD_CUE = LazyPattern(
    r"(?:card|visa|master|amex|maestro|credit|debit|payment|(?<![a-z])(?:pan|cc))"
    r"[\w-]{0,16}\W{0,4}$"
)
_ACCESS_KEY_ID = LazyPattern(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
#: Session tokens STS issues begin with these (the base64 of their fixed header).
_SESSION_TOKEN_PREFIXES = ("IQoJb3JpZ2lu", "FwoGZXIvYXdz", "FQoGZXIvYXdz", "AQoDYXdz", "AQoEXAMPLE")
#: Addresses of infrastructure, not of people: loopback, link-local, RFC 1918, ULA.
_INFRASTRUCTURE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
    )
)


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812-1) of a string of digits.

    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    total = sum(map(int, digits[-1::-2])) + sum(_DOUBLED[int(c)] for c in digits[-2::-2])
    return total % 10 == 0


def gs1_valid(digits: str) -> bool:
    """The GS1 check digit of an EAN-13 / GTIN-14 (weights 3 and 1 from the right)."""
    body, check = digits[:-1], ord(digits[-1]) - 48
    total = sum((ord(c) - 48) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _before(text: str, start: int, width: int = 32) -> str:
    """The text just before a finding, in lower case (the cue patterns are; Python's
    case-insensitive alternations are several times slower)."""
    return text[max(0, start - width) : start].lower()


#: Lengths of the card numbers issued under each major industry identifier (the first
#: digit, ISO/IEC 7812-1), from the networks' published IIN ranges as compiled in
#: Wikipedia's "Payment card number" table (inference from that compilation, not from
#: each network's own document): 1 UATP (15); 2 Mastercard 2221-2720 (16), Mir
#: 2200-2204 (16-19); 3 American Express 34/37 (15), Diners Club 36 (14-19) and
#: 30/38/39 (16-19), JCB 3528-3589 (16-19); 4 Visa (16, 19; 13 legacy, see _card);
#: 5 Mastercard 51-55 (16), Maestro 50/56-58 (12-19), Verve (16-19); 6 Discover,
#: UnionPay 62, RuPay, Maestro 6304/6759/676x (14-19); 8 UnionPay 81, RuPay 82 (16-19);
#: 9 Troy 9792, Humo 9860 (16). 0 and 7 are no payment network's.
_CARD_LENGTHS: dict[str, tuple[int, ...]] = {
    "1": (15,),
    "2": (16, 17, 18, 19),
    "3": (14, 15, 16, 17, 18, 19),
    "4": (16, 19),
    "5": (14, 15, 16, 17, 18, 19),
    "6": (14, 15, 16, 17, 18, 19),
    "8": (16, 17, 18, 19),
    "9": (16,),
}


def _card(found: str, text: str, start: int) -> bool:
    digits = found.replace(" ", "").replace("-", "").replace(".", "")
    if not 13 <= len(digits) <= 19:
        return False
    if len(digits) != len(found):
        # Printed cards are grouped in 3 to 6 digits (4-4-4-4, Amex 4-6-5, 4-4-4-4-3),
        # the last group shorter at times; a date-stamped id (20261125-000123) is not.
        groups = _GROUPS.split(found)
        if any(not 3 <= len(group) <= 6 for group in groups[:-1]) or len(groups[-1]) > 6:
            return False
    if not luhn_valid(digits):
        return False
    if len(digits) == 13:
        # Thirteen digits pass Luhn one time in ten, and an EAN-13 barcode is thirteen
        # digits; only Visa ever issued 13-digit numbers (legacy). A word must say card.
        return _CARD_CUE.search(_before(text, start)) is not None
    if len(digits) not in _CARD_LENGTHS.get(digits[0], ()):
        return False
    if len(digits) == 14 and not digits.startswith(("30", "36", "38", "39", "5", "6")):
        return False
    # A GTIN-14 carries its own check digit; one after a word that says so is a barcode.
    return not (
        len(digits) == 14
        and gs1_valid(digits)
        and _BARCODE_CUE.search(_before(text, start)) is not None
    )


def _ssn(found: str, text: str, start: int) -> bool:
    digits = found.replace("-", "").replace(" ", "")
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ip(found: str, text: str, start: int) -> bool:
    address = found
    if "." in found and found.count(":") == 1:  # IPv4 with a port
        address = found.partition(":")[0]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(parsed, "ipv4_mapped", None)
    if mapped is not None:
        parsed = mapped
    if any(parsed in network for network in _INFRASTRUCTURE):
        return False
    # A version string (v1.2.3.4, "version 10.0.19041.1") is not an address.
    if _VERSION_CUE.search(_before(text, start, 16)) is not None:
        return False
    if ":" in found:  # with a port, or IPv6: an address
        return True
    # A dotted quad alone is as much a build number (4.2.0.1) as an address: an address
    # where the text before it says so (a key that says so is read by the redactor).
    return _ADDRESS_CUE.search(_before(text, start, 48)) is not None


def _address(found: str, text: str, start: int) -> bool:
    """An IP where the key already says address: any public one that is not a version."""
    return _ip(found, "ip " + text, start + 3)


def _nanp(digits: str) -> bool:
    """Ten digits in the North American plan's shape: area code and exchange start 2-9."""
    return len(digits) == 10 and digits[0] >= "2" and digits[3] >= "2"


def bare_phone_shape(digits: str) -> bool:
    """Whether an unbroken run of digits can be a phone number written without + or
    grouping: NANP (4155552671, 14155552671), a national number with its trunk 0
    (07700900123, 0612345678), 00 and a country code (00442079460958), or 12 to 15
    digits starting with a country code (447700900123, 5511912345678; no country code
    starts with 0, and 1 is NANP's, eleven digits).

    Turned down on purpose: epoch seconds (1735689600, ten digits starting with 1, no
    NANP area code does) and milliseconds (thirteen starting with 1), 1234567890.

    >>> [bare_phone_shape(d) for d in ("4155552671", "1735689600", "447700900123")]
    [True, False, True]
    """
    count = len(digits)
    if digits.startswith("00"):  # 00 stands for +: 9 to 15 digits after it
        return digits.isdigit() and digits[2] != "0" and 9 <= count - 2 <= 15
    if not digits.isdigit() or not 10 <= count <= 15:
        return False
    if digits[0] == "0":
        return count <= 11
    if count == 10:
        return _nanp(digits)
    if count == 11:
        return digits[0] != "1" or _nanp(digits[1:])
    return digits[0] != "1"


def _phone(found: str, text: str, start: int) -> bool:
    digits = "".join(_DIGITS.findall(found))
    international = found.startswith("00")  # 0044 20 7946 0958: 00 stands for +
    if international:
        digits = digits[2:]
    if not 8 <= len(digits) <= 15:
        return False
    if found[0] == "0" and not international and len(digits) < 9:  # date 01-11-2026: 8
        return False
    if found.isdigit():  # 4155552671: only with a word that says phone before it
        return bare_phone_shape(found) and _PHONE_CUE.search(_before(text, start)) is not None
    return True


def _aws_secret(found: str, text: str, start: int) -> bool:
    # Mixed case and digits like a real key; a hex digest (sha1), an identifier or a
    # file path (many slashes) is not one. A 40-character cursor or id without / or +
    # is one only where a word before it says secret.
    if not (
        any(c.isupper() for c in found)
        and any(c.islower() for c in found)
        and any(c.isdigit() for c in found)
        and found.count("/") <= 4
    ):
        return False
    if "/" in found or "+" in found or _SECRET_CUE.search(_before(text, start)) is not None:
        return True
    # Next to an access key id (a credentials dict or a log line of one), by shape alone.
    return _ACCESS_KEY_ID.search(text) is not None


def _aws_session(found: str, text: str, start: int) -> bool:
    if found.startswith(_SESSION_TOKEN_PREFIXES):
        return True
    if not (
        any(c.isupper() for c in found)
        and any(c.islower() for c in found)
        and any(c.isdigit() for c in found)
        and found.count("/") * 16 <= len(found)  # base64, not a path
    ):
        return False
    return (
        _TOKEN_CUE.search(_before(text, start)) is not None
        or _ACCESS_KEY_ID.search(text) is not None
    )


def _iban(found: str, text: str, start: int) -> bool:
    compact = found.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


_VALIDATORS: dict[str, Callable[[str, str, int], bool]] = {
    "card": _card,
    "ssn": _ssn,
    "ip": _ip,
    "ipv6": _ip,
    "phone": _phone,
    "aws_secret_key": _aws_secret,
    "aws_session_token": _aws_session,
    "iban": _iban,
}


class Finding(NamedTuple):
    kind: str
    start: int
    end: int
    text: str


# Anything any gate looks for; a string without it (the common case) is not scanned at all.
_ANY_MARKER = LazyPattern(
    r"@|eyJ|://|(?:[Bb]earer|[Bb]asic|BEARER|BASIC) |A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)"
)
_KEY_PREFIX = LazyPattern(r"A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)")
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
    # Its own family: scanned only in texts long enough to hold one.
    (("aws_session_token",), "long", lambda t: len(t) >= 100),
    (("aws_secret_key",), "long", None),
    (("iban", "card", "ssn", "ip", "phone"), "numbers", None),
    (("ipv6",), "colons", None),
)


class Detectors:
    """A set of kinds (and extra named patterns) compiled into a few fast scanners."""

    def __init__(
        self,
        kinds: Iterable[str] = KINDS,
        extra_patterns: Mapping[str, str] | None = None,
        addresses: bool = False,
    ) -> None:
        """``addresses``: the text is the value of a key that says address (``client.address``,
        ``sourceIp``), so a dotted quad needs no word before it."""
        self._validators = dict(_VALIDATORS)
        if addresses:
            self._validators["ip"] = _address
        enabled = set(kinds)
        if "ip" in enabled:
            enabled.add("ipv6")  # one kind, two patterns
        # Compiled on first use: a family is scanned only when a value carries its marker.
        self._scanners: list[tuple[LazyPattern, str, Callable[[str], bool] | None]] = []
        #: Each kind on its own, to try the next kind where a look-alike was turned down.
        self._alternatives: dict[str, list[tuple[str, LazyPattern]]] = {}
        for family, needs, gate in _FAMILIES:
            members = [k for k in family if k in enabled]
            if members:
                regex = LazyPattern("|".join(f"(?P<{k}>{_PATTERNS[k]})" for k in members))
                self._scanners.append((regex, needs, gate))
                for index, kind in enumerate(members):
                    self._alternatives[kind] = [
                        (later, LazyPattern(_PATTERNS[later])) for later in members[index + 1 :]
                    ]
        self._extra: dict[str, str] = {}
        for number, (name, pattern) in enumerate((extra_patterns or {}).items()):
            self._extra[f"extra{number}"] = name
            self._scanners.append((LazyPattern(f"(?P<extra{number}>{pattern})"), "always", None))

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
        if findings and text.count("-") >= 4:
            uuids = [m.span() for m in _UUID.finditer(text)]
            if uuids:
                findings = [
                    item
                    for item in findings
                    if item[2].kind not in _NUMERIC_KINDS
                    or not any(a < item[2].end and item[2].start < b for a, b in uuids)
                ]
        if len(findings) < 2:
            return [f for _, _, f in findings]
        # Where two kinds overlap, the one starting first wins, then the more specific.
        findings.sort(key=lambda item: (item[0], item[1]))
        kept = [findings[0][2]]
        for _, _, finding in findings[1:]:
            if finding.start >= kept[-1].end:
                kept.append(finding)
        return kept

    def _scan(self, regex: LazyPattern, text: str, first: re.Match[str]) -> Iterator[Finding]:
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
        validator = self._validators.get(group)
        if validator is not None and not validator(found, text, match.start()):
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
            validator = self._validators.get(other)
            if validator is None or validator(match.group(), text, start):
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
