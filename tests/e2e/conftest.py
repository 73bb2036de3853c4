"""End-to-end fixtures: real processes (awslambdaric under the built layer), moto, loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.local_services import BUILD, LocalServices

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "build" / "layer"
RUNTIME = ROOT / "build" / "lambda-runtime"


@pytest.fixture(scope="session", autouse=True)
def _built() -> None:
    missing = [p for p in (LAYER, RUNTIME, BUILD / "order_api") if not p.exists()]
    if missing:
        pytest.fail(f"run 'make layer runtime examples' first; missing: {missing}")


@pytest.fixture(scope="session")
def services() -> Iterator[LocalServices]:
    with LocalServices() as running:
        yield running
