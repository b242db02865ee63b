#!/usr/bin/env bash
# Build the wheel, install it in a fresh venv, and check that it holds the compiled codec
# and picks it by default; check that the sdist builds the same extension; then check that
# a build with OPTUNA_REDIS_NO_EXTENSIONS set gives a pure py3-none-any wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Whether a wheel holds the compiled twins (decoder, bulk encoder). (Not `unzip -l | grep -q`: grep's early exit
# breaks the pipe, and pipefail then fails the check at random.)
has_codec() {
    python -c 'import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
twins = ("optuna_redis/_codec_c", "optuna_redis/_bulk_c")
sys.exit(0 if all(any(n.startswith(t) and n.endswith(".so") for n in names) for t in twins) else 1)' "$1"
}

python -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$work/wheels" .
wheel=$(ls "$work"/wheels/optuna_redis-*.whl)
echo "built $(basename "$wheel")"
case "$(basename "$wheel")" in
    *-cp3*-linux_*.whl | *-cp3*-macosx_*.whl) ;;
    *) echo "expected a platform wheel, got $(basename "$wheel")" >&2; exit 1 ;;
esac
has_codec "$wheel" || { echo "the wheel holds no compiled codec" >&2; exit 1; }

python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
(cd "$work" && "$work/venv/bin/python" -c '
import optuna_redis, optuna_redis._codec as c
assert optuna_redis.USE_EXTENSIONS, "the compiled codec is not the default"
assert c.decode_trial.__module__ == "optuna_redis._codec_c", c.decode_trial
assert c.trials_digest.__module__ == "optuna_redis._bulk_c", c.trials_digest
import optuna_redis._codec_c as compiled
print("installed wheel uses", compiled.__file__)
')

"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check build
"$work/venv/bin/python" -m build --sdist --outdir "$work/sdist" . >/dev/null
sdist=$(ls "$work"/sdist/optuna_redis-*.tar.gz)
python -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$work/from-sdist" "$sdist"
has_codec "$(ls "$work"/from-sdist/optuna_redis-*.whl)" \
    || { echo "the wheel built from $(basename "$sdist") holds no compiled codec" >&2; exit 1; }
echo "built $(basename "$sdist"), and from it a wheel with the compiled codec"

OPTUNA_REDIS_NO_EXTENSIONS=1 python -m pip wheel --quiet --disable-pip-version-check --no-deps \
    -w "$work/pure" .
pure=$(ls "$work"/pure/optuna_redis-*.whl)
case "$(basename "$pure")" in
    *-py3-none-any.whl) echo "built $(basename "$pure")" ;;
    *) echo "expected a py3-none-any wheel, got $(basename "$pure")" >&2; exit 1 ;;
esac
