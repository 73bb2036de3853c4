"""Developer tools: a local Lambda, local AWS front doors, a local X-Ray and its views.

Never shipped in the layer and never imported by the runtime package
(:mod:`otel_xray.boundary`). One subpackage per concern, each importing only from the
ones listed before it and from :mod:`otel_xray.devtools.loopback`, the plumbing they
share:

====================  =========================================================
``traces``            the trace data and its views: the store, X-Ray's filter
                      expressions, the service graph, the analysis, text, SVG and
                      the browser console
``components``        the real collector and X-Ray daemon as local processes, the
                      local X-Ray API they upload to (with its SigV4 check and its
                      OTLP endpoint), and the receivers that stand in for them
``functions``         the Lambda side: sandbox, Runtime API, the invoke harness,
                      Lambda's own segments, the Invoke endpoint, event sources
``services``          the AWS front doors: API Gateway, SNS, EventBridge, Step
                      Functions, moto's server, the metadata endpoints
``sam``               a whole app from its SAM template (``otel-xray up``), and
                      ``otel-xray doctor``
``cli``               the ``otel-xray`` command, on top
====================  =========================================================

They need the ``local`` extra (``pip install "otel-xray[local]"``: the Lambda runtime
client, moto, boto3, PyYAML, the OTLP protobuf definitions). :func:`main` (the
``otel-xray`` script) and :mod:`otel_xray.testing` check for it first and name the
extra when something is missing, instead of failing deep inside an import.

Example:
    >>> missing_local_extra() == []  # the test environment has the extra
    True
"""

from __future__ import annotations

import importlib.util
import sys

#: Module each part of the ``local`` extra provides -> the requirement that brings it.
LOCAL_EXTRA: dict[str, str] = {
    "awslambdaric": "awslambdaric",
    "boto3": "boto3",
    "moto": "moto[server]",
    "yaml": "pyyaml",
    "opentelemetry.proto": "opentelemetry-proto",
}
INSTALL_HINT = 'pip install "otel-xray[local]"'


def missing_local_extra() -> list[str]:
    """The requirements of the ``local`` extra that this environment lacks."""
    missing = []
    for module, requirement in LOCAL_EXTRA.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            missing.append(requirement)
    return missing


def require_local_extra(what: str) -> None:
    """Raise ModuleNotFoundError naming the extra when ``what`` cannot run here."""
    missing = missing_local_extra()
    if missing:
        raise ModuleNotFoundError(
            f"{what} needs otel-xray's 'local' extra, which is not installed "
            f"(missing: {', '.join(missing)}). Install it with: {INSTALL_HINT}"
        )


def main(argv: list[str] | None = None) -> int:
    """The ``otel-xray`` script: the CLI, or one line naming the extra it needs."""
    try:
        require_local_extra("the otel-xray command")
    except ModuleNotFoundError as error:
        print(f"otel-xray: {error}", file=sys.stderr)
        return 2
    from otel_xray.devtools.cli import main as cli_main  # noqa: PLC0415

    return cli_main(argv)
