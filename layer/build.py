"""Build the otel-xray Lambda layer: one zip per architecture, laid out as /opt.

    python layer/build.py [--arch x86_64] [--arch arm64] [--out build/layer]

For each architecture this writes ``OUT/<arch>/`` (exactly what Lambda mounts at
/opt: ``otel-instrument``, ``python/``, ``collector-config/``) and
``OUT/otel-xray-layer-<arch>.zip``, then prints both sizes. Dependencies are
manylinux wheels chosen by pip's ``--platform``; bytecode is precompiled with
``unchecked-hash`` invalidation, because /opt is read-only and zip timestamps
have a 2-second resolution, which would make mtime-checked .pyc files stale on
every cold start. Zips are deterministic (sorted entries, fixed timestamps).
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import py_compile
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's otel_xray, whatever is installed

from otel_xray.boundary import is_dev_only  # noqa: E402  (after the path is set)

PLATFORMS = {
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
}
PYTHON_VERSION = "3.11"
#: Never in the layer: the runtime provides them and the function's copies must win.
EXCLUDED_TOP_LEVEL = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six.py",
    "urllib3",
}
#: Not needed at run time in a read-only /opt.
PRUNED_DIRS = {"tests", "test", "__pycache__"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def host_arch() -> str:
    machine = os.uname().machine
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def build(arch: str, out: Path) -> Path:
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        raise SystemExit(
            f"layer/build.py must run on Python {PYTHON_VERSION} (it precompiles bytecode "
            f"for the python{PYTHON_VERSION} runtime); this is {sys.version.split()[0]}"
        )
    root = out / arch
    stamp = root / ".build-stamp"
    digest = _inputs_digest(arch)
    if stamp.exists() and stamp.read_text() == digest:
        return root
    if root.exists():
        shutil.rmtree(root)
    python_dir = root / "python"
    python_dir.mkdir(parents=True)
    platform_args = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(python_dir),
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            *platform_args,
            "-r",
            str(ROOT / "layer" / "requirements.txt"),
        ],
        check=True,
    )
    _copy_runtime_package(python_dir / "otel_xray")
    _prune(python_dir)
    compileall.compile_dir(
        str(python_dir),
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    shutil.copy2(ROOT / "layer" / "otel-instrument", root / "otel-instrument")
    (root / "otel-instrument").chmod(0o755)
    collector = root / "collector-config"
    collector.mkdir()
    shutil.copy2(ROOT / "collector" / "config.yaml", collector / "config.yaml")
    # OTEL_XRAY_SAMPLING_RULES=/opt/collector-config/sampling-rules.json uses them.
    shutil.copy2(ROOT / "collector" / "sampling-rules.json", collector / "sampling-rules.json")
    stamp.write_text(digest)
    return root


def _module_name(path: Path) -> str:
    """``otel_xray/devtools/cli.py`` -> ``otel_xray.devtools.cli`` (a folder: its package)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts)


def _shipped(path: Path) -> bool:
    """Not a dev-only module (``otel_xray.boundary.DEV_ONLY``), not a build leftover."""
    if path.name == "__pycache__" or path.suffix == ".pyc":
        return False
    return not is_dev_only(_module_name(path))


def _copy_runtime_package(target: Path) -> None:
    """otel_xray without what ``otel_xray.boundary.DEV_ONLY`` names: never shipped."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {name for name in names if not _shipped(Path(directory) / name)}

    shutil.copytree(ROOT / "otel_xray", target, ignore=ignore)


def _prune(python_dir: Path) -> None:
    for entry in list(python_dir.iterdir()):
        name = entry.name
        base = name.split("-")[0].lower()
        if name in EXCLUDED_TOP_LEVEL or (
            name.endswith(".dist-info") and base in EXCLUDED_TOP_LEVEL
        ):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    bin_dir = python_dir / "bin"
    if bin_dir.exists():
        shutil.rmtree(bin_dir)
    for directory in sorted(python_dir.rglob("*"), reverse=True):
        if directory.is_dir() and directory.name in PRUNED_DIRS:
            shutil.rmtree(directory, ignore_errors=True)


def write_zip(root: Path, zip_path: Path) -> None:
    tmp = zip_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".build-stamp"):
            info = zipfile.ZipInfo(str(path.relative_to(root)), ZIP_DATE)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    tmp.replace(zip_path)


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _inputs_digest(arch: str) -> str:
    digest = hashlib.sha256(arch.encode())
    for path in sorted(
        [
            *(ROOT / "otel_xray").rglob("*.py"),
            ROOT / "layer" / "requirements.txt",
            ROOT / "layer" / "otel-instrument",
            ROOT / "layer" / "build.py",
            ROOT / "collector" / "config.yaml",
            ROOT / "collector" / "sampling-rules.json",
        ]
    ):
        if path.is_relative_to(ROOT / "otel_xray") and not _shipped(path):
            continue
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", choices=sorted(PLATFORMS))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "layer")
    parser.add_argument("--json", type=Path, help="also write the sizes to this file")
    args = parser.parse_args(argv)
    sizes = {}
    for arch in args.arch or sorted(PLATFORMS):
        root = build(arch, args.out)
        zip_path = args.out / f"otel-xray-layer-{arch}.zip"
        write_zip(root, zip_path)
        sizes[arch] = {"unzipped_bytes": tree_size(root), "zipped_bytes": zip_path.stat().st_size}
        print(
            f"layer {arch}: {sizes[arch]['unzipped_bytes'] / 1e6:.1f} MB unzipped, "
            f"{sizes[arch]['zipped_bytes'] / 1e6:.1f} MB zipped -> {zip_path.relative_to(ROOT)}"
        )
    if args.json:
        args.json.write_text(json.dumps(sizes, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
