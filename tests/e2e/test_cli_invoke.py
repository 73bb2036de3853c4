"""`otel-xray invoke` as a user runs it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from examples.local_services import BUILD, LocalServices
from otel_xray.devtools.cli import main
from tests.e2e.conftest import ROOT, RUNTIME, runtime_of


def test_invoke_prints_the_trace_and_writes_segments(
    services: LocalServices, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "segments.jsonl"
    env = [f"--env={k}={v}" for k, v in services.function_env().items()]
    code = main(
        [
            "invoke",
            "app.handler",
            "--code",
            str(BUILD / "order_api"),
            "--event",
            str(ROOT / "examples" / "order_api" / "event.json"),
            "--times",
            "2",
            "--segments",
            str(out),
            "--runtime",
            str(RUNTIME),
            "--name",
            "order-api",
            *env,
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert printed.count("invocation ") == 2
    assert "order-api [AWS::Lambda::Function]" in printed
    assert "DynamoDB PutItem 200 (aws)" in printed
    assert "DynamoDB [AWS::DynamoDB::Table, inferred]" in printed
    assert printed.count("Initialization") == 1  # only the cold start
    # Overhead: from the response to the runtime's next poll (15.12).
    assert printed.count("Overhead") == 2
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    assert len({d["trace_id"] for d in documents}) == 2
    assert {d["name"] for d in documents} == {
        "order-api",
        "store order",
        "charge payment",
        "DynamoDB",
        "SQS",
        "127.0.0.1",
    }
    assert {d.get("origin") for d in documents} >= {"AWS::Lambda", "AWS::Lambda::Function"}

    assert main(["map", str(out)]) == 0
    printed = capsys.readouterr().out
    # The table's node is named after the table (GetServiceGraph names it so).
    assert f"──▶ {services.table} (AWS::DynamoDB::Table)" in printed
    svg = tmp_path / "map.svg"
    assert main(["map", str(out), "--json", "--svg", str(svg)]) == 0
    graph = json.loads(capsys.readouterr().out)
    assert {s["Type"] for s in graph["Services"]} >= {"client", "AWS::SQS::Queue", "remote"}
    by_type = {s["Type"]: s for s in graph["Services"]}
    assert by_type["AWS::DynamoDB::Table"]["Name"] == services.table
    assert by_type["AWS::DynamoDB::Table"]["State"] == "unknown"
    assert by_type["AWS::Lambda::Function"]["State"] == "active"
    assert by_type["client"]["Name"] == "order-api" and "SummaryStatistics" not in by_type["client"]
    for service in graph["Services"]:
        assert service["StartTime"] <= service["EndTime"]
    assert svg.read_text().startswith("<svg")
    assert main(["traces", str(out)]) == 0
    assert capsys.readouterr().out.count("trace 1-") == 2


def test_map_names_the_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    segments = tmp_path / "segments.jsonl"
    segments.write_text('{"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "a"}\n{oops\n')
    assert main(["map", str(segments)]) == 2
    assert f"{segments}:2: not JSON" in capsys.readouterr().err
    assert main(["map", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


def test_invoke_reports_bad_input_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_event = tmp_path / "event.json"
    bad_event.write_text("{not json")
    assert main(["invoke", "app.handler", "--code", str(tmp_path), "--event", str(bad_event)]) == 2
    assert "--event" in capsys.readouterr().err
    assert (
        main(
            [
                "invoke",
                "app.handler",
                "--code",
                str(tmp_path / "missing"),
                "--runtime",
                str(RUNTIME),
            ]
        )
        == 1
    )
    assert "is not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["invoke", "app.handler", "--code", str(tmp_path), "--env", "NOEQUALS"])


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_invoke_runs_the_function_on_the_python_asked_for(
    version: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime_of(version)  # skips, naming the interpreter, where this machine has none
    (tmp_path / "app.py").write_text(
        "import sys\n"
        "def handler(event, context):\n"
        "    return {'python': '%d.%d' % sys.version_info[:2]}\n"
    )
    out = tmp_path / "segments.jsonl"
    code = main(
        ["invoke", "app.handler", "--code", str(tmp_path), "--python", version,
         "--runtime", str(RUNTIME), "--segments", str(out), "--name", "versioned"]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f'"python": "{version}"' in printed
    assert any(json.loads(line).get("name") == "versioned" for line in out.read_text().splitlines())


TENANT_FUNCTION = """
def handler(event, context):
    return {"tenant": context.tenant_id}
"""


def test_invoke_snapstart_restores_sandboxes_and_passes_the_tenant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--snapstart --restores 2 --times 2``: two restored sandboxes, two invocations
    each; ``--tenant-id`` reaches ``context.tenant_id`` through awslambdaric (the
    ``Lambda-Runtime-Aws-Tenant-Id`` header) and the trace's ``TenantId`` annotation."""
    (tmp_path / "app.py").write_text(TENANT_FUNCTION)
    out = tmp_path / "segments.jsonl"
    code = main(
        [
            "invoke", "app.handler", "--code", str(tmp_path), "--python", "3.12",
            "--runtime", str(RUNTIME), "--snapstart", "--restores", "2", "--times", "2",
            "--tenant-id", "tenant-7", "--segments", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert printed.count("restored sandbox ") == 4
    assert printed.count("Restore ") == 2 and "Initialization" not in printed
    assert printed.count('"tenant": "tenant-7"') == 4
    assert printed.count("ColdStart=True") == 2 and printed.count("ColdStart=False") == 2
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    tenants = [
        (d.get("annotations") or {}).get("TenantId")
        for d in documents
        for d in [d, *d.get("subsegments", [])]
        if "ColdStart" in (d.get("annotations") or {})
    ]
    assert tenants == ["tenant-7"] * 4


def test_invoke_snapstart_refuses_python_3_11(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text(TENANT_FUNCTION)
    code = main(["invoke", "app.handler", "--code", str(tmp_path), "--snapstart"])
    assert code == 2
    assert "--snapstart needs --python 3.12 or later" in capsys.readouterr().err


def test_invoke_max_concurrency_runs_managed_instances_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--max-concurrency 2 --times 4``: awslambdaric's multi-concurrent mode with two
    workers; four invocations sent at once, each in its own trace, none a cold start."""
    (tmp_path / "app.py").write_text(TENANT_FUNCTION)
    code = main(
        [
            "invoke", "app.handler", "--code", str(tmp_path), "--python", "3.13",
            "--runtime", str(RUNTIME), "--max-concurrency", "2", "--times", "4",
            "--tenant-id", "tenant-9",
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert printed.count('"tenant": "tenant-9"') == 4
    assert printed.count("ColdStart=False") == 4 and "ColdStart=True" not in printed
    assert "Initialization" not in printed
    assert len(set(re.findall(r"Root=(1-[0-9a-f]{8}-[0-9a-f]{24})", printed))) == 4
