"""The benchmark gate's verdicts (benchmarks/bench_gate.py), on synthetic numbers: no Redis,
no timing."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _load_gate():  # noqa: ANN202
    path = ROOT / "benchmarks" / "bench_gate.py"
    spec = importlib.util.spec_from_file_location("bench_gate", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gate = _load_gate()

BASELINE = {
    "cold_read": {"value": 4.0, "tolerance": 0.5},
    "write": {"value": 0.25, "tolerance": 0.5},
    "round_trips": {"value": 26, "tolerance": 0, "exact": True},
}
HEALTHY = {"cold_read": 4.8, "write": 0.2, "round_trips": 26}


def _failed(verdicts: list) -> set:
    return {v.name for v in verdicts if not v.ok}


def test_a_healthy_run_passes() -> None:
    verdicts = gate.compare(BASELINE, HEALTHY)
    assert [v.name for v in verdicts] == list(BASELINE)
    assert _failed(verdicts) == set()
    assert [v.limit for v in verdicts] == [6.0, 0.375, 26]


def test_a_ratio_at_the_limit_passes_and_above_it_fails() -> None:
    assert _failed(gate.compare(BASELINE, {**HEALTHY, "cold_read": 6.0})) == set()
    verdicts = gate.compare(BASELINE, {**HEALTHY, "cold_read": 6.01})
    assert _failed(verdicts) == {"cold_read"}
    assert verdicts[0].note == "REGRESSION"


def test_ours_twice_as_slow_fails_every_timed_metric() -> None:
    slow = {name: value * 2 for name, value in HEALTHY.items() if name != "round_trips"}
    assert _failed(gate.compare(BASELINE, {**HEALTHY, **slow})) == {"cold_read", "write"}


@pytest.mark.parametrize("trips", [25, 27])
def test_a_round_trip_count_must_equal_the_baseline(trips: int) -> None:
    verdicts = gate.compare(BASELINE, {**HEALTHY, "round_trips": trips})
    assert _failed(verdicts) == {"round_trips"}


def test_a_metric_of_the_baseline_that_was_not_measured_fails() -> None:
    current = {k: v for k, v in HEALTHY.items() if k != "write"}
    verdicts = gate.compare(BASELINE, current)
    assert _failed(verdicts) == {"write"}
    assert verdicts[1].note == "NOT MEASURED"


def test_a_metric_the_baseline_does_not_know_is_shown_but_passes() -> None:
    verdicts = gate.compare(BASELINE, {**HEALTHY, "new_metric": 123.0})
    assert _failed(verdicts) == set()
    assert verdicts[-1].name == "new_metric" and verdicts[-1].baseline is None


def test_a_metric_is_the_median_of_the_per_pair_ratios() -> None:
    pair = gate.Pair(ours=[1.0, 2.0, 9.0], reference=[1.0, 1.0, 1.0])
    assert pair.ratio == 2.0
    assert pair.scaled(10).ours == [0.1, 0.2, 0.9] and pair.scaled(10).ratio == 2.0


def test_the_table_shows_each_verdict() -> None:
    table = gate.format_table(gate.compare(BASELINE, {**HEALTHY, "write": 1.0}))
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "baseline", "current", "limit", "verdict"]
    assert any("write" in line and "REGRESSION" in line for line in lines)
    assert any("cold_read" in line and line.endswith("ok") for line in lines)


def test_the_committed_baseline_catches_ours_twice_as_slow() -> None:
    """Every metric the gate measures is in the baseline, and its tolerance is tight enough
    that doubling a timed ratio fails while the baseline itself passes."""
    document = json.loads((ROOT / "benchmarks" / "baseline.json").read_text())
    metrics = document["metrics"]
    assert set(metrics) == {m.name for m in gate.METRICS}
    assert document["config"]["trials"] == gate.CONFIG["trials"]
    values = {name: entry["value"] for name, entry in metrics.items()}
    assert values["round_trips_warm_read"] == 1
    assert values["round_trips_write_trial"] == 26
    assert _failed(gate.compare(metrics, values)) == set()
    for metric in gate.METRICS:
        entry = metrics[metric.name]
        assert entry["tolerance"] == metric.tolerance
        if metric.exact:
            assert entry["exact"] and entry["tolerance"] == 0
        else:
            assert 0 < entry["tolerance"] < 1
            doubled = {**values, metric.name: values[metric.name] * 2}
            assert _failed(gate.compare(metrics, doubled)) == {metric.name}
