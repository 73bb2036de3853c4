"""Build the otel-xray Lambda layer: one zip per architecture, laid out as /opt.

    python layer/build.py [--arch x86_64] [--arch arm64] [--out build/layer]

For each architecture this writes ``OUT/<arch>/`` (exactly what Lambda mounts at
/opt: ``otel-instrument``, ``python/``, ``collector-config/``) and
``OUT/otel-xray-layer-<arch>.zip``, then prints both sizes. Dependencies are
manylinux wheels chosen by pip's ``--platform``; bytecode is precompiled with
``unchecked-hash`` invalidation, because /opt is read-only and zip timestamps
have a 2-second resolution, which would make mtime-checked .pyc files stale on
every cold start. Zips are deterministic (sorted entries, fixed timestamps).

One zip serves every Python runtime in :data:`PYTHON_VERSIONS`: each version's wheels
are installed (their native extensions, wrapt's among them, are named per version and
sit side by side; pip resolves them with ``--python-version``, no interpreter needed),
and each interpreter this machine has compiles the bytecode it reads
(``__pycache__/*.cpython-3XY.pyc``). A version without an interpreter here keeps its
wheels but gets no bytecode, with a message naming it: the layer runs on it, compiling
at each cold start (/opt is read-only). ``sizes.json`` lists the versions with
bytecode (``python_versions``), those without (``missing_python_versions``) and what
each adds.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's otel_xray, whatever is installed

from layer.inline_constants import inline_tree  # noqa: E402  (after the path is set)
from otel_xray.boundary import is_dev_only  # noqa: E402
from otel_xray.devtools.functions.interpreters import (  # noqa: E402
    RUNTIME_VERSIONS,
    find_interpreter,
)
from otel_xray.instrumentation import REGISTRY  # noqa: E402

PLATFORMS = {
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
}
#: The build runs on this one (the project's Python).
PYTHON_VERSION = "3.11"
#: Lambda's Python runtimes the layer is built for, where an interpreter is found.
PYTHON_VERSIONS = RUNTIME_VERSIONS
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
#: Parts of the layer's packages that nothing the layer runs imports: the SDK's
#: metrics and logs (otel-xray exports traces only), the configurator only
#: ``opentelemetry-instrument`` uses, the OTLP messages of other signals, SPDX
#: license data, protobuf's compiler plugin and descriptor protos. Read off the
#: import closure of the layer's start paths (xray-udp, OTLP, local and centralized
#: sampling, botocore/requests/urllib3 instrumented and called); the e2e tests run
#: those paths through the built layer, so a pruned module that is needed fails them.
PRUNED_PATHS = (
    "opentelemetry/sdk/metrics",
    "opentelemetry/sdk/_logs",
    "opentelemetry/sdk/_events",
    "opentelemetry/sdk/_configuration",
    "opentelemetry/proto/metrics",
    "opentelemetry/proto/logs",
    "opentelemetry/proto/profiles",
    "opentelemetry/proto/collector/metrics",
    "opentelemetry/proto/collector/logs",
    "opentelemetry/proto/collector/profiles",
    "packaging/licenses",
    "google/protobuf/compiler",
    "google/protobuf/util",
    "google/protobuf/descriptor_pb2.py",
)
#: Files nothing reads at run time: C sources shipped beside their compiled
#: extension (wrapt's), and type stubs.
PRUNED_SUFFIXES = (".c", ".h", ".pyi")
#: A package of many modules of which the layer imports a few: only the modules the
#: rest of the layer's code names (and what they name in turn) are kept.
REFERENCED_ONLY = "opentelemetry/semconv/_incubating"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def host_arch() -> str:
    machine = os.uname().machine
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def interpreters() -> dict[str, Path]:
    """The versions of :data:`PYTHON_VERSIONS` this machine can build for."""
    found = {}
    for version in PYTHON_VERSIONS:
        interpreter = find_interpreter(version)
        if interpreter is None:
            print(
                f"layer: no python{version} interpreter here; the layer carries "
                f"{version}'s wheels but no bytecode for it"
            )
        else:
            found[version] = interpreter
    return found


def build(arch: str, out: Path, versions: dict[str, Path] | None = None) -> Path:
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        raise SystemExit(
            f"layer/build.py must run on Python {PYTHON_VERSION} (it resolves the layer's "
            f"packages for python{PYTHON_VERSION}); this is {sys.version.split()[0]}"
        )
    versions = interpreters() if versions is None else versions
    root = out / arch
    stamp = root / ".build-stamp"
    digest = _inputs_digest(arch, [*sorted(versions), "wheels:", *PYTHON_VERSIONS])
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
    for version in sorted(set(PYTHON_VERSIONS) | set(versions)):
        if version != PYTHON_VERSION:
            _add_version_wheels(python_dir, version, platform_args)
    _copy_runtime_package(python_dir / "otel_xray")
    _write_entry_points(python_dir)
    _prune(python_dir)
    _patch_upstream(python_dir)
    inline_tree(python_dir)  # semconv string constants, not their modules (~6 ms)
    _without_typing_extensions(python_dir)
    compiled = _bytecode_sources(python_dir, arch)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.writelines(f"{path}\n" for path in compiled)
    try:
        for _version, interpreter in sorted(versions.items()):
            # Each interpreter writes the bytecode it reads (cpython-3XY.pyc).
            subprocess.run(
                [str(interpreter), "-m", "compileall", "-q", "-j", "0",
                 "--invalidation-mode", "unchecked-hash", "-i", listing.name],
                check=True,
            )  # fmt: skip
    finally:
        os.unlink(listing.name)
    shutil.copy2(ROOT / "layer" / "otel-instrument", root / "otel-instrument")
    (root / "otel-instrument").chmod(0o755)
    collector = root / "collector-config"
    collector.mkdir()
    shutil.copy2(ROOT / "collector" / "config.yaml", collector / "config.yaml")
    # AWS's recipe for X-Ray's OTLP endpoint (otlphttp + sigv4auth; docs/exporters.md).
    shutil.copy2(ROOT / "collector" / "config-otlp.yaml", collector / "config-otlp.yaml")
    # OTEL_XRAY_SAMPLING_RULES=/opt/collector-config/sampling-rules.json uses them.
    shutil.copy2(ROOT / "collector" / "sampling-rules.json", collector / "sampling-rules.json")
    stamp.write_text(digest)
    return root


#: Patches to upstream files in the layer: (path under python/, old text, new text).
#: Each old text must be found exactly once, or the build stops: an upstream release
#: that changed the file needs the patch looked at again.
#:
#: instrumentor.py imports its dependency checker at import, which imports
#: packaging.requirements (about 14 ms of a cold start, python -X importtime); the layer
#: always instruments with skip_dep_check=True, so the checker is imported only where a
#: check runs. The names stay importable from the module (PEP 562 ``__getattr__``).
UPSTREAM_PATCHES: tuple[tuple[str, str, str], ...] = (
    (
        "opentelemetry/instrumentation/instrumentor.py",
        """from opentelemetry.instrumentation.dependencies import (
    DependencyConflict,
    DependencyConflictError,
    get_dependency_conflicts,
)
""",
        """# otel-xray layer: the dependency checker is imported where a check runs, not here
# (it imports packaging.requirements; layer/build.py, UPSTREAM_PATCHES).
_DEPENDENCY_NAMES = ("DependencyConflict", "DependencyConflictError", "get_dependency_conflicts")


def __getattr__(name):
    if name in _DEPENDENCY_NAMES:
        from opentelemetry.instrumentation import dependencies

        return getattr(dependencies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
""",
    ),
    (
        "opentelemetry/instrumentation/instrumentor.py",
        """        dependencies = self.instrumentation_dependencies()
        return get_dependency_conflicts(dependencies)
""",
        """        from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

        dependencies = self.instrumentation_dependencies()
        return get_dependency_conflicts(dependencies)
""",
    ),
    (
        "opentelemetry/instrumentation/instrumentor.py",
        """                if raise_exception_on_conflict:
                    raise DependencyConflictError(conflict)
""",
        """                if raise_exception_on_conflict:
                    from opentelemetry.instrumentation.dependencies import (
                        DependencyConflictError,
                    )

                    raise DependencyConflictError(conflict)
""",
    ),
    # packaging.version only for the schema URL a few instrumentors ask for (botocore,
    # requests and urllib3 never do): imported there, not by every HTTP instrumentation.
    (
        "opentelemetry/instrumentation/_semconv.py",
        "from packaging import version as package_version\n",
        "",
    ),
    (
        "opentelemetry/instrumentation/_semconv.py",
        """    highest_schema_version = _LEGACY_SCHEMA_VERSION
    for signal_type in signal_types:""",
        """    from packaging import version as package_version

    highest_schema_version = _LEGACY_SCHEMA_VERSION
    for signal_type in signal_types:""",
    ),
)


def _patch_upstream(python_dir: Path) -> None:
    for relative, old, new in UPSTREAM_PATCHES:
        path = python_dir / relative
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(
                f"layer: the patch for {relative} no longer applies (its text changed "
                "upstream); see UPSTREAM_PATCHES in layer/build.py"
            )
        path.write_text(text.replace(old, new))


#: ``typing_extensions`` imports of the shipped OpenTelemetry packages -> what replaces them
#: (``assert_never`` is in ``typing`` since 3.11; ``deprecated``: otel_xray._deprecated).
TYPING_EXTENSIONS_IMPORTS = {
    "from typing_extensions import deprecated\n": (
        "from otel_xray._deprecated import deprecated\n"
    ),
    "from typing_extensions import assert_never, deprecated\n": (
        "from typing import assert_never; from otel_xray._deprecated import deprecated\n"
    ),
}


def _without_typing_extensions(python_dir: Path) -> int:
    """Point the OpenTelemetry packages' top-level ``typing_extensions`` imports at the
    standard library and otel_xray._deprecated (~2 ms of cold start; see that module).
    Same line count; other imports of it (type-checking only) stay. Returns files changed."""
    changed = 0
    for path in sorted((python_dir / "opentelemetry").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "typing_extensions" not in text:
            continue
        lines = text.splitlines(keepends=True)
        new = [TYPING_EXTENSIONS_IMPORTS.get(line, line) for line in lines]
        if new != lines:
            path.write_text("".join(new), encoding="utf-8")
            changed += 1
    return changed


#: What the probe found imported, from the host architecture's build: module names do
#: not depend on the architecture, and another one's native extensions do not load here.
_imported: set[str] | None = None


def _bytecode_sources(python_dir: Path, arch: str) -> list[Path]:
    """The sources that get bytecode: all of otel_xray, and of the rest what the layer's
    own code paths import (``layer/imports_probe.py`` run against this layer).

    Bytecode is per Python version, so every module compiled costs three times; most
    of protobuf, packaging, the semantic conventions and the SDK's metrics and logs are
    never imported by a function. Those ship as source only: a function that does
    import one compiles it in memory on that import (/opt is read-only), a few ms.
    The probe runs on the host architecture's build (built first) and its answer
    serves the other; if it cannot run, everything is compiled, as before.
    """
    global _imported
    sources = sorted(python_dir.rglob("*.py"))
    if _imported is not None and arch != host_arch():
        return _select(python_dir, sources, _imported)
    probe = subprocess.run(
        [sys.executable, str(ROOT / "layer" / "imports_probe.py"), str(python_dir)],
        env={**os.environ, "PYTHONPATH": str(python_dir)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if probe.returncode != 0:
        print(f"layer: the imports probe failed here; all bytecode kept\n{probe.stderr[-2000:]}")
        return sources
    _imported = set(json.loads(probe.stdout.strip().splitlines()[-1]))
    return _select(python_dir, sources, _imported)


def _select(python_dir: Path, sources: list[Path], imported: set[str]) -> list[Path]:
    """otel_xray, what the probe imported, and whole every registry instrumentation the
    probe could not import (it has no psycopg2 or redis to instrument; a function that
    imports one should not compile its instrumentation on each cold start). The ones
    the probe imported (botocore's, with its extensions for the services it called)
    follow the probe."""
    unprobed = [m for m in _INSTRUMENTATIONS if m not in imported]
    keep = []
    for path in sources:
        parts = list(path.relative_to(python_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        instrumentation = any(name == m or name.startswith(m + ".") for m in unprobed)
        if parts[0] == "otel_xray" or name in imported or instrumentation or name in _KEEP_BYTECODE:
            keep.append(path)
    return keep


#: Compiled though our paths no longer import them: typing_extensions left the cold path
#: (_without_typing_extensions), but so many libraries import it (pydantic, FastAPI,
#: attrs...) that a function without its own copy should not compile it at each start.
_KEEP_BYTECODE = frozenset({"typing_extensions"})

#: The registry's instrumentation packages, and the DB-API wrapper several are made of.
_INSTRUMENTATIONS = (
    *sorted({entry.module for entry in REGISTRY.values()}),
    "opentelemetry.instrumentation.dbapi",
)


def _module_name(path: Path) -> str:
    """``otel_xray/devtools/cli.py`` -> ``otel_xray.devtools.cli`` (a folder: its package)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts)


def _shipped(path: Path) -> bool:
    """Not a dev-only module (``otel_xray.boundary.DEV_ONLY``), not a build leftover."""
    if path.name == "__pycache__" or path.suffix == ".pyc":
        return False
    return not is_dev_only(_module_name(path))


def _add_version_wheels(python_dir: Path, version: str, platform_args: list[str]) -> None:
    """The same requirements resolved for ``version``: what they add (native extensions
    named for that version, a backport it needs) joins the layer; the rest is there."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-compile", "--target", scratch, "--implementation", "cp",
             "--python-version", version, "--only-binary=:all:", *platform_args,
             "-r", str(ROOT / "layer" / "requirements.txt")],
            check=True,
        )  # fmt: skip
        for path in sorted(Path(scratch).rglob("*")):
            target = python_dir / path.relative_to(scratch)
            if path.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


#: The entry points the layer's otel_xray declares: those a library looks up at run
#: time. The durable execution SDK finds plugins named in DURABLE_EXECUTION_PLUGINS in
#: this group (its plugin_discovery); pyproject.toml declares the same for pip users.
LAYER_ENTRY_POINTS = {
    "aws_durable_execution.plugins": {"otel-xray": "otel_xray.awslambda.durable:PLUGIN_FACTORY"},
}


def _write_entry_points(python_dir: Path) -> None:
    """A minimal ``otel_xray-<version>.dist-info`` so ``importlib.metadata`` finds the
    entry points above under /opt/python (the layer copies the package, not a wheel)."""
    namespace: dict[str, str] = {}
    exec((ROOT / "otel_xray" / "version.py").read_text(), namespace)
    version = namespace["__version__"]
    info = python_dir / f"otel_xray-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: otel-xray\nVersion: {version}\n")
    lines = []
    for group, entries in LAYER_ENTRY_POINTS.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "RECORD").write_text("")


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
    for relative in PRUNED_PATHS:
        path = python_dir / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for path in list(python_dir.rglob("*")):
        if path.is_file() and path.suffix in PRUNED_SUFFIXES:
            path.unlink()
    # pip's install records (read only by pip uninstall); the licenses stay.
    for record in python_dir.glob("*.dist-info/RECORD"):
        record.unlink()
    _keep_referenced_only(python_dir, REFERENCED_ONLY)
    _strip_debug_info(python_dir)
    for directory in sorted(python_dir.rglob("*"), reverse=True):
        if directory.is_dir() and directory.name in PRUNED_DIRS:
            shutil.rmtree(directory, ignore_errors=True)


def _module_of(python_dir: Path, path: Path) -> str:
    parts = path.relative_to(python_dir).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _names_imported(path: Path) -> set[str]:
    """Every dotted name a file imports, ``from a import b`` giving ``a`` and ``a.b``."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _keep_referenced_only(python_dir: Path, relative: str) -> None:
    """Delete the modules of ``relative`` that no other module of the layer reaches."""
    package = python_dir / relative
    prefix = relative.replace("/", ".")
    inside = {_module_of(python_dir, p): p for p in package.rglob("*.py")}
    wanted: set[str] = set()
    for path in python_dir.rglob("*.py"):
        if not path.is_relative_to(package):
            wanted |= {n for n in _names_imported(path) if n.startswith(prefix)}
    queue = [name for name in wanted if name in inside]
    while queue:
        for name in _names_imported(inside[queue.pop()]):
            if name in inside and name not in wanted:
                wanted.add(name)
                queue.append(name)
    for name, path in inside.items():
        if path.name != "__init__.py" and name not in wanted:
            path.unlink()


def _strip_debug_info(python_dir: Path) -> None:
    """Native extensions without their debug sections (wrapt's ship with them): a third
    of the size. ``llvm-strip`` reads every architecture's ELF; GNU ``strip`` only the
    host's. Left as they are where neither can read them."""
    strip = shutil.which("llvm-strip") or shutil.which("strip")
    if strip is None:
        return
    for library in python_dir.rglob("*.so"):
        subprocess.run([strip, "--strip-debug", str(library)], capture_output=True, check=False)


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


def version_bytes(root: Path, version: str) -> int:
    """Bytes that only ``version`` reads: its .pyc files and its native extensions."""
    tag = "cpython-" + version.replace(".", "")
    return sum(p.stat().st_size for p in root.rglob(f"*{tag}*") if p.is_file())


def _inputs_digest(arch: str, versions: list[str]) -> str:
    digest = hashlib.sha256(arch.encode() + " ".join(versions).encode())
    for path in sorted(
        [
            *(ROOT / "otel_xray").rglob("*.py"),
            ROOT / "layer" / "requirements.txt",
            ROOT / "layer" / "otel-instrument",
            ROOT / "layer" / "build.py",
            ROOT / "layer" / "imports_probe.py",
            ROOT / "layer" / "inline_constants.py",
            ROOT / "collector" / "config.yaml",
            ROOT / "collector" / "config-otlp.yaml",
            ROOT / "collector" / "sampling-rules.json",
        ]
    ):
        if path.is_relative_to(ROOT / "otel_xray") and not _shipped(path):
            continue
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _package_sizes(python_dir: Path) -> dict[str, int]:
    instrumentation = python_dir / "opentelemetry" / "instrumentation"
    sizes = {
        f"opentelemetry-instrumentation-{path.name.replace('_', '-')}": tree_size(path)
        for path in sorted(instrumentation.iterdir())
        # The base package's own subpackages (auto_instrumentation, _labeler) count as base.
        if path.is_dir() and not path.name.startswith("_") and path.name != "auto_instrumentation"
    }
    sizes["opentelemetry-instrumentation (base)"] = sum(
        p.stat().st_size for p in instrumentation.rglob("*") if p.is_file()
    ) - sum(sizes.values())
    for name, relative in (
        ("wrapt", "wrapt"),
        ("opentelemetry-semantic-conventions", "opentelemetry/semconv"),
        ("otel_xray", "otel_xray"),
    ):
        if (python_dir / relative).is_dir():
            sizes[name] = tree_size(python_dir / relative)
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", choices=sorted(PLATFORMS))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "layer")
    parser.add_argument("--json", type=Path, help="also write the sizes to this file")
    args = parser.parse_args(argv)
    sizes: dict[str, Any] = {}
    versions = interpreters()
    sizes["python_versions"] = sorted(versions)
    sizes["missing_python_versions"] = [v for v in PYTHON_VERSIONS if v not in versions]
    # The host's architecture first: its build runs the imports probe for both.
    for arch in sorted(args.arch or PLATFORMS, key=lambda a: (a != host_arch(), a)):
        root = build(arch, args.out, versions)
        zip_path = args.out / f"otel-xray-layer-{arch}.zip"
        write_zip(root, zip_path)
        sizes[arch] = {
            "unzipped_bytes": tree_size(root),
            "zipped_bytes": zip_path.stat().st_size,
            # What each version's bytecode and native extensions add.
            "bytes_by_version": {v: version_bytes(root, v) for v in sorted(versions)},
            # What each upstream instrumentation package adds (source and bytecode); the
            # parts they share (the instrumentation base, wrapt, the dbapi helper, the
            # semantic conventions) are listed under their own names.
            "bytes_by_package": _package_sizes(root / "python"),
        }
        print(
            f"layer {arch}: {sizes[arch]['unzipped_bytes'] / 1e6:.1f} MB unzipped, "
            f"{sizes[arch]['zipped_bytes'] / 1e6:.1f} MB zipped -> {zip_path.relative_to(ROOT)}"
        )
    if args.json:
        args.json.write_text(json.dumps(sizes, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
