"""A loopback port nothing listens on: for servers the tests start, and for refused calls.

The dev tools' helper (``otel_xray.devtools.loopback.unused_port``), under the name the
tests use.
"""

from otel_xray.devtools.loopback import unused_port

__all__ = ["unused_port"]
