"""``otel-xray doctor``: on the project's own example and template, on a Powertools
function with known mistakes (tests/data/doctor/payment), and on code it was not
written for (the installed X-Ray SDK's and Powertools' own sources)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from otel_xray.devtools.cli import main as cli
from otel_xray.devtools.sam.doctor import Finding, check, scan_code
from tests.e2e.bridge_functions import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
PAYMENT = ROOT / "tests" / "data" / "doctor" / "payment"


def where(findings: list[Finding]) -> set[tuple[str, int, str]]:
    """(file, line, first words) of each finding."""
    return {(f.path.name, f.line, " ".join(f.what.split()[:3])) for f in findings}


def test_the_example_and_its_template_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(ROOT / "examples").findings == []
    assert check(ROOT / "deploy" / "template.yaml").findings == []
    assert cli(["doctor", str(ROOT / "examples")]) == 0
    assert cli(["doctor", str(ROOT / "deploy" / "template.yaml")]) == 0
    assert "clean" in capsys.readouterr().out


def test_a_powertools_function_with_known_mistakes(capsys: pytest.CaptureFixture[str]) -> None:
    report = check(PAYMENT / "template.yaml")
    assert where(report.findings) == {
        ("ledger.py", 5, "xray_recorder.configure(plugins=...) is not"),
        ("ledger.py", 6, "patch('aiobotocore'): otel-xray has"),
        ("ledger.py", 7, "AWSXRayRecorder(): a recorder"),
        ("template.yaml", 36, "RefundFunction: active tracing"),
        ("template.yaml", 38, "RefundFunction: the collector"),
        ("template.yaml", 41, "RefundFunction: OTEL_XRAY_SDK_BRIDGE=false while"),
        ("template.yaml", 50, "LegacyFunction: otel-xray's layer"),
        ("template.yaml", 52, "LegacyFunction: active tracing"),
    }
    assert all(f.todo for f in report.findings), "every finding says what to do"
    covered = {(f.path.name, f.line) for f in report.notes}
    assert {("app.py", 10), ("app.py", 12), ("app.py", 17), ("app.py", 19)} <= covered
    assert cli(["doctor", str(PAYMENT / "template.yaml")]) == 1
    out = capsys.readouterr().out
    assert out.rstrip().endswith("8 findings, 11 notes")


def test_the_code_directory_alone(capsys: pytest.CaptureFixture[str]) -> None:
    report = check(PAYMENT)
    assert {f.path.name for f in report.findings} == {"ledger.py"}
    assert any("no template read" in f.what for f in report.notes)
    assert cli(["doctor", str(PAYMENT), "--quiet"]) == 1
    assert "note:" not in capsys.readouterr().out


def test_what_the_comparison_runs_is_all_covered(tmp_path: Path) -> None:
    """The handlers tests/e2e/test_xray_sdk_bridge.py compares need no change."""
    for module, (source, _handler, _otel) in FUNCTIONS.items():
        (tmp_path / f"{module}.py").write_text(source)
    usage = scan_code(tmp_path)
    assert usage.xray_sdk and usage.powertools
    assert [f for f in usage.items if not f.note] == []
    assert len(usage.items) > 20


def test_installed_packages_in_the_code_directory_are_not_read(tmp_path: Path) -> None:
    """``pip install --target`` puts packages beside the handler; their code is not the
    function's (the X-Ray SDK's own AWSXRayRecorder() would be a false finding)."""
    origin = importlib.util.find_spec("aws_xray_sdk")
    assert origin is not None and origin.origin is not None
    package = Path(origin.origin).parent
    (tmp_path / "aws_xray_sdk").symlink_to(package, target_is_directory=True)
    info = tmp_path / "aws_xray_sdk-2.15.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("aws_xray_sdk/__init__.py,,\naws_xray_sdk/core/recorder.py,,\n")
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    assert check(tmp_path).items == []


@pytest.mark.parametrize("package", ["aws_xray_sdk", "aws_lambda_powertools", "botocore"])
def test_never_fails_on_code_it_was_not_written_for(package: str) -> None:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    usage = scan_code(Path(spec.origin).parent)
    assert all(isinstance(f, Finding) and f.line >= 0 for f in usage.items)


def test_bad_paths_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["doctor", str(tmp_path / "missing")]) == 2
    not_a_template = tmp_path / "config.yaml"
    not_a_template.write_text("just: a mapping\n")
    assert cli(["doctor", str(not_a_template)]) == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources: [\n")
    assert cli(["doctor", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "missing: no such file" in err and "no Resources" in err and "not a YAML" in err
