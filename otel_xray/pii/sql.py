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

import json
import re

from otel_xray.lazy_re import LazyPattern

_MYSQL_TOKENS_EXTRA = LazyPattern(r'"(?:[^"\\]|""|\\.)*(?:"|$)', re.DOTALL)

_TOKENS = LazyPattern(
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
_TOKEN_START = LazyPattern(r"--|/\*|[#'\"`$0-9.]|[-+][0-9.]|[EeNnBbXx]'")


def sanitize_sql(statement: str, *, double_quoted_strings: bool = False) -> str:
    """``statement`` with its literals as ``?`` and its comments removed.

    ``double_quoted_strings``: MySQL and MariaDB (without ``ANSI_QUOTES``) read
    ``"..."`` as a string literal, not an identifier.

    >>> sanitize_sql('SELECT 1 FROM t WHERE email = "bob@example.com"', double_quoted_strings=True)
    'SELECT ? FROM t WHERE email = ?'
    """
    pieces: list[str] = []
    done = position = 0
    while (start := _TOKEN_START.search(statement, position)) is not None:
        index = start.start()
        if double_quoted_strings and statement[index] == '"':
            literal = _MYSQL_TOKENS_EXTRA.match(statement, index)
            if literal is not None:
                pieces.append(statement[done:index])
                pieces.append("?")
                done = position = literal.end()
                continue
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


#: Keys of a MongoDB command whose values name things (collections, databases,
#: operators), not data; every other value of the document becomes "?".
_COMMAND_KEYS = frozenset(
    {"find", "insert", "update", "delete", "aggregate", "count", "distinct",
     "findandmodify", "findAndModify", "collection", "$db", "db", "sort", "projection",
     "limit", "skip", "batchSize", "ordered"}
)  # fmt: skip


def sanitize_query_document(statement: str) -> str | None:
    """A JSON query document (MongoDB and the like) with every value as ``"?"``, keeping
    its keys, operators and the command's collection; None when it is not JSON.

    >>> sanitize_query_document('{"find": "users", "filter": {"email": "bob@example.com"}}')
    '{"find":"users","filter":{"email":"?"}}'
    """
    try:
        document = json.loads(statement)
    except ValueError:
        return None
    if not isinstance(document, dict | list):
        return None
    return json.dumps(_blank(document, keep=True), separators=(",", ":"), ensure_ascii=False)


def _blank(value: object, keep: bool = False, key: str = "") -> object:
    if isinstance(value, dict):
        return {k: _blank(v, keep=False, key=str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, key=key) for v in value]
    if key in _COMMAND_KEYS and isinstance(value, str | int | bool):
        return value
    return value if value is None or isinstance(value, bool) else "?"
