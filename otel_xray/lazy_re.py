"""Regular expressions compiled on first use, not at import.

Compiling a pattern runs Python code (``re._parser``, ``re._compiler``); the
privacy detectors, the SQL sanitizer and the redactor hold about fifty, which
cost ~10 ms of a cold start when compiled at import and configure time
(``python -X importtime``, cProfile). Most functions need few of them: a
detector family is only ever scanned when a value carries its marker (an ``@``,
enough digits, ``://``), and SQL is only sanitized when a database is called.
So each pattern is compiled the first time a value needs it, once per process.

After that first use the compiled pattern's own methods are bound on the object,
so a call costs what ``re.Pattern``'s does: these patterns run on every attribute
of every span, and a wrapper method there would cost ~0.7 µs a call. Compiling
twice under a race is harmless (the results are equal; one is kept).

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
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

#: The ``re.Pattern`` attributes a ``LazyPattern`` answers for.
DELEGATED = (
    "search",
    "match",
    "fullmatch",
    "finditer",
    "findall",
    "sub",
    "subn",
    "split",
    "groupindex",
    "groups",
)


class LazyPattern:
    """``re.compile(pattern, flags)``, deferred until the first match."""

    if TYPE_CHECKING:  # what the first use binds (see __getattr__), as re.Pattern types it
        compiled: re.Pattern[str]
        groupindex: Mapping[str, int]
        groups: int

        def search(self, string: str, pos: int = 0, endpos: int = ...) -> re.Match[str] | None: ...
        def match(self, string: str, pos: int = 0, endpos: int = ...) -> re.Match[str] | None: ...
        def fullmatch(
            self, string: str, pos: int = 0, endpos: int = ...
        ) -> re.Match[str] | None: ...
        def finditer(
            self, string: str, pos: int = 0, endpos: int = ...
        ) -> Iterator[re.Match[str]]: ...
        def findall(self, string: str, pos: int = 0, endpos: int = ...) -> list[Any]: ...
        def sub(
            self, repl: str | Callable[[re.Match[str]], str], string: str, count: int = 0
        ) -> str: ...
        def subn(
            self, repl: str | Callable[[re.Match[str]], str], string: str, count: int = 0
        ) -> tuple[str, int]: ...
        def split(self, string: str, maxsplit: int = 0) -> list[str | Any]: ...

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags

    def __getattr__(self, name: str) -> Any:
        """Only reached while the pattern is not compiled (then the names are bound)."""
        if name != "compiled" and name not in DELEGATED:
            raise AttributeError(name)
        compiled = re.compile(self.pattern, self.flags)
        for attribute in DELEGATED:
            setattr(self, attribute, getattr(compiled, attribute))
        self.compiled = compiled
        return compiled if name == "compiled" else getattr(compiled, name)

    @property
    def compiled_yet(self) -> bool:
        return "compiled" in self.__dict__

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {self.flags!r})"
