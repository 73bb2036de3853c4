"""The released package as a user gets it: built, checked, installed into a fresh virtualenv.

A user never runs the checkout. They run ``pip install otel-xray`` (a service, code) or
``pip install "otel-xray[local]"`` (the CLI and the test fixture), in a virtualenv that
has nothing of this repository on ``sys.path``. So this module builds the wheel and the
sdist with PyPA's ``build`` (isolated, as a release would), checks both with ``twine
check`` (what PyPI's upload checks: metadata and the README's rendering), and installs
the wheel into a new virtualenv under a temporary directory, run from another temporary
directory, with ``PYTHONPATH`` unset:

- the base install imports ``otel_xray`` and resolves the ``opentelemetry_distro`` and
  ``opentelemetry_configurator`` entry points (what ``opentelemetry-instrument`` loads),
  and the local tools fail with one message that names the extra to install;
- with ``[local]`` added, ``otel-xray --help`` works and the ``xray`` fixture runs a
  handler in a throwaway pytest project.

Installing needs PyPI (pip's cache makes a second run quick); it takes about a minute.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.packaging import PIP_QUIET, build_dist, clean_env, make_venv, run

HINT = 'pip install "otel-xray[local]"'

#: A user's project: a handler and a test of it with the ``xray`` fixture.
PROJECT = {
    "app.py": """
        import otel_xray

        def handler(event, context):
            otel_xray.annotate(order_id=event["order_id"])
            with otel_xray.subsegment("price order", "compute"):
                return {"statusCode": 200}
    """,
    "conftest.py": """
        pytest_plugins = ["otel_xray.testing"]
    """,
    "test_app.py": """
        import otel_xray
        import app

        def test_handler_is_traced(xray):
            assert "site-packages" in otel_xray.__file__, otel_xray.__file__
            result = xray.invoke(app.handler, {"order_id": "A-17"})
            assert result.error is None
            nodes = [node for node, _ in xray.trace(result.root).walk()]
            assert "price order" in [n["name"] for n in nodes], nodes
            assert any(n.get("annotations", {}).get("order_id") == "A-17" for n in nodes)
    """,
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and the sdist, built from the checkout by ``python -m build``."""
    return build_dist(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, dist: Path) -> Iterator[Path]:
    """A fresh virtualenv outside the checkout, with the base wheel and pytest installed."""
    [wheel] = dist.glob("*.whl")
    yield make_venv(tmp_path_factory.mktemp("venv") / "env", str(wheel), "pytest")


def test_wheel_and_sdist_pass_twine_check(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    assert any(n.endswith(".whl") for n in names) and any(n.endswith(".tar.gz") for n in names)
    checked = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
                  cwd=dist)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout


def test_the_wheel_carries_the_console_page_and_no_tests(dist: Path) -> None:
    import zipfile  # noqa: PLC0415

    [wheel] = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "otel_xray/devtools/traces/console/index.html" in names
    assert "otel_xray/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "benchmarks/"))]


def _user_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name, source in PROJECT.items():
        (project / name).write_text(textwrap.dedent(source).lstrip())
    return project


def test_base_install_imports_resolves_entry_points_and_names_the_extra(
    venv: Path, tmp_path: Path
) -> None:
    """``pip install otel-xray``: the package and its entry points; the local tools say what
    extra they need instead of a ModuleNotFoundError from deep inside."""
    python, env = str(venv / "bin" / "python"), clean_env(venv)
    probe = textwrap.dedent("""
        from importlib.metadata import entry_points
        import otel_xray
        assert "site-packages" in otel_xray.__file__, otel_xray.__file__
        for group in ("opentelemetry_distro", "opentelemetry_configurator"):
            [point] = [p for p in entry_points(group=group) if p.name == "otel_xray"]
            print(group, point.load().__name__)
    """)
    probed = run([python, "-c", probe], cwd=tmp_path, env=env)
    assert probed.returncode == 0, probed.stderr
    assert "opentelemetry_distro OtelXrayDistro" in probed.stdout
    assert "opentelemetry_configurator OtelXrayConfigurator" in probed.stdout

    if run([python, "-c", "import awslambdaric"], cwd=tmp_path, env=env).returncode == 0:
        pytest.skip("the base install already has awslambdaric (installed by another test)")
    cli = run([str(venv / "bin" / "otel-xray"), "--help"], cwd=tmp_path, env=env)
    assert cli.returncode == 2
    assert HINT in cli.stderr and "Traceback" not in cli.stderr, cli.stderr

    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                cwd=_user_project(tmp_path), env=env)
    assert tests.returncode != 0
    assert HINT in tests.stdout + tests.stderr, tests.stdout[-3000:] + tests.stderr[-3000:]


def test_local_extra_gives_the_cli_and_the_xray_fixture(
    venv: Path, dist: Path, tmp_path: Path
) -> None:
    """``pip install "otel-xray[local]"``: the command and the fixture, in a user's project."""
    python, env = str(venv / "bin" / "python"), clean_env(venv)
    [wheel] = dist.glob("*.whl")
    added = run([python, "-m", "pip", "install", *PIP_QUIET, f"{wheel}[local]"],
                cwd=tmp_path, env=env)
    assert added.returncode == 0, added.stderr[-3000:]

    cli = run([str(venv / "bin" / "otel-xray"), "--help"], cwd=tmp_path, env=env)
    assert cli.returncode == 0, cli.stderr
    assert "invoke" in cli.stdout and "console" in cli.stdout

    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                cwd=_user_project(tmp_path), env=env)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert "1 passed" in tests.stdout
