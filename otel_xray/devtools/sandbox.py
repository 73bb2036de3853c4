"""A local stand-in for a Lambda sandbox's filesystem: /var/lang, /var/runtime, /var/task.

Lambda runs a function with a bare interpreter whose path is the function's code
(/var/task), then the layers (/opt/python), then the runtime's own packages
(/var/runtime: the runtime client, boto3, botocore). To see exactly what a user
would, a local invocation must not borrow this project's virtualenv: here a venv
without packages plays /var/lang, and a ``pip install --target`` directory with
awslambdaric and boto3 plays /var/runtime.

    python -m otel_xray.devtools.sandbox [--out build/lambda-runtime]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

#: What Lambda's python3.11 runtime carries in /var/runtime (versions are the runtime's).
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", "boto3==1.44.8", "botocore==1.44.8")
DEFAULT_DIR = Path("build") / "lambda-runtime"
BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")


@dataclass(frozen=True)
class RuntimeEnv:
    """Paths of a prepared local runtime."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "lang" / "bin" / "python3"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "runtime"

    @property
    def bootstrap(self) -> Path:
        return BOOTSTRAP

    def check(self) -> None:
        """Raise a clear error when the runtime has not been built."""
        if not (self.python.exists() and (self.root / ".stamp").exists()):
            raise FileNotFoundError(
                f"no local Lambda runtime at {self.root}; build it with "
                f"'python -m otel_xray.devtools.sandbox --out {self.root}' (make runtime)"
            )


def build_runtime(root: Path) -> RuntimeEnv:
    """Create (or reuse) the interpreter and runtime directory under ``root``."""
    env = RuntimeEnv(root)
    stamp = root / ".stamp"
    digest = hashlib.sha256(" ".join(RUNTIME_PACKAGES).encode() + sys.version.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and env.python.exists():
        return env
    if root.exists():
        shutil.rmtree(root)
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(root / "lang")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(env.runtime_dir),
            *RUNTIME_PACKAGES,
        ],
        check=True,
        env={**os.environ, "PIP_NO_WARN_SCRIPT_LOCATION": "1"},
    )
    stamp.write_text(digest)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the local Lambda runtime stand-in.")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    env = build_runtime(args.out)
    print(f"local Lambda runtime ready: {env.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
