"""`make up`: the example's own SAM template run by ``otel-xray up``, fed the example orders.

Starts the example's payment API (the one service the template expects from outside,
its ``PaymentUrl`` parameter), then runs::

    otel-xray up deploy/template.yaml --parameter PaymentUrl=... --parameter PaymentHost=...
        --send examples/requests/orders.json --segments build/up/segments.jsonl

which prints every trace and the service map; ``otel-xray console
build/up/segments.jsonl`` then shows them in the browser. Extra arguments are passed
on to ``otel-xray up`` (another ``--send`` file, ``--exporter otlp``).
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from examples.local_services import ROOT, PaymentApi
from otel_xray.devtools.cli import main as cli

TEMPLATE = ROOT / "deploy" / "template.yaml"
REQUESTS = ROOT / "examples" / "requests" / "orders.json"
SEGMENTS = ROOT / "build" / "up" / "segments.jsonl"


def main(argv: list[str] | None = None) -> int:
    with PaymentApi() as payments:
        return cli(
            [
                "up", str(TEMPLATE),
                "--parameter", f"PaymentUrl={payments.url}",
                "--parameter", f"PaymentHost={urlsplit(payments.url).hostname}",
                "--send", str(REQUESTS),
                "--segments", str(SEGMENTS),
                "--build-dir", str(ROOT / "build" / "up"),
                *(sys.argv[1:] if argv is None else argv),
            ]
        )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
