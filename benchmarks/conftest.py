"""Fixtures of the benchmark suite: one Redis for the run, studies of workload W per size.

Sizes come from $OPTUNA_REDIS_BENCH_SIZES (default "1000"; e.g. "1000,10000,100000").
"""

from __future__ import annotations

from collections.abc import Iterator
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import _workload  # noqa: E402

SIZES = [int(s) for s in os.environ.get("OPTUNA_REDIS_BENCH_SIZES", "1000").split(",")]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with _workload.redis_url() as url:
        yield url


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"n={n}")
def studies(redis_url: str, request: pytest.FixtureRequest) -> Iterator[_workload.Studies]:
    s = _workload.Studies(redis_url, request.param)
    yield s
    s.drop()
