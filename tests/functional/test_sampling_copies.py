"""Forked and restored copies of one configured process decide independently.

AWS, "Handling uniqueness with Lambda SnapStart" (snapstart-uniqueness): every
sandbox restored from one snapshot starts from the same memory, so "avoid caching
data that's intended to be unique, such as … setting seeds for random functions";
only ``/dev/urandom``-based randomness (``random.SystemRandom``, ``os.urandom``)
stays unique. A fork after set-up clones memory the same way, so real ``os.fork()``
children stand in for restored copies here (the SnapStart emulation of
``otel-xray invoke --snapstart`` uses the same fork; see
``tests/e2e/test_snapstart.py``).

Statistics: each child makes ``DRAWS`` decisions at rate 0.5 with no reservoir.
Independent children agree on all of them with probability 2**-DRAWS per pair, so
with ``CHILDREN`` children the test fails by chance with probability at most
C(CHILDREN, 2) * 2**-DRAWS = 6 * 2**-64 ≈ 3e-19. With a shared seeded generator
(the bug) every child draws the same sequence and the test always fails.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace.sampling import Sampler

from otel_xray import configurator
from otel_xray.sampling import XRayParentBased
from otel_xray.sampling.centralized import CentralizedSampler
from otel_xray.sampling.local import LocalRulesSampler
from otel_xray.sampling.rules import LocalRules, Reservoir
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter
from tests.functional.test_sampling_centralized import XRayProxy, rule

CHILDREN = 4
DRAWS = 64
HALF = json.dumps({"version": 2, "default": {"fixed_target": 0, "rate": 0.5}})


def in_children(work: Callable[[], str], count: int = CHILDREN) -> list[str]:
    """Run ``work`` in ``count`` real forked children; their reports, in order."""
    reports = []
    for _ in range(count):
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover (runs in the child)
            try:
                os.write(writer, work().encode())
            finally:
                os._exit(0)
        os.close(writer)
        chunks = []
        while chunk := os.read(reader, 65536):
            chunks.append(chunk)
        os.close(reader)
        _, status = os.waitpid(child, 0)
        assert status == 0
        reports.append(b"".join(chunks).decode())
    return reports


def decisions(sampler: Sampler) -> str:
    return "".join(
        "1" if sampler.should_sample(None, 1, "req").decision.is_sampled() else "0"
        for _ in range(DRAWS)
    )


@pytest.fixture
def configured() -> Iterator[None]:
    configurator.reset()
    yield
    configurator.reset()


def test_the_configured_local_rules_decide_independently_in_each_child(configured: None) -> None:
    env = {**LAMBDA_ENV, "OTEL_TRACES_SAMPLER": "xray_local", "OTEL_XRAY_SAMPLING_RULES": HALF}
    tracing = configurator.configure(environ=env, exporter=InMemoryExporter(), instrument=False)
    assert tracing is not None
    sampler = tracing.provider.sampler
    assert isinstance(sampler, LocalRulesSampler)

    reports = in_children(lambda: decisions(sampler))

    assert all(len(r) == DRAWS for r in reports)
    assert len(set(reports)) == CHILDREN, reports


def test_a_seeded_generator_is_what_made_children_agree() -> None:
    """The control: the same children with a seeded ``random.Random`` (the old default)
    all decide alike, so the test above is able to fail."""
    sampler = LocalRulesSampler(LocalRules.parse(json.loads(HALF)), random.Random())
    reports = in_children(lambda: decisions(sampler))
    assert len(set(reports)) == 1


def test_centralized_copies_get_their_own_client_id_quota_and_draws(configured: None) -> None:
    proxy = XRayProxy()
    try:
        proxy.rules = [rule("Half", 1, 0.5, 0)]
        proxy.targets = {
            "Half": {
                "RuleName": "Half",
                "FixedRate": 0.5,
                "ReservoirQuota": 5,
                "ReservoirQuotaTTL": 4_000_000_000,
                "Interval": 10,
            }
        }
        env = {
            **LAMBDA_ENV,
            "OTEL_TRACES_SAMPLER": "parentbased_xray",
            "OTEL_XRAY_SAMPLING_ENDPOINT": proxy.endpoint,
        }
        tracing = configurator.configure(environ=env, exporter=InMemoryExporter(), instrument=False)
        assert tracing is not None
        parent_based = tracing.provider.sampler
        assert isinstance(parent_based, XRayParentBased)
        central = parent_based._root
        assert isinstance(central, CentralizedSampler)
        # Rules and targets fetched in the parent, as at a SnapStart init.
        central._start_refresh = lambda work: work()
        central.should_sample(None, 1, "warm-up")
        central.should_sample(None, 1, "warm-up")
        half = central.rules[0]
        assert half.quota is not None and half.target_rate == 0.5
        central._start_refresh = lambda work: None  # the children never call out

        def child() -> str:
            rule_ = central.rules[0]
            inherited = rule_.quota is not None or rule_.requests or rule_.target_rate
            return json.dumps(
                {
                    "client_id": central.client_id,
                    "inherited": bool(inherited),
                    "decisions": decisions(central),
                }
            )

        reports = [json.loads(r) for r in in_children(child)]
    finally:
        proxy.stop()
    ids = {r["client_id"] for r in reports} | {central.client_id}
    assert len(ids) == CHILDREN + 1, "each copy is its own sampling client"
    assert not any(r["inherited"] for r in reports), "the parent's quota stays the parent's"
    # The parent keeps what X-Ray granted it.
    assert central.rules[0].quota is not None
    assert len({r["decisions"] for r in reports}) == CHILDREN


def test_a_reservoir_held_by_another_thread_at_fork_does_not_hang_the_child() -> None:
    """Found in review: a reservoir's lock held by another thread of the parent at the
    moment of ``fork()`` stays held in the child, whose first decision then waits for
    ever. The child must decide within a second."""
    reservoir = Reservoir(1, time.monotonic)
    reservoir._lock.acquire()  # another thread is inside take() at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: decide, and say so by the exit code
            took = reservoir.take()
            os._exit(0 if took else 3)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                return
            time.sleep(0.01)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("the forked child hung on the reservoir's inherited lock")
    finally:
        reservoir._lock.release()
