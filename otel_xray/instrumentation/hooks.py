"""Run a callback when a module is first imported: instrument a library only if the
function uses it.

Instrumenting at start makes every function pay for every library's
instrumentation, and for what those import (the instrumentation base, wrapt, which
imports asyncio, packaging), whether it uses the library or not. Here a library
already imported is instrumented at once; otherwise a finder at the front of
``sys.meta_path`` waits for its import, lets the real loader execute it, puts the
real loader back on the module, and then runs the callbacks. Nothing is
scanned or imported until then. (wrapt's ``register_post_import_hook`` does the same
but importing wrapt is the cost avoided here.)

Example:
    >>> seen = []
    >>> when_imported("colorsys", lambda module: seen.append(module.__name__))
    >>> import colorsys
    >>> seen
    ['colorsys']
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

logger = logging.getLogger("otel_xray")

Callback = Callable[[ModuleType], None]

_pending: dict[str, list[Callback]] = {}
_lock = threading.Lock()


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``name`` is imported: now, if it already is."""
    module = sys.modules.get(name)
    if module is not None:
        _run(name, module, [callback])
        return
    with _lock:
        _pending.setdefault(name, []).append(callback)
        if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
            sys.meta_path.insert(0, _Finder())


def cancel(name: str) -> None:
    """Forget the callbacks still waiting for ``name``."""
    with _lock:
        _pending.pop(name, None)


def pending() -> list[str]:
    """The module names callbacks are still waiting for."""
    with _lock:
        return sorted(_pending)


def _run(name: str, module: ModuleType, callbacks: Sequence[Callback]) -> None:
    for callback in callbacks:
        try:
            callback(module)
        except Exception:
            logger.exception("otel-xray: a hook on the import of %s failed", name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds watched modules with the other finders and hooks their loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, fullname)
        return spec


class _Loader(importlib.abc.Loader):
    """The real loader, then the callbacks; the module keeps the real loader."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        if spec is not None:
            spec.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        # The import system binds a submodule to its package only after this returns;
        # a callback reaching it through the package (``mysql.connector``, as the
        # upstream MySQL instrumentation does) would find nothing. Bind it now, as
        # importlib is about to (``_find_and_load_unlocked``).
        parent, _, child = self._name.rpartition(".")
        if parent and parent in sys.modules:
            setattr(sys.modules[parent], child, sys.modules.get(self._name, module))
        with _lock:
            callbacks = _pending.pop(self._name, [])
        _run(self._name, module, callbacks)
