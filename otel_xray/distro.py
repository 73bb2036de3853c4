"""Entry points for plain ``opentelemetry-instrument``: our distro and configurator.

With otel-xray installed, ``opentelemetry-instrument python app.py`` builds the
otel-xray pipeline (X-Ray ids, the fixed X-Ray propagator, our exporters, the lazy
instrumentation registry) instead of the SDK's default one. On Lambda the layer does
not go through here at all: ``otel-instrument`` swaps the handler and avoids the
entry-point scan.

How ``opentelemetry-instrument`` chooses (opentelemetry-instrumentation 0.66b1,
``auto_instrumentation/_load.py``): ``_load_distro`` takes the distro named by
``OTEL_PYTHON_DISTRO``, else the *first* ``opentelemetry_distro`` entry point found;
``_load_configurators`` runs the configurator named by ``OTEL_PYTHON_CONFIGURATOR``,
else the first one found, and logs a warning for every other; ``_load_instrumentors``
then calls ``distro.load_instrumentor`` for every ``opentelemetry_instrumentor`` entry
point not in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``. "First found" is the order of
the distributions on ``sys.path``, which within a directory is the file system's, so
with opentelemetry-distro installed beside otel-xray either could win. Three things make
the choice ours, whatever else is installed, while a name the user sets still wins:

* :mod:`otel_xray.environment_variables` (loaded by the ``opentelemetry-instrument``
  command itself, before it starts the program) sets both variables to ``otel_xray``
  unless the user set them;
* :class:`OtelXrayDistro`, when chosen, sets ``OTEL_PYTHON_CONFIGURATOR`` the same way
  (for ``sitecustomize`` started through ``PYTHONPATH`` without the command);
* the warnings that the *other* configurators were not loaded are dropped when the one
  loaded is ours (:class:`_OtherConfiguratorsSkipped`): that is the intended outcome,
  not something for the user to act on.

Instrumentations: the libraries in otel-xray's registry are armed lazily by the
configurator (:mod:`otel_xray.instrumentation`), with otel-xray's hooks and options;
:meth:`OtelXrayDistro.load_instrumentor` leaves those to it instead of instrumenting
them a second time ("Attempting to instrument while already instrumented"), and loads
any other installed instrumentation the upstream way.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from otel_xray.configurator import configure, current
from otel_xray.instrumentation import REGISTRY

#: The name of our entry points in ``opentelemetry_distro`` and ``opentelemetry_configurator``.
ENTRY_POINT_NAME = "otel_xray"
#: The logger of ``opentelemetry.instrumentation.auto_instrumentation._load``.
LOADER_LOGGER = "opentelemetry.instrumentation.auto_instrumentation._load"

logger = logging.getLogger("otel_xray")


class _OtherConfiguratorsSkipped(logging.Filter):
    """Drops ``_load_configurators``' "Configuration of X not loaded" warnings when the
    configurator loaded (or named) is ours; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (
            isinstance(record.msg, str)
            and record.msg.startswith("Configuration of %s not loaded")
            and len(args) >= 2
            and args[1] == ENTRY_POINT_NAME
        )


def _quiet_other_configurators() -> None:
    loader = logging.getLogger(LOADER_LOGGER)
    if not any(isinstance(f, _OtherConfiguratorsSkipped) for f in loader.filters):
        loader.addFilter(_OtherConfiguratorsSkipped())


class OtelXrayDistro(BaseDistro):  # type: ignore[misc]
    """Sets defaults only where the user has not, and leaves the registry's libraries to
    the configurator."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PROPAGATORS", "tracecontext,xray")
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", ENTRY_POINT_NAME)
        _quiet_other_configurators()

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Instrument one ``opentelemetry_instrumentor`` entry point, unless otel-xray's
        pipeline owns that library (armed lazily, or turned off by its settings)."""
        if current() is not None:
            if entry_point.name in REGISTRY:
                logger.debug("otel-xray: %s is armed by otel-xray's registry", entry_point.name)
                return
            _import_sibling_library(entry_point)
        super().load_instrumentor(entry_point, **kwargs)


def _import_sibling_library(entry_point: Any) -> None:
    """Import the library of a registry row whose instrumentation module also holds this
    entry point (``aiobotocore`` and ``httpx2`` live in the botocore and httpx modules).

    Loading such an entry point imports the module, which imports the library, which runs
    the registry's hook, which imports the module again while it is half-initialized
    ("partially initialized module ... has no attribute"). Importing the library first
    applies the registry's row with the module loaded whole; the entry point then finds
    it in ``sys.modules``. Upstream's loader would have imported the library anyway.
    """
    module = str(entry_point.value).partition(":")[0]
    for row in REGISTRY.values():
        if row.module == module:
            try:
                importlib.import_module(row.trigger)
            except ImportError:
                return  # the library is not installed: the entry point's own check says so


class OtelXrayConfigurator(_BaseConfigurator):
    """Builds the pipeline through :func:`otel_xray.configure`: traces only, so no metrics
    or logs exporter is ever looked up."""

    def _configure(self, **kwargs: Any) -> None:
        _quiet_other_configurators()
        configure()
