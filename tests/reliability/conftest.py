"""Reliability tests record what they measured in build/reliability/ (one JSON file per test).

``python -m tests.reliability.report`` prints them as one table; the closing notes
quote it. Files are per test, so parallel workers never write the same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.local_services import LocalServices

REPORT_DIR = Path(__file__).resolve().parents[2] / "build" / "reliability"


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``record(**figures)``: keep this test's figures for the report."""

    def write(**figures: Any) -> None:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
        path = REPORT_DIR / f"{name}.json"
        existing = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**existing, "test": request.node.nodeid, **figures}, indent=2))

    return write


@pytest.fixture(scope="module")
def services() -> Iterator[LocalServices]:
    with LocalServices() as running:
        yield running
