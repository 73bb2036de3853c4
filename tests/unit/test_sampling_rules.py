"""Local sampling rules: the file format, the reservoir and the rate, exactly."""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from pathlib import Path

import pytest

from otel_xray.sampling import XRayParentBased, build_sampler, load_local_rules
from otel_xray.sampling.local import LocalRulesSampler
from otel_xray.sampling.rules import LocalRules, Reservoir, SamplingRulesError, wildcard_match
from otel_xray.settings import Settings

RULES = {
    "version": 2,
    "default": {"fixed_target": 1, "rate": 0.05},
    "rules": [
        {
            "description": "health",
            "host": "*",
            "http_method": "GET",
            "url_path": "/health",
            "fixed_target": 0,
            "rate": 0,
        },
        {
            "description": "writes",
            "host": "api.*",
            "http_method": "POST",
            "url_path": "/orders*",
            "fixed_target": 2,
            "rate": 0.5,
        },
        {
            "description": "orders",
            "host": "*",
            "http_method": "*",
            "url_path": "/orders*",
            "fixed_target": 1,
            "rate": 0.1,
        },
    ],
}


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("*", "anything", True),
        ("/api/*", "/API/Orders/1", True),
        ("/api/?", "/api/1", True),
        ("/api/?", "/api/12", False),
        ("api.example.com", "API.EXAMPLE.COM", True),
        ("*.example.com", "example.com", False),
        ("GET", "POST", False),
        ("a.b", "axb", False),  # a dot is a dot, not a regex
    ],
)
def test_wildcards(pattern: str, text: str, matches: bool) -> None:
    assert wildcard_match(pattern, text) is matches


def test_the_first_matching_rule_in_file_order_decides() -> None:
    rules = LocalRules.parse(RULES)
    assert rules.match("api.example.com", "GET", "/health").description == "health"
    assert rules.match("api.example.com", "POST", "/orders/1").description == "writes"
    assert rules.match("web.example.com", "POST", "/orders/1").description == "orders"
    assert rules.match("api.example.com", "DELETE", "/users").description == "default"
    # What a request does not have (an SQS-triggered function) does not rule a rule out.
    assert rules.match(None, None, None).description == "health"


def test_version_one_names_the_host_service_name() -> None:
    v1 = {
        "version": 1,
        "default": {"fixed_target": 1, "rate": 0.05},
        "rules": [
            {
                "service_name": "orders.*",
                "http_method": "*",
                "url_path": "*",
                "fixed_target": 0,
                "rate": 1,
            }
        ],
    }
    assert LocalRules.parse(v1).match("orders.internal", "GET", "/").rate == 1.0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"version": 3, "default": {"fixed_target": 1, "rate": 0.05}},
            "version: 3; accepted: 1 or 2",
        ),
        ({"version": 2}, "default: required"),
        (
            {"version": 2, "default": {"fixed_target": 1, "rate": 0.05, "host": "*"}},
            "takes only fixed_target and rate",
        ),
        ({"version": 2, "default": {"fixed_target": -1, "rate": 0.05}}, "default: fixed_target -1"),
        (
            {
                **RULES,
                "rules": [
                    *RULES["rules"],
                    {
                        "description": "bad",
                        "host": "*",
                        "http_method": "*",
                        "fixed_target": 1,
                        "rate": 0.1,
                    },
                ],
            },  # type: ignore[list-item]
            "rule 4 (bad): url_path is required",
        ),
        (
            {
                **RULES,
                "rules": [
                    {
                        "description": "too much",
                        "host": "*",
                        "http_method": "*",
                        "url_path": "*",
                        "fixed_target": 1,
                        "rate": 5,
                    }
                ],
            },
            "rule 1 (too much): rate 5; accepted: a number from 0 to 1",
        ),
        (
            {"version": 2, "default": {"fixed_target": 1, "rate": 0.05}, "rules": {}},
            "rules: must be a list",
        ),
    ],
)
def test_a_malformed_file_names_the_rule_and_field(document: object, message: str) -> None:
    with pytest.raises(SamplingRulesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LocalRules.parse(document)


def test_a_bad_setting_is_one_clear_error_and_the_defaults(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({**RULES, "rules": [{"description": "x", "host": "*"}]}))
    with caplog.at_level(logging.ERROR, logger="otel_xray"):
        rules = load_local_rules(str(bad))
    assert "rule 1 (x): http_method is required" in caplog.text and str(bad) in caplog.text
    assert (rules.rules, rules.default.fixed_target, rules.default.rate) == ([], 1, 0.05)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="otel_xray"):
        load_local_rules("{not json")
    assert "inline JSON" in caplog.text and "not JSON" in caplog.text
    good = tmp_path / "good.json"
    good.write_text(json.dumps(RULES))
    assert len(load_local_rules(str(good)).rules) == 3


def test_the_reservoir_is_exact_per_second_under_threads() -> None:
    clock = Clock()
    reservoir = Reservoir(5, clock)
    for second in range(3):
        clock.now = 1_000 + second + 0.5
        taken: list[bool] = []
        lock = threading.Lock()

        def hammer(into: list[bool] = taken, guard: threading.Lock = lock) -> None:
            mine = [reservoir.take() for _ in range(500)]
            with guard:
                into.extend(mine)

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(taken) == 5, second
    assert not Reservoir(0, clock).take()


def test_the_rate_holds_within_three_standard_deviations_under_threads() -> None:
    document = {"version": 2, "default": {"fixed_target": 0, "rate": 0.05}, "rules": []}
    sampler = LocalRulesSampler(LocalRules.parse(document, Clock()), random.Random(7))
    decisions: list[bool] = []
    lock = threading.Lock()

    def decide(count: int) -> None:
        mine = [sampler.should_sample(None, 1, "s").decision.is_sampled() for _ in range(count)]
        with lock:
            decisions.extend(mine)

    threads = [threading.Thread(target=decide, args=(12_500,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    n, p = len(decisions), 0.05
    assert n == 100_000
    assert abs(sum(decisions) - n * p) <= 3 * math.sqrt(n * p * (1 - p))


def test_reservoir_first_then_rate_per_rule() -> None:
    clock = Clock()
    sampler = LocalRulesSampler(LocalRules.parse(RULES, clock), random.Random(1))
    writes = {"http.request.method": "POST", "url.path": "/orders", "server.address": "api.x"}
    health = {"http.request.method": "GET", "url.path": "/health"}
    for second in range(10):
        clock.now = 2_000 + second
        decided = [
            sampler.should_sample(None, 1, "s", attributes=writes).decision.is_sampled()
            for _ in range(2)
        ]
        assert decided == [True, True]  # the reservoir of 2 per second
        assert not any(
            sampler.should_sample(None, 1, "s", attributes=health).decision.is_sampled()
            for _ in range(50)
        )


def test_one_rules_file_is_one_set_of_reservoirs() -> None:
    """Lambda's passthrough policy and the root sampler decide from the same reservoirs."""

    sampler = build_sampler(
        Settings.from_env(
            {"AWS_LAMBDA_FUNCTION_NAME": "f", "OTEL_TRACES_SAMPLER": "parentbased_xray_local"}
        )
    )
    assert isinstance(sampler, XRayParentBased)
    assert sampler._passthrough is sampler._root
