"""Every ``>>>`` example in the package's docstrings runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import otel_xray
from otel_xray import configurator

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(otel_xray.__path__, "otel_xray.")
    # Importing these runs them: the bootstrap starts awslambdaric, the wrapper loads a handler.
    if info.name not in {"otel_xray.devtools.functions.bootstrap", "otel_xray.awslambda.wrapper"}
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    finally:
        configurator.reset()  # an example may configure tracing; leave the process clean
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
