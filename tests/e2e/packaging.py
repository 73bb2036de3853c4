"""The released package as a user gets it: the wheel built from the checkout, and fresh
virtualenvs outside it (shared by test_package.py and test_instrument_command.py).

A user never runs the checkout, so these build the wheel and the sdist with PyPA's
``build`` (isolated, as a release would) and install into a new virtualenv under a
temporary directory, run from another temporary directory with ``PYTHON*`` and ``OTEL*``
unset. Installing needs PyPI (pip's cache makes a second run quick).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIP_QUIET = ["--quiet", "--disable-pip-version-check"]


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a shell with the virtualenv activated and nothing of the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "OTEL", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def build_dist(out: Path) -> Path:
    """The wheel and the sdist in ``out``, built from the checkout by ``python -m build``."""
    built = run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=ROOT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def make_venv(home: Path, *requirements: str) -> Path:
    """A fresh virtualenv at ``home`` with ``requirements`` (a wheel's path, names) installed."""
    made = run([sys.executable, "-m", "venv", str(home)], cwd=home.parent)
    assert made.returncode == 0, made.stderr
    pip_install(home, *requirements)
    return home


def pip_install(venv: Path, *requirements: str, cwd: Path | None = None) -> None:
    installed = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", *PIP_QUIET, *requirements],
        cwd=cwd or venv.parent,
        env=clean_env(venv),
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
