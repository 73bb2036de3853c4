"""Fast reads of an SDK span's attributes: the plain dict behind the read-only view.

The SDK hands out ``span.attributes`` (and an event's, a link's, a resource's) as a
read-only view over a locking ``BoundedAttributes``; each ``get`` goes through
``collections.abc.Mapping.get`` and ``__getitem__``, about 0.7 µs, and the redactor and
the translator read some forty keys of every span (cProfile of ``benchmarks/pii.py``:
a third of the translation). The dict inside is read directly, never written; a span,
event or resource of another shape falls back to its public ``attributes``.

Example:
    >>> from opentelemetry.sdk.resources import Resource
    >>> plain_attributes(Resource({"service.name": "orders"}))["service.name"]
    'orders'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def plain_attributes(holder: object) -> Mapping[str, Any]:
    """The attributes of a span, event, link or resource, as cheaply as they can be read."""
    inner = getattr(holder, "_attributes", None)
    plain = getattr(inner, "_dict", None)  # BoundedAttributes
    if type(plain) is dict:
        return plain
    if type(inner) is dict:  # a ReadableSpan made with a dict (a redacted copy)
        return inner
    public: Mapping[str, Any] | None = getattr(holder, "attributes", None)
    return public if public is not None else _EMPTY
