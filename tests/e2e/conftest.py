"""End-to-end fixtures: real processes (awslambdaric under the built layer), moto, loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.local_services import BUILD, LocalServices
from otel_xray.devtools.functions.sandbox import runtime_root

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "build" / "layer"
RUNTIME = ROOT / "build" / "lambda-runtime"
#: Lambda's Python runtimes the e2e core cases run on (make runtime builds each one
#: this machine has an interpreter for; CI's has them all).
VERSIONS = ("3.11", "3.12", "3.13")


def function_code(factory: pytest.TempPathFactory, sources: dict[str, str]) -> dict[str, Path]:
    """Each named function's ``app.py`` written to a directory of its own."""
    code = {}
    for name, source in sources.items():
        code[name] = factory.mktemp(name)
        (code[name] / "app.py").write_text(source)
    return code


def runtime_of(version: str) -> Path:
    """The local runtime of ``version``, or a skip that names the missing interpreter."""
    root = runtime_root(version, RUNTIME)
    if not (root / ".stamp").exists():
        pytest.skip(f"no local python{version} runtime ({root}): no python{version} here")
    return root


@pytest.fixture(scope="session", autouse=True)
def _built() -> None:
    missing = [p for p in (LAYER, RUNTIME, BUILD / "order_api") if not p.exists()]
    if missing:
        pytest.fail(f"run 'make layer runtime examples' first; missing: {missing}")


@pytest.fixture(scope="session")
def services() -> Iterator[LocalServices]:
    with LocalServices() as running:
        yield running


@pytest.fixture(autouse=True)
def _services_provisioned(request: pytest.FixtureRequest) -> None:
    """Each test that uses the session's services finds their resources in place. moto
    keeps one store per process, and a worker runs files in a random order: leaving a
    ``mock_aws()`` block (tests/functional/test_pii_round3.py) or starting an in-process
    SAM app (``aws.reset()``) empties it, tables and queue included. Found by CI: the
    order API's PutItem met ResourceNotFoundException after such a file."""
    if "services" in request.fixturenames:
        request.getfixturevalue("services").provision()
