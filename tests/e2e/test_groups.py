"""Every X-Ray group of the SAM template selects exactly the example app's traces it should."""

from __future__ import annotations

import pytest
from cfnlint.decode import decode

from examples import demo
from examples.local_services import SLOW_AMOUNT, THROTTLED_AMOUNT
from otel_xray.devtools.traces.filters import FilterExpression
from otel_xray.devtools.traces.store import TraceStore
from tests.e2e.conftest import ROOT
from tests.unit.test_deploy_template import substitute

ORDERS = [
    ("accepted", 42.5, ["book"]),
    ("declined", 25_000, ["piano"]),
    ("slow", SLOW_AMOUNT, ["sofa"]),
    ("throttled", THROTTLED_AMOUNT, ["lamp"]),
]


@pytest.fixture(scope="module")
def app() -> tuple[TraceStore, dict[str, str]]:
    """The example app run through the layer; trace ids by what happened to the order."""
    store = TraceStore()
    results = demo.run(store, orders=ORDERS)
    names = [title for title, _, _ in ORDERS]
    traces = {name: result.root for name, result in zip(names, results, strict=False)}
    workers = results[len(ORDERS) :]
    assert len(workers) == 2  # the accepted and the slow order were queued
    traces["worker-1"], traces["worker-2"] = (w.root for w in workers)
    return store, traces


def groups() -> dict[str, str]:
    decoded, problems = decode(str(ROOT / "deploy" / "template.yaml"))
    assert not problems and decoded is not None
    return {
        substitute(resource["Properties"]["GroupName"]).removeprefix("orders-"): substitute(
            resource["Properties"]["FilterExpression"]
        )
        for resource in decoded["Resources"].values()
        if resource["Type"] == "AWS::XRay::Group"
    }


EXPECTED = {
    "order-api": {"accepted", "declined", "slow", "throttled"},
    "order-worker": {"worker-1", "worker-2"},
    "faults": {"declined", "throttled"},
    "throttles": {"throttled"},
    "slow-checkouts": {"slow"},
    "failed-checkouts": {"declined", "throttled"},
    "payment-declines": {"declined", "throttled"},  # 402 and 429 are both errors
}


def test_the_template_has_the_groups_this_test_knows() -> None:
    assert set(groups()) == set(EXPECTED)


@pytest.mark.parametrize("group", sorted(EXPECTED))
def test_each_group_selects_exactly_its_traces(
    app: tuple[TraceStore, dict[str, str]], group: str
) -> None:
    store, traces = app
    by_id = {trace_id: name for name, trace_id in traces.items()}
    selected = FilterExpression.parse(groups()[group]).select(store)
    assert {by_id[t.id] for t in selected} == EXPECTED[group]
