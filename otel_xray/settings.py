"""Every environment variable otel-xray reads, parsed once into a typed object.

Why a module of its own: upstream reads ``OTEL_*`` variables lazily all over the
SDK and silently ignores or crashes on bad values. Tracing is a guest in the
user's function, so here a bad value is one clear log line naming the variable,
what was given and what is accepted, and the setting falls back to a safe
default; it never raises.

Example:
    >>> from otel_xray.settings import Settings
    >>> s = Settings.from_env({"OTEL_XRAY_FLUSH_TIMEOUT_MS": "250"})
    >>> s.flush_timeout_ms
    250
    >>> Settings.from_env({"OTEL_XRAY_FLUSH_TIMEOUT_MS": "soon"}).errors[0].variable
    'OTEL_XRAY_FLUSH_TIMEOUT_MS'
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple turns a string
# annotation into a ForwardRef by compiling it, ~15 µs a field, ~1 ms for the 65 fields
# below at a cold start; the real types cost nothing to check.

import json
import logging
import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from otel_xray.lazy_re import LazyPattern

logger = logging.getLogger("otel_xray")

#: Instrumentations otel-xray knows how to load, in load order.
KNOWN_INSTRUMENTATIONS: tuple[str, ...] = (
    "botocore",
    "s3transfer",
    "requests",
    "urllib3",
    "urllib",
    "httpx",
    "aiohttp-client",
    "sqlite3",
    "psycopg2",
    "psycopg",
    "pg8000",
    "pymysql",
    "mysql",
    "sqlalchemy",
    "asyncpg",
    "redis",
    "pymongo",
    "flask",
    "django",
    "fastapi",
    "starlette",
    "powertools-event-handler",
)
KNOWN_EXPORTERS: tuple[str, ...] = ("otlp", "xray-udp", "xray-otlp-udp", "console", "none")
KNOWN_PROPAGATORS: tuple[str, ...] = ("xray", "xray-lambda", "tracecontext", "baggage", "none")
KNOWN_SAMPLERS: tuple[str, ...] = (
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
    "parentbased_xray",
    "parentbased_xray_local",
    "always_on",
    "always_off",
    "traceidratio",
    "xray",
    "xray_local",
)
#: What to do when Lambda passes Sampled=0 because active tracing is off.
LAMBDA_UNSAMPLED_POLICIES: tuple[str, ...] = ("rules", "drop", "all")
#: ``OTEL_XRAY_TENANT_ID``: how a tenant-isolated function's ``context.tenant_id`` is
#: recorded (see :mod:`otel_xray.awslambda.handler`).
TENANT_ID_POLICIES: tuple[str, ...] = ("auto", "keep", "hash", "off")
DEFAULT_OTLP_ENDPOINT = "http://localhost:4318/v1/traces"
#: X-Ray's OTLP endpoint; signing is on by itself for it (the pattern ADOT's configurator
#: uses, ``AWS_TRACES_OTLP_ENDPOINT_PATTERN``, with the China partition's ``.cn``).
XRAY_OTLP_ENDPOINT = LazyPattern(r"https://xray\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/v1/traces$")
#: ``OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER`` values (ADOT's name).
CREDENTIAL_PROVIDERS: tuple[str, ...] = ("aws_sigv4",)
OTLP_COMPRESSIONS: tuple[str, ...] = ("none", "gzip")
PII_MODES: tuple[str, ...] = ("placeholder", "hash")
#: Query parameters whose values are kept by default (paging and shaping, not people).
DEFAULT_QUERY_ALLOW: tuple[str, ...] = (
    "page",
    "per_page",
    "page_size",
    "limit",
    "offset",
    "sort",
    "order",
    "fields",
    "include",
    "expand",
    "format",
    "lang",
    "locale",
    "version",
    "action",
)
MIN_HASH_KEY_LENGTH = 16

_T = TypeVar("_T")


# The settings are NamedTuples, not dataclasses: a frozen dataclass compiles its methods
# from source when its module is imported (~0.5 ms each, 1.6 ms for Settings; 8 ms for
# the package's 14 at a cold start, timed per decorator call), a NamedTuple ~0.2 ms.
#: The empty mapping every default shares (read-only, so sharing it is safe).
_NONE: Mapping[str, str] = MappingProxyType({})


class SettingError(NamedTuple):
    """One rejected value: what was given, what is accepted, what is used instead."""

    variable: str
    value: str
    accepted: str
    fallback: str

    def __str__(self) -> str:
        return (
            f"otel-xray: {self.variable}={self.value!r} is not valid; "
            f"accepted: {self.accepted}; using {self.fallback}"
        )


class PiiSettings(NamedTuple):
    """How personal data is redacted before export (see :mod:`otel_xray.pii`)."""

    enabled: bool = True
    mode: str = "placeholder"
    #: Never in the ``repr`` (see :meth:`__repr__`).
    hash_key: bytes = b""
    redact_ip_addresses: bool = True
    extra_patterns: Mapping[str, str] = _NONE
    extra_secret_keys: tuple[str, ...] = ()
    #: Attribute keys never redacted.
    allow_keys: tuple[str, ...] = ()
    query_allow: tuple[str, ...] = DEFAULT_QUERY_ALLOW

    def __repr__(self) -> str:
        """Every field but the hash key, which is a secret."""
        shown = (f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True) if k != "hash_key")
        return f"PiiSettings({', '.join(shown)})"


class LambdaEnvironment(NamedTuple):
    """What Lambda tells the process through its reserved variables (empty elsewhere).

    ``_X_AMZN_TRACE_ID`` is not here: it changes with every invocation.
    """

    function_name: str | None = None
    function_version: str | None = None
    region: str | None = None
    log_group_name: str | None = None
    log_stream_name: str | None = None
    memory_mb: int | None = None
    #: ``on-demand``, ``provisioned-concurrency``, ``snap-start`` or
    #: ``lambda-managed-instances``.
    initialization_type: str | None = None
    #: Active tracing is on: Lambda set ``AWS_XRAY_DAEMON_ADDRESS``.
    active_tracing: bool = False
    #: ``AWS_LAMBDA_RUNTIME_API``: the Runtime and Extensions APIs' ``host:port``.
    runtime_api: str | None = None

    @property
    def never_frozen(self) -> bool:
        """Lambda Managed Instances: "the execution environment remains continuously
        active … without freezing" (the Lambda guide, lambda-managed-instances)."""
        return self.initialization_type == "lambda-managed-instances"

    @property
    def initialized_ahead(self) -> bool:
        """Init ran before any invocation was routed here: provisioned concurrency, and
        Managed Instances, which AWS says scale "without cold starts"."""
        return self.initialization_type in ("provisioned-concurrency", "lambda-managed-instances")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "LambdaEnvironment":
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        return cls(
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or None,
            function_version=env.get("AWS_LAMBDA_FUNCTION_VERSION") or None,
            region=env.get("AWS_REGION") or None,
            log_group_name=env.get("AWS_LAMBDA_LOG_GROUP_NAME") or None,
            log_stream_name=env.get("AWS_LAMBDA_LOG_STREAM_NAME") or None,
            memory_mb=int(memory) if memory.isdigit() else None,
            initialization_type=env.get("AWS_LAMBDA_INITIALIZATION_TYPE") or None,
            active_tracing=bool(env.get("AWS_XRAY_DAEMON_ADDRESS", "").strip()),
            runtime_api=env.get("AWS_LAMBDA_RUNTIME_API", "").strip() or None,
        )


class AwsCredentialEnv(NamedTuple):
    """Where AWS credentials for signing come from, as the environment says at start.

    Lambda sets the three key variables; SnapStart, ECS and some containers instead
    set the container credentials URI (and its token or token file). Secrets are never
    in the ``repr``.
    """

    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    container_full_uri: str | None = None
    container_relative_uri: str | None = None
    container_token: str | None = None
    container_token_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "AwsCredentialEnv":
        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        return cls(
            access_key_id=get("AWS_ACCESS_KEY_ID"),
            secret_access_key=get("AWS_SECRET_ACCESS_KEY"),
            session_token=get("AWS_SESSION_TOKEN"),
            container_full_uri=get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            container_relative_uri=get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            container_token=get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            container_token_file=get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        )

    def __repr__(self) -> str:
        secret = {"secret_access_key", "session_token", "container_token"}
        shown = (
            f"{k}={'<set>' if v and k in secret else repr(v)}"
            for k, v in zip(self._fields, self, strict=True)
        )
        return f"AwsCredentialEnv({', '.join(shown)})"


class OtlpSigning(NamedTuple):
    """SigV4 for the OTLP exporter: on for X-Ray's endpoint, or when asked for."""

    region: str
    service: str = "xray"


class PlatformEnvironment(NamedTuple):
    """Where a service outside Lambda finds its platform's metadata (:mod:`otel_xray.platforms`)."""

    #: OTEL_XRAY_PLATFORM_DETECTION (default true; never inside Lambda).
    enabled: bool = True
    #: ECS_CONTAINER_METADATA_URI_V4, set by the ECS agent in each container.
    ecs_metadata_uri: str | None = None
    #: AWS_EC2_METADATA_SERVICE_ENDPOINT, botocore's variable (None: 169.254.169.254).
    imds_endpoint: str | None = None
    #: AWS_EC2_METADATA_DISABLED=true, botocore's variable.
    imds_disabled: bool = False
    #: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT, set by the kubelet in every pod.
    k8s_service_host: str | None = None
    k8s_service_port: str | None = None
    #: HOSTNAME: a Kubernetes pod's name.
    hostname: str | None = None


class Settings(NamedTuple):
    """The configuration of one process, read from its environment.

    Only ``from_env`` should build one; every field has a safe default.
    """

    sdk_disabled: bool = False
    in_lambda: bool = False
    lambda_env: LambdaEnvironment = LambdaEnvironment()
    platform: PlatformEnvironment = PlatformEnvironment()
    service_name: str | None = None
    resource_attributes: Mapping[str, str] = _NONE
    exporter: str = "otlp"
    otlp_endpoint: str = DEFAULT_OTLP_ENDPOINT
    otlp_headers: Mapping[str, str] = _NONE
    #: ``none`` or ``gzip`` (OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, then _COMPRESSION).
    otlp_compression: str = "none"
    #: SigV4 signing of OTLP requests (None: unsigned; always None with a bearer key).
    otlp_signing: OtlpSigning | None = None
    aws_credentials: AwsCredentialEnv = AwsCredentialEnv()
    daemon_udp_address: tuple[str, int] = ("127.0.0.1", 2000)
    propagators: tuple[str, ...] = ("tracecontext", "xray")
    sampler: str = "parentbased_always_on"
    sampler_arg: float = 1.0
    #: X-Ray local sampling rules: a file path or the JSON itself (None: 1/s + 5%).
    sampling_rules: str | None = None
    sampling_endpoint: str = "http://127.0.0.1:2000"
    lambda_unsampled: str = "rules"
    instrumentations: tuple[str, ...] = KNOWN_INSTRUMENTATIONS
    flush_timeout_ms: int = 1000
    max_queue_size: int = 2048
    #: OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT / OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT. With
    #: redaction on, otel-xray applies it after redaction (the SDK keeps whole values).
    attribute_value_length_limit: int | None = None
    pii: PiiSettings = PiiSettings()
    #: Raise on API misuse (a bad annotation) instead of logging it: for tests.
    strict: bool = False
    #: Record each handler's response as metadata (size-bounded, redacted).
    capture_response: bool = False
    #: ``OTEL_XRAY_TENANT_ID``: ``keep``, ``hash`` or ``off`` (``auto`` resolved: hash in
    #: the PII hash mode, keep otherwise).
    tenant_id: str = "keep"
    #: Run code written for the X-Ray SDK (and Powertools Tracer) on otel-xray's spans
    #: (:mod:`otel_xray.bridge.xray_sdk`); ``OTEL_XRAY_SDK_BRIDGE=false`` turns it off.
    xray_sdk_bridge: bool = True
    #: ``OTEL_XRAY_EXPORT_AFTER_RESPONSE``: on Lambda, export on an internal extension's
    #: thread after the response (:mod:`otel_xray.awslambda.extension`); ``false``
    #: flushes before the handler returns.
    export_after_response: bool = True
    errors: tuple[SettingError, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Parse ``environ`` (default ``os.environ``); never raises."""
        env = os.environ if environ is None else environ
        parser = _Parser(env)
        in_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))
        # Lambda with the collector extension: OTLP to it. Lambda without one: straight
        # to Lambda's X-Ray daemon over UDP. Elsewhere: OTLP to a collector.
        collector = bool(env.get("OPENTELEMETRY_COLLECTOR_CONFIG_URI", "").strip())
        default_exporter = "xray-udp" if in_lambda and not collector else "otlp"

        disabled = set(parser.name_list("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", None, ()))
        enabled = parser.name_list(
            "OTEL_XRAY_INSTRUMENTATIONS", KNOWN_INSTRUMENTATIONS, KNOWN_INSTRUMENTATIONS
        )
        otlp_endpoint = _otlp_endpoint(env)
        otlp_headers = parser.key_values("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or parser.key_values(
            "OTEL_EXPORTER_OTLP_HEADERS"
        )
        pii = parser.pii()
        settings = cls(
            sdk_disabled=parser.boolean("OTEL_SDK_DISABLED", False),
            in_lambda=in_lambda,
            lambda_env=LambdaEnvironment.from_env(env),
            platform=PlatformEnvironment(
                enabled=not in_lambda and parser.boolean("OTEL_XRAY_PLATFORM_DETECTION", True),
                ecs_metadata_uri=parser._raw("ECS_CONTAINER_METADATA_URI_V4"),
                imds_endpoint=parser._raw("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
                imds_disabled=(parser._raw("AWS_EC2_METADATA_DISABLED") or "").lower() == "true",
                k8s_service_host=parser._raw("KUBERNETES_SERVICE_HOST"),
                k8s_service_port=parser._raw("KUBERNETES_SERVICE_PORT"),
                hostname=parser._raw("HOSTNAME"),
            ),
            service_name=env.get("OTEL_SERVICE_NAME") or env.get("AWS_LAMBDA_FUNCTION_NAME"),
            resource_attributes=parser.key_values("OTEL_RESOURCE_ATTRIBUTES"),
            exporter=parser.choice("OTEL_TRACES_EXPORTER", KNOWN_EXPORTERS, default_exporter),
            otlp_endpoint=otlp_endpoint,
            otlp_headers=otlp_headers,
            otlp_compression=parser.choice(
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                OTLP_COMPRESSIONS,
                parser.choice("OTEL_EXPORTER_OTLP_COMPRESSION", OTLP_COMPRESSIONS, "none"),
            ),
            otlp_signing=parser.otlp_signing(otlp_endpoint, otlp_headers),
            aws_credentials=AwsCredentialEnv.from_env(env),
            daemon_udp_address=parser.daemon_address(),
            propagators=parser.name_list(
                "OTEL_PROPAGATORS", KNOWN_PROPAGATORS, ("tracecontext", "xray")
            ),
            sampler=parser.choice("OTEL_TRACES_SAMPLER", KNOWN_SAMPLERS, "parentbased_always_on"),
            sampler_arg=parser.number("OTEL_TRACES_SAMPLER_ARG", float, 1.0, 0.0, 1.0),
            sampling_rules=parser._raw("OTEL_XRAY_SAMPLING_RULES"),
            sampling_endpoint=_sampling_endpoint(env),
            lambda_unsampled=parser.choice(
                "OTEL_XRAY_LAMBDA_UNSAMPLED", LAMBDA_UNSAMPLED_POLICIES, "rules"
            ),
            instrumentations=tuple(name for name in enabled if name not in disabled),
            flush_timeout_ms=parser.number("OTEL_XRAY_FLUSH_TIMEOUT_MS", int, 1000, 0, 900_000),
            max_queue_size=parser.number("OTEL_XRAY_MAX_QUEUE_SIZE", int, 2048, 1, 1_000_000),
            attribute_value_length_limit=parser.optional_number(
                "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", 1, 10_000_000
            )
            or parser.optional_number("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 1, 10_000_000),
            pii=pii,
            strict=parser.boolean("OTEL_XRAY_STRICT", False),
            capture_response=parser.boolean("OTEL_XRAY_CAPTURE_RESPONSE", False),
            tenant_id=parser.tenant_id(pii),
            xray_sdk_bridge=parser.boolean("OTEL_XRAY_SDK_BRIDGE", True),
            export_after_response=parser.boolean("OTEL_XRAY_EXPORT_AFTER_RESPONSE", True),
            errors=tuple(parser.errors),
        )
        for error in settings.errors:
            logger.error("%s", error)
        return settings


def _sampling_endpoint(env: Mapping[str, str]) -> str:
    """The daemon's (or collector's) proxy: the setting, else the daemon's TCP address."""
    explicit = env.get("OTEL_XRAY_SAMPLING_ENDPOINT", "").strip()
    if explicit:
        return explicit
    for token in env.get("AWS_XRAY_DAEMON_ADDRESS", "").split():
        protocol, _, address = token.partition(":")
        if protocol.lower() == "tcp" and address:
            return f"http://{address}"
    return "http://127.0.0.1:2000"


def _otlp_endpoint(env: Mapping[str, str]) -> str:
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if base:
        return base.rstrip("/") + "/v1/traces"
    return DEFAULT_OTLP_ENDPOINT


class _Parser:
    """Reads one variable at a time and records what it had to reject."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.errors: list[SettingError] = []

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def _reject(self, name: str, value: str, accepted: str, fallback: object) -> None:
        self.errors.append(SettingError(name, value, accepted, repr(fallback)))

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        self._reject(name, raw, "true or false", default)
        return default

    def choice(self, name: str, accepted: tuple[str, ...], default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in accepted:
            return lowered
        self._reject(name, raw, "one of " + ", ".join(accepted), default)
        return default

    def name_list(
        self, name: str, accepted: tuple[str, ...] | None, default: tuple[str, ...]
    ) -> tuple[str, ...]:
        raw = self._raw(name)
        if raw is None:
            return default
        names = tuple(dict.fromkeys(p.strip().lower() for p in raw.split(",") if p.strip()))
        if accepted is None:
            return names
        unknown = [n for n in names if n not in accepted]
        if unknown:
            self.errors.append(
                SettingError(
                    name,
                    raw,
                    "a comma-separated list of " + ", ".join(accepted),
                    f"{default!r} (unknown: {', '.join(unknown)})",
                )
            )
            return default
        return names

    def number(
        self, name: str, kind: Callable[[str], _T], default: _T, low: float, high: float
    ) -> _T:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:  # type: ignore[operator]
            self._reject(name, raw, f"a number from {low:g} to {high:g}", default)
            return default
        return value

    def optional_number(self, name: str, low: int, high: int) -> int | None:
        """An integer setting with no default (None when unset or rejected)."""
        if self._raw(name) is None:
            return None
        value: int | None = self.number(name, int, None, low, high)
        return value

    def key_values(self, name: str) -> dict[str, str]:
        raw = self._raw(name)
        if raw is None:
            return {}
        result: dict[str, str] = {}
        for pair in raw.split(","):
            if not pair.strip():
                continue
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                self._reject(name, pair, "key=value pairs separated by commas", "the other pairs")
                continue
            result[key.strip()] = value.strip()
        return result

    def otlp_signing(self, endpoint: str, headers: Mapping[str, str]) -> OtlpSigning | None:
        """SigV4 for ``xray``: automatic for X-Ray's endpoint, else when
        ``OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER=aws_sigv4``.

        An ``Authorization`` header (an X-Ray API key as a bearer token) replaces
        signing, as in ADOT's configurator.
        """
        name = "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER"
        provider = self.choice(name, CREDENTIAL_PROVIDERS, "") or self.choice(
            "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER", CREDENTIAL_PROVIDERS, ""
        )
        if any(key.lower() == "authorization" for key in headers):
            return None
        service = self._raw("AWS_SIGV4_SERVICE") or "xray"
        match = XRAY_OTLP_ENDPOINT.match(endpoint.lower())
        if match:
            return OtlpSigning(match[1], service)
        if provider != "aws_sigv4":
            return None
        region = self._raw("AWS_REGION") or self._raw("AWS_DEFAULT_REGION")
        if region is None:
            self.errors.append(
                SettingError(
                    name,
                    provider,
                    "aws_sigv4 with a region to sign for: set AWS_REGION (e.g. us-east-1)",
                    "unsigned requests, which X-Ray refuses",
                )
            )
            return None
        return OtlpSigning(region, service)

    def tenant_id(self, pii: PiiSettings) -> str:
        """``OTEL_XRAY_TENANT_ID``; ``hash`` needs the PII hash key, else ``off``."""
        policy = self.choice("OTEL_XRAY_TENANT_ID", TENANT_ID_POLICIES, "auto")
        hashing = pii.enabled and pii.mode == "hash" and bool(pii.hash_key)
        if policy == "auto":
            return "hash" if hashing else "keep"
        if policy == "hash" and not hashing:
            self.errors.append(
                SettingError(
                    "OTEL_XRAY_TENANT_ID",
                    "hash",
                    "hash only with OTEL_XRAY_PII_MODE=hash and its OTEL_XRAY_PII_HASH_KEY",
                    "'off' (a tenant id is not recorded)",
                )
            )
            return "off"
        return policy

    def pii(self) -> PiiSettings:
        """The ``OTEL_XRAY_PII_*`` variables; a mistake never turns redaction off."""
        mode = self.choice("OTEL_XRAY_PII_MODE", PII_MODES, "placeholder")
        key = (self.env.get("OTEL_XRAY_PII_HASH_KEY") or "").encode()
        if mode == "hash" and len(key) < MIN_HASH_KEY_LENGTH:
            # The key is a secret: its value is never written to the log.
            self.errors.append(
                SettingError(
                    "OTEL_XRAY_PII_HASH_KEY",
                    f"<{len(key)} characters>",
                    f"a secret of at least {MIN_HASH_KEY_LENGTH} characters "
                    "(required by OTEL_XRAY_PII_MODE=hash)",
                    "'placeholder' mode",
                )
            )
            mode, key = "placeholder", b""
        return PiiSettings(
            enabled=self.boolean("OTEL_XRAY_PII_REDACTION", True),
            mode=mode,
            hash_key=key if mode == "hash" else b"",
            redact_ip_addresses=self.choice(
                "OTEL_XRAY_PII_IP_ADDRESSES", ("redact", "keep"), "redact"
            )
            == "redact",
            extra_patterns=self.patterns("OTEL_XRAY_PII_PATTERNS"),
            extra_secret_keys=self.name_list("OTEL_XRAY_PII_SECRET_KEYS", None, ()),
            allow_keys=self.name_list("OTEL_XRAY_PII_ALLOW_KEYS", None, ()),
            query_allow=self.name_list("OTEL_XRAY_PII_QUERY_ALLOW", None, DEFAULT_QUERY_ALLOW),
        )

    def patterns(self, name: str) -> dict[str, str]:
        """A JSON object of name -> regular expression.

        Only the shape is checked here; whether each pattern can be a detector is
        the PII component's rule (:func:`otel_xray.pii.detectors.pattern_problem`),
        applied when the redactor is built.
        """
        raw = self._raw(name)
        if raw is None:
            return {}
        accepted = (
            'a JSON object of names to regular expressions, e.g. {"order_ref": "ORD-[0-9]{8}"}'
        )
        try:
            parsed = json.loads(raw)
        except ValueError as error:
            self._reject(name, raw, f"{accepted} ({error})", "the built-in detectors only")
            return {}
        if not isinstance(parsed, dict):
            self._reject(name, raw, accepted, "the built-in detectors only")
            return {}
        patterns: dict[str, str] = {}
        for pattern_name, pattern in parsed.items():
            if isinstance(pattern, str):
                patterns[pattern_name] = pattern
            else:
                self.errors.append(
                    SettingError(
                        name,
                        f"{pattern_name}: {pattern!r}",
                        f"the pattern of {pattern_name!r} is not a string",
                        "the built-in detectors and the other patterns",
                    )
                )
        return patterns

    def daemon_address(self) -> tuple[str, int]:
        """``AWS_XRAY_DAEMON_ADDRESS``: ``host:port``, or ``tcp:h:p udp:h:p`` in either order."""
        name, default = "AWS_XRAY_DAEMON_ADDRESS", ("127.0.0.1", 2000)
        raw = self._raw(name)
        if raw is None:
            return default
        parsed = parse_daemon_address(raw)
        if parsed is None:
            self._reject(name, raw, "host:port or 'tcp:host:port udp:host:port'", "127.0.0.1:2000")
            return default
        return parsed


def parse_daemon_address(raw: str) -> tuple[str, int] | None:
    """The UDP address in an ``AWS_XRAY_DAEMON_ADDRESS`` value, or None if malformed.

    >>> parse_daemon_address("tcp:127.0.0.1:2000 udp:169.254.79.129:2000")
    ('169.254.79.129', 2000)
    """
    tokens = raw.split()
    if len(tokens) == 1:
        return _host_port(tokens[0])
    if len(tokens) == 2:
        by_protocol = {}
        for token in tokens:
            protocol, _, address = token.partition(":")
            by_protocol[protocol.lower()] = address
        if set(by_protocol) == {"tcp", "udp"} and _host_port(by_protocol["tcp"]):
            return _host_port(by_protocol["udp"])
    return None


def _host_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1], int(port)
    return (host, int(port)) if ":" not in host else None
