"""otel-xray's variables for the ``opentelemetry-instrument`` command, and its choice of
distro and configurator.

``opentelemetry-instrument`` loads every ``opentelemetry_environment_variables`` entry
point before it starts the program and turns each ``OTEL_*`` name in the module into a
command-line option (``OTEL_XRAY_FLUSH_TIMEOUT_MS`` -> ``--xray_flush_timeout_ms``;
opentelemetry-instrumentation 0.66b1, ``auto_instrumentation/__init__.py`` ``run``).

That load is also the only moment otel-xray's code runs before the program's
``sitecustomize`` picks a distro and a configurator by entry-point order (see
:mod:`otel_xray.distro`). So, in that command only, this module names otel-xray's as
the ones to use: ``OTEL_PYTHON_DISTRO`` and ``OTEL_PYTHON_CONFIGURATOR`` default to
``otel_xray``. A value the user set, in the environment or as ``--python_distro`` /
``--python_configurator``, wins (the command applies its options after this load).

Importing this module anywhere else changes nothing.
"""

from __future__ import annotations

import os
import sys

OTEL_XRAY_FLUSH_TIMEOUT_MS = "OTEL_XRAY_FLUSH_TIMEOUT_MS"
OTEL_XRAY_MAX_QUEUE_SIZE = "OTEL_XRAY_MAX_QUEUE_SIZE"
OTEL_XRAY_INSTRUMENTATIONS = "OTEL_XRAY_INSTRUMENTATIONS"
OTEL_XRAY_SAMPLING_RULES = "OTEL_XRAY_SAMPLING_RULES"
OTEL_XRAY_SAMPLING_ENDPOINT = "OTEL_XRAY_SAMPLING_ENDPOINT"
OTEL_XRAY_PII_REDACTION = "OTEL_XRAY_PII_REDACTION"
OTEL_XRAY_PII_MODE = "OTEL_XRAY_PII_MODE"
OTEL_XRAY_STRICT = "OTEL_XRAY_STRICT"
OTEL_XRAY_PLATFORM_DETECTION = "OTEL_XRAY_PLATFORM_DETECTION"

#: The script name of opentelemetry-instrumentation's command.
COMMAND = "opentelemetry-instrument"


def choose_otel_xray(argv0: str, environ: dict[str, str] | os._Environ[str]) -> bool:
    """In the ``opentelemetry-instrument`` command, default the distro and configurator to
    otel-xray's; returns whether it did."""
    if os.path.basename(argv0) != COMMAND:
        return False
    environ.setdefault("OTEL_PYTHON_DISTRO", "otel_xray")
    environ.setdefault("OTEL_PYTHON_CONFIGURATOR", "otel_xray")
    return True


choose_otel_xray(sys.argv[0] if sys.argv else "", os.environ)
