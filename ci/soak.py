"""The chaos soak of tests/test_soak.py, longer and repeated, for release checks.

    python ci/soak.py --duration 600            # one 10-minute soak
    python ci/soak.py --duration 60 --runs 5    # five 1-minute soaks, seeds 1..5

Each run is the test itself (6 heartbeat workers, one SIGKILLed and replaced every 1.5-3.5 s,
Redis killed and restarted once at half time) in a fresh pytest process, so it checks the
same things. Prints each run's figures; exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--runs", type=int, default=1, help="how many runs")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run")
    args = parser.parse_args()
    if args.duration <= 0 or args.runs <= 0:
        parser.error("--duration and --runs must be positive")
    failed = 0
    for run in range(args.runs):
        seed = args.seed + run
        env = dict(
            os.environ,
            OPTUNA_REDIS_SOAK_SECONDS=str(args.duration),
            OPTUNA_REDIS_SOAK_SEED=str(seed),
        )
        command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
        command.append("tests/test_soak.py")
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        figures = [line for line in done.stdout.splitlines() if line.startswith("soak ")]
        verdict = "passed" if done.returncode == 0 else "FAILED"
        print(f"run {run + 1} (seed {seed}): {verdict}; {' '.join(figures) or 'no figures'}")
        if done.returncode != 0:
            failed += 1
            print(done.stdout[-4000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
    print(f"{args.runs - failed} of {args.runs} runs passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
