"""A loopback port nothing listens on: for servers the tests start, and for refused calls.

The kernel picks it (bind to port 0), so tests run in parallel without clashing;
another process could take it before it is used, which on loopback in a test run
does not happen in practice.
"""

from __future__ import annotations

import socket


def unused_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
