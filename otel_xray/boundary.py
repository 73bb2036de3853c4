"""The one list of what never ships: the modules for developers, not for functions.

The layer build (``layer/build.py``) leaves these out of the layer, and a test
over the import graph (``tests/unit/test_boundary.py``) checks that no shipped
module imports one of them, so a dev tool can never become a silent cold-start
cost or a missing module in Lambda. A new dev-only module or package is added
here and nowhere else.

Example:
    >>> is_dev_only("otel_xray.devtools.cli"), is_dev_only("otel_xray.export.otlp")
    (True, False)
"""

from __future__ import annotations

#: Dotted names of dev-only packages and modules (a package covers what it holds).
DEV_ONLY: tuple[str, ...] = ("otel_xray.devtools", "otel_xray.testing")


def is_dev_only(module: str) -> bool:
    """Whether the dotted module name is, or is inside, a dev-only one."""
    return any(module == name or module.startswith(name + ".") for name in DEV_ONLY)
