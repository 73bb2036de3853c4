"""The RIE benchmark's bookkeeping (``benchmarks/coldstart_rie.py``): every traced run is
measured against the no-tracing runs on either side of it, as the independent check
that filed issue 30 did (each run bracketed by two no-tracing runs), and every round
runs every configuration once."""

from __future__ import annotations

from benchmarks.coldstart import BASELINE, Configuration
from benchmarks.coldstart_rie import METRICS, bracketed, schedule, table


def sample(value: float) -> dict[str, float]:
    return {key: value for key, _, _ in METRICS} | {"spans": 0.0, "joined": 0.0}


def test_each_round_runs_every_configuration_once_in_a_rotated_order() -> None:
    a, b, c = (Configuration(name, None) for name in "abc")
    rounds = schedule([a, b, c], 4)
    assert [[x.name for x in r] for r in rounds] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert schedule([], 2) == [[], []]


def test_a_traced_run_is_against_the_mean_of_the_no_tracing_runs_around_it() -> None:
    base, traced = Configuration(BASELINE, None), Configuration("traced", None)
    # The machine slows down during the batch: 100, then 200, then 300 ms baselines.
    runs = [
        (base, sample(100)),
        (traced, sample(180)),
        (base, sample(200)),
        (traced, sample(330)),
        (base, sample(300)),
    ]
    out = bracketed(runs)
    assert [r["init_ms"] for r in out[BASELINE]] == [100, 200, 300]
    assert [r["init_ms_added"] for r in out["traced"]] == [30, 80]
    assert [r["init_ms_ratio"] for r in out["traced"]] == [1.2, 1.32]
    text = table([base, traced], out)
    assert "| traced | 255 (+55, 1.26x) |" in text
    assert text.count("\n") == 3
