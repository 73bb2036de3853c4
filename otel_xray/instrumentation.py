"""Load a fixed list of instrumentations, without scanning entry points.

``opentelemetry-instrument`` discovers instrumentors by iterating every installed
distribution's entry points and checking each one's dependency versions through
``importlib.metadata``; on Lambda that costs hundreds of milliseconds per cold start
(opentelemetry-lambda #1497). The set that matters for a serverless function is
small and known, so it is a table here, and ``skip_dep_check`` avoids the metadata
reads. A library the function does not have (``requests``) is skipped quietly.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

from opentelemetry.trace import TracerProvider

logger = logging.getLogger("otel_xray")

#: name -> (module, instrumentor class); names are those of OTEL_PYTHON_DISABLED_INSTRUMENTATIONS.
INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "botocore": ("opentelemetry.instrumentation.botocore", "BotocoreInstrumentor"),
    "requests": ("opentelemetry.instrumentation.requests", "RequestsInstrumentor"),
    "urllib3": ("opentelemetry.instrumentation.urllib3", "URLLib3Instrumentor"),
}


def instrument(names: Iterable[str], tracer_provider: TracerProvider) -> list[str]:
    """Instrument each named library that is importable; returns the names done."""
    done: list[str] = []
    for name in names:
        module_name, class_name = INSTRUMENTORS[name]
        try:
            module = importlib.import_module(module_name)
            instrumentor = getattr(module, class_name)()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)
            if name == "botocore":
                from otel_xray import aws_sdk_header

                aws_sdk_header.install()  # wraps outside the instrumentation's own wrapper
            done.append(name)
        except ImportError as error:
            logger.debug("otel-xray: %s not instrumented: %s", name, error)
        except Exception:
            logger.exception("otel-xray: instrumenting %s failed; continuing without it", name)
    return done


def uninstrument(names: Iterable[str]) -> None:
    """Undo :func:`instrument` (tests, and ``configure`` called again)."""
    for name in names:
        module_name, class_name = INSTRUMENTORS[name]
        try:
            if name == "botocore":
                from otel_xray import aws_sdk_header

                aws_sdk_header.uninstall()
            getattr(importlib.import_module(module_name), class_name)().uninstrument()
        except Exception:
            logger.debug("otel-xray: uninstrumenting %s failed", name, exc_info=True)
