"""SigV4 signing of OTLP requests to X-Ray, and the AWS credentials it signs with.

Why not botocore's ``SigV4Auth`` (what ADOT's ``OTLPAwsSpanExporter`` uses): importing
botocore costs a Lambda cold start tens of milliseconds, and a function that never calls
AWS itself would pay it only to sign its traces. SigV4 for one ``POST`` with no query
string is a few lines of ``hmac`` (IAM user guide, "Create a signed AWS API request").
``tests/unit/test_otlp_sigv4.py`` checks this signer against botocore's ``SigV4Auth``
on generated requests, header for header.

What it signs: the body as sent (the gzip bytes when compressed), and the headers
botocore signs on such a request: ``content-type``, ``host``, ``x-amz-date``,
``x-amz-security-token`` (and ``content-encoding`` when sent; botocore signs every
header it is given). No ``X-Amz-Content-SHA256``, as botocore's ``SigV4Auth``.

Credentials, first found wins (:class:`CredentialChain`):

1. the environment (``AWS_ACCESS_KEY_ID`` ...), which Lambda sets;
2. the container credentials URI (``AWS_CONTAINER_CREDENTIALS_FULL_URI`` or
   ``_RELATIVE_URI`` with ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` or ``_TOKEN_FILE``),
   which SnapStart and ECS use; fetched when needed, cached until 5 minutes before
   they expire, the fetch bounded by the caller's time;
3. botocore's own chain (profiles, SSO, IMDS ...), only when botocore is importable and
   nothing above answered, so a function with credentials in its environment never
   imports it.

Example:
    >>> signer = SigV4Signer("us-east-1", "xray")
    >>> headers = signer.sign("POST", "https://xray.us-east-1.amazonaws.com/v1/traces",
    ...     {"Content-Type": "application/x-protobuf"}, b"",
    ...     Credentials("AKIDEXAMPLE", "secret"), amz_date="20260101T000000Z")
    >>> headers["Authorization"].split(", ")[1]
    'SignedHeaders=content-type;host;x-amz-date'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, NamedTuple

from otel_xray.settings import AwsCredentialEnv

logger = logging.getLogger("otel_xray")

ALGORITHM = "AWS4-HMAC-SHA256"
#: The ECS / SnapStart credentials host for a relative URI (botocore's ContainerMetadataFetcher).
CONTAINER_HOST = "http://169.254.170.2"
#: Refresh container credentials this long before they expire (botocore refreshes 15
#: minutes early for "advisory" and 10 for "mandatory"; 5 is within both).
REFRESH_BEFORE_SECONDS = 300
#: Never wait longer than this for the container credentials endpoint.
CONTAINER_TIMEOUT_SECONDS = 1.0
#: Headers never signed (botocore's ``SIGNED_HEADERS_BLACKLIST``).
UNSIGNED_HEADERS = frozenset({"expect", "user-agent", "x-amzn-trace-id"})


class Credentials(NamedTuple):
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    #: Epoch seconds after which they are no good (None: never expire).
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id!r}, ...)"


class CredentialsError(Exception):
    """No credentials could be found; the message says where to put them."""


class CredentialsUnavailableError(CredentialsError):
    """The credentials endpoint could not be reached in time, or answered a server error:
    the configuration may be right and a later attempt may succeed."""


class SigV4Signer:
    """Signs one request for ``service`` in ``region``."""

    def __init__(self, region: str, service: str = "xray") -> None:
        self.region = region
        self.service = service
        self._keys: dict[tuple[str, str], bytes] = {}

    def sign(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        credentials: Credentials,
        amz_date: str | None = None,
    ) -> dict[str, str]:
        """``headers`` plus ``Host``, ``X-Amz-Date``, the token and ``Authorization``."""
        split = urllib.parse.urlsplit(url)
        amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        date = amz_date[:8]
        signed = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        signed["Host"] = _canonical_host(split)
        signed["X-Amz-Date"] = amz_date
        if credentials.session_token:
            signed["X-Amz-Security-Token"] = credentials.session_token
        lowered = {k.lower(): " ".join(str(v).split()) for k, v in signed.items()}
        names = sorted(k for k in lowered if k not in UNSIGNED_HEADERS)
        canonical = "\n".join(
            (
                method.upper(),
                urllib.parse.quote(_normalized_path(split.path), safe="/~"),
                _canonical_query(split.query),
                "".join(f"{name}:{lowered[name]}\n" for name in names),
                ";".join(names),
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(
            (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        signature = hmac.new(
            self._key(credentials.secret_access_key, date), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        signed["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return signed

    def _key(self, secret: str, date: str) -> bytes:
        # One HMAC chain per day and secret, not four HMACs per request.
        cache_key = (secret, date)
        key = self._keys.get(cache_key)
        if key is None:
            key = f"AWS4{secret}".encode()
            for part in (date, self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {cache_key: key}
        return key


def _canonical_host(split: urllib.parse.SplitResult) -> str:
    """``host[:port]``, the port only when not the scheme's default (botocore's rule)."""
    host = split.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(split.scheme)
    if split.port is not None and split.port != default:
        return f"{host}:{split.port}"
    return host


def _normalized_path(path: str) -> str:
    """RFC 3986 dot-segment removal, as every AWS service but S3 expects."""
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
    return "/" + "/".join(kept) + last


def _canonical_query(query: str) -> str:
    """The query's pairs as the client encoded them, sorted (botocore's
    ``_canonical_query_string_url``)."""
    pairs = [pair.partition("=") for pair in query.split("&") if pair]
    return "&".join(f"{k}={v}" for k, _, v in sorted(pairs))


class CredentialChain:
    """The credentials to sign with now: environment, container URI, then botocore."""

    def __init__(self, source: AwsCredentialEnv) -> None:
        self.source = source
        self._cached: Credentials | None = None
        self._botocore: Any = None
        self._botocore_tried = False

    def get(self, timeout: float = CONTAINER_TIMEOUT_SECONDS) -> Credentials:
        """Credentials valid now; raises :class:`CredentialsError` naming the fix."""
        source = self.source
        if source.access_key_id and source.secret_access_key:
            return Credentials(source.access_key_id, source.secret_access_key, source.session_token)
        cached = self._cached
        if cached is not None and (
            cached.expires_at is None or cached.expires_at - REFRESH_BEFORE_SECONDS > time.time()
        ):
            return cached
        if source.container_full_uri or source.container_relative_uri:
            self._cached = self._from_container(min(timeout, CONTAINER_TIMEOUT_SECONDS))
            return self._cached
        from_botocore = self._from_botocore()
        if from_botocore is not None:
            return from_botocore
        raise CredentialsError(
            "no AWS credentials to sign OTLP requests with: give the function a role "
            "(Lambda sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), or set "
            "AWS_CONTAINER_CREDENTIALS_FULL_URI, or an AWS profile botocore can read"
        )

    def forget(self) -> None:
        """Drop cached credentials (after a SnapStart restore, or a 403)."""
        self._cached = None

    def _from_container(self, timeout: float) -> Credentials:
        import urllib.request  # noqa: PLC0415 - only containers and SnapStart need it

        source = self.source
        url = source.container_full_uri or CONTAINER_HOST + (source.container_relative_uri or "")
        token = source.container_token
        if source.container_token_file:
            try:
                with open(source.container_token_file) as token_file:
                    token = token_file.read().strip()
            except OSError as error:
                raise CredentialsError(
                    f"cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: {error}"
                ) from None
        import http.client  # noqa: PLC0415 - already imported by urllib.request
        import urllib.error  # noqa: PLC0415

        try:
            request = urllib.request.Request(url, headers={"Authorization": token} if token else {})
            with urllib.request.urlopen(request, timeout=max(timeout, 0.001)) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 429 or error.code >= 500:
                raise CredentialsUnavailableError(
                    f"the container credentials endpoint {url} answered HTTP {error.code}"
                ) from None
            raise CredentialsError(
                f"the container credentials endpoint {url} refused the request (HTTP "
                f"{error.code}); check AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)"
            ) from None
        except (OSError, http.client.HTTPException) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            if not isinstance(reason, (OSError, http.client.HTTPException)):
                # urllib's own refusal of the URL ("unknown url type"): configuration.
                raise CredentialsError(
                    f"the container credentials URL {url!r} cannot be fetched ({reason}); "
                    "check AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI"
                ) from None
            # A timeout, a refused or reset connection: not a configuration problem.
            raise CredentialsUnavailableError(
                f"cannot reach the container credentials endpoint {url} within "
                f"{timeout:.2f}s ({reason or type(reason).__name__})"
            ) from None
        except ValueError as error:
            raise CredentialsError(
                f"the container credentials endpoint {url} gave no credentials ({error}); "
                "check AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI"
            ) from None
        try:
            expiration = payload.get("Expiration")
            return Credentials(
                payload["AccessKeyId"],
                payload["SecretAccessKey"],
                payload.get("Token"),
                _epoch(expiration) if isinstance(expiration, str) else None,
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise CredentialsError(
                f"the container credentials endpoint {url} gave no credentials ({error}); "
                "check AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI and the token"
            ) from None

    def _from_botocore(self) -> Credentials | None:
        if not self._botocore_tried:
            self._botocore_tried = True
            import importlib.util  # noqa: PLC0415

            if importlib.util.find_spec("botocore") is None:
                return None
            try:
                import botocore.session  # type: ignore[import-untyped]  # noqa: PLC0415

                self._botocore = botocore.session.get_session().get_credentials()
            except Exception as error:
                logger.debug("otel-xray: botocore found no credentials: %s", error)
                self._botocore = None
        if self._botocore is None:
            return None
        frozen = self._botocore.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def _epoch(text: str) -> float | None:
    """ISO 8601 ``2026-12-04T21:00:00Z`` as epoch seconds (None if unreadable)."""
    import calendar  # noqa: PLC0415

    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            parsed = time.strptime(text, pattern)
        except ValueError:
            continue
        offset = parsed.tm_gmtoff or 0
        return calendar.timegm(parsed) - offset
    return None
