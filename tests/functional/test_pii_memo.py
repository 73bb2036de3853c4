"""Remembered redactions give what a fresh redaction gives.

The redactor remembers the result of a repeated value (``_memoised``), and for SQL the
result for a repeated *sanitized* statement (literals differ from call to call; the
statement with ``?`` in their place repeats). These checks compare a warmed redactor
with a fresh one on generated inputs, so a remembered answer can never differ from
the one computed.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.pii import Redactor
from otel_xray.pii.sql import sanitize_sql
from otel_xray.settings import PiiSettings

WARM = Redactor(PiiSettings())
literals = st.one_of(
    st.emails(),
    st.from_regex(r"\+4420794[0-9]{5}", fullmatch=True),
    st.from_regex(r"4111 1111 1111 1111|5500 0000 0000 0004", fullmatch=True),
    st.text(alphabet="abcdefghij0123456789-@. ", max_size=30),
)
templates = st.sampled_from(
    [
        "SELECT * FROM users WHERE email = '{}'",
        "UPDATE orders SET note = '{}' WHERE id = 7",
        'INSERT INTO t (a, b) VALUES ("{}", 3)',
        "SELECT {} FROM dual -- {}",
    ]
)


@settings(max_examples=300)
@given(templates, literals, st.sampled_from([None, "mysql", "postgresql"]))
def test_a_remembered_statement_redacts_as_a_fresh_one(
    template: str, literal: str, dialect: str | None
) -> None:
    statement = template.replace("{}", literal.replace("'", "''"))
    fresh = Redactor(PiiSettings())
    warmed = WARM.sql(statement, dialect)
    assert warmed == fresh.sql(statement, dialect)
    assert warmed == WARM.sql(statement, dialect)
    sanitized = sanitize_sql(statement, double_quoted_strings=dialect == "mysql")
    assert warmed == fresh.text(sanitized)
