"""`otel-xray invoke` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.local_services import BUILD, LocalServices
from otel_xray.local.cli import main
from tests.e2e.conftest import ROOT, RUNTIME


def test_invoke_prints_the_trace_and_writes_segments(
    services: LocalServices, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "spans.jsonl"
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
    assert "└─ order-api" in printed and "DynamoDB.PutItem" in printed
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len({r["trace_id"] for r in records}) == 2
    assert {r["name"] for r in records} >= {
        "order-api",
        "DynamoDB.PutItem",
        "SQS.SendMessage",
        "POST",
    }


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
