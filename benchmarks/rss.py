"""Peak RSS of a fresh process that holds a study of N trials: ours side by side with JournalRedis.

Writes the same study of workload W into ours and into ``JournalStorage(JournalRedisBackend)``,
then, in a fresh child process per backend and round, builds the storage and reads all
trials into its cache (``get_all_trials(study_id, deepcopy=False)``, kept referenced).
Reports, in MiB, the RSS after imports (both children import the same modules), the peak
RSS while loading (``VmHWM``, reset after the imports; see ``peak_rss_mib`` for why not
``ru_maxrss``) and the RSS still held once the trials are loaded, and peak and held minus
the RSS after imports. Issue target: ours at most half of JournalRedis at 100k.

Each round also times, in a third child, the raw fetch: MGET of ours' records in chunks
of 5,000 without decoding them. The load times of the three give the cold-load targets
at 100k: ours at least 10x faster than JournalRedis, and within 3x of the raw fetch.
Rounds alternate the children, so all see the same machine state.

    python benchmarks/rss.py --trials 100000 --populate-fast --keep --prefix rss100k
    python benchmarks/rss.py --trials 100000 --keep --prefix rss100k  # reuses the data

Uses $OPTUNA_REDIS_URL or redis://127.0.0.1:6379/0, ours under ``PREFIX:ours`` and the
journal under ``PREFIX:journal``; deletes both at the end unless ``--keep``. With
``--prefix`` of data kept before, nothing is written.

Populating writes trials call by call, as workers do: for 100k trials, minutes for ours and
most of an hour for the journal, which pickles its whole state into Redis every 100 trials
(~20 min of pickling, ~40 GB of snapshots in all). ``--populate-fast`` writes each trial
with one ``create_new_trial(template_trial=...)``. Ours then stores every param with its
distribution's JSON (records ~2.5x as long; decoded trials share distributions either
way). The journal then holds one log record per trial instead of ~25, and its state is
pickled only once, as the snapshot JournalStorage would have saved last (at the last trial
id divisible by 100), so a cold load reads the same snapshot and replays the same trials
(from 1 log record each instead of ~25).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import time
from typing import Any
import uuid
import warnings

import optuna
from optuna.storages.journal import BaseJournalBackend
from optuna.storages.journal import JournalRedisBackend
from optuna.storages.journal import JournalStorage
from optuna.storages.journal._storage import SNAPSHOT_INTERVAL
from optuna.study import StudyDirection
import redis

import _workload

STUDY = "workload-w"
BACKENDS = ("ours", "journal_redis")
MIB = 1024 * 1024

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _proc_status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def rss_mib() -> float:
    """The current resident set size (Linux; elsewhere the peak stands in for it)."""
    rss = _proc_status_mib("VmRSS")
    return peak_rss_mib() if rss is None else rss


def peak_rss_mib() -> float:
    """The peak resident set size, since the start or since ``reset_peak``.

    Linux's ``VmHWM``, not ``ru_maxrss``: a child started by vfork and exec, as subprocess
    starts it, inherits its parent's peak in ``ru_maxrss``.
    """
    peak = _proc_status_mib("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / MIB if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS


def reset_peak() -> bool:
    """Make the peak the current RSS (Linux >= 4.0), so it leaves out the imports'."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def under(prefix: str, backend: str) -> str:
    """The prefix of a backend's keys: ``PREFIX:ours`` and ``PREFIX:journal``."""
    return f"{prefix}:{'ours' if backend == 'ours' else 'journal'}"


class _NoSnapshots(BaseJournalBackend):
    """A journal backend without snapshots: JournalStorage then never pickles its state."""

    def __init__(self, backend: JournalRedisBackend) -> None:
        self.backend = backend

    def read_logs(self, log_number_from: int) -> Any:
        return self.backend.read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.backend.append_logs(logs)


def populate_fast_journal(url: str, prefix: str, n_trials: int) -> None:
    """The study from templates, with the last snapshot JournalStorage would have saved."""
    backend = JournalRedisBackend(url, prefix=under(prefix, "journal_redis"))
    storage = JournalStorage(_NoSnapshots(backend))
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], STUDY)
    last_snapshot = (n_trials - 1) // SNAPSHOT_INTERVAL * SNAPSHOT_INTERVAL
    for trial in _workload.workload_trials(n_trials):
        trial_id = storage.create_new_trial(study_id, template_trial=trial)
        if trial_id == last_snapshot and trial_id != 0:
            backend.save_snapshot(pickle.dumps(storage._replay_result))


def populate(backend: str, url: str, prefix: str, n_trials: int, fast: bool) -> None:
    if fast and backend == "journal_redis":
        populate_fast_journal(url, prefix, n_trials)
        return
    storage = _workload.storage_for(backend, url, under(prefix, backend))
    if fast:
        _workload.populate_from_templates(storage, n_trials, STUDY)
    else:
        _workload.populate(storage, n_trials, STUDY)


def kept(backend: str, url: str, prefix: str) -> bool:
    """Whether a backend's data is already under the prefix (the child counts its trials)."""
    key = under(prefix, backend) + (":format" if backend == "ours" else ":log_number")
    client = redis.Redis.from_url(url)
    try:
        return bool(client.exists(key))
    finally:
        client.close()


def raw_fetch(url: str, prefix: str) -> tuple[int, float, list]:
    """``_workload.raw_fetch`` of ours' records (MGET in chunks, undecoded), as the gate and
    ``test_cold_raw_fetch``: the lower bound of a cold load. Returns (records, seconds of
    the MGETs, the replies)."""
    storage = _workload.ours(url, under(prefix, "ours"))
    study_id = storage.get_study_id_from_name(STUDY)
    keys = [storage._keys.trial(study_id, n) for n in range(storage.get_n_trials(study_id))]
    client = redis.Redis.from_url(url)
    client.ping()
    start = time.perf_counter()
    replies = _workload.raw_fetch(client, keys)
    return len(keys), time.perf_counter() - start, replies


def child(backend: str, url: str, prefix: str, deepcopy: bool) -> None:
    """Child process: load the study into a new storage; print one JSON line of RSS."""
    after_imports = rss_mib()
    peak_reset = reset_peak()
    if backend == "raw_fetch":
        n, seconds, trials = raw_fetch(url, prefix)
        trials = [None] * n  # counted below; the replies stay referenced meanwhile
    else:
        start = time.perf_counter()
        storage = _workload.storage_for(backend, url, under(prefix, backend))
        study_id = storage.get_study_id_from_name(STUDY)
        trials = storage.get_all_trials(study_id, deepcopy=deepcopy)
        seconds = time.perf_counter() - start
    held = rss_mib()
    result = {
        "trials": len(trials),
        "after_imports": after_imports,
        "peak": peak_rss_mib(),
        "held": held,
        "seconds": seconds,
        "peak_reset": peak_reset,
    }
    print(json.dumps(result))


def run_child(backend: str, url: str, prefix: str, deepcopy: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "child", "--backend", backend, "--url", url]
    args += ["--prefix", prefix] + (["--deepcopy"] if deepcopy else [])
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the {backend} child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    merged = {k: statistics.median(r[k] for r in rounds) for k in rounds[0] if k != "peak_reset"}
    merged["peak_reset"] = all(r["peak_reset"] for r in rounds)
    return merged


def report(results: dict[str, dict[str, Any]], deepcopy: bool) -> None:
    n = int(results["ours"]["trials"])
    print(
        f"RSS of a fresh process holding a study of {n} trials "
        f"(get_all_trials(deepcopy={deepcopy})), MiB, median of the rounds:"
    )
    print(
        f"  {'backend':<14} {'imports':>8} {'peak':>8} {'held':>8} "
        f"{'peak-imports':>13} {'held-imports':>13} {'load s':>7}"
    )
    for backend, r in results.items():
        print(
            f"  {backend:<14} {r['after_imports']:8.1f} {r['peak']:8.1f} {r['held']:8.1f} "
            f"{r['peak'] - r['after_imports']:13.1f} {r['held'] - r['after_imports']:13.1f} "
            f"{r['seconds']:7.2f}"
        )
    if not all(r["peak_reset"] for r in results.values()):
        print("  (peak since the process started: this system cannot reset it after imports)")
    ours, journal = results["ours"], results["journal_redis"]
    peak_ratio = (ours["peak"] - ours["after_imports"]) / (
        journal["peak"] - journal["after_imports"]
    )
    print(f"  ours / journal_redis, peak - imports: {peak_ratio:.2f} (target <= 0.5 at 100k)")
    print(
        f"  load: journal_redis / ours {journal['seconds'] / ours['seconds']:.1f}x "
        f"(target >= 10x at 100k); ours / raw_fetch "
        f"{ours['seconds'] / results['raw_fetch']['seconds']:.2f}x (target <= 3x at 100k)"
    )
    print(
        "  (load s: ours and journal_redis from building the storage to the trials; "
        "raw_fetch the MGETs alone)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "child"])
    parser.add_argument(
        "--url", default=os.environ.get("OPTUNA_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--prefix", help="reuse the data kept under this prefix, if any")
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1, help="fresh processes per backend")
    parser.add_argument(
        "--populate-fast", action="store_true", help="one create_new_trial(template) a trial"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the data; reuse it with --prefix next time"
    )
    parser.add_argument("--deepcopy", action="store_true", help="get_all_trials(deepcopy=True)")
    parser.add_argument("--backend", choices=(*BACKENDS, "raw_fetch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "child":
        child(args.backend, args.url, args.prefix, args.deepcopy)
        return

    prefix = args.prefix or f"optuna-redis-rss-{uuid.uuid4().hex[:8]}"
    try:
        for backend in BACKENDS:
            if args.prefix and kept(backend, args.url, prefix):
                print(f"{backend}: reusing the data under prefix {prefix!r}")
                continue
            start = time.perf_counter()
            populate(backend, args.url, prefix, args.trials, args.populate_fast)
            how = "from templates" if args.populate_fast else "call by call"
            print(
                f"{backend}: wrote {args.trials} trials of workload W {how} "
                f"in {time.perf_counter() - start:.1f} s"
            )
        rounds: dict[str, list[dict[str, Any]]] = {b: [] for b in (*BACKENDS, "raw_fetch")}
        for _ in range(args.rounds):  # alternating, so every backend sees the same machine
            for backend in rounds:
                rounds[backend].append(run_child(backend, args.url, prefix, args.deepcopy))
        results = {backend: median_of(r) for backend, r in rounds.items()}
        counts = {backend: int(r["trials"]) for backend, r in results.items()}
        if set(counts.values()) != {args.trials}:
            print(f"warning: --trials {args.trials}, but the studies hold {counts}")
        report(results, args.deepcopy)
    finally:
        if args.keep:
            print(f"kept the data under prefix {prefix!r}")
        else:
            _workload.drop_prefix(args.url, f"{prefix}:")


if __name__ == "__main__":
    main()
