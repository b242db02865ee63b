#!/usr/bin/env bash
# Run Optuna's own storage, heartbeat, study and trial tests against optuna_redis.RedisStorage.
#
# Usage: bash ci/optuna_upstream_tests.sh [extra pytest args, e.g. -x or -k copy_study]
#
# It downloads the Optuna sdist (which ships tests/) from PyPI with pip, extracts it into a temp
# dir and runs a selection of its tests with ci/optuna_upstream/optuna_upstream_plugin.py, which
# adds the storage mode "redis_ours" (RedisStorage with a fresh key prefix per use, deleted
# afterwards) to optuna.testing.storages and deselects the tests that do not use it.
#
# Environment:
#   OPTUNA_REDIS_TEST_URL      Redis to use (only keys under this run's prefixes are written
#                              and deleted); default: a private server on a free port
#                              (redis-server from PATH, or see optuna_redis._local_redis).
#   OPTUNA_UPSTREAM_VERSION    Optuna version whose tests run (default: the installed optuna,
#                              which must be that version; the acceptance check is on 5.0.0).
#   OPTUNA_UPSTREAM_SDIST      path of an already downloaded optuna-VERSION.tar.gz (no download).
#   OPTUNA_UPSTREAM_MODES      upstream modes run next to ours (default: inmemory).
#   OPTUNA_UPSTREAM_ALL=1      also run the tests that do not involve RedisStorage.
#   OPTUNA_UPSTREAM_TARGET     which optuna_redis is tested:
#                                installed (default)  the one installed in this Python, as
#                                                     ci/test.sh leaves it (`pip install .`);
#                                build                this work tree, built with pip into the
#                                                     temp dir (compiled codec included);
#                                src                  this tree's src/ as is, pure-Python codec
#                                                     (OPTUNA_REDIS_NO_EXTENSIONS=1);
#                                git:REV              commit REV of this repo (`git archive`),
#                                                     built like `build`: immune to edits in
#                                                     progress in the work tree;
#                                DIR                  the optuna_redis package in DIR.
#   OPTUNA_REDIS_NO_EXTENSIONS=1 is honoured by optuna_redis itself (pure-Python codec).
#   OPTUNA_UPSTREAM_NO_DEPS=1  do not fetch the small optional test deps (pandas) into the temp
#                              dir; the modules needing them are then not collected.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
start=$(date +%s)

optuna_installed=$(python -c 'import optuna; print(optuna.__version__)')
version="${OPTUNA_UPSTREAM_VERSION:-$optuna_installed}"
if [ "$version" != "$optuna_installed" ]; then
    echo "Optuna $optuna_installed is installed but the tests of $version were asked for:" \
         "optuna.testing and the tests must be of one version." >&2
    exit 2
fi
# Pinned so that runs are reproducible; only fetched when missing (see OPTUNA_UPSTREAM_NO_DEPS).
pandas_pin="pandas==2.3.3"

work="$(mktemp -d -t optuna-upstream-XXXXXX)"
redis_pid=""
cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Optuna's test suite, from the PyPI sdist -------------------------------------------------
sdist="${OPTUNA_UPSTREAM_SDIST:-}"
if [ -z "$sdist" ]; then
    echo "== downloading the optuna==$version sdist from PyPI"
    python -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
        "optuna==$version" -d "$work/dl"
    sdist="$work/dl/optuna-$version.tar.gz"
fi
src="$work/optuna-$version"
if ! tar -tzf "$sdist" "optuna-$version/tests/storages_tests/test_storages.py" >/dev/null 2>&1
then
    echo "$sdist has no tests/ directory: this Optuna release does not ship its tests in" \
         "the sdist, so they cannot be run from PyPI." >&2
    exit 2
fi
tar -xzf "$sdist" -C "$work" "optuna-$version/tests" "optuna-$version/pyproject.toml"

# --- the optuna_redis under test ---------------------------------------------------------------
pythonpath="$repo/ci/optuna_upstream"
case "${OPTUNA_UPSTREAM_TARGET:-installed}" in
    installed) ;;
    src)
        pythonpath="$pythonpath:$repo/src"
        export OPTUNA_REDIS_NO_EXTENSIONS=1 ;;
    build)
        echo "== building optuna-redis from $repo into the temp dir"
        python -m pip install --quiet --disable-pip-version-check --no-deps \
            --target "$work/pkg" "$repo"
        pythonpath="$pythonpath:$work/pkg" ;;
    git:*)
        rev="${OPTUNA_UPSTREAM_TARGET#git:}"
        echo "== building optuna-redis at $rev ($(git -C "$repo" rev-parse --short "$rev^{commit}"))"
        mkdir "$work/tree"
        git -C "$repo" archive "$rev" | tar -x -C "$work/tree"
        python -m pip install --quiet --disable-pip-version-check --no-deps \
            --target "$work/pkg" "$work/tree"
        pythonpath="$pythonpath:$work/pkg" ;;
    *)
        if [ ! -d "$OPTUNA_UPSTREAM_TARGET/optuna_redis" ]; then
            echo "OPTUNA_UPSTREAM_TARGET must be installed, build, src or a directory" \
                 "holding an optuna_redis package" >&2
            exit 2
        fi
        pythonpath="$pythonpath:$(cd "$OPTUNA_UPSTREAM_TARGET" && pwd)" ;;
esac

# --- small optional test dependencies, into the temp dir only ---------------------------------
if [ "${OPTUNA_UPSTREAM_NO_DEPS:-}" != "1" ] && ! python -c 'import pandas' 2>/dev/null; then
    echo "== fetching $pandas_pin into the temp dir (for tests/study_tests/test_dataframe.py)"
    # --no-deps: numpy comes from the environment (optuna needs it), not a second copy; the
    # rest of pandas' dependencies are listed, since a fresh environment has none of them.
    if python -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$work/deps" "$pandas_pin" pytz==2025.2 tzdata==2025.2 \
        python-dateutil==2.9.0.post0 six==1.17.0; then
        pythonpath="$pythonpath:$work/deps"
    else
        echo "could not fetch pandas: test_dataframe.py will not be collected" >&2
    fi
fi

# --- Redis ---------------------------------------------------------------------------------------
if [ -z "${OPTUNA_REDIS_TEST_URL:-}" ]; then
    # The server binary the package's own private servers use: $OPTUNA_REDIS_SERVER, else
    # redis-server or valkey-server on PATH, else an embedded one (optuna-redis[server]).
    # (_local_redis imports only redis and the standard library: no build needed.)
    if ! server=$(python -c 'import sys; sys.path.insert(0, sys.argv[1])
from _local_redis import server_binary
print(server_binary().path)' "$repo/src/optuna_redis" 2>&1); then
        echo "${server##*$'\n'} Or set OPTUNA_REDIS_TEST_URL." >&2
        exit 2
    fi
    port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir "$work/redis"
    "$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/redis" \
        >"$work/redis/log" 2>&1 &
    redis_pid=$!
    export OPTUNA_REDIS_TEST_URL="redis://127.0.0.1:$port/0"
    python - "$OPTUNA_REDIS_TEST_URL" <<'EOF'
import sys
import time

import redis

client = redis.Redis.from_url(sys.argv[1])
deadline = time.monotonic() + 10
while True:
    try:
        client.ping()
        break
    except redis.ConnectionError:
        if time.monotonic() > deadline:
            sys.exit("the private server did not start")
        time.sleep(0.05)
EOF
    echo "== private server $("$server" --version | cut -d' ' -f1-3) ($server) on port $port"
else
    echo "== using OPTUNA_REDIS_TEST_URL"
fi

# --- the run -------------------------------------------------------------------------------------
cd "$src"
PYTHONPATH="$pythonpath${PYTHONPATH:+:$PYTHONPATH}" python - <<'EOF'
import optuna
import optuna_redis
import optuna_redis._codec

codec = "compiled" if getattr(optuna_redis._codec, "USE_EXTENSIONS", False) else "pure-Python"
print(f"== optuna {optuna.__version__}; optuna_redis from {optuna_redis.__file__} ({codec} codec)")
EOF
# The upstream tests' own pytest config (their pyproject.toml) applies. pytest-timeout (a test
# dependency of optuna-redis) bounds each test, `timeout` the whole run.
per_test_timeout=()
if python -c 'import pytest_timeout' 2>/dev/null; then
    per_test_timeout=(--timeout=120)
fi
status=0
PYTHONPATH="$pythonpath${PYTHONPATH:+:$PYTHONPATH}" timeout --signal=INT --kill-after=30 840 \
    python -m pytest -p optuna_upstream_plugin -p no:cacheprovider \
    "${per_test_timeout[@]}" --color=no -q -rfEs \
    tests/storages_tests/test_storages.py \
    tests/storages_tests/test_heartbeat.py \
    tests/storages_tests/test_callbacks.py \
    tests/storages_tests/test_with_server.py \
    tests/study_tests \
    tests/trial_tests \
    "$@" || status=$?
echo "== finished in $(($(date +%s) - start)) s (pytest exit status $status)"
exit "$status"
