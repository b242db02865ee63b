"""The storage cost of one optuna-dashboard refresh of a large study: the Redis round trips
and the time of the storage calls that ``GET /api/studies/<id>?after=N`` makes, when nothing
changed and when a few trials changed (run: python benchmarks/dashboard_refresh.py)."""

from __future__ import annotations

import argparse
import time
import uuid
from wsgiref.util import setup_testing_defaults

import optuna
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
import optuna_dashboard
import redis.connection

from optuna_redis import RedisStorage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0", help="Redis URL")
    parser.add_argument("--trials", type=int, default=100_000, help="trials in the study")
    parser.add_argument("--changed", type=int, default=5, help="trials another worker adds")
    args = parser.parse_args()
    prefix = f"bench-dashboard-{uuid.uuid4().hex[:8]}"
    storage = RedisStorage(args.url, prefix=prefix)
    try:
        study_id = storage.create_new_study([StudyDirection.MINIMIZE], "refresh")
        template = optuna.trial.create_trial(
            params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, value=1.0
        )
        for _ in range(args.trials):
            storage.create_new_trial(study_id, template_trial=template)
        app = optuna_dashboard.wsgi(storage)
        sent = [0]
        spent: dict[str, float] = {}
        original = redis.connection.AbstractConnection.send_packed_command

        def counting(conn, command, check_health=True):  # noqa: ANN001, ANN202
            sent[0] += 1
            return original(conn, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counting
        for name in ("get_all_studies", "get_all_trials", "get_best_trial"):
            method = getattr(storage, name)

            def timed(*a, _m=method, _n=name, **k):  # noqa: ANN002, ANN003, ANN202
                t = time.perf_counter()
                try:
                    return _m(*a, **k)
                finally:
                    spent[_n] = spent.get(_n, 0.0) + time.perf_counter() - t

            setattr(storage, name, timed)

        def refresh(label: str, after: int) -> None:
            app._inmemory_cache._trials_last_fetched_at.clear()  # as its 10 s TTL expiring
            sent[0] = 0
            spent.clear()
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": f"/api/studies/{study_id}",
                "QUERY_STRING": f"after={after}",
            }
            setup_testing_defaults(environ)
            t = time.perf_counter()
            b"".join(app(environ, lambda status, headers, exc_info=None: None))
            total = time.perf_counter() - t
            calls = ", ".join(f"{n} {s * 1e3:.2f} ms" for n, s in spent.items())
            print(
                f"{label}: {sent[0]} round trips; storage calls {sum(spent.values()) * 1e3:.2f}"
                f" ms ({calls}); whole request {total * 1e3:.1f} ms"
            )

        app._inmemory_cache._trials_last_fetched_at.clear()
        refresh(f"first load of {args.trials} trials (cold)", 0)
        refresh("refresh, nothing changed", args.trials)
        other = RedisStorage(args.url, prefix=prefix)
        for _ in range(args.changed):
            trial_id = other.create_new_trial(study_id)
            other.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.0])
        refresh(f"refresh, {args.changed} trials added by another worker", args.trials)
        redis.connection.AbstractConnection.send_packed_command = original
    finally:
        client = redis.Redis.from_url(args.url)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)


if __name__ == "__main__":
    main()
