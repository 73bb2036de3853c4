"""Entry points for plain ``opentelemetry-instrument``: our distro and configurator.

With these installed, ``opentelemetry-instrument python app.py`` builds the
otel-xray pipeline (X-Ray ids, the fixed X-Ray propagator, our exporters) instead
of the SDK's default one. On Lambda the layer does not go through here at all:
``otel-instrument`` swaps the handler and avoids the entry-point scan.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from otel_xray.configurator import configure


class OtelXrayDistro(BaseDistro):  # type: ignore[misc]
    """Sets defaults only where the user has not."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PROPAGATORS", "tracecontext,xray")


class OtelXrayConfigurator(_BaseConfigurator):
    """Builds the pipeline through :func:`otel_xray.configure`."""

    def _configure(self, **kwargs: Any) -> None:
        configure()
