"""Where the CPython interpreters of Lambda's Python runtimes are on this machine.

Lambda runs python3.11 to python3.13 (and python3.14); the layer build compiles
bytecode with each one found, and the local runtime stand-in runs functions under
the one asked for. Looked up on PATH, under pyenv's versions and in /usr; an
interpreter counts only if it reports the version asked for.

Example:
    >>> find_interpreter("2.1") is None
    True
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

#: Lambda's Python runtimes this project builds and tests for, oldest first.
RUNTIME_VERSIONS = ("3.11", "3.12", "3.13", "3.14")
#: The runtime the project itself runs on, and the local default.
DEFAULT_VERSION = "3.11"


def find_interpreter(version: str) -> Path | None:
    """An interpreter of ``version`` on this machine, or None."""
    candidates: list[Path] = []
    found = shutil.which(f"python{version}")
    if found:
        candidates.append(Path(found))
    home = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(home.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    candidates += [Path(f"/usr/bin/python{version}"), Path(f"/usr/local/bin/python{version}")]
    for candidate in candidates:
        try:
            reported = subprocess.run(
                [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if reported == version:
            return candidate
    return None
