"""The resource of a Lambda function (or any process), built from its environment.

Built directly rather than with ``Resource.create``, which resolves detectors
through entry points at start; the attributes Lambda offers are all in the
environment. ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` win over
what is derived here, as the specification says.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import AttributeValue

from otel_xray.settings import Settings

_SDK_ATTRIBUTES: dict[str, AttributeValue] = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.distro.name": "otel-xray",
}


def build_resource(settings: Settings, environ: Mapping[str, str]) -> Resource:
    """Lambda attributes from ``environ``, then OTEL_RESOURCE_ATTRIBUTES, then service.name."""
    attributes: dict[str, AttributeValue] = dict(_SDK_ATTRIBUTES)
    attributes["telemetry.sdk.version"] = _sdk_version()
    attributes["telemetry.distro.version"] = _distro_version()
    if settings.in_lambda:
        attributes.update(_lambda_attributes(environ))
    attributes.update(settings.resource_attributes)
    attributes["service.name"] = (
        settings.service_name
        or settings.resource_attributes.get("service.name")
        or "unknown_service"
    )
    return Resource(attributes)


def _lambda_attributes(environ: Mapping[str, str]) -> dict[str, AttributeValue]:
    found: dict[str, AttributeValue] = {
        "cloud.provider": "aws",
        "cloud.platform": "aws_lambda",
    }
    for attribute, variable in (
        ("cloud.region", "AWS_REGION"),
        ("faas.name", "AWS_LAMBDA_FUNCTION_NAME"),
        ("faas.version", "AWS_LAMBDA_FUNCTION_VERSION"),
        ("faas.instance", "AWS_LAMBDA_LOG_STREAM_NAME"),
    ):
        if environ.get(variable):
            found[attribute] = environ[variable]
    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        found["faas.max_memory"] = int(memory) * 1024 * 1024
    if environ.get("AWS_LAMBDA_LOG_GROUP_NAME"):
        found["aws.log.group.names"] = (environ["AWS_LAMBDA_LOG_GROUP_NAME"],)
    return found


def _sdk_version() -> str:
    from opentelemetry.sdk.version import __version__

    return __version__


def _distro_version() -> str:
    from otel_xray.version import __version__

    return __version__
