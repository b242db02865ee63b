"""The plot of BENCHMARKS.md: cold-read time and per-trial storage time against N.

    pip install matplotlib
    python benchmarks/plot.py --cold benchmarks/results/cold.json \
        --scaling benchmarks/results/scaling.jsonl --out benchmarks/results/scaling.png

``--cold``: a JSON object ``{backend: {N: seconds}}`` of cold get_all_trials (new process)
per study size, as BENCHMARKS.md tabulates it. ``--scaling``: the JSON lines that
``optimize_scaling.py --out`` appends, one per backend; each holds the storage time of
every trial, plotted as a moving average against the trial number.
"""

from __future__ import annotations

import argparse
import json
import statistics

COLORS = {
    "ours": "tab:red",
    "journal_redis": "tab:blue",
    "rdb_cached": "tab:green",
    "rdb_raw": "tab:olive",
    "inmemory": "tab:gray",
    "raw_fetch": "black",
}


def moving_average(values: list[float], window: int) -> list[float]:
    out = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", required=True)
    parser.add_argument("--scaling", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--window", type=int, default=200, help="moving-average trials")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(args.cold) as f:
        cold = json.load(f)
    with open(args.scaling) as f:
        runs = [json.loads(line) for line in f if line.strip()]

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for backend, by_n in cold.items():
        ns = sorted(int(n) for n in by_n)
        left.plot(
            ns,
            [by_n[str(n)] for n in ns],
            marker="o",
            label=backend,
            color=COLORS.get(backend),
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("trials in the study (N)")
    left.set_ylabel("seconds")
    left.set_title("cold get_all_trials (a new process)")
    left.grid(True, which="both", alpha=0.3)
    left.legend()

    for run in runs:
        per_trial = run["per_trial_ms"]
        label = (
            f"{run['backend']} ({run['sampler']}, median {statistics.median(per_trial):.2f} ms)"
        )
        right.plot(
            range(len(per_trial)),
            moving_average(per_trial, args.window),
            label=label,
            color=COLORS.get(run["backend"]),
            linestyle="-" if run["sampler"] == "random" else "--",
        )
    right.set_yscale("log")
    right.set_xlabel("trial number")
    right.set_ylabel(f"storage ms per trial (moving average of {args.window})")
    right.set_title("study.optimize: storage time per trial as the study grows")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)

    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
