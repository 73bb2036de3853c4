"""Regular expressions compiled on first use, not at import.

Compiling a pattern runs Python code (``re._parser``, ``re._compiler``); the
privacy detectors, the SQL sanitizer and the redactor hold about fifty, which
cost ~10 ms of a cold start when compiled at import and configure time
(``python -X importtime``, cProfile). Most functions need few of them: a
detector family is only ever scanned when a value carries its marker (an ``@``,
enough digits, ``://``), and SQL is only sanitized when a database is called.
So each pattern is compiled the first time a value needs it, once per process.

``LazyPattern`` offers the ``re.Pattern`` methods this package uses. Compiling
twice under a race is harmless (both results are equal; one is kept).

Example:
    >>> email = LazyPattern(r"[\\w.]+@[\\w.]+")
    >>> email.compiled_yet
    False
    >>> email.search("mail bob@example.com").group()
    'bob@example.com'
    >>> email.compiled_yet
    True
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from typing import Any


class LazyPattern:
    """``re.compile(pattern, flags)``, deferred until the first match."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if it was not yet)."""
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self.pattern, self.flags)
        return compiled

    @property
    def compiled_yet(self) -> bool:
        return self._compiled is not None

    @property
    def groupindex(self) -> dict[str, int]:
        return dict(self.compiled.groupindex)

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.search(string, pos, endpos)

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.match(string, pos, endpos)

    def fullmatch(
        self, string: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> re.Match[str] | None:
        return self.compiled.fullmatch(string, pos, endpos)

    def finditer(
        self, string: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(string, pos, endpos)

    def findall(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        return self.compiled.findall(string, pos, endpos)

    def sub(self, repl: str | Callable[[re.Match[str]], str], string: str, count: int = 0) -> str:
        return self.compiled.sub(repl, string, count)

    def split(self, string: str, maxsplit: int = 0) -> list[str | Any]:
        return self.compiled.split(string, maxsplit)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {self.flags!r})"
