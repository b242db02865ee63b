"""The benchmark regression gate: ours against references timed in the same run.

    python benchmarks/bench_gate.py                               # check: exit 1 on a regression
    python benchmarks/bench_gate.py --json bench.json             # also write the measurements
    python benchmarks/bench_gate.py --update-baseline --repeat 5  # rewrite baseline.json

Every timed metric is a ratio, ours ÷ a reference timed in the same process: the two are
timed in turns (A B B A ...), and the metric is the median of the per-pair ratios. A slower
or busier machine slows both sides, so a ratio can be compared with the committed baseline
where a time could not. A ratio fails when it exceeds baseline × (1 + tolerance), and a
round-trip count when it differs from the baseline's. benchmarks/README.md says what each
metric measures, how the tolerances were chosen and how the baseline is changed.

Uses the Redis at $OPTUNA_REDIS_URL, else a private ``redis-server`` started for the run;
writes only under random ``optuna-redis-bench-*`` prefixes and deletes them at the end. The
metrics against the contract floor always run on a private server of their own, so that its
``INFO`` counts only them.
Exit status: 0 pass, 1 regression, 2 the baseline cannot be compared (missing, or recorded
with another configuration or codec).

The workload, the backends and the studies come from ``_workload.py`` beside it, imported as
the other benchmark scripts import it (this folder is sys.path[0] when the script runs) and
only on first use, so that importing this file (tests/test_bench_gate.py) stays cheap.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
import contextlib
import dataclasses
import datetime
import gc
import json
import os
import pathlib
import platform
import random
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING
from typing import Any
import warnings

if TYPE_CHECKING:
    import _workload

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
BASELINE = BENCHMARKS / "baseline.json"
UPDATE_COMMAND = "python benchmarks/bench_gate.py --update-baseline --repeat 5"

# What is measured. A baseline is only compared with a run of the same CONFIG (and codec):
# change any of these and the baseline must be re-recorded.
CONFIG = {
    "trials": 2000,  # the study read cold and warm, written once per backend
    "write_trials_per_sample": 10,
    "optimize_trials": 100,
}
# How many interleaved pairs (ours, reference) each metric's median is taken over. These
# change the precision, not the expected ratio, so they are not part of the comparison.
PAIRS = {
    "cold_read_vs_raw_fetch": 61,
    "cold_read_vs_journal": 15,
    "write_trial_vs_journal": 31,
    "deepcopy_read_vs_inmemory": 15,
    "optimize_vs_journal": 11,
    "optimize_vs_floor": 11,
}


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    title: str  # as the table shows it
    reference: str  # what ours is divided by
    tolerance: float  # the default written into a new baseline; the baseline's own is used
    exact: bool = False


# The tolerances come from 30 runs on a busy 2-core machine (benchmarks/README.md has the
# figures). A healthy run rose at most 20% above its commit's median, and fell at most 18%
# below it (the cold read against the raw fetch, whose tolerance is tighter for that
# reason). Ours 2x slower then still lands above the limit: 2 x 0.82 > 1.4 and 2 x 0.86 > 1.5.
METRICS = (
    Metric("cold_read_vs_raw_fetch", "cold get_all_trials / raw MGET", "raw MGET", 0.4),
    Metric("cold_read_vs_journal", "cold get_all_trials / JournalRedis", "journal_redis", 0.5),
    Metric("write_trial_vs_journal", "write one trial / JournalRedis", "journal_redis", 0.5),
    Metric("deepcopy_read_vs_inmemory", "warm deepcopy read / InMemory", "inmemory", 0.5),
    Metric("optimize_vs_journal", "optimize, s per trial / JournalRedis", "journal_redis", 0.5),
    Metric("optimize_vs_floor", "optimize, s per trial / contract floor", "floor", 0.5),
    Metric("server_cpu_vs_floor", "optimize, server CPU per trial / floor", "floor", 0.4),
    Metric("server_commands_per_trial", "server commands per optimize trial", "", 0, exact=True),
    Metric("round_trips_warm_read", "round trips: warm unchanged read", "", 0, exact=True),
    Metric("round_trips_write_trial", "round trips: write one trial", "", 0, exact=True),
)
METRICS_BY_NAME = {m.name: m for m in METRICS}


# --- comparison (pure: no Redis, no timing) ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Verdict:
    name: str
    baseline: float | None
    current: float | None
    limit: float | None
    ok: bool
    note: str


def compare(
    baseline: Mapping[str, Mapping[str, Any]], current: Mapping[str, float]
) -> list[Verdict]:
    """Judge current ratios and counts against a baseline's ``metrics`` section.

    Args:
        baseline: metric name -> ``{"value": float, "tolerance": float, "exact": bool}``.
        current: metric name -> the value measured now.

    Returns:
        One :class:`Verdict` per metric of either side, baseline order first. A timed metric
        fails when ``current > value * (1 + tolerance)``; an exact one when it differs from
        ``value`` at all; a metric of the baseline that was not measured fails; a metric
        the baseline does not know passes, marked as such.

    Example:
        >>> [v.ok for v in compare({"m": {"value": 2.0, "tolerance": 0.5}}, {"m": 3.5})]
        [False]
    """
    verdicts = []
    for name, entry in baseline.items():
        value = float(entry["value"])
        now = current.get(name)
        if entry.get("exact", False):
            limit = value
            ok = now is not None and now == value
            note = "ok" if ok else "CHANGED (must equal the baseline)"
        else:
            limit = value * (1 + float(entry["tolerance"]))
            ok = now is not None and now <= limit
            note = "ok" if ok else "REGRESSION"
        if now is None:
            note = "NOT MEASURED"
        verdicts.append(Verdict(name, value, now, limit, ok, note))
    for name, now in current.items():
        if name not in baseline:
            verdicts.append(Verdict(name, None, now, None, True, "new (not in the baseline)"))
    return verdicts


def format_table(verdicts: list[Verdict], details: Mapping[str, str] | None = None) -> str:
    """The verdicts as a table: metric, baseline, current, limit, verdict (and detail)."""

    def num(x: float | None) -> str:
        if x is None:
            return "-"
        return f"{x:.0f}" if float(x).is_integer() else f"{x:.4f}"

    rows = [("metric", "baseline", "current", "limit", "verdict")]
    for v in verdicts:
        title = METRICS_BY_NAME[v.name].title if v.name in METRICS_BY_NAME else v.name
        rows.append((title, num(v.baseline), num(v.current), num(v.limit), v.note))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:4], widths[1:], strict=True)
        ]
        lines.append("  ".join([*cells, row[4]]))
    lines.insert(1, "-" * len(lines[0]))
    if details:
        lines.append("")
        lines.extend(f"  {METRICS_BY_NAME[n].title}: {d}" for n, d in details.items())
    return "\n".join(lines)


# --- measuring ------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"bench_gate: {message}", file=sys.stderr, flush=True)


def _timed(fn: Callable[[], object], reps: int, slowdown: float = 1.0) -> float:
    """Seconds one call of fn takes: the mean of reps calls in a row, from a collected heap.

    Each result is dropped before the next call, inside the timing, so a call costs what it
    allocates and frees whatever reps is. ``slowdown`` > 1 makes the calls that many times
    slower by spinning inside the timing, busy as slower code would be (a sleep would hand
    the CPU to the other processes): it exists to show that the gate fails
    (``--inject-slowdown``), never for a real run.
    """
    gc.collect()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    if slowdown > 1:
        deadline = start + slowdown * (time.perf_counter() - start)
        while time.perf_counter() < deadline:
            pass
    return (time.perf_counter() - start) / reps


@dataclasses.dataclass
class Pair:
    """Interleaved timings of ours and of a reference (seconds a call, each side's mean over
    its ``reps`` calls in a row); the metric is the median of the per-pair ratios."""

    ours_reps: int = 1
    reference_reps: int = 1
    ours: list = dataclasses.field(default_factory=list)
    reference: list = dataclasses.field(default_factory=list)

    @property
    def ratios(self) -> list:
        return [o / r for o, r in zip(self.ours, self.reference, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def scaled(self, factor: float) -> Pair:
        """The same pair with every timing divided by factor (e.g. seconds per trial)."""
        ours = [t / factor for t in self.ours]
        reference = [t / factor for t in self.reference]
        return Pair(self.ours_reps, self.reference_reps, ours, reference)

    def detail(self, reference: str, unit: str = "ms") -> str:
        o = statistics.median(self.ours) * 1e3
        r = statistics.median(self.reference) * 1e3
        return (
            f"ours {o:.2f} {unit} (x{self.ours_reps} a sample), {reference} {r:.2f} {unit} "
            f"(x{self.reference_reps}); median ratio of {len(self.ours)} pairs"
        )


MAX_REPS = 50


def _interleaved(
    pairs: int, ours: Callable[[], object], reference: Callable[[], object], slowdown: float
) -> Pair:
    """Time ours and the reference in turns, pairs times each, and pair the timings up.

    The faster side is called several times in a row per sample, so that both samples of a
    pair last about as long: a burst of load from other processes then tends to hit both
    sides, not mostly the longer one. How many times comes from the median of three timings
    of each (one alone, caught by a burst of load, once made a run twice as long).
    """
    started = time.perf_counter()
    # One untimed call each: connections, scripts and imports are not what is measured.
    ours()
    reference()
    calibration = [(_timed(ours, 1), _timed(reference, 1)) for _ in range(3)]
    t_ours = statistics.median(o for o, _ in calibration)
    t_reference = statistics.median(r for _, r in calibration)
    pair = Pair()
    if t_ours < t_reference:
        pair.ours_reps = max(1, min(MAX_REPS, round(t_reference / t_ours)))
    else:
        pair.reference_reps = max(1, min(MAX_REPS, round(t_ours / t_reference)))
    for i in range(pairs):
        # Alternate which goes first, so neither always runs right after the other's garbage.
        if i % 2 == 0:
            pair.ours.append(_timed(ours, pair.ours_reps, slowdown))
            pair.reference.append(_timed(reference, pair.reference_reps))
        else:
            pair.reference.append(_timed(reference, pair.reference_reps))
            pair.ours.append(_timed(ours, pair.ours_reps, slowdown))
    _log(
        f"{pairs} pairs (x{pair.ours_reps} ours, x{pair.reference_reps} reference) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return pair


def measure(studies: _workload.Studies, slowdown: float = 1.0) -> tuple[dict, dict]:
    """One measurement of every metric: ``({name: value}, {name: Pair or count})``."""
    import redis

    import _workload as w

    url = studies.url
    values: dict = {}
    raw: dict = {}

    def cold_ours() -> object:
        storage = w.ours(url, studies.ours_prefix)
        return storage, storage.get_all_trials(studies.ours_id, deepcopy=False)

    # 1. cold read ÷ the raw fetch of the same records.
    keys_of = w.ours(url, studies.ours_prefix)._keys
    keys = [keys_of.trial(studies.ours_id, i) for i in range(studies.n)]
    client = redis.Redis.from_url(url)
    try:
        raw["cold_read_vs_raw_fetch"] = _interleaved(
            PAIRS["cold_read_vs_raw_fetch"], cold_ours, lambda: w.raw_fetch(client, keys), slowdown
        )
    finally:
        client.close()

    # 2. cold read ÷ a cold JournalRedis (a new JournalStorage loads the snapshot and the log).
    def cold_journal() -> object:
        storage = w.journal_redis(url, studies.journal_prefix)
        return storage, storage.get_all_trials(studies.journal_id, deepcopy=False)

    raw["cold_read_vs_journal"] = _interleaved(
        PAIRS["cold_read_vs_journal"], cold_ours, cold_journal, slowdown
    )

    # 3. writing trials call by call, into a study of its own in each backend.
    per_sample = CONFIG["write_trials_per_sample"]
    rng = random.Random(1)
    trials = [w.workload_trial(rng, n) for n in range(per_sample)]
    writers = {}
    for backend in ("ours", "journal_redis"):
        storage = w.storage_for(backend, url, studies.new_prefix())
        writers[backend] = storage, storage.create_new_study(_minimize(), "write")

    def writes(backend: str) -> Callable[[], object]:
        storage, study_id = writers[backend]

        def write() -> None:
            for trial in trials:
                w.write_like_a_worker(storage, study_id, trial)

        return write

    pair = _interleaved(
        PAIRS["write_trial_vs_journal"], writes("ours"), writes("journal_redis"), slowdown
    )
    raw["write_trial_vs_journal"] = pair.scaled(per_sample)

    # 4. warm get_all_trials(deepcopy=True): ours copies its cache, InMemory deep-copies.
    warm = w.ours(url, studies.ours_prefix)
    warm.get_all_trials(studies.ours_id, deepcopy=False)
    raw["deepcopy_read_vs_inmemory"] = _interleaved(
        PAIRS["deepcopy_read_vs_inmemory"],
        lambda: warm.get_all_trials(studies.ours_id, deepcopy=True),
        lambda: studies.inmemory.get_all_trials(studies.inmemory_id, deepcopy=True),
        slowdown,
    )

    # 5. end to end: study.optimize with RandomSampler, one worker, a fresh study each time.
    def optimize(backend: str) -> Callable[[], object]:
        import optuna

        def run() -> None:
            storage = w.storage_for(backend, url, studies.new_prefix())
            sampler = optuna.samplers.RandomSampler(seed=0)
            study = optuna.create_study(storage=storage, sampler=sampler)
            study.optimize(w.objective, n_trials=CONFIG["optimize_trials"])

        return run

    pair = _interleaved(
        PAIRS["optimize_vs_journal"], optimize("ours"), optimize("journal_redis"), slowdown
    )
    raw["optimize_vs_journal"] = pair.scaled(CONFIG["optimize_trials"])

    # 6. the same optimize against the contract floor (``_workload.ContractFloor``: Optuna in
    # memory plus one PING a storage call), on a private server whose INFO counts only it.
    server_us, commands = _against_the_floor(slowdown)
    pair = server_us.pop("pair")
    raw["optimize_vs_floor"] = pair.scaled(CONFIG["optimize_trials"])

    for name, pair in raw.items():
        values[name] = pair.ratio
    ours_us, floor_us = statistics.median(server_us["ours"]), statistics.median(server_us["floor"])
    values["server_cpu_vs_floor"] = ours_us / floor_us
    raw["server_cpu_vs_floor"] = (
        f"ours {ours_us:.0f} µs of Redis CPU a trial, floor {floor_us:.0f} µs; medians of "
        f"{len(server_us['ours'])} and {len(server_us['floor'])} runs"
    )
    values["server_commands_per_trial"] = raw["server_commands_per_trial"] = commands

    # 7. round trips, counted as what the client sends (a pipeline sends once).
    warm_trips, write_trips = _round_trips(studies)
    values["round_trips_warm_read"] = raw["round_trips_warm_read"] = warm_trips
    values["round_trips_write_trial"] = raw["round_trips_write_trial"] = write_trips
    return values, raw


def _against_the_floor(slowdown: float) -> tuple[dict, float]:
    """Interleaved ``study.optimize`` runs of ours and of the contract floor on a private
    Redis server: ``({"pair": Pair, "ours": [µs], "floor": [µs]}, commands)``, the lists
    holding the server's CPU per trial of each run, and ``commands`` the commands the server
    ran per trial of one more run of ours (``INFO commandstats``, INFO itself left out: the
    scripts' redis.calls count, so a script that does more fails the exact metric)."""
    import optuna

    import _workload as w
    from optuna_redis._local_redis import LocalRedisServer
    from server_cost import RedisCpu

    trials = CONFIG["optimize_trials"]
    with LocalRedisServer(dir_prefix="optuna-redis-bench-floor-") as server:
        cpu = RedisCpu(server.url)
        server_us: dict = {"ours": [], "floor": []}

        def optimize(backend: str) -> Callable[[], object]:
            def run() -> None:
                storage = w.storage_for(backend, server.url, w.new_prefix())
                sampler = optuna.samplers.RandomSampler(seed=0)
                study = optuna.create_study(storage=storage, sampler=sampler)
                before = cpu.seconds()[0]
                study.optimize(w.objective, n_trials=trials)
                server_us[backend].append((cpu.seconds()[0] - before) / trials * 1e6)

            return run

        server_us["pair"] = _interleaved(
            PAIRS["optimize_vs_floor"], optimize("ours"), optimize("floor"), slowdown
        )

        def commands() -> int:
            stats = cpu.client.info("commandstats")
            return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")

        storage = w.storage_for("ours", server.url, w.new_prefix())
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(0))
        before = commands()
        study.optimize(w.objective, n_trials=trials)
        count = (commands() - before) / trials
        cpu.close()
    return server_us, count


def _minimize() -> list:
    from optuna.study import StudyDirection

    return [StudyDirection.MINIMIZE]


def _round_trips(studies: _workload.Studies) -> tuple[int, int]:
    import _workload as w

    reader = w.ours(studies.url, studies.ours_prefix)
    reader.get_all_trials(studies.ours_id, deepcopy=False)
    writer = w.ours(studies.url, studies.new_prefix())
    study_id = writer.create_new_study(_minimize(), "round-trips")
    # The first trial registers the study's distributions and loads the scripts.
    w.write_like_a_worker(writer, study_id, w.workload_trial(random.Random(0), 0))
    trial = w.workload_trial(random.Random(1), 1)
    with w.round_trips() as sent:
        reader.get_all_trials(studies.ours_id, deepcopy=False)
        warm = sent[0]
        w.write_like_a_worker(writer, study_id, trial)
        write = sent[0] - warm
    return warm, write


# --- the run --------------------------------------------------------------------------------


def environment(url: str) -> dict:
    """Where and on what a measurement was taken."""
    import optuna
    import redis

    import optuna_redis

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return "unknown"
        return out.stdout.strip()

    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    client = redis.Redis.from_url(url)
    try:
        server = client.info("server").get("redis_version", "unknown")
    finally:
        client.close()
    return {
        "commit": git("rev-parse", "HEAD"),
        "worktree_clean": git("status", "--porcelain", "--untracked-files=no") == "",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "optuna": optuna.__version__,
        "redis_py": redis.__version__,
        "redis_server": server,
        "optuna_redis": optuna_redis.__version__,
    }


def _config() -> dict:
    import optuna_redis

    return {**CONFIG, "codec": "compiled" if optuna_redis.USE_EXTENSIONS else "pure"}


@contextlib.contextmanager
def _studies(n: int) -> Iterator[_workload.Studies]:
    import _workload

    with _workload.redis_url() as url:
        studies = _workload.Studies(url, n, log=_log)
        try:
            # The studies live as long as the run: keep them out of every later collection, so
            # each gc.collect() before a timing is quick and the same for ours and the reference.
            gc.collect()
            gc.freeze()
            yield studies
        finally:
            studies.drop()


def _median_of_runs(runs: list) -> dict:
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def _details(raw: Mapping[str, Any]) -> dict:
    """The medians behind each ratio, for the table's footnotes."""
    per_trial = ("write_trial_vs_journal", "optimize_vs_journal", "optimize_vs_floor")
    details = {
        metric.name: raw[metric.name].detail(
            metric.reference, unit="ms/trial" if metric.name in per_trial else "ms"
        )
        for metric in METRICS
        if isinstance(raw.get(metric.name), Pair)
    }
    if isinstance(raw.get("server_cpu_vs_floor"), str):
        details["server_cpu_vs_floor"] = raw["server_cpu_vs_floor"]
    return details


def _baseline_document(current: dict, runs: list, env: dict) -> dict:
    metrics = {}
    for metric in METRICS:
        metrics[metric.name] = {
            "value": current[metric.name],
            "tolerance": metric.tolerance,
            "exact": metric.exact,
            "title": metric.title,
            "runs": [run[metric.name] for run in runs],
        }
    return {
        "comment": (
            f"Written by `{UPDATE_COMMAND}`; change it only with that command, in a commit "
            "of its own. See benchmarks/README.md."
        ),
        "recorded": env,
        "config": _config(),
        "pairs": PAIRS,
        "metrics": metrics,
    }


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark regression gate: ratios of ours to references, measured in "
        "the same run, against benchmarks/baseline.json.",
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="measure and rewrite the baseline file (commit it on its own)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure this many times on the same studies; each metric is the median "
        "(default 1; use 5 with --update-baseline)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the measurements here")
    parser.add_argument(
        "--baseline", metavar="PATH", default=str(BASELINE), help="default: %(default)s"
    )
    parser.add_argument(
        "--inject-slowdown",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="make every timing of ours FACTOR times slower (spinning inside it), to show "
        "that the gate fails; never for a real run",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.update_baseline and args.inject_slowdown != 1.0:
        parser.error("--inject-slowdown cannot be recorded as a baseline")

    baseline_path = pathlib.Path(args.baseline)
    old = None
    if baseline_path.exists():
        old = json.loads(baseline_path.read_text())
    elif not args.update_baseline:
        print(f"bench_gate: no baseline at {baseline_path}; record one with `{UPDATE_COMMAND}`")
        return 2
    if old is not None and not args.update_baseline and old.get("config") != _config():
        print(
            "bench_gate: the baseline was recorded with another configuration or codec:\n"
            f"  baseline: {old.get('config')}\n  this run: {_config()}\n"
            f"Run on the same configuration, or record a new baseline with `{UPDATE_COMMAND}`."
        )
        return 2

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    started = time.perf_counter()
    runs: list = []
    raws: list = []
    with _studies(CONFIG["trials"]) as studies:
        env = environment(studies.url)
        for i in range(args.repeat):
            start = time.perf_counter()
            values, raw = measure(studies, slowdown=args.inject_slowdown)
            runs.append(values)
            raws.append(raw)
            _log(f"measurement {i + 1}/{args.repeat} took {time.perf_counter() - start:.1f} s")
    current = _median_of_runs(runs)
    elapsed = time.perf_counter() - started

    if args.update_baseline:
        document = _baseline_document(current, runs, env)
        baseline_path.write_text(json.dumps(document, indent=2) + "\n")
        reference = document["metrics"]
    else:
        reference = old["metrics"]
        for metric in METRICS:
            entry = reference.get(metric.name)
            if entry is not None and entry.get("tolerance") != metric.tolerance:
                _log(
                    f"{metric.name}: the baseline's tolerance {entry.get('tolerance')} is not "
                    f"bench_gate.py's {metric.tolerance}; the baseline's is used"
                )

    verdicts = compare(reference, current)
    passed = all(v.ok for v in verdicts)
    print(format_table(verdicts, _details(raws[-1])))
    if args.repeat > 1:
        for metric in METRICS:
            seen = [run[metric.name] for run in runs]
            print(f"  {metric.name}: {args.repeat} runs, min {min(seen):.4f} max {max(seen):.4f}")
    if args.inject_slowdown != 1.0:
        print(f"(ours made {args.inject_slowdown}x slower by --inject-slowdown)")
    print(f"bench_gate: {elapsed:.0f} s, commit {env['commit'][:12]}, on {env['cpu']}")

    if args.json:
        pathlib.Path(args.json).write_text(
            json.dumps(
                {
                    "passed": passed,
                    "environment": env,
                    "config": _config(),
                    "inject_slowdown": args.inject_slowdown,
                    "metrics": current,
                    "runs": runs,
                    "samples": [
                        {
                            name: {**dataclasses.asdict(item), "ratios": item.ratios}
                            if isinstance(item, Pair)
                            else item
                            for name, item in raw.items()
                        }
                        for raw in raws
                    ],
                    "verdicts": [dataclasses.asdict(v) for v in verdicts],
                },
                indent=2,
            )
            + "\n"
        )

    if args.update_baseline:
        print(f"bench_gate: wrote {baseline_path}; commit it on its own")
        return 0
    if passed:
        print("bench_gate: PASS")
        return 0
    print("bench_gate: FAIL (a regression, or a baseline to update: see benchmarks/README.md)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
