"""The compiled twins are what an installed package uses, unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Every name the chooser re-exports comes from the twins it names (decoder and bulk encoder).
PROBE = (
    "import optuna_redis, optuna_redis._codec as c; "
    "mods = {getattr(c, n).__module__ for n in c.__all__ if n != 'USE_EXTENSIONS'}; "
    "print(optuna_redis.USE_EXTENSIONS, *sorted(mods))"
)


def _probe(value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_REDIS_NO_EXTENSIONS"}
    if value is not None:
        env["OPTUNA_REDIS_NO_EXTENSIONS"] = value
    # Run outside the source tree, so the installed package is what gets imported.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd="/", capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_c_extension_preferred_by_default() -> None:
    assert _probe(None) == "True optuna_redis._bulk_c optuna_redis._codec_c"


@pytest.mark.parametrize("value", ["0", "", "false", "no", "off"])
def test_false_words_keep_the_extension(value: str) -> None:
    assert _probe(value) == "True optuna_redis._bulk_c optuna_redis._codec_c"


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "TRUE"])
def test_true_words_select_the_pure_codec(value: str) -> None:
    assert _probe(value) == "False optuna_redis._bulk_py optuna_redis._codec_py"
