"""A local stand-in for a Lambda sandbox's filesystem: /var/lang, /var/runtime, /var/task.

Lambda runs a function with a bare interpreter whose path is the function's code
(/var/task), then the layers (/opt/python), then the runtime's own packages
(/var/runtime: the runtime client, boto3, botocore). To see exactly what a user
would, a local invocation must not borrow this project's virtualenv: here a venv
without packages plays /var/lang, and a ``pip install --target`` directory with
awslambdaric and boto3 plays /var/runtime.

One stand-in per Python runtime: ``build/lambda-runtime`` for python3.11 (the
default), ``build/lambda-runtime-3.12`` and so on for the others, each with a venv
of that interpreter and the runtime client and SDK installed by it (awslambdaric
has a native part per version). AWS says the SDK version in a Python runtime
"depends on the runtime version and your AWS Region" (the Lambda guide's
"Runtime-included SDK versions"), so there is no per-runtime version to copy: the
same pins serve every runtime.

    python -m otel_xray.devtools.functions.sandbox [--python 3.12 ...] [--all] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from otel_xray.devtools.functions.interpreters import (
    DEFAULT_VERSION,
    RUNTIME_VERSIONS,
    find_interpreter,
)

#: What Lambda's python3.11 runtime carries in /var/runtime (versions are the runtime's).
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", "boto3==1.44.8", "botocore==1.44.8")
DEFAULT_DIR = Path("build") / "lambda-runtime"


def runtime_root(version: str = DEFAULT_VERSION, base: Path = DEFAULT_DIR) -> Path:
    """Where the stand-in for ``version`` lives (python3.11 at ``base`` itself)."""
    return base if version == DEFAULT_VERSION else base.with_name(f"{base.name}-{version}")


BOOTSTRAP = Path(__file__).with_name("bootstrap.py")


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
    def version(self) -> str:
        """``3.Y`` of the runtime's interpreter (its venv's ``pyvenv.cfg``), else 3.11."""
        try:
            for line in (self.root / "lang" / "pyvenv.cfg").read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "version":
                    return ".".join(value.strip().split(".")[:2])
        except OSError:
            pass
        return DEFAULT_VERSION

    @property
    def bootstrap(self) -> Path:
        return BOOTSTRAP

    def check(self) -> None:
        """Raise a clear error when the runtime has not been built."""
        if not (self.python.exists() and (self.root / ".stamp").exists()):
            raise FileNotFoundError(
                f"no local Lambda runtime at {self.root}; build it with "
                f"'python -m otel_xray.devtools.functions.sandbox --out {self.root}' (make runtime)"
            )


def build_runtime(root: Path, version: str = DEFAULT_VERSION) -> RuntimeEnv:
    """Create (or reuse) the interpreter and runtime directory of ``version`` under ``root``."""
    interpreter = (
        Path(sys.executable)
        if version == f"{sys.version_info[0]}.{sys.version_info[1]}"
        else find_interpreter(version)
    )
    if interpreter is None:
        raise FileNotFoundError(
            f"no python{version} interpreter on this machine (looked on PATH, under pyenv "
            f"and in /usr); install CPython {version} to run functions on python{version}"
        )
    env = RuntimeEnv(root)
    stamp = root / ".stamp"
    digest = hashlib.sha256(" ".join(RUNTIME_PACKAGES).encode() + version.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and env.python.exists():
        return env
    if root.exists():
        shutil.rmtree(root)
    subprocess.run(
        [str(interpreter), "-m", "venv", "--without-pip", "--symlinks", str(root / "lang")],
        check=True,
    )
    subprocess.run(
        [
            str(interpreter),
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
        env={**os.environ, "PIP_NO_WARN_SCRIPT_LOCATION": "1", "PIP_ROOT_USER_ACTION": "ignore"},
    )
    stamp.write_text(digest)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the local Lambda runtime stand-ins.")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="python3.11's directory")
    parser.add_argument(
        "--python", action="append", choices=RUNTIME_VERSIONS, help="a runtime version"
    )
    parser.add_argument("--all", action="store_true", help="every runtime version this machine has")
    args = parser.parse_args(argv)
    versions = RUNTIME_VERSIONS if args.all else tuple(args.python or (DEFAULT_VERSION,))
    for version in versions:
        try:
            env = build_runtime(runtime_root(version, args.out), version)
        except FileNotFoundError as missing:
            if not args.all:
                raise SystemExit(str(missing)) from None
            print(f"local Lambda runtime python{version} skipped: {missing}")
            continue
        print(f"local Lambda runtime python{version} ready: {env.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
