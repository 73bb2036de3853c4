"""Redaction of one value, by what its attribute key says it is.

- A key that names a secret by any of its words (``authorization``, ``cookie``,
  ``x-api-key``, ``password``, ``SecretAccessKey``, ``refreshTokenExpiry``... in any
  case or separator style, HTTP header attributes included) has its whole value
  replaced, whatever it looks like; a key that names a phone or a card has a bare
  number under it replaced, and one that names an address a bare IPv4.
- Values a library quotes back in its validation error (pydantic, botocore,
  jsonschema, marshmallow, Django, Python's own ``int()``) are replaced by their
  place in the message (``[REDACTED:input]``).
- URLs keep scheme, host and the shape of the path: a path segment holding a
  personal value becomes ``{kind}``, the password of ``user:pass@`` is replaced,
  query values are replaced except those of an allow-list, and AWS presigned-URL
  parameters always are.
- ``db.statement`` loses its literals (:mod:`otel_xray.pii.sql`).
- Everything else is scanned by the detectors (:mod:`otel_xray.pii.detectors`).
  Addresses of the servers a function calls (``server.address``, a client span's
  peer) are not a person's: the IP detector skips them, so the service map keeps its
  nodes. Paths (incoming, outgoing, S3 keys, file paths) are read segment by segment.

A replacement is a typed placeholder (``[REDACTED:email]``) or, in hash mode, a
keyed pseudonym (``[email:5f1c0a9e3b2d4c6f]``, HMAC-SHA256 of the normalised value)
that is the same for the same person and key and reveals nothing without the key.
Span names and URL paths always get ``{kind}``: a pseudonym per user there would
also explode the number of distinct names.

Example:
    >>> from otel_xray.settings import PiiSettings
    >>> redactor = Redactor(PiiSettings())
    >>> redactor.value("http.request.header.authorization", ["Bearer abc"])
    ['[REDACTED:secret]']
    >>> redactor.value("url.full", "https://api.example.com/users/bob@example.com?page=2&q=bob")
    'https://api.example.com/users/{email}?page=2&q=[REDACTED:query]'
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from otel_xray.lazy_re import LazyPattern
from otel_xray.pii.detectors import (
    KINDS,
    PHONE_WORDS,
    Detectors,
    bare_phone_shape,
    luhn_valid,
    usable_patterns,
)
from otel_xray.pii.sql import sanitize_query_document, sanitize_sql
from otel_xray.settings import PiiSettings
from otel_xray.xray import (
    ANNOTATIONS_ATTRIBUTE,
    MAX_METADATA_BYTES,
    MAX_METADATA_STRING,
    METADATA_PREFIX,
)

logger = logging.getLogger("otel_xray")

_SECRET_EXACT = frozenset({"pwd", "auth", "jwt", "sig", "otp", "pin", "cvv", "cvc", "ssn"})
_SECRET_SUFFIXES = (
    "authorization",
    "cookie",
    "apikey",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "session",
    "sessionid",
    "credential",
    "credentials",
    "privatekey",
    "signature",
)
#: Words that make a key secret wherever they stand in it (SecretAccessKey,
#: client_secret_value, refreshTokenExpiry), alone or as the start or end of a run of
#: lower-case letters (accesstoken, secretaccesskey).
_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "cookie",
    "authorization",
    "signature",
    "apikey",
    "privatekey",
)
#: Words that start or end like a secret word and are not one.
_NOT_SECRET_WORDS = frozenset(
    {"tokens", "tokenizer", "tokenize", "tokenized", "tokenization", "secretary"}
)
#: A secret word followed by one of these describes the secret, not holds it (token_type,
#: token_endpoint, Secrets Manager's SecretId and SecretArn, signature_version);
#: refreshTokenExpiry stays secret (the issue names it).
_DESCRIBING_WORDS = frozenset(
    {
        "type", "types", "kind", "use", "usage", "count", "limit", "endpoint", "url", "uri",
        "id", "ids", "arn", "name", "names", "version", "versions", "method", "algorithm",
        "length",
    }
)  # fmt: skip
#: "key" after one of these words is a secret key; alone, or after idempotency,
#: partition, sort, cache or primary, it is not.
_SECRET_KEY_QUALIFIERS = frozenset({"api", "private", "signing", "encryption", "master", "hmac"})
#: Words of a key that say its value is a phone number.
_PHONE_KEY_WORDS = frozenset(
    {
        "phone", "phones", "telephone", "mobile", "tel", "msisdn", "sms", "fax", "cell",
        "cellphone", "whatsapp", "telefon", "telefone", "telefono", "celular", "handy",
        "phonenumber", "mobilenumber",
    }
)  # fmt: skip
#: Last words of a key that say its value is about phones, not one: ``cell_count``,
#: ``phone_type``, ``sms_id``, ``phone_verified``.
_NOT_PHONE_LAST_WORDS = frozenset(
    {
        "count", "counts", "id", "ids", "type", "types", "kind", "size", "total", "totals",
        "index", "idx", "length", "len", "status", "state", "verified", "enabled", "valid",
        "flag", "format", "version", "limit", "ratio", "rate", "percent", "attempts",
        "retries", "ms", "seconds", "duration", "at", "timestamp", "time",
    }
)  # fmt: skip
#: Words of a key that say its value is a card number.
_CARD_KEY_WORDS = frozenset({"card", "pan", "cc", "cardnumber", "creditcard", "ccnumber"})
#: Words of a key that say its value is an IP address (a dotted quad there needs no cue).
_ADDRESS_KEY_WORDS = frozenset(
    {"address", "addr", "ip", "ips", "ipv4", "host", "peer", "client", "forwarded", "remote"}
)
#: Of those, the words that name the other end of a call: the server on a client span.
_PEER_KEY_WORDS = frozenset({"peer", "server", "upstream", "destination"})
#: Keys holding an object key or a file path: segments by shape, no query.
_OBJECT_PATH_KEYS = frozenset(
    {"file.path", "file.name", "file.directory", "aws.s3.key", "aws.s3.copy_source"}
)
#: Presigned-URL parameters: redacted even when allow-listed.
PRESIGNED_PARAMETERS = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "signature",
        "awsaccesskeyid",
        "x-amz-signedheaders",
    }
)
_URL_KEYS = frozenset({"url.full", "http.url", "url.original", "messaging.url", "aws.queue_url"})
_PATH_KEYS = frozenset({"url.path", "http.target", "http.route"})
_QUERY_KEYS = frozenset({"url.query"})
_SQL_KEYS = frozenset({"db.statement", "db.query.text"})
#: The servers a function talks to: addresses of infrastructure, not of people.
_SERVER_KEYS = frozenset(
    {
        "server.address",
        "server.socket.address",
        "net.peer.name",
        "net.peer.ip",
        "net.host.name",
        "net.host.ip",
        "net.sock.peer.addr",
        "network.peer.address",
        "network.local.address",
        "http.host",
        "host.name",
        "host.ip",
    }
)
_NEVER = frozenset({ANNOTATIONS_ATTRIBUTE})
#: The peer's address: a server's on client spans, the client's on SERVER spans.
_PEER_KEYS = frozenset(
    {"net.peer.ip", "net.peer.name", "net.sock.peer.addr", "network.peer.address"}
)
#: Keys (any depth, any attribute) whose last word says the value is a URL.
_URL_WORDS = frozenset({"url", "uri", "href", "link", "location", "referer", "referrer"})
#: What db.system says about the statement's dialect.
_SQL_DIALECTS = {"mysql": "mysql", "mariadb": "mysql", "mongodb": "mongodb"}
#: Attributes holding the request path that a route template describes.
_ROUTED_KEYS = ("url.path", "http.target", "url.full", "http.url")
#: Words of a route parameter's name that say its value is a person's.
_PERSONAL_WORDS = frozenset(
    {
        "email", "mail", "phone", "mobile", "tel", "msisdn", "ssn", "name", "firstname",
        "lastname", "surname", "username", "user", "login", "dob", "birthdate", "birthday",
        "address", "iban", "card", "pan", "passport", "license", "licence", "nationalid",
        "taxid", "nin", "nino", "cpf", "aadhaar",
    }
)  # fmt: skip
#: A run of 10 or 11 digits (NANP 4155552671, UK 07700900123) as a path segment or a
#: file name: a phone number where the path says phone (``_PATH_PHONE_CUE``).
_BARE_PHONE = LazyPattern(r"\+?\d{10,11}(?:\.\w{1,5})?")
_PATH_PHONE_CUE = LazyPattern(PHONE_WORDS)
#: The longest object or array (its repr) that a jsonschema message is read as echoing.
_ECHO_SPAN = 512
#: Values that libraries echo back in their validation errors, by their place in the
#: message (each library's format string is quoted at its alternative).
_ECHOED = LazyPattern(
    # pydantic 2 (pydantic_core's ValidationError.__str__): "[type=..., input_value=V,
    # input_type=T]".
    r"input_value=(?P<pydantic>.+?), input_type=\w+\]"
    # botocore/validate.py ParamValidationError: "Invalid type for parameter X, value: V,
    # type: <class ...>" (also "Invalid value ... valid min value", "Invalid length").
    r"|for (?:document )?parameter [\w.\[\]]+, value: (?P<botocore>.+?), (?:type: <|valid min )"
    # jsonschema/_keywords.py: "V is not of type ...", "V is not one of ...", "V is not
    # valid under any of the given schemas", "V should not be valid under ...", "V does
    # not match ...", "V is too long", "V is less than ...".
    # The message starts with V: at a line's start, or after "ValidationError: ".
    # An object or array is looked for up to _ECHO_SPAN characters: unbounded, every ": "
    # inside a long dict's repr rescanned to the line's end (362 KB took 5 s). A longer
    # one is left to the detectors.
    r"|(?:^|(?<=\n)|(?<=: ))(?P<jsonschema>'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\""
    rf"|\{{[^\n]{{0,{_ECHO_SPAN}}}\}}|\[[^\n]{{0,{_ECHO_SPAN}}}\]|-?\d[\d.eE+-]*|True|False|None)"
    r"(?= (?:is not (?:of type|one of|valid under|a ')|should not be valid under"
    r"|does not (?:match|contain)|is too (?:long|short)|is (?:less|greater) than"
    r"|has non-unique|has too|is expected|was expected))"
    # jsonschema's ValidationError.__str__: "On instance[...]:\n    V" (pprint, indented).
    r"|On instance(?:\[[^\n]*\])?:\n    (?P<instance>.+(?:\n {4,}.+)*)"
    # Django (db/models/fields, forms/models): "“V” value must be an integer.", "“V” is
    # not a valid UUID.", "“V” value has an invalid format."
    r"|“(?P<django>[^”]*)” (?:value |is not a valid)"
    # Django forms ChoiceField: "Select a valid choice. V is not one of the available
    # choices."; model field choices: "Value V is not a valid choice."
    r"|Select a valid choice\. (?P<choice>.+?) is not one of the available choices"
    r"|Value (?P<model_choice>.+?) is not a valid choice"
    # marshmallow fields.DateTime/Date: '"V" cannot be formatted as a datetime.'; unknown
    # fields, named by the input's own keys: "{'V': ['Unknown field.']}".
    r"|\"(?P<marshmallow>[^\"\n]*)\" cannot be formatted as"
    r"|'(?P<unknown>(?:[^'\\\n]|\\.)*)': \['Unknown field\.'\]"
    # Python's own (a validator's cause, chained in the stack): int("V"), float("V"),
    # datetime.strptime, date.fromisoformat.
    r"|invalid literal for \w+\(\) with base \d+: (?P<int>.+)"
    r"|could not convert string to \w+: (?P<float>.+)"
    r"|time data (?P<strptime>.+?) does not match format"
    r"|Invalid isoformat string: (?P<isoformat>.+)"
    # pydantic's ValidationError.json(): {"type":..., "loc":[...], "msg":..., "input": V
    r"|\"msg\": ?\"(?:[^\"\\]|\\.)*\", ?\"input\": ?(?P<pydantic_json>\"(?:[^\"\\]|\\.)*\""
    r"|-?\d[\d.eE+-]*|\{[^}]*\}|\[[^\]]*\]|true|false|null)"
)


def _may_echo(text: str) -> bool:
    """Whether ``text`` has a word every ``_ECHOED`` alternative needs (a chain of ``in``
    costs ~1 µs on a 100-character text; one regex over the same words ~4 µs)."""
    return " " in text and (  # every message that echoes has words
        " not " in text  # is not, does not, should not be valid, could not convert
        or " is " in text  # is too long, is less than, is greater than
        or "value" in text  # input_value=, , value:, “V” value must
        or "“" in text
        or " has " in text
        or "expected" in text
        or "Unknown field" in text
        or "invalid literal" in text
        or "time data" in text
        or "isoformat" in text
        or "cannot be formatted" in text
        or '"input"' in text
    )


#: Text without any of these (in lower case) has no key that names a secret: no pair is
#: looked for.
_SECRET_HINT = LazyPattern(
    r"pass|pwd|secret|token|key|auth|cookie|session|credential|sig|otp|pin|cvv|cvc|ssn|jwt"
)
#: A URL inside free text, up to white space or a quote; or a path with a query
#: (``/login?next_url=...``), read the same way.
_URL_IN_TEXT = LazyPattern(
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+|(?<![\w/.:])/[^\s?#\"'<>`]*\?[^\s\"'<>`]+"
)
_URL_TRAILING = ".,;:)]}!?"
#: ``key=value``, ``key: value``, ``"key": "value"`` (a scheme word such as Token or
#: Bearer before the value belongs to it).
_CREDENTIAL_PAIR = LazyPattern(
    r"(?P<key>[A-Za-z_][\w.-]{0,63})(?P<sep>[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<value>(?:(?:Bearer|Basic|Token|Digest|ApiKey|AWS4-HMAC-SHA256)\s+)?[^\s&;,\"'}\]]+)"
)
_URL_OR_PATH = LazyPattern(r"[A-Za-z][A-Za-z0-9+.-]*://\S+|(?<!\S)/\S*")
_MIN_SCANNED = 6  # nothing the detectors know is shorter
_KEY_CACHE_LIMIT = 4096
_MEMO_LIMIT = 1024
_MEMO_VALUE_LIMIT = 256
#: Deeper structures than this are not walked: they are dropped (fail closed).
_MAX_DEPTH = 16


class Redactor:
    """Redacts values per the settings; every method is pure and thread-safe."""

    def __init__(self, settings: PiiSettings) -> None:
        self.settings = settings
        kinds = [k for k in KINDS if settings.redact_ip_addresses or k != "ip"]
        patterns, self.pattern_errors = usable_patterns(settings.extra_patterns)
        for error in self.pattern_errors:
            logger.error("%s", error)
        self.detectors = Detectors(kinds, patterns)
        self.server_detectors = Detectors([k for k in kinds if k != "ip"], patterns)
        self.address_detectors = Detectors(kinds, patterns, addresses=True)
        self._extra_secret = tuple(_normalise(k) for k in settings.extra_secret_keys)
        self._allow = frozenset(k.lower() for k in settings.allow_keys) | _NEVER
        self._query_allow = frozenset(k.lower() for k in settings.query_allow)
        self._classes: dict[str, str] = {}
        self._parameters: dict[str, str] = {}
        self._secret_names: dict[str, bool] = {}
        # Most values repeat from span to span (methods, hosts, operations, routes):
        # their redaction is remembered, in a bounded table emptied when full.
        self._memo: dict[tuple[str, str], str] = {}
        #: Values replaced because they could not be inspected (see :meth:`value`).
        self.uninspectable = 0

    # replacements -----------------------------------------------------------------

    def replacement(self, kind: str, original: str) -> str:
        if self.settings.mode == "hash" and self.settings.hash_key:
            # Cold start: hmac and hashlib cost ~3 ms (python -X importtime); hash mode only.
            import hmac  # noqa: PLC0415

            digest = hmac.new(
                self.settings.hash_key, f"{kind}:{_canonical(kind, original)}".encode(), "sha256"
            ).hexdigest()[:16]
            return f"[{kind}:{digest}]"
        return f"[REDACTED:{kind}]"

    # by kind of value -----------------------------------------------------------------

    def text(self, text: str, detectors: Detectors | None = None) -> str:
        """Free text with every finding replaced: URLs by their shape, ``key=value``
        pairs whose key names a secret, then the detectors on the rest.

        Percent-encoded text (an error message quoting a request URL) is read in its
        decoded form too: where that form holds a finding, the decoded, redacted text
        is what comes back, so ``zoe%40example.de`` cannot slip past the email detector.
        """
        if len(text) < _MIN_SCANNED:
            return text
        if "%" in text:
            decoded = _unquote_fully(text)
            if decoded != text:
                redacted = self._free_text(decoded, detectors)
                if redacted != decoded:
                    return redacted
        return self._free_text(text, detectors)

    def _free_text(self, text: str, detectors: Detectors | None) -> str:
        if "://" in text or ("/" in text and "?" in text):
            pieces: list[str] = []
            position = 0
            for match in _URL_IN_TEXT.finditer(text):
                url = match.group().rstrip(_URL_TRAILING)
                pieces.append(self._plain_text(text[position : match.start()], detectors))
                pieces.append(self.url(url))
                position = match.start() + len(url)
            if position:
                pieces.append(self._plain_text(text[position:], detectors))
                return "".join(pieces)
        return self._plain_text(text, detectors)

    def _plain_text(self, text: str, detectors: Detectors | None) -> str:
        if " " in text and _may_echo(text):
            text = self._echoed(text)
        if (
            ("=" in text or ":" in text)
            and len(text) >= _MIN_SCANNED
            # Lower case first: a case-insensitive alternation costs ~10x as much.
            and (self._extra_secret or _SECRET_HINT.search(text.lower()) is not None)
        ):
            text = self._credential_pairs(text)
        if len(text) < _MIN_SCANNED:
            return text
        pieces: list[str] = []
        position = 0
        for finding in (detectors or self.detectors).find(text):
            pieces.append(text[position : finding.start])
            pieces.append(self.replacement(finding.kind, finding.text))
            position = finding.end
        if not pieces:
            return text
        pieces.append(text[position:])
        return "".join(pieces)

    def _echoed(self, text: str) -> str:
        """The values a library's error message quotes back (``_ECHOED``), replaced: the
        input is the user's, personal whenever its field is, and the detectors alone
        often cannot tell (a name, an address, a bare number)."""
        pieces: list[str] = []
        position = 0
        for match in _ECHOED.finditer(text):
            group = match.lastgroup
            if group is None:
                continue
            start, end = match.span(group)
            if text.startswith("[REDACTED:", start):
                continue
            pieces.append(text[position:start])
            pieces.append(self.replacement("input", text[start:end]))
            position = end
        if not pieces:
            return text
        pieces.append(text[position:])
        return "".join(pieces)

    def _credential_pairs(self, text: str) -> str:
        """Each ``key=value`` whose key names a secret, with the value replaced. A pair
        whose key does not is passed over from its value on (``error: api_key=...``)."""
        pieces: list[str] = []
        done = position = 0
        while (match := _CREDENTIAL_PAIR.search(text, position)) is not None:
            value = match.group("value")
            if self._is_secret_key(match.group("key")) and not value.startswith("[REDACTED:"):
                pieces.append(text[done : match.start("value")])
                pieces.append(self.replacement("secret", value))
                done = position = match.end()
            else:
                position = match.start("value")
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def name(self, name: str) -> str:
        """A span name: URLs and paths by shape, other findings as ``{kind}``."""
        if len(name) < _MIN_SCANNED:
            return name
        return self._memoised("name", name)

    def _name(self, name: str) -> str:
        shaped = _URL_OR_PATH.sub(
            lambda m: self.url(m.group()) if "://" in m.group() else self.path(m.group()), name
        )
        return self._placeholders(shaped)

    def url(self, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep:
            return self.path(url) if url.startswith("/") else self.text(url)
        authority, slash, tail = rest.partition("/")
        if "@" in authority:
            userinfo, _, host = authority.rpartition("@")
            user, colon, _password = userinfo.partition(":")
            if colon:
                user = self.text(user) if len(user) >= _MIN_SCANNED else user
                password = self.replacement("password", _password)
            else:
                # https://TOKEN@host: a user name with no password is the credential.
                user, password = (self.replacement("secret", user) if user else ""), ""
            authority = f"{user}{colon}{password}@{host}"
        return f"{scheme}://{authority}{slash}{self.path(tail) if slash else ''}"

    def path(self, target: str) -> str:
        """A path (with an optional query and fragment): segments by shape, query by allow-list."""
        path, hash_sign, fragment = target.partition("#")
        path, question, query = path.partition("?")
        segments = path.split("/")
        bare: list[int] | None = None
        for index, segment in enumerate(segments):
            if len(segment) >= _MIN_SCANNED:
                segments[index] = self._segment(segment)
                if (
                    (segment[0].isdigit() or segment[0] == "+")
                    and _BARE_PHONE.fullmatch(segment) is not None
                    and (segment[0] == "+" or bare_phone_shape(segment.partition(".")[0]))
                ):
                    bare = [index] if bare is None else [*bare, index]
        if bare and _PATH_PHONE_CUE.search(path.lower()) is not None:
            # /v1/users/4155552671/sms, /tmp/sms/07700900123.json: a bare 10- or 11-digit
            # number where the path says phone (a route parameter's name, for outgoing
            # calls and files that have none).
            for index in bare:
                segments[index] = "{phone}"
        redacted = "/".join(segments)
        if question:
            redacted += "?" + self.query(query)
        if hash_sign:
            # #access_token=...&state=...: an OAuth implicit-grant fragment is a query.
            redacted += "#" + (self.query(fragment) if "=" in fragment else self.text(fragment))
        return redacted

    def object_path(self, path: str) -> str:
        """An S3 object key or a file path: the path rules, with ``?`` and ``#`` as the
        characters they are there."""
        return (
            self.path(path.replace("?", "\0").replace("#", "\1"))
            .replace("\0", "?")
            .replace("\1", "#")
        )

    def query(self, query: str) -> str:
        pairs = query.split("&")
        for index, pair in enumerate(pairs):
            key, equals, value = pair.partition("=")
            if not equals or not value:
                continue
            treatment = self._parameters.get(key)
            if treatment is None:
                lowered = unquote(key).lower()
                if lowered in PRESIGNED_PARAMETERS or self._is_secret_key(lowered):
                    treatment = "secret"
                else:
                    treatment = "allow" if lowered in self._query_allow else "query"
                if len(self._parameters) < _KEY_CACHE_LIMIT:
                    self._parameters[key] = treatment
            if treatment == "secret":
                pairs[index] = f"{key}={self.replacement('secret', value)}"
            elif treatment == "allow":
                pairs[index] = f"{key}={self.text(unquote(value))}"
            else:
                pairs[index] = f"{key}={self.replacement('query', unquote(value))}"
        return "&".join(pairs)

    def sql(self, statement: str, dialect: str | None = None) -> str:
        """Literals out (``dialect`` ``mysql``: double-quoted ones too; ``mongodb``:
        every value of a JSON query document), then the detectors on what is left."""
        if dialect == "mongodb" or statement.lstrip().startswith(("{", "[")):
            document = sanitize_query_document(statement)
            if document is not None:
                return document
        # A statement's literals differ from call to call; its sanitized form repeats.
        sanitized = sanitize_sql(statement, double_quoted_strings=dialect == "mysql")
        return self._memoised("plain", sanitized)

    # by attribute key ---------------------------------------------------------------

    def value(self, key: str, value: Any) -> Any:
        """``value`` of attribute ``key``, redacted as the key says, whatever its type.

        Strings, numbers, bytes, sequences and mappings at any depth: a key that
        names a secret hides its value at every depth, and what cannot be inspected
        is dropped (replaced and counted in :attr:`uninspectable`), never let through.
        """
        kind_of_value = type(value)
        if kind_of_value is str:
            return self._memoised(self._classes.get(key) or self._class(key), value)
        if kind_of_value is bool or kind_of_value is float or value is None:
            return value
        kind = self._classes.get(key) or self._class(key)
        if kind_of_value is int and -(10**12) < value < 10**12:
            # Small numbers are counts, ids and sizes, unless the key names a secret (a PIN),
            # a phone or a card.
            if kind not in _NUMBER_CLASSES_AND_SECRET:
                return value
            if kind == "secret":
                return self.replacement("secret", str(value))
            return self._numbered(kind, value)
        if (kind_of_value is tuple or kind_of_value is list) and all(
            type(item) is str for item in value
        ):
            # The common sequence (table names, header values): strings only.
            redacted = [self._memoised(kind, item) for item in value]
            if all(a is b for a, b in zip(redacted, value, strict=True)):
                return value
            # Something was found: an access key id (the detector replaces it) makes its
            # neighbours secrets too.
            if any(_looks_like_key_id(item) for item in value):
                redacted = self._credential_siblings(value, redacted)
            return redacted
        return self._structured(kind, value, 0)

    def _structured(self, kind: str, value: Any, depth: int, parse_json: bool = False) -> Any:
        """Any attribute value the SDK accepts, walked; the same object when unchanged.

        ``parse_json``: a string holding a JSON object or array (a captured response's
        body, a header map) is parsed, walked and written back.
        """
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value
        if isinstance(value, str):
            if parse_json and kind != "secret" and value[:1] in ("{", "[") and depth < _MAX_DEPTH:
                try:
                    inner = json.loads(value)
                except ValueError:
                    inner = None
                if isinstance(inner, dict | list):
                    inner_walked = self._structured(kind, inner, depth + 1, parse_json)
                    if inner_walked is inner:
                        return value
                    return json.dumps(inner_walked, separators=(",", ":"), ensure_ascii=False)
            return self._memoised(kind, value)
        if kind == "secret" and not isinstance(value, Mapping | Sequence | bytes | bytearray):
            return self.replacement("secret", str(value))
        if isinstance(value, int):
            if kind in _NUMBER_CLASSES:
                return self._numbered(kind, value)
            return value if -(10**12) < value < 10**12 else self._number(value)
        if depth >= _MAX_DEPTH:
            return self._uninspectable("nested too deep")
        if isinstance(value, bytes | bytearray):
            try:
                text = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return self._uninspectable("bytes that are not UTF-8 text")
            redacted = self._memoised(kind, text)
            return value if redacted == text else redacted
        if isinstance(value, Mapping):
            changed = False
            walked: dict[Any, Any] = {}
            for item_key, item in value.items():
                # A secret-named mapping hides everything under it; else each key decides.
                item_kind = "secret" if kind == "secret" else self._class(str(item_key))
                redacted = self._structured(item_kind, item, depth + 1, parse_json)
                # The key is exported too ({"zoe@example.de": 3}): scanned like text; two
                # keys that redact alike stay apart (#2, #3...).
                new_key = (
                    self._memoised("plain", item_key) if isinstance(item_key, str) else item_key
                )
                if new_key in walked:
                    new_key = f"{new_key}#{len(walked) + 1}"
                walked[new_key] = redacted
                changed = (
                    changed or new_key != item_key or (redacted is not item and redacted != item)
                )
            if "input" in value and "msg" in value and "loc" in value and kind != "secret":
                # One of pydantic's ValidationError.errors(): its input is the user's.
                walked["input"] = self.replacement("input", str(value["input"]))
                changed = True
            if changed and any(_looks_like_key_id(item) for item in value.values()):
                # {"AccessKeyId": "ASIA...", "Key": "...", "Token": "..."} by any names (the
                # key id itself is replaced, so nothing is unchanged where one is).
                keys = list(walked)
                shaped = self._credential_siblings(list(value.values()), list(walked.values()))
                changed = changed or any(
                    a is not b for a, b in zip(shaped, walked.values(), strict=True)
                )
                walked = dict(zip(keys, shaped, strict=True))
            return walked if changed else value
        if isinstance(value, Sequence):
            items = [self._structured(kind, item, depth + 1, parse_json) for item in value]
            if all(a is b or a == b for a, b in zip(items, value, strict=True)):
                return value
            if any(_looks_like_key_id(item) for item in value):
                items = self._credential_siblings(list(value), items)
            return items if isinstance(value, list) else tuple(items)
        return self._uninspectable(f"a {type(value).__name__}")

    def _uninspectable(self, what: str) -> str:
        """Fail closed: a value the redactor cannot read is replaced and counted."""
        self.uninspectable += 1
        logger.debug("otel-xray: redacted %s that could not be inspected", what)
        return "[REDACTED:uninspectable]"

    def _credential_siblings(self, originals: Sequence[Any], redacted: list[Any]) -> list[Any]:
        """Next to an AWS access key id, a secret access key (40 base64 characters) or a
        session token (100 or more) is one whatever its key: botocore's credentials
        (access_key, secret_key, token), STS's Credentials under other names."""
        out = list(redacted)
        for index, item in enumerate(originals):
            if isinstance(item, str) and _CREDENTIAL_SHAPE.fullmatch(item) is not None:
                out[index] = self.replacement("secret", item)
        return out

    def _numbered(self, kind: str, value: int | str) -> Any:
        """A value under a key that says phone or card: a phone number is 8 to 15 digits
        (a bare NANP 4155552671 included), a card 12 to 19 that pass Luhn."""
        text = str(value)
        digits = "".join(c for c in text if c.isdigit())
        others = text.translate(_PHONE_PUNCTUATION)
        if not others.isdigit():
            return self._memoised("plain", text) if isinstance(value, str) else value
        if kind == "phone" and 8 <= len(digits) <= 15:
            return self.replacement("phone", text)
        if kind == "card" and 12 <= len(digits) <= 19 and luhn_valid(digits):
            return self.replacement("card", text)
        return self._memoised("plain", text) if isinstance(value, str) else value

    def _number(self, value: int) -> Any:
        """A long integer that reads as a card or phone number (stored as a number)."""
        as_text = str(value)
        return value if self.text(as_text) == as_text else self.replacement("number", as_text)

    def attributes(
        self, attributes: Mapping[str, Any] | None, server_span: bool = False
    ) -> Mapping[str, Any] | None:
        """Redacted attributes: the same object when nothing changed (the common case).

        Two rules read a second attribute of the same span: ``db.system`` says which
        SQL dialect ``db.statement`` is in, and ``http.route`` (an API Gateway route
        template such as ``/users/{phone}``) says which path segments hold a
        parameter whose name is personal or secret: those become ``{name}``
        whatever they look like.

        ``server_span``: on a SERVER span the peer is the client, so the old
        conventions' peer addresses (``net.peer.ip``, ``net.sock.peer.addr``,
        ``network.peer.address``) are a person's address, not a server's.
        """
        if not attributes:
            return attributes
        plain: Mapping[str, Any] = getattr(attributes, "_dict", attributes)
        changed: dict[str, Any] | None = None
        value_of = self.value
        dialect = _SQL_DIALECTS.get(str(plain.get("db.system", "")).lower())
        for key, value in plain.items():
            if dialect is not None and key in _SQL_KEYS and isinstance(value, str):
                redacted = self.sql(value, dialect)
            elif server_span and type(value) is str and self._is_peer(key):
                redacted = self.text(value, self.address_detectors)
            else:
                redacted = value_of(key, value)
            if redacted is not value and redacted != value:
                if changed is None:
                    changed = dict(plain)
                changed[key] = redacted
        route = plain.get("http.route")
        if isinstance(route, str) and "{" in route:
            source = changed if changed is not None else plain
            for key in _ROUTED_KEYS:
                current = source.get(key)
                if isinstance(current, str):
                    routed = self._route_parameters(route, current)
                    if routed != current:
                        if changed is None:
                            changed = dict(plain)
                        changed[key] = routed
        return attributes if changed is None else changed

    def _is_peer(self, key: str) -> bool:
        """A key naming the other end: the client's address on a SERVER span."""
        return key in _PEER_KEYS or self._class(key) == "peer"

    def _route_parameters(self, route: str, target: str) -> str:
        """``target``'s path with each segment under a personal or secret parameter of the
        route template as ``{name}``; unchanged when the two do not line up."""
        scheme, sep, rest = target.partition("://")
        prefix, path = ("", target)
        if sep:
            host, _, tail = rest.partition("/")
            prefix, path = scheme + sep + host, "/" + tail
        path, question, query = path.partition("?")
        template = route.split(" ", 1)[-1].split("/")  # "GET /users/{id}" (HTTP API route keys)
        segments = path.split("/")
        if len(template) != len(segments):
            return target
        for index, part in enumerate(template):
            if part.startswith("{") and part.endswith("}"):
                name = part[1:-1].rstrip("+")
                if self._is_personal_name(name):
                    segments[index] = "{" + name + "}"
        return prefix + "/".join(segments) + (question + query if question else "")

    def _is_personal_name(self, name: str) -> bool:
        words = {w.lower() for w in _WORDS.findall(name)}
        return self._is_secret_key(name) or bool(words & _PERSONAL_WORDS)

    def metadata(self, value: str) -> str:
        """An ``aws.xray.metadata.<namespace>`` JSON object, redacted as a structure (by key
        at every depth, JSON strings inside parsed too), then bounded: a string longer
        than :data:`~otel_xray.xray.MAX_METADATA_STRING` is cut and ends in "…", and
        entries past :data:`~otel_xray.xray.MAX_METADATA_BYTES` are dropped
        (``_truncated``). Not JSON: redacted as text.
        """
        try:
            document = json.loads(value)
        except ValueError:
            return self.text(value)
        redacted = _bound_metadata(self._structured("plain", document, 0, parse_json=True))
        if redacted is document:
            return value
        return json.dumps(redacted, separators=(",", ":"), ensure_ascii=False)

    # internals ----------------------------------------------------------------------

    def _memoised(self, kind: str, value: str) -> str:
        if len(value) > _MEMO_VALUE_LIMIT:
            return self._string(kind, value)
        memo_key = (kind, value)
        found = self._memo.get(memo_key)
        if found is None:
            found = self._string(kind, value)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = found
        return found

    def _string(self, kind: str, value: str) -> str:
        if kind == "plain":
            return self.text(value)
        if kind == "segment":
            return self._path_segment(value)
        if kind == "name":
            return self._name(value)
        if kind == "allow":
            return value
        if kind == "secret":
            return self.replacement("secret", value) if value else value
        if kind == "url":
            return self.url(value)
        if kind == "path":
            return self.path(value)
        if kind == "query":
            return self.query(value.lstrip("?"))
        if kind == "sql":
            return self.sql(value)
        if kind == "metadata":
            return self.metadata(value)
        if kind == "address":
            return self.text(value, self.address_detectors)
        if kind in _NUMBER_CLASSES:
            result: str = self._numbered(kind, value)
            return result
        if kind == "object":
            return self.object_path(value)
        # "server", and "peer" (the server, but for SERVER spans: see attributes())
        return self.text(value, self.server_detectors)

    def _class(self, key: str) -> str:
        found = self._classes.get(key)
        if found is not None:
            return found
        lowered = key.lower()
        last = key.rsplit(".", 1)[-1]
        if lowered in self._allow:
            found = "allow"
        elif lowered.startswith(METADATA_PREFIX):
            # Its own name never hides a namespace ("session"): its keys decide inside.
            found = "metadata"
        elif self._is_secret_key(last) or _is_key_header(lowered):
            found = "secret"
        elif lowered in _URL_KEYS or _last_word(last) in _URL_WORDS:
            found = "url"
        elif lowered in _PATH_KEYS:
            found = "path"
        elif lowered in _QUERY_KEYS:
            found = "query"
        elif lowered in _SQL_KEYS:
            found = "sql"
        elif lowered in _SERVER_KEYS:
            found = "server"
        elif lowered in _OBJECT_PATH_KEYS:
            found = "object"
        else:
            found = self._class_by_words(key)
        if len(self._classes) < _KEY_CACHE_LIMIT:
            self._classes[key] = found
        return found

    def _class_by_words(self, key: str) -> str:
        """What a key's words say its value is: a phone, a card, an address, or plain."""
        ordered = [w.lower() for w in _WORDS.findall(key)]
        words = set(ordered)
        if (words & _PHONE_KEY_WORDS or {"contact", "number"} <= words) and ordered[
            -1
        ] not in _NOT_PHONE_LAST_WORDS:
            return "phone"
        if words & _CARD_KEY_WORDS:
            return "card"
        if words & _ADDRESS_KEY_WORDS:
            # A peer is the server on a client span and the client on a server span.
            return "peer" if words & _PEER_KEY_WORDS else "address"
        return "plain"

    def _is_secret_key(self, name: str) -> bool:
        found = self._secret_names.get(name)
        if found is None:
            found = self._secret_by_words(name)
            if len(self._secret_names) < _KEY_CACHE_LIMIT:
                self._secret_names[name] = found
        return found

    def _secret_by_words(self, name: str) -> bool:
        """By all the words of the key, in any casing: SecretAccessKey,
        client_secret_value, refreshTokenExpiry and x-api-key are secret; idempotency,
        partition, sort, cache and primary keys, token_type and tokens_used are not."""
        normalised = _normalise(name)
        if not normalised:
            return False
        if normalised in _SECRET_EXACT:
            return True
        words = [w.lower() for w in _WORDS.findall(name)]
        if not words:
            return False
        # By the last word too: card_cvv, user_pin, customerSsn, login-otp, user_session.
        if words[-1] in _SECRET_EXACT or words[-1] in ("session", "sessionid"):
            return True
        for index, word in enumerate(words):
            following = words[index + 1] if index + 1 < len(words) else ""
            if word == "key" and index and words[index - 1] in _SECRET_KEY_QUALIFIERS:
                return True
            if word == "session" and following == "id":
                return True
            if word in _NOT_SECRET_WORDS or following in _DESCRIBING_WORDS:
                continue
            if word.startswith(_SECRET_WORDS) or word.endswith(_SECRET_WORDS):
                return True
        return any(normalised == k or normalised.endswith(k) for k in self._extra_secret)

    def _segment(self, segment: str) -> str:
        return self._memoised("segment", segment)

    def _path_segment(self, segment: str) -> str:
        decoded = unquote(segment)
        for finding in self.detectors.find(decoded):
            return "{" + finding.kind + "}"
        return segment

    def _placeholders(self, text: str) -> str:
        pieces: list[str] = []
        position = 0
        for finding in self.detectors.find(text):
            pieces.append(text[position : finding.start] + "{" + finding.kind + "}")
            position = finding.end
        return "".join(pieces) + text[position:] if pieces else text


#: Words of a key in any style: snake, kebab, dotted, camel or Pascal case.
_WORDS = LazyPattern(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
#: Header names ending in "key" that are not credentials.
_NOT_SECRET_KEY_HEADERS = frozenset({"idempotencykey", "cachekey", "sortkey", "partitionkey"})


def _is_key_header(lowered: str) -> bool:
    """An HTTP header whose name ends in "key" (X-Auth-Key, Ocp-Apim-Subscription-Key)."""
    if not lowered.startswith(_HEADER_PREFIXES):
        return False
    name = _normalise(lowered.rsplit(".", 1)[-1])
    return name.endswith("key") and name not in _NOT_SECRET_KEY_HEADERS


#: The classes whose whole value may be a number that is personal.
_NUMBER_CLASSES = frozenset({"phone", "card"})
_NUMBER_CLASSES_AND_SECRET = _NUMBER_CLASSES | {"secret"}
_PHONE_PUNCTUATION = str.maketrans("", "", " ()+-.")
_KEY_ID_PREFIXES = ("AKIA", "ASIA")
_CREDENTIAL_SHAPE = LazyPattern(r"[A-Za-z0-9/+]{40,}={0,2}")


def _looks_like_key_id(value: Any) -> bool:
    return (
        type(value) is str
        and len(value) == 20
        and value.startswith(_KEY_ID_PREFIXES)
        and value.isalnum()
        and value.isupper()
    )


def _last_word(key: str) -> str:
    words = _WORDS.findall(key)
    return words[-1].lower() if words else ""


def _unquote_fully(text: str) -> str:
    """Percent-decoded until stable (twice-encoded values too), at most three rounds."""
    for _ in range(3):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _bound_metadata(value: Any, depth: int = 0) -> Any:
    """Cut long strings (after redaction) and drop entries past the namespace's budget."""
    if isinstance(value, str):
        if len(value) > MAX_METADATA_STRING:
            return value[:MAX_METADATA_STRING] + "…"
        return value
    if isinstance(value, list):
        bounded = [_bound_metadata(v, depth + 1) for v in value]
        return value if all(a is b for a, b in zip(bounded, value, strict=True)) else bounded
    if isinstance(value, dict):
        bounded_map = {k: _bound_metadata(v, depth + 1) for k, v in value.items()}
        if depth == 0:
            while (
                len(json.dumps(bounded_map, separators=(",", ":"), ensure_ascii=False).encode())
                > MAX_METADATA_BYTES
            ):
                entries = [k for k in bounded_map if k != "_truncated"]
                if not entries:
                    break
                bounded_map.pop(entries[-1])
                bounded_map["_truncated"] = True
        same = bounded_map.keys() == value.keys() and all(bounded_map[k] is value[k] for k in value)
        return value if same else bounded_map
    return value


def _normalise(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _canonical(kind: str, value: str) -> str:
    """One spelling per person: emails in lower case, numbers as digits only."""
    if kind == "email":
        return value.strip().lower()
    if kind in ("card", "phone", "ssn"):
        return "".join(c for c in value if c.isdigit())
    return value
