"""The benchmarks (``make bench``); each writes its table and raw samples to results/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def save(stem: str, table: str, report: Any) -> None:
    """``results/<stem>.md`` (the table) and ``results/<stem>.json`` (the samples)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
