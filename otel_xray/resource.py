"""The resource of a Lambda function (or any process), built from its settings.

Built directly rather than with ``Resource.create``, which resolves detectors
through entry points at start; the attributes Lambda offers are all in its
reserved variables, which :class:`~otel_xray.settings.LambdaEnvironment` reads.
``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` win over what is derived
here, as the specification says.

Example:
    >>> from otel_xray.settings import Settings
    >>> env = {"AWS_LAMBDA_FUNCTION_NAME": "orders", "AWS_REGION": "eu-west-1"}
    >>> resource = build_resource(Settings.from_env(env))
    >>> resource.attributes["cloud.region"], resource.attributes["service.name"]
    ('eu-west-1', 'orders')
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.version import __version__ as sdk_version
from opentelemetry.util.types import AttributeValue

from otel_xray.settings import LambdaEnvironment, Settings
from otel_xray.version import __version__ as distro_version

_SDK_ATTRIBUTES: dict[str, AttributeValue] = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": sdk_version,
    "telemetry.distro.name": "otel-xray",
    "telemetry.distro.version": distro_version,
}


def build_resource(settings: Settings) -> Resource:
    """Lambda's attributes (or, elsewhere, the platform's: :mod:`otel_xray.platforms`),
    then OTEL_RESOURCE_ATTRIBUTES, then service.name."""
    attributes: dict[str, AttributeValue] = dict(_SDK_ATTRIBUTES)
    if settings.in_lambda:
        attributes.update(_lambda_attributes(settings.lambda_env))
    elif settings.platform.enabled:
        # Only outside Lambda, so the Lambda cold path never imports it.
        from otel_xray.platforms import detect  # noqa: PLC0415

        attributes.update(detect(settings.platform))
    attributes.update(settings.resource_attributes)
    attributes["service.name"] = (
        settings.service_name
        or settings.resource_attributes.get("service.name")
        or "unknown_service"
    )
    return Resource(attributes)


def _lambda_attributes(lambda_env: LambdaEnvironment) -> dict[str, AttributeValue]:
    found: dict[str, AttributeValue] = {
        "cloud.provider": "aws",
        "cloud.platform": "aws_lambda",
    }
    for attribute, value in (
        ("cloud.region", lambda_env.region),
        ("faas.name", lambda_env.function_name),
        ("faas.version", lambda_env.function_version),
        ("faas.instance", lambda_env.log_stream_name),
    ):
        if value:
            found[attribute] = value
    if lambda_env.memory_mb is not None:
        found["faas.max_memory"] = lambda_env.memory_mb * 1024 * 1024
    if lambda_env.log_group_name:
        found["aws.log.group.names"] = (lambda_env.log_group_name,)
    return found
