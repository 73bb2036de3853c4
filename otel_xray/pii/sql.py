"""``db.statement`` with every literal replaced by ``?``, keeping the statement's shape.

The ADOT collector copies ``db.statement`` into the X-Ray ``sql.sanitized_query``
unchanged, so a query with a customer's email in a WHERE clause lands in X-Ray as
it is. Here string literals (``'...'`` with ``''`` escapes, ``E'...'``, dollar
quoting), numbers and hex/binary literals become ``?``, and comments are dropped.
Quoted identifiers (``"orders"``, backquoted) stay: they are names, not data.
DynamoDB PartiQL is SQL-shaped: the keys of a ``{'k': v}`` tuple are attribute
names and are kept.

Example:
    >>> sanitize_sql("SELECT * FROM users WHERE email = 'bob@example.com' AND age > 42")
    'SELECT * FROM users WHERE email = ? AND age > ?'
    >>> sanitize_sql('''INSERT INTO "orders" VALUE {'id': 'o-1', 'total': 12.5}''')
    'INSERT INTO "orders" VALUE {\\'id\\': ?, \\'total\\': ?}'
"""

from __future__ import annotations

import re

_TOKENS = re.compile(
    r"""
    (?P<comment>--[^\n]*|/\*.*?(?:\*/|$)|\#[^\n]*)
  | (?P<key>'(?:[^']|'')*'(?=\s*:(?!:)))              # PartiQL tuple key: a name
  | (?P<string>[EeNnBbXx]?'(?:[^'\\]|''|\\.)*(?:'|$))  # string, hex, binary, escape literal
  | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?(?:\$(?P=tag)\$|$))
  | (?P<identifier>"(?:[^"]|"")*"|`[^`]*`)
  | (?P<number>(?<![\w$.])[-+]?(?:0[xX][0-9A-Fa-f]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)(?![\w.]))
    """,
    re.VERBOSE | re.DOTALL,
)


#: Where a token can start; the scan jumps from one such place to the next in C.
_TOKEN_START = re.compile(r"--|/\*|[#'\"`$0-9.]|[-+][0-9.]|[EeNnBbXx]'")


def sanitize_sql(statement: str) -> str:
    """``statement`` with its literals as ``?`` and its comments removed."""
    pieces: list[str] = []
    done = position = 0
    while (start := _TOKEN_START.search(statement, position)) is not None:
        index = start.start()
        match = _TOKENS.match(statement, index)
        if match is None or match.end() == index:
            position = index + 1
            continue
        kind = match.lastgroup
        if kind in ("comment", "string", "dollar", "number"):
            pieces.append(statement[done:index])
            pieces.append("" if kind == "comment" else "?")
            done = match.end()
        position = match.end()
    if not pieces:
        return statement.strip()
    pieces.append(statement[done:])
    return "".join(pieces).strip()
