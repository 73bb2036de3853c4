"""Detectors find personal data in any surrounding text, and leave look-alikes alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.pii.detectors import Detectors, luhn_valid
from otel_xray.pii.redactor import Redactor
from otel_xray.settings import PiiSettings

redactor = Redactor(PiiSettings())

# Surrounding text: words and punctuation, joined so that a value stays a value.
words = st.lists(
    st.text(
        alphabet=st.characters(whitelist_categories=("Lu", "Ll"), max_codepoint=0x24F),
        min_size=1,
        max_size=8,
    ),
    max_size=6,
).map(" ".join)
separators = st.sampled_from([" ", ", ", ": ", " (", "\n", "\t", " = ", ' "', "; "])


#: Issuer prefixes and the lengths their networks issue (Wikipedia's "Payment card
#: number" table; see otel_xray.pii.detectors._CARD_LENGTHS). 13-digit numbers (legacy
#: Visa) need a word saying card: test_a_13_digit_card_needs_a_card_context.
NETWORKS = [
    ("4", (16, 19)),  # Visa
    ("51", (16,)),  # Mastercard
    ("55", (16,)),
    ("2221", (16,)),  # Mastercard 2-series
    ("2720", (16,)),
    ("34", (15,)),  # American Express
    ("37", (15,)),
    ("6011", (16, 17, 18, 19)),  # Discover
    ("65", (16, 17, 18, 19)),
    ("36", (14, 15, 16, 17, 18, 19)),  # Diners Club International
    ("35", (16, 17, 18, 19)),  # JCB
    ("62", (16, 17, 18, 19)),  # UnionPay
    ("6759", (14, 15, 16, 17, 18, 19)),  # Maestro
    ("2200", (16, 17, 18, 19)),  # Mir
]


def card_numbers(networks: list[tuple[str, tuple[int, ...]]] = NETWORKS) -> st.SearchStrategy[str]:
    prefixes_and_lengths = st.sampled_from(networks).flatmap(
        lambda network: st.tuples(st.just(network[0]), st.sampled_from(network[1]))
    )

    def complete(prefix: str, body: str, length: int) -> str:
        partial = (prefix + body)[: length - 1]
        for check in "0123456789":
            if luhn_valid(partial + check):
                return partial + check
        raise AssertionError("unreachable")

    digits = st.builds(
        lambda pair, body: complete(pair[0], body, pair[1]),
        prefixes_and_lengths,
        st.text(alphabet="0123456789", min_size=18, max_size=18),
    )
    return st.tuples(digits, st.sampled_from(["", " ", "-"])).map(
        lambda pair: pair[1].join(pair[0][i : i + 4] for i in range(0, len(pair[0]), 4))
    )


emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z][a-z0-9._%+-]{0,20}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,15}[a-z0-9]", fullmatch=True),
    st.sampled_from(["com", "org", "co.uk", "io", "de", "example"]),
)
digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
phones = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{9,13}", fullmatch=True),  # E.164
    st.from_regex(r"\([2-9][0-9]{2}\) [2-9][0-9]{2}-[0-9]{4}", fullmatch=True),
    st.from_regex(r"[2-9][0-9]{2}-[2-9][0-9]{2}-[0-9]{4}", fullmatch=True),
    st.from_regex(r"[2-9][0-9]{2}\.[2-9][0-9]{2}\.[0-9]{4}", fullmatch=True),
    st.from_regex(r"\+44 [0-9]{2} [0-9]{4} [0-9]{4}", fullmatch=True),
    # A national number's trunk 0 is followed by an area code, never another 0 ("00"
    # starts an international number).
    st.from_regex(r"0[1-9][0-9]{1,3} [0-9]{3,4} [0-9]{3,4}", fullmatch=True),
    # Numbering plans of other countries, international and national layouts.
    st.from_regex(r"\+44 \(0\)[1-9][0-9] [0-9]{4} [0-9]{4}", fullmatch=True),  # UK
    st.from_regex(r"07[0-9]{3} [0-9]{6}", fullmatch=True),  # UK mobile
    st.from_regex(r"\+49 [1-9][0-9]{1,3} [0-9]{6,8}", fullmatch=True),  # DE
    st.from_regex(r"0[1-9][0-9]{1,3} [0-9]{6,8}", fullmatch=True),  # DE national
    st.from_regex(r"\+33 [1-9](?: [0-9]{2}){4}", fullmatch=True),  # FR
    st.from_regex(r"0[1-9](?: [0-9]{2}){4}", fullmatch=True),  # FR national
    st.from_regex(r"\+91 [6-9][0-9]{4} [0-9]{5}", fullmatch=True),  # IN
    st.from_regex(r"[6-9][0-9]{4} [0-9]{5}", fullmatch=True),  # IN national
    st.from_regex(r"\+55 [1-9][0-9] 9[0-9]{4}-[0-9]{4}", fullmatch=True),  # BR mobile
    st.from_regex(r"\([1-9][0-9]\) 9[0-9]{4}-[0-9]{4}", fullmatch=True),  # BR national
    st.from_regex(r"[2-9][0-9]{2} [2-9][0-9]{2} [0-9]{4}", fullmatch=True),  # US, spaces
)


def redacted_as(out: str, kind: str) -> bool:
    """Labelled as ``kind``, or as a secret: words like ``PWD`` before ``: `` make the
    text a credential assignment, and the secret detector takes the whole value (found
    by hypothesis: ``PWD: 4000000000006``)."""
    return f"[REDACTED:{kind}]" in out or "[REDACTED:secret]" in out


@settings(max_examples=300, deadline=None)
@given(before=words, sep1=separators, value=emails, sep2=separators, after=words)
def test_an_email_anywhere_is_redacted(
    before: str, sep1: str, value: str, sep2: str, after: str
) -> None:
    out = redactor.text(before + sep1 + value + sep2 + after)
    assert value not in out and redacted_as(out, "email")


@settings(max_examples=300, deadline=None)
@given(before=words, sep1=separators, value=card_numbers(), sep2=separators, after=words)
def test_a_card_number_anywhere_with_or_without_separators_is_redacted(
    before: str, sep1: str, value: str, sep2: str, after: str
) -> None:
    out = redactor.text(before + sep1 + value + sep2 + after)
    assert value not in out and redacted_as(out, "card")


@settings(max_examples=300, deadline=None)
@given(before=words, sep1=separators, value=phones, sep2=separators, after=words)
def test_a_phone_number_anywhere_is_redacted(
    before: str, sep1: str, value: str, sep2: str, after: str
) -> None:
    out = redactor.text(before + sep1 + value + sep2 + after)
    assert value not in out and redacted_as(out, "phone")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ssn 078-05-1120 on file", "ssn"),
        ("from 203.0.113.77 at noon", "ip"),
        ("from 2001:db8::7334 at noon", "ip"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl here", "jwt"),
        ("Authorization: Bearer mF_9.B5f-4.1JqM", "bearer"),
        ("key AKIAIOSFODNN7EXAMPLE used", "aws_access_key"),
        ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY used", "aws_secret_key"),
        ("dsn postgres://admin:hunter2secret@db.example.com/app", "password"),
    ],
)
def test_each_kind_is_found(text: str, kind: str) -> None:
    assert kind in {f.kind for f in Detectors().find(text)}


@pytest.mark.parametrize(
    "text",
    [
        "order o-20261125-0042 shipped",
        "request 8476a536-e9f4-11e8-9739-2dfe598c3fcd",
        "sent at 1732500000000 (epoch ms)",
        "digest da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "4111111111111112 fails Luhn",
        "1234 5678 9012 3456 has no card network",
        "arn:aws:lambda:us-east-1:123456789012:function:order-api",
        "version 1.45.1 on 2026-11-25 at 09:41:07",
        "HTTP 201 from DynamoDB.PutItem on table orders-prod",
        "ssn-like 000-12-3456 and 666-12-3456 are invalid",
        "999.1.2.3 is not an address",
    ],
)
def test_look_alikes_pass_through(text: str) -> None:
    assert redactor.text(text) == text
