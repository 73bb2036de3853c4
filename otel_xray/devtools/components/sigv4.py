"""Checks AWS Signature Version 4 on requests to the local X-Ray API.

The real X-Ray daemon and the collector's ``awsxray`` exporter and ``awsproxy``
sign every call with SigV4. The local API recomputes the signature from the
request and the test credentials, so a client that signs wrongly (or not at all)
fails here as it would against AWS, with the error AWS gives.

The algorithm is AWS's "Create a signed AWS API request" (IAM user guide,
*Signature Version 4*): canonical request, string to sign, signing key derived
from ``AWS4`` + secret through date, region, service and ``aws4_request``.
The test compares it with botocore's own signer (``botocore.auth.SigV4Auth``).

Example:
    >>> from botocore.auth import SigV4Auth
    >>> from botocore.awsrequest import AWSRequest
    >>> from botocore.credentials import Credentials
    >>> request = AWSRequest("POST", "http://127.0.0.1:9/TraceSegments", data=b"{}")
    >>> SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "xray", "us-east-1").add_auth(request)
    >>> verify("POST", "/TraceSegments", dict(request.headers) | {"host": "127.0.0.1:9"},
    ...        b"{}", {"AKIDEXAMPLE": "secret"}, now=None)
    'AKIDEXAMPLE'
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
#: How far a request's X-Amz-Date may be from now (AWS: 15 minutes).
MAX_SKEW_SECONDS = 15 * 60

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


class SignatureError(Exception):
    """A request AWS would refuse: ``code`` is AWS's error type, ``status`` its HTTP code."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def verify(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    service: str = "xray",
    now: float | None = 0.0,
) -> str:
    """The access key id a valid signature was made with; raises :class:`SignatureError`.

    ``target`` is the request line's path and query. ``now`` is the clock for the skew
    check (``0.0``: the real time; ``None``: no check).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization")
    if not authorization:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTHORIZATION.match(authorization)
    if not match:
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            f"with {ALGORITHM}",
        )
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise SignatureError(
            "IncompleteSignatureException", f"malformed Credential {match['credential']!r}"
        )
    access_key, date, region, signed_service, _ = parts
    secret = credentials.get(access_key)
    if secret is None:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if signed_service != service:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'.",
        )
    amz_date = lowered.get("x-amz-date", "")
    if not amz_date.startswith(date):
        raise SignatureError(
            "IncompleteSignatureException", "X-Amz-Date is missing or does not match the scope"
        )
    if now is not None:
        clock = now or time.time()
        try:
            signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise SignatureError(
                "IncompleteSignatureException", f"X-Amz-Date {amz_date!r} is not YYYYMMDDTHHMMSSZ"
            ) from None
        if abs(clock - signed_at) > MAX_SKEW_SECONDS:
            raise SignatureError("InvalidSignatureException", "Signature expired")
    signed_headers = match["signed"].split(";")
    missing = [h for h in signed_headers if h not in lowered]
    if missing or "host" not in signed_headers:
        raise SignatureError(
            "InvalidSignatureException", f"signed headers missing from the request: {missing}"
        )
    canonical = canonical_request(method, target, lowered, signed_headers, body)
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = signing_key(secret, date, region, service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return access_key


def canonical_request(
    method: str,
    target: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes,
) -> str:
    """SigV4's canonical request (``headers`` keyed in lower case)."""
    # The request line's target, split by hand: urlsplit would read //x as a host.
    target_path, _, target_query = target.partition("?")
    # Every AWS service but S3 normalizes the path (RFC 3986: no empty, "." or ".."
    # segments) and encodes it as sent once more (botocore's ``_normalize_url_path``:
    # ``quote(remove_dot_segments(path), safe="/~")``).
    path = quote(_normalized(target_path), safe="/~")
    # The query's pairs as the client encoded them, sorted (botocore's
    # ``_canonical_query_string_url``; AWS SDKs encode with %XX, never +).
    pairs = [pair.partition("=") for pair in target_query.split("&") if pair]
    query = "&".join(f"{k}={v}" for k, _, v in sorted(pairs))
    canonical_headers = "".join(
        f"{name}:{' '.join(headers[name].split())}\n" for name in signed_headers
    )
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        payload = hashlib.sha256(body).hexdigest()  # a wrong declared hash fails the signature
    return "\n".join(
        (method.upper(), path, query, canonical_headers, ";".join(signed_headers), payload)
    )


def _normalized(path: str) -> str:
    """The path without empty, ``.`` and ``..`` segments; its leading and trailing ``/`` kept."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    last = "/" if path.endswith("/") and kept else ""
    return ("/" if path.startswith("/") else "") + "/".join(kept) + last


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
