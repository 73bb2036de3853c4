"""X-Ray sampling rules: wildcards, the per-second reservoir, and the local rules file.

The local rules file is the X-Ray SDK's (the one teams already have):

.. code-block:: json

    {"version": 2,
     "default": {"fixed_target": 1, "rate": 0.05},
     "rules": [{"description": "health", "host": "*", "http_method": "GET",
                "url_path": "/health", "fixed_target": 0, "rate": 0}]}

Version 1 names ``host`` ``service_name``. ``default`` is required and has no
matchers; every other rule needs all three. The first rule in file order whose
matchers all apply decides: one of its ``fixed_target`` per second, then ``rate``.
``*`` and ``?`` are wildcards, matched without regard to case; a request that has
no host, method or path (an SQS-triggered function) is matched on what it has.

Example:
    >>> rules = LocalRules.parse({"version": 2, "default": {"fixed_target": 1, "rate": 0.05}})
    >>> rules.match("api.example.com", "GET", "/orders").description
    'default'
    >>> wildcard_match("/api/*", "/API/orders")
    True
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

Clock = Callable[[], float]


class SamplingRulesError(ValueError):
    """A rules file X-Ray's SDK would not accept; the message names the rule and field."""


@functools.lru_cache(maxsize=512)
def _wildcard(pattern: str) -> re.Pattern[str]:
    escaped = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(escaped, re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, text: str | None) -> bool:
    """X-Ray's matcher: ``*`` any run, ``?`` one character, case-insensitive, whole text."""
    if pattern == "*":
        return True
    if text is None:
        return False
    return _wildcard(pattern).fullmatch(text) is not None


class Reservoir:
    """At most ``per_second`` takes in each whole second of the clock; thread-safe.

    A forked child gets a new lock: another thread of the parent may have held the old
    one at the fork, and the child would then wait on it for ever (every reservoir, the
    local rules' and the centralized sampler's borrow and quota alike).
    """

    def __init__(self, per_second: int, clock: Clock) -> None:
        self.per_second = per_second
        self._clock = clock
        self._second = -1
        self._taken = 0
        self._lock = threading.Lock()
        _RESERVOIRS.add(self)

    def _renew_lock(self) -> None:
        self._lock = threading.Lock()

    def take(self) -> bool:
        if self.per_second <= 0:
            return False
        second = int(self._clock())
        with self._lock:
            if second != self._second:
                self._second, self._taken = second, 0
            if self._taken < self.per_second:
                self._taken += 1
                return True
            return False


class LocalRule:
    """One rule; a plain class, not a dataclass (import-time cost, see otel_xray.settings)."""

    def __init__(
        self,
        description: str,
        host: str,
        http_method: str,
        url_path: str,
        fixed_target: int,
        rate: float,
        reservoir: Reservoir | None = None,
    ) -> None:
        self.description = description
        self.host = host
        self.http_method = http_method
        self.url_path = url_path
        self.fixed_target = fixed_target
        self.rate = rate
        self.reservoir = reservoir

    def __repr__(self) -> str:
        return (
            f"LocalRule({self.description!r}, {self.host!r}, {self.http_method!r}, "
            f"{self.url_path!r}, fixed_target={self.fixed_target}, rate={self.rate})"
        )

    def applies(self, host: str | None, method: str | None, path: str | None) -> bool:
        # The X-Ray SDK's rule: a value the request does not have does not rule it out.
        return (
            (host is None or wildcard_match(self.host, host))
            and (method is None or wildcard_match(self.http_method, method))
            and (path is None or wildcard_match(self.url_path, path))
        )


class LocalRules:
    """The rules in order, and the default rule."""

    def __init__(self, rules: list[LocalRule], default: LocalRule) -> None:
        self.rules = rules
        self.default = default

    @classmethod
    def parse(cls, document: Any, clock: Clock | None = None) -> LocalRules:
        """Validate a rules document (versions 1 and 2); raises :class:`SamplingRulesError`."""
        tick = clock or time.time
        if not isinstance(document, Mapping):
            raise SamplingRulesError("the rules document must be a JSON object")
        version = document.get("version")
        if version not in (1, 2):
            raise SamplingRulesError(f"version: {version!r}; accepted: 1 or 2")
        default = document.get("default")
        if not isinstance(default, Mapping):
            raise SamplingRulesError("default: required, an object with fixed_target and rate")
        extra = set(default) - {"fixed_target", "rate"}
        if extra:
            raise SamplingRulesError(
                f"default: has {', '.join(sorted(extra))}; the default rule takes only "
                "fixed_target and rate"
            )
        default_rule = LocalRule(
            "default", "*", "*", "*", _target(default, "default"), _rate(default, "default")
        )
        raw_rules = document.get("rules", [])
        if not isinstance(raw_rules, list):
            raise SamplingRulesError("rules: must be a list of rule objects")
        host_field = "host" if version == 2 else "service_name"
        rules = []
        for number, raw in enumerate(raw_rules, 1):
            if not isinstance(raw, Mapping):
                raise SamplingRulesError(f"rule {number}: must be an object")
            label = f"rule {number} ({raw.get('description', 'no description')!s})"
            matchers = []
            for name in (host_field, "http_method", "url_path"):
                value = raw.get(name)
                if not isinstance(value, str) or not value:
                    raise SamplingRulesError(
                        f"{label}: {name} is required (a string; * and ? are wildcards)"
                    )
                matchers.append(value)
            host, method, path = matchers
            rules.append(
                LocalRule(
                    str(raw.get("description", f"rule {number}")),
                    host,
                    method,
                    path,
                    _target(raw, label),
                    _rate(raw, label),
                )
            )
        parsed = cls(rules, default_rule)
        for rule in [*rules, default_rule]:
            rule.reservoir = Reservoir(rule.fixed_target, tick)
        return parsed

    def match(self, host: str | None, method: str | None, path: str | None) -> LocalRule:
        for rule in self.rules:
            if rule.applies(host, method, path):
                return rule
        return self.default


def _target(raw: Mapping[str, Any], label: str) -> int:
    value = raw.get("fixed_target")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SamplingRulesError(f"{label}: fixed_target {value!r}; accepted: an integer >= 0")
    return value


def _rate(raw: Mapping[str, Any], label: str) -> float:
    value = raw.get("rate")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise SamplingRulesError(f"{label}: rate {value!r}; accepted: a number from 0 to 1")
    return float(value)


#: The X-Ray SDK's built-in default: one request each second, then five percent.
DEFAULT_RULES_DOCUMENT: dict[str, Any] = {
    "version": 2,
    "default": {"fixed_target": 1, "rate": 0.05},
    "rules": [],
}


_RESERVOIRS: weakref.WeakSet[Reservoir] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for reservoir in list(_RESERVOIRS):
        reservoir._renew_lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
