"""Optimize N trials on RedisStorage directly and through Optuna's gRPC storage proxy in
front of it, side by side in one process, and print the trials per second of each.

    python benchmarks/grpc_proxy.py [--url redis://127.0.0.1:6379] [--trials 200]
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
import uuid
import warnings

import optuna
import optuna.storages._grpc.server as grpc_server

from optuna_redis import RedisStorage


def objective(trial: optuna.Trial) -> float:
    return sum(trial.suggest_float(f"x{i}", -1, 1) ** 2 for i in range(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379")
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prefix = f"bench-grpc-{uuid.uuid4().hex[:8]}"
    backend = RedisStorage(args.url, prefix=prefix)
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    # run_grpc_proxy_server blocks and keeps its server to itself: keep it to stop it.
    servers = []
    make_server = grpc_server.make_server
    grpc_server.make_server = lambda *a, **k: servers.append(make_server(*a, **k)) or servers[0]
    threading.Thread(
        target=optuna.storages.run_grpc_proxy_server,
        args=(backend,),
        kwargs={"port": port},
        daemon=True,
    ).start()
    proxy = optuna.storages.GrpcStorageProxy(host="localhost", port=port)
    proxy.wait_server_ready(timeout=60)
    try:
        for name, storage in (("direct", RedisStorage(args.url, prefix=prefix)), ("proxy", proxy)):
            study = optuna.create_study(
                storage=storage, study_name=name, sampler=optuna.samplers.RandomSampler(seed=0)
            )
            start = time.perf_counter()
            study.optimize(objective, n_trials=args.trials)
            took = time.perf_counter() - start
            print(f"{name:>6}: {args.trials} trials in {took:.2f} s = {args.trials / took:.0f}/s")
    finally:
        proxy.close()
        servers[0].stop(5).wait()
        for key in backend._client.scan_iter(match=f"{prefix}:*"):
            backend._client.unlink(key)
        backend.remove_session()


if __name__ == "__main__":
    main()
