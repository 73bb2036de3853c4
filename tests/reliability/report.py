"""Print what the reliability tests measured (build/reliability/*.json)."""

from __future__ import annotations

import json

from tests.reliability.conftest import REPORT_DIR


def main() -> int:
    files = sorted(REPORT_DIR.glob("*.json"))
    if not files:
        print("no reliability figures yet: run make test (or make soak)")
        return 1
    for path in files:
        figures = json.loads(path.read_text())
        test = figures.pop("test")
        details = ", ".join(f"{k}={v}" for k, v in figures.items())
        print(f"{test}\n    {details}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
