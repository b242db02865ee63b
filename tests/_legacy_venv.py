"""A venv of Optuna 3.0.6 (the last pickling ``RedisStorage``) for ``test_import_legacy.py``,
built once from PyPI and cached under ``~/.cache/optuna-redis/``.

Optuna 3.0.6 pins ``scipy<1.9``, which has no wheels for CPython 3.11, so the venv is built
with CPython 3.10 (``$OPTUNA_REDIS_LEGACY_PYTHON``, else ``python3.10`` on PATH, else
pyenv's). It is rebuilt when missing or broken, into a temp dir renamed into place, so an
interrupted build never leaves a half venv that looks whole.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile

OPTUNA_VERSION = "3.0.6"
# What Optuna 3.0.6's RedisStorage and its imports work with on CPython 3.10.
REQUIREMENTS = [f"optuna=={OPTUNA_VERSION}", "numpy<2", "redis<5", "sqlalchemy<2"]
CACHE = Path(
    os.environ.get("OPTUNA_REDIS_LEGACY_VENV")
    or Path.home() / ".cache" / "optuna-redis" / f"legacy-optuna-{OPTUNA_VERSION}"
)
_CHECK = (
    "import optuna, optuna.storages, redis; "
    f"assert optuna.__version__ == {OPTUNA_VERSION!r}, optuna.__version__"
)


class Unavailable(Exception):
    """The venv cannot be built here; the message says why (the reason to skip)."""


def _python310() -> str:
    candidates = [os.environ.get("OPTUNA_REDIS_LEGACY_PYTHON"), shutil.which("python3.10")]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.10*/bin/python3.10")))
    for candidate in filter(None, candidates):
        # A pyenv shim is on PATH even when it has no 3.10 to run: try each.
        check = [candidate, "-c", "import sys, venv; assert sys.version_info[:2] == (3, 10)"]
        if subprocess.run(check, capture_output=True).returncode == 0:
            return candidate
    raise Unavailable(
        "no CPython 3.10 (set $OPTUNA_REDIS_LEGACY_PYTHON): Optuna 3.0.6 needs scipy<1.9, "
        "which has no wheels for this Python"
    )


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    result = subprocess.run([str(python), "-c", _CHECK], capture_output=True, timeout=120)
    return result.returncode == 0


def legacy_python() -> str:
    """The Python of the cached Optuna 3.0.6 venv, built first when missing or broken.

    Raises:
        Unavailable: No CPython 3.10, or pip could not install (no network, no index).
    """
    python = CACHE / "bin" / "python"
    if _works(python):
        return str(python)
    base = _python310()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=CACHE.name + ".build-", dir=CACHE.parent))
    try:
        subprocess.run([base, "-m", "venv", str(build)], check=True, capture_output=True)
        pip = subprocess.run(
            [str(build / "bin" / "python"), "-m", "pip", "install", "-q", *REQUIREMENTS],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if pip.returncode != 0:
            tail = " ".join(pip.stderr.strip().splitlines()[-2:])
            raise Unavailable(f"pip could not install {' '.join(REQUIREMENTS)}: {tail}")
        # The tests run only bin/python, which finds its venv by pyvenv.cfg beside it, so
        # a renamed venv works (the shebangs of its scripts keep the build path, unused).
        shutil.rmtree(CACHE, ignore_errors=True)
        build.rename(CACHE)
    except subprocess.SubprocessError as e:
        raise Unavailable(f"building the Optuna {OPTUNA_VERSION} venv failed: {e}") from e
    finally:
        shutil.rmtree(build, ignore_errors=True)
    if not _works(python):
        raise Unavailable(f"the Optuna {OPTUNA_VERSION} venv at {CACHE} does not import it")
    return str(python)


if __name__ == "__main__":
    print(legacy_python(), file=sys.stdout)
