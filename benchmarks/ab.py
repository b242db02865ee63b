"""A/B of two installs of optuna-redis on the same workload, in alternating fresh processes.

This host's noise does not cancel between a workload bound by round trips and one bound by
CPU, so a change to the write path is judged against an install of the code before it, not
against a reference storage: the same ``study.optimize`` (``server_cost.py run``, our
backend) runs in a venv of each side, the sides taking turns (A B, B A, A B, ...), each run
in a fresh process on one private Redis server dedicated to the A/B (so that its
``INFO cpu`` counts only that run). Per W (worker processes on one study) it prints each
side's median trials/s and Redis server CPU µs per trial, and the median of the per-pair
ratios B/A.

    python benchmarks/ab.py --a e42dec7 --b worktree --workers 1,16 --rounds 6

A side is a git revision (built from ``git archive`` into a venv cached under
``~/.cache/optuna-redis/ab/``, one per revision and Python) or ``worktree``: this checkout,
uncommitted changes included, installed afresh into its own venv on every run. Both sides
run this checkout's ``benchmarks/server_cost.py`` and ``_workload.py``, which use only
``RedisStorage``'s public API, so any revision since the storage's public API settled works.
``--json PATH`` writes every run and the ratios.

A side may also be ``floor``: this interpreter running ``server_cost.py run --backend floor``
(``_workload.ContractFloor``: Optuna's in-memory work plus one raw ``PING`` per storage
call), the least any storage keeping Optuna's storage contract can cost on this host. So
``--a e42dec7 --b floor`` says how far any change to the write path could go at all.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from optuna_redis._local_redis import LocalRedisServer
from optuna_redis._local_redis import server_binary
from optuna_redis._local_redis import server_version

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "optuna-redis" / "ab"
WORKTREE = "worktree"
FLOOR = "floor"
# What a side's venv needs besides the package: the optimize run's own imports.
RUN_REQUIRES = ("psycopg2-binary",)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve(rev: str) -> str:
    """A revision's full commit hash, or ``worktree``; SystemExit naming a bad revision."""
    if rev in (WORKTREE, FLOOR):
        return rev
    result = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"ab.py: error: {rev!r} is not a git revision of {REPO}")
    return result.stdout.strip()


def pip(python: Path, *args: str, what: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise SystemExit(f"ab.py: error: installing {what} failed:\n{tail}")


def venv_for(commit: str) -> Path:
    """The python of a venv with ``commit`` (or the worktree) installed, built if need be."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    short = commit if commit == WORKTREE else commit[:12]
    venv = CACHE / f"{short}-py{version}"
    python = venv / "bin" / "python"
    ready = venv / ".ab-ready"
    if commit != WORKTREE and ready.exists():
        return python
    fresh = not python.exists()
    if fresh:
        log(f"ab.py: making the venv {venv}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip(python, *RUN_REQUIRES, what=f"{', '.join(RUN_REQUIRES)} into {venv}")
    with tempfile.TemporaryDirectory(prefix="optuna-redis-ab-") as tmp:
        if commit == WORKTREE:
            source = str(REPO)
        else:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", "--format=tar", commit],
                capture_output=True,
                check=True,
            )
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            source = tmp
        log(f"ab.py: installing {short} into {venv} (builds the compiled codec)")
        if fresh:
            pip(python, source, what=f"{short} and its dependencies")
        else:  # the worktree again, or a venv left half-made: only the package
            pip(python, "--force-reinstall", "--no-deps", source, what=short)
    ready.touch()
    return python


def check_install(python: Path, side: str) -> str:
    """Where the side's optuna_redis is imported from, and that it is the compiled codec."""
    # (USE_EXTENSIONS: the compiled codec is in use; in every revision since the codec was.)
    code = "import optuna_redis as o; print(o.__file__, o.USE_EXTENSIONS)"
    result = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    if result.returncode != 0:
        raise SystemExit(f"ab.py: error: side {side} does not import: {result.stderr.strip()}")
    path, compiled = result.stdout.split()
    if compiled != "True":
        raise SystemExit(f"ab.py: error: side {side} does not use the compiled codec")
    return path


def one_run(
    python: Path, backend: str, url: str, workers: int, args: argparse.Namespace
) -> dict[str, Any]:
    command = [str(python), str(REPO / "benchmarks" / "server_cost.py"), "run"]
    command += ["--backend", backend, "--workers", str(workers), "--trials", str(args.trials)]
    command += ["--url", url, "--sampler", args.sampler]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTUNA_REDIS_")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-15:])
        raise SystemExit(f"ab.py: error: a run failed ({' '.join(command)}):\n{tail}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_ratio(pairs: list[tuple[dict, dict]], key: str) -> float:
    return statistics.median(b[key] / a[key] for a, b in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ab.py",
        description="A/B of two installs of optuna-redis: study.optimize trials/s and Redis "
        "server CPU per trial, in alternating fresh processes.",
    )
    parser.add_argument("--a", default="e42dec7", help="side A: a git revision (default e42dec7)")
    parser.add_argument(
        "--b",
        default=WORKTREE,
        help="side B: a git revision, 'worktree' (the default), or 'floor' (the contract floor)",
    )
    parser.add_argument(
        "--workers", default="1,16", help="worker processes on one study, comma-separated"
    )
    parser.add_argument("--trials", type=int, default=1000, help="trials of a run (all workers)")
    parser.add_argument("--rounds", type=int, default=6, help="pairs of runs per W")
    parser.add_argument("--sampler", choices=("random", "tpe"), default="random")
    parser.add_argument("--json", type=Path, help="write every run and the ratios here")
    args = parser.parse_args(argv)
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers wants comma-separated integers, not {args.workers!r}")
    if min(workers) < 1 or args.trials < 1 or args.rounds < 1:
        parser.error("--workers, --trials and --rounds must be positive")

    sides = {"A": resolve(args.a), "B": resolve(args.b)}
    pythons = {
        side: Path(sys.executable) if commit == FLOOR else venv_for(commit)
        for side, commit in sides.items()
    }
    backends = {side: FLOOR if commit == FLOOR else "ours" for side, commit in sides.items()}
    installs = {
        side: "this interpreter (the contract floor: optuna_redis is not used)"
        if sides[side] == FLOOR
        else check_install(python, side)
        for side, python in pythons.items()
    }
    binary = server_binary()
    report: dict[str, Any] = {
        "sides": {s: {"rev": getattr(args, s.lower()), "commit": c} for s, c in sides.items()},
        "server": server_version(binary.path),
        "trials": args.trials,
        "sampler": args.sampler,
        "results": {},
    }
    for side in sides:
        log(f"side {side}: {getattr(args, side.lower())} ({sides[side][:12]}), {installs[side]}")
    print(
        f"A = {args.a}, B = {args.b}; {args.trials} trials a run, {args.sampler} sampler, "
        f"{args.rounds} pairs per W, on a private {report['server']}"
    )
    with LocalRedisServer(dir_prefix="optuna-redis-ab-") as server:
        for w in workers:
            pairs = []
            for i in range(args.rounds):
                order = ("A", "B") if i % 2 == 0 else ("B", "A")
                got = {}
                for side in order:
                    got[side] = one_run(pythons[side], backends[side], server.url, w, args)
                    log(
                        f"W={w} round {i + 1} {side}: {got[side]['trials_per_s']:.0f} trials/s, "
                        f"{got[side]['server_cpu_us_per_trial']:.0f} µs server CPU/trial"
                    )
                pairs.append((got["A"], got["B"]))
            row = {"pairs": [{"A": a, "B": b} for a, b in pairs]}
            for key in ("trials_per_s", "server_cpu_us_per_trial"):
                row[key] = {
                    "A": statistics.median(a[key] for a, _ in pairs),
                    "B": statistics.median(b[key] for _, b in pairs),
                    "B/A": median_ratio(pairs, key),
                }
            report["results"][str(w)] = row
            tps, cpu = row["trials_per_s"], row["server_cpu_us_per_trial"]
            print(
                f"W={w}: trials/s A {tps['A']:.0f}, B {tps['B']:.0f}, B/A {tps['B/A']:.2f}x; "
                f"server CPU µs/trial A {cpu['A']:.0f}, B {cpu['B']:.0f}, B/A {cpu['B/A']:.2f}x "
                "(medians; the ratios are medians of per-pair ratios)",
                flush=True,
            )
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
