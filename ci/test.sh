#!/usr/bin/env bash
# Install optuna-redis with its test dependencies and run the lint and the test suite.
# This is the README's test command; .ci/run calls it as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "redis-server not found: installing it with apt-get" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
        echo "redis-server not found: install it (e.g. 'sudo apt-get install redis-server'" \
             "or 'brew install redis'), or set OPTUNA_REDIS_TEST_URL" >&2
        exit 1
    fi
fi

python -m pip install --quiet --disable-pip-version-check ".[test]"
python -m ruff check .
python -m ruff format --check .
# Run from the tests against the installed package, not the source tree.
python -m pytest "$@"
