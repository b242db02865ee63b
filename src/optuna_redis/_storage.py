"""RedisStorage: Optuna's BaseStorage and BaseHeartbeat on Redis."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from collections.abc import Container
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
import datetime
import operator
import os
import pickle
import threading
import time
from types import ModuleType
from typing import Any
import uuid
import warnings

import optuna
from optuna._typing import JSONSerializable
from optuna.distributions import BaseDistribution
from optuna.distributions import check_distribution_compatibility
from optuna.distributions import json_to_distribution
from optuna.exceptions import DuplicatedStudyError
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._base import DEFAULT_STUDY_NAME_PREFIX
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import redis
from redis.cluster import RedisCluster

from optuna_redis import _codec
from optuna_redis._distributions import StudyDistributions
from optuna_redis._errors import CorruptRecordError
from optuna_redis._errors import IncompatibleFormatError
from optuna_redis._errors import RedisOutOfMemoryError
from optuna_redis._errors import RedisUnavailableError
from optuna_redis._keys import FORMAT_VERSION
from optuna_redis._keys import TRIAL_NUMBER_BITS
from optuna_redis._keys import TRIAL_NUMBER_MASK
from optuna_redis._keys import Keys
from optuna_redis._keys import split_trial_id
from optuna_redis._keys import trial_id_of
from optuna_redis._retry import DeadlineRetry
from optuna_redis._retry import cluster_retry
from optuna_redis._scripts import Scripts
from optuna_redis._sentinel import adopt as adopt_sentinel
from optuna_redis._trials import deepcopy_trials

StaleTrialCallback = Callable[["optuna.study.Study", FrozenTrial], None]

# Trial records per round trip of a bulk read: bounds both the time one script holds Redis
# and the size of one reply.
_SYNC_CHUNK = 2000
_NUMBER = operator.attrgetter("_number")
# URL schemes of the cluster form, and what redis-py calls them.
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
# Seconds a request token's result is kept, at least (see _keys).
_DEFAULT_REQUEST_TTL = 600
# Records per MGET of a cold load.
_COLD_CHUNK = 2000


class _StudyCache:
    """Decoded trials of one study, in sync with Redis up to change sequence ``seq``.

    ``snapshot`` is the list handed out by reads, and ``by_states`` its filtered versions;
    neither is mutated once handed out (a change makes new ones), so a read with nothing
    changed costs O(1) here too. ``changed`` holds, for the trials changed since the
    filtered versions were made, the state each had then (None: it is new), so that the
    next ones are made from them with O(k log n) lookups for k changes (plus a list copy)
    instead of a filtering pass over all trials.
    """

    __slots__ = (
        "seq",
        "trials",
        "dists",
        "snapshot",
        "by_states",
        "changed",
        "missing",
        "extremes",
    )

    def __init__(self, dists: StudyDistributions) -> None:
        self.seq = 0
        self.trials: list[FrozenTrial | None] = []
        self.dists = dists
        self.snapshot: list[FrozenTrial] | None = None
        self.by_states: dict[frozenset[TrialState], list[FrozenTrial]] = {}
        self.changed: dict[int, TrialState | None] = {}
        self.missing: set[int] = set()  # numbers in ``trials`` without a record yet
        # The COMPLETE trials with the lowest and the highest first value, once asked for
        # (get_best_trial, which Optuna's logging calls after every trial), then kept up
        # to date by _store: a finished trial never changes, so each is compared once.
        self.extremes: _Extremes | None = None

    def new_snapshot(self, head: str) -> None:
        """Make the snapshot and its filtered versions from ``trials`` (under the lock)."""
        if self.missing:
            number = min(self.missing)
            raise CorruptRecordError(
                f"The trial record at Redis key {head + str(number)!r} is missing."
            )
        snapshot: list[FrozenTrial] = list(self.trials)  # type: ignore[arg-type]
        by_states = {}
        for key, filtered in self.by_states.items():
            updated = _refiltered(filtered, key, self.changed, snapshot)
            if updated is not None:
                by_states[key] = updated
        self.snapshot, self.by_states, self.changed = snapshot, by_states, {}


class _Extremes:
    """The COMPLETE trials with the lowest and the highest first value; a tie goes to the
    lower number, as ``min``/``max`` over the trials in order give it."""

    __slots__ = ("lowest", "highest")

    def __init__(self, trials: Iterable[FrozenTrial]) -> None:
        self.lowest: FrozenTrial | None = None
        self.highest: FrozenTrial | None = None
        for trial in trials:
            self.see(trial)

    def see(self, trial: FrozenTrial) -> None:
        values = trial._values
        if trial.state != TrialState.COMPLETE or not values:
            return
        value, number = values[0], trial._number
        low = self.lowest
        if (
            low is None
            or value < low._values[0]
            or (value == low._values[0] and number <= low._number)
        ):
            self.lowest = trial
        high = self.highest
        if (
            high is None
            or value > high._values[0]
            or (value == high._values[0] and number <= high._number)
        ):
            self.highest = trial


def _refiltered(
    filtered: list[FrozenTrial],
    states: frozenset[TrialState],
    changed: dict[int, TrialState | None],
    snapshot: list[FrozenTrial],
) -> list[FrozenTrial] | None:
    """``filtered`` (the trials in ``states``, by number) brought up to date with the
    ``changed`` trials in O(k log n) lookups, or None when it is cheaper to filter anew.

    A changed trial that was in the set is replaced by its new version or removed; one
    that enters the set is inserted. Optuna's ``TPESampler(constant_liar=True)`` reads
    (COMPLETE, PRUNED, RUNNING) once per trial, while the running trial changes in it.
    """
    if len(changed) * 8 > len(snapshot):
        return None
    out: list[FrozenTrial] | None = None
    for number in sorted(changed):
        old = changed[number]
        was_in = old is not None and old in states
        trial = snapshot[number]
        now_in = trial.state in states
        if not (was_in or now_in):
            continue
        if out is None:
            out = list(filtered)
        at = bisect.bisect_left(out, number, key=_NUMBER)
        present = at < len(out) and out[at].number == number
        if present != was_in:
            return None  # the list and the recorded states disagree: filter anew
        if not was_in:
            out.insert(at, trial)
        elif now_in:
            out[at] = trial
        else:
            del out[at]
    return filtered if out is None else out


class RedisStorage(BaseStorage, BaseHeartbeat):
    """Optuna storage on Redis: atomic server-side updates, no pickle, incremental reads.

    Every check-and-write runs as one Lua script on the Redis server, so any number of
    worker processes on any number of machines can share a study. Trial records are stored
    in a documented binary/JSON format (never pickle), and each storage keeps a cache of
    decoded trials that it brings up to date with one round trip per read.

    Example:

        .. code::

            import optuna
            from optuna_redis import RedisStorage

            storage = RedisStorage("redis://localhost:6379/0")
            study = optuna.create_study(study_name="s", storage=storage, load_if_exists=True)
            study.optimize(lambda t: t.suggest_float("x", -10, 10) ** 2, n_trials=100)

    Args:
        url:
            Any URL ``redis.Redis.from_url`` accepts: ``redis://[[user]:password@]host[:port]
            [/db]``, ``rediss://`` for TLS, ``unix:///path/to/socket?db=0``. For a Redis
            Cluster, ``redis+cluster://host:port`` (or ``rediss+cluster://``) naming any
            node: the storage then uses a ``redis.cluster.RedisCluster``.
        heartbeat_interval:
            Seconds between heartbeats of a running trial, a positive integer, or
            :obj:`None` to disable heartbeats.
        grace_period:
            Seconds without a heartbeat after which a running trial is stale and failed by
            the next worker that asks for a trial. Defaults to ``2 * heartbeat_interval``.
        heartbeat_stale_trial_callback:
            Called as ``callback(study, frozen_trial)`` after a stale trial was failed, e.g.
            :class:`optuna.storages.RetryHeartbeatStaleTrialCallback`.
        failed_trial_callback:
            Deprecated name of ``heartbeat_stale_trial_callback``.
        prefix:
            Prefix of every key this storage writes, so several deployments can share one
            Redis database. Must not contain ``{`` or ``}``.
        client_kwargs:
            Extra keyword arguments for ``redis.Redis.from_url`` (timeouts, TLS files, ...).
            A ``retry`` given here replaces the one ``retry_deadline`` sets up.
        retry_deadline:
            Seconds for which a call that fails with a connection error or a timeout (Redis
            restarting, failing over, a network blip) is retried, with exponential backoff,
            before ``optuna_redis.RedisUnavailableError`` (an Optuna
            ``StorageInternalError``) is raised. Every call is safe to retry: the ones that
            must not run twice (creating a study or trial, changing a trial's state,
            deleting a study) carry a request token, so a retry after a lost reply returns
            the first result.
        wait_replicas:
            When above 0, creating and deleting studies, creating trials and changing a
            trial's state (finishing, claiming) wait until that many replicas have the
            write (Redis ``WAIT``), so a failover to a replica loses no finished trial.
            Costs a replication round trip on those writes. Until the replicas acknowledge,
            the write is repeated on a fresh connection (through Sentinel, to the current
            master; its request token keeps it from running twice), for up to
            ``retry_deadline`` seconds, then ``RedisUnavailableError``. Not on a Redis
            Cluster.
        wait_timeout:
            Seconds one WAIT lasts; shorter than the client's ``socket_timeout``.
        codec:
            The codec module to encode and decode records with; by default the compiled one
            when it is available (see ``optuna_redis.USE_EXTENSIONS``). For tests.

    Raises:
        ValueError: An argument is invalid.
        optuna_redis.IncompatibleFormatError: The prefix holds data of another format.
    """

    def __init__(
        self,
        url: str,
        *,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        heartbeat_stale_trial_callback: StaleTrialCallback | None = None,
        failed_trial_callback: StaleTrialCallback | None = None,
        prefix: str = "optuna",
        client_kwargs: dict[str, Any] | None = None,
        retry_deadline: float = 30.0,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        codec: ModuleType | None = None,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(
                f"url must be a str, got {type(url).__name__}; "
                "use RedisStorage.from_client() to pass a client."
            )
        self._url: str | None = url
        self._client_kwargs = dict(client_kwargs or {})
        self._retry_deadline = _checked_deadline(retry_deadline)
        if self._client_kwargs.get("decode_responses"):
            raise ValueError("RedisStorage reads raw bytes; decode_responses must be False.")
        self._configure(
            heartbeat_interval,
            grace_period,
            heartbeat_stale_trial_callback,
            failed_trial_callback,
            prefix,
            codec,
            wait_replicas,
            wait_timeout,
        )
        self._connect(self._new_client())

    def _new_client(self) -> redis.Redis | RedisCluster:
        assert self._url is not None
        scheme, sep, rest = self._url.partition("://")
        if sep and scheme in _CLUSTER_SCHEMES:
            kwargs = {"retry": cluster_retry(self._retry_deadline), **self._client_kwargs}
            return RedisCluster.from_url(f"{_CLUSTER_SCHEMES[scheme]}://{rest}", **kwargs)
        kwargs = {"retry": DeadlineRetry(self._retry_deadline), **self._client_kwargs}
        return redis.Redis.from_url(self._url, **kwargs)

    @classmethod
    def from_client(
        cls,
        client: redis.Redis,
        *,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        heartbeat_stale_trial_callback: StaleTrialCallback | None = None,
        failed_trial_callback: StaleTrialCallback | None = None,
        prefix: str = "optuna",
        retry_deadline: float = 30.0,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        codec: ModuleType | None = None,
    ) -> RedisStorage:
        """Build a storage on a client you configured (TLS, Sentinel, custom pools).

        The client must not decode responses. A storage built this way cannot be pickled,
        since a client cannot be rebuilt from a URL. ``retry_deadline`` bounds the
        storage's own retries (scripts refused mid-migration, writes waiting for replicas);
        connection retries are the client's own (give it
        ``retry=optuna_redis.DeadlineRetry(30)`` to retry through restarts as the URL
        form does); the calls that must not run twice are safe to retry either way.

        Example:

            .. code::

                import redis
                from optuna_redis import RedisStorage

                sentinel = redis.sentinel.Sentinel([("sentinel-host", 26379)])
                storage = RedisStorage.from_client(sentinel.master_for("mymaster"))
        """
        if not isinstance(client, (redis.Redis, RedisCluster)):
            raise TypeError(
                f"client must be a redis.Redis or a redis.cluster.RedisCluster, got "
                f"{type(client).__name__}."
            )
        if isinstance(client, RedisCluster):
            decodes = client.get_encoder().decode_responses
        else:
            decodes = getattr(client.connection_pool, "connection_kwargs", {}).get(
                "decode_responses"
            )
        if decodes:
            raise ValueError("RedisStorage reads raw bytes; the client must not decode responses.")
        self = cls.__new__(cls)
        self._url = None
        self._client_kwargs = {}
        self._retry_deadline = _checked_deadline(retry_deadline)
        self._configure(
            heartbeat_interval,
            grace_period,
            heartbeat_stale_trial_callback,
            failed_trial_callback,
            prefix,
            codec,
            wait_replicas,
            wait_timeout,
        )
        self._connect(client)
        return self

    def _configure(
        self,
        heartbeat_interval: int | None,
        grace_period: int | None,
        heartbeat_stale_trial_callback: StaleTrialCallback | None,
        failed_trial_callback: StaleTrialCallback | None,
        prefix: str,
        codec: ModuleType | None,
        wait_replicas: int,
        wait_timeout: float,
    ) -> None:
        if (
            isinstance(wait_replicas, bool)
            or not isinstance(wait_replicas, int)
            or (wait_replicas < 0)
        ):
            raise ValueError(f"wait_replicas must be an int >= 0, got {wait_replicas!r}.")
        if not isinstance(wait_timeout, (int, float)) or not wait_timeout > 0:
            raise ValueError(f"wait_timeout must be a number > 0, got {wait_timeout!r}.")
        self._wait = (wait_replicas, max(1, int(wait_timeout * 1000))) if wait_replicas else None
        for name, value in (
            ("heartbeat_interval", heartbeat_interval),
            ("grace_period", grace_period),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ValueError(
                    f"The value of `{name}` should be a positive integer, got {value!r}."
                )
        if heartbeat_stale_trial_callback is not None and failed_trial_callback is not None:
            raise ValueError(
                "Specify only one of `heartbeat_stale_trial_callback` and `failed_trial_callback`."
            )
        if failed_trial_callback is not None:
            warnings.warn(
                "`failed_trial_callback` is deprecated; use `heartbeat_stale_trial_callback`.",
                FutureWarning,
                stacklevel=3,
            )
        if heartbeat_interval is not None:
            # As Optuna's RDBStorage does: Optuna marks heartbeats experimental.
            warnings.warn(
                "Argument ``heartbeat_interval`` is an experimental feature. "
                "The interface can change in the future.",
                optuna.exceptions.ExperimentalWarning,
                stacklevel=3,
            )
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = (
            heartbeat_stale_trial_callback or failed_trial_callback
        )
        self._keys = Keys(prefix)
        self._codec = codec if codec is not None else _codec.IMPLEMENTATION

    def _connect(self, client: redis.Redis) -> None:
        self._client = client
        # The URL form's retry notes when Redis was last unreachable (see heartbeats).
        self._outage_clock = self._client_retry(client)
        # Request keys outlive any retry of their call.
        self._request_ttl = max(_DEFAULT_REQUEST_TTL, int(2 * self._retry_deadline) + 1)
        if self._wait is not None and isinstance(client, RedisCluster):
            raise ValueError("wait_replicas is not supported on a Redis Cluster.")
        if self._wait is not None:
            socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
            if socket_timeout is not None and socket_timeout <= self._wait[1] / 1000:
                raise ValueError(
                    f"wait_timeout ({self._wait[1] / 1000:g} s) must be shorter than the "
                    f"client's socket_timeout ({socket_timeout:g} s): a WAIT that outlasts "
                    "it reads as a broken connection."
                )
        adopt_sentinel(client)
        self._scripts = Scripts(client, self._retry_deadline, self._wait)
        self._lock = threading.Lock()
        self._caches: dict[int, _StudyCache] = {}
        self._dists: dict[int, StudyDistributions] = {}
        # A study's directions never change once it exists.
        self._directions: dict[int, list[StudyDirection]] = {}
        self._check_format()
        self._check_eviction_policy()

    @staticmethod
    def _client_retry(client: Any) -> DeadlineRetry | None:
        retry = client.get_retry() if hasattr(client, "get_retry") else None
        return retry if isinstance(retry, DeadlineRetry) else None

    def _check_eviction_policy(self) -> None:
        """Warn when Redis may evict the storage's keys (only request keys have a TTL)."""
        try:
            info = self._client.info("memory")
        except redis.exceptions.ResponseError:  # e.g. an ACL user without INFO
            return
        # A cluster client answers per node: {node: info}.
        infos = [info] if "maxmemory_policy" in info else list(info.values())
        policies = [i.get("maxmemory_policy", "") for i in infos if isinstance(i, dict)]
        for policy in {p.decode() if isinstance(p, bytes) else p for p in policies}:
            if not policy.startswith("allkeys-"):
                continue
            warnings.warn(
                f"The Redis server's maxmemory-policy is {policy!r}: when it reaches "
                "'maxmemory' it deletes keys of its choice, this storage's included, and "
                "trials and studies would vanish without an error. Set maxmemory-policy to "
                "'noeviction' (writes then fail with a clear error instead) or a "
                "'volatile-*' policy (only the storage's short-lived request keys have TTLs).",
                RuntimeWarning,
                stacklevel=3,
            )

    def _check_format(self) -> None:
        key = self._keys.format
        found = self._client.get(key)
        if found is None:  # A new prefix: claim it. Reading alone works on a replica.
            self._client.set(key, FORMAT_VERSION, nx=True)
            found = self._client.get(key)
        if found != FORMAT_VERSION.encode():
            raise IncompatibleFormatError(
                f"Redis key {key!r} says the data under prefix {self._keys.prefix!r} has "
                f"storage format {found!r}, but this optuna-redis reads format "
                f"{FORMAT_VERSION!r}. Use another prefix or a matching optuna-redis version."
            )

    # ------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        if self._url is None:
            raise pickle.PicklingError(
                "A RedisStorage built with from_client() cannot be pickled: its client "
                "cannot be rebuilt from a URL. Build it from a URL instead."
            )
        state = self.__dict__.copy()
        for name in (
            "_client",
            "_scripts",
            "_lock",
            "_caches",
            "_dists",
            "_directions",
            "_outage_clock",
        ):
            del state[name]
        if state["_codec"] is _codec.IMPLEMENTATION:
            del state["_codec"]
        else:
            state["_codec"] = state["_codec"].__name__
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        codec_name = state.pop("_codec", None)
        self.__dict__.update(state)
        if codec_name is None:
            self._codec = _codec.IMPLEMENTATION
        else:
            import importlib

            self._codec = importlib.import_module(codec_name)
        self._connect(self._new_client())

    def remove_session(self) -> None:
        # Only idle connections: Optuna calls this after every trial of each n_jobs thread,
        # while other threads may be mid-command on the same pool. (A cluster client keeps
        # a pool per node, which it manages itself.)
        if isinstance(self._client, redis.Redis):
            self._client.connection_pool.disconnect(inuse_connections=False)
        if self._scripts.direct is not None:
            self._scripts.direct.close()  # this thread's, idle between its calls

    # ------------------------------------------------------------ studies

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        dirs = _encode_directions(directions)
        if study_name is None:
            study_name = DEFAULT_STUDY_NAME_PREFIX + str(uuid.uuid4())
        elif not isinstance(study_name, str):
            raise TypeError(f"study_name must be a str, got {type(study_name).__name__}.")
        name = self._codec.encode_name(study_name, "study name")
        keys = self._keys
        # The meta first, in the study's slot; then the name, in the slot shared by all
        # studies (see _keys): a name never leads to a study without its meta.
        study_id = None
        try:
            study_id = int(self._client.incr(keys.study_seq))  # a skipped id is harmless
            self._client.hset(
                keys.meta(study_id), mapping={"name": name, "dirs": dirs, "n": 0, "seq": 0}
            )
            registered = self._scripts.register_study(
                keys=[keys.study_names, keys.studies, keys.request(_token())],
                args=[self._request_ttl, name, study_id],
            )
        except redis.exceptions.OutOfMemoryError as e:
            if study_id is not None:
                self._client.delete(keys.meta(study_id))
            if isinstance(e, RedisOutOfMemoryError):
                raise
            raise RedisOutOfMemoryError.refused("create_study", e) from None
        if registered == -1:
            self._client.delete(keys.meta(study_id))
            raise DuplicatedStudyError(
                f"Another study with name '{study_name}' already exists. Please specify a "
                "different name, or reuse the existing one by setting `load_if_exists` "
                "(for Python API) or `--skip-if-exists` flag (for CLI)."
            )
        optuna.logging.get_logger("optuna.storages").info(
            f"A new study created in Redis with name: {study_name}"
        )
        return int(study_id)

    def delete_study(self, study_id: int) -> None:
        keys = self._keys
        name = self._client.hget(keys.meta(study_id), "name")
        registered = -1
        if name is not None:
            # Out of the listing and its name freed first, then its keys (see _keys).
            registered = self._scripts.unregister_study(
                keys=[keys.study_names, keys.studies, keys.request(_token())],
                args=[self._request_ttl, study_id, name],
            )
            self._scripts.delete_study(
                keys=keys.study_keys(study_id), args=[keys.trial_head(study_id)]
            )
        with self._lock:
            self._forget(study_id)
        if registered == -1:
            raise KeyError(f"No study with study_id {study_id} exists.")

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, self._keys.user_attrs(study_id), key, value, "user")

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        self._set_study_attr(study_id, self._keys.system_attrs(study_id), key, value, "system")

    def _set_study_attr(
        self, study_id: int, attrs_key: str, key: str, value: Any, kind: str
    ) -> None:
        field = self._codec.encode_name(key, f"{kind} attribute key")
        encoded = self._codec.encode_attr(value)
        result = self._scripts.set_study_attr(
            keys=[self._keys.meta(study_id), attrs_key], args=[field, encoded]
        )
        if result == -1:
            raise KeyError(f"No study with study_id {study_id} exists.")

    def get_study_id_from_name(self, study_name: str) -> int:
        if not isinstance(study_name, str):
            raise KeyError(f"No such study {study_name!r}.")
        found = self._client.hget(
            self._keys.study_names, self._codec.encode_name(study_name, "study name")
        )
        if found is None:
            raise KeyError(f"No such study {study_name}.")
        return _parse_id(found, self._keys.study_names)

    def get_study_name_from_id(self, study_id: int) -> str:
        key = self._keys.meta(study_id)
        found = self._client.hget(key, "name")
        if found is None:
            raise KeyError(f"No study with study_id {study_id} exists.")
        return _decode_name(found, key)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        key = self._keys.meta(study_id)
        found = self._client.hget(key, "dirs")
        if found is None:
            raise KeyError(f"No study with study_id {study_id} exists.")
        directions = _decode_directions(found, key)
        self._directions[study_id] = directions
        return list(directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._get_study_attrs(study_id, self._keys.user_attrs(study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._get_study_attrs(study_id, self._keys.system_attrs(study_id))

    def _get_study_attrs(self, study_id: int, attrs_key: str) -> dict[str, Any]:
        pipe = self._client.pipeline(transaction=True)
        pipe.exists(self._keys.meta(study_id))
        pipe.hgetall(attrs_key)
        exists, attrs = pipe.execute()
        if not exists:
            raise KeyError(f"No study with study_id {study_id} exists.")
        return self._codec.decode_attrs(attrs_key, attrs)

    def get_all_studies(self) -> list[FrozenStudy]:
        keys = self._keys
        study_ids = [
            _parse_id(raw, keys.studies) for raw in self._client.zrange(keys.studies, 0, -1)
        ]
        pipe = self._client.pipeline(transaction=False)
        for study_id in study_ids:
            pipe.hmget(keys.meta(study_id), "name", "dirs")
            pipe.hgetall(keys.user_attrs(study_id))
            pipe.hgetall(keys.system_attrs(study_id))
        replies = pipe.execute()
        studies = []
        for i, study_id in enumerate(study_ids):
            (name, dirs), user_attrs, system_attrs = replies[3 * i : 3 * i + 3]
            if name is None:  # Deleted between the two round trips.
                continue
            meta = keys.meta(study_id)
            studies.append(
                FrozenStudy(
                    study_name=_decode_name(name, meta),
                    direction=None,
                    directions=_decode_directions(dirs, meta),
                    user_attrs=self._codec.decode_attrs(keys.user_attrs(study_id), user_attrs),
                    system_attrs=self._codec.decode_attrs(
                        keys.system_attrs(study_id), system_attrs
                    ),
                    study_id=study_id,
                )
            )
        return studies

    # ------------------------------------------------------------ trials: writes

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        codec = self._codec
        params: list[tuple[str, bytes, bytes, bytes, bytes]] = []
        if template_trial is None:
            head = codec.encode_state(TrialState.RUNNING) + codec.datetime_start_entry(
                datetime.datetime.now()
            )
            tail = b""
        else:
            head, params, tail = self._template_parts(template_trial)
        keys = self._keys
        checked = [b""] * len(params)
        while True:
            args: list[Any] = [self._request_ttl, keys.trial_head(study_id), head, tail]
            args.append(len(params))
            for param, ok in zip(params, checked, strict=True):
                args += (*param[1:], ok)
            result = self._scripts.create_trial(
                keys=[
                    keys.meta(study_id),
                    keys.changes(study_id),
                    keys.dists(study_id),
                    keys.study_request(study_id, _token()),
                ],
                args=args,
            )
            code = result[0]
            if code == 1:
                return trial_id_of(study_id, int(result[1]))
            if code == -1:
                raise KeyError(f"No study with study_id {study_id} exists.")
            if code == -3:
                raise RuntimeError(
                    f"Study {study_id} holds {1 << TRIAL_NUMBER_BITS} trials, the most a "
                    "study can hold (trial numbers are 32-bit); no trial was created."
                )
            # The study holds another distribution under the i-th param's name.
            i, stored = int(result[1]), result[2]
            param_name = params[i][0]
            assert template_trial is not None
            stored_dist = self._decode_stored_dist(stored, study_id, param_name)
            check_distribution_compatibility(stored_dist, template_trial.distributions[param_name])
            checked[i] = stored

    def _template_parts(
        self, trial: FrozenTrial
    ) -> tuple[bytes, list[tuple[str, bytes, bytes, bytes, bytes]], bytes]:
        """A template trial's record, split around its params (encoded as encode_trial
        does): the head, each param's (name, encoded name, distribution JSON, short
        entry, full entry), and the tail."""
        codec = self._codec
        head = [codec.encode_state(trial.state)]
        if trial.datetime_start is not None:
            head.append(codec.datetime_start_entry(trial.datetime_start))
        if trial.datetime_complete is not None:
            head.append(codec.datetime_complete_entry(trial.datetime_complete))
        if trial.values is not None:
            head.append(codec.values_entry(trial.values))
        params = []
        for param_name, value in trial.params.items():
            dist = trial.distributions[param_name]
            name = codec.encode_name(param_name, "param name")
            dist_json = codec.encode_distribution(dist)
            internal = dist.to_internal_repr(value)
            params.append(
                (
                    param_name,
                    name,
                    dist_json,
                    codec.param_entry(name, internal, b""),
                    codec.param_entry(name, internal, dist_json),
                )
            )
        tail = [codec.intermediate_entry(s, v) for s, v in trial.intermediate_values.items()]
        for key, value in trial.user_attrs.items():
            tail.append(codec.user_attr_entry(codec.encode_name(key, "user attribute key"), value))
        for key, value in trial.system_attrs.items():
            tail.append(
                codec.system_attr_entry(codec.encode_name(key, "system attribute key"), value)
            )
        return b"".join(head), params, b"".join(tail)

    def _decode_stored_dist(
        self, stored: bytes, study_id: int, param_name: str
    ) -> BaseDistribution:
        try:
            return json_to_distribution(stored.decode())
        except Exception as e:
            raise CorruptRecordError(
                f"Cannot decode distribution {param_name!r} at Redis key "
                f"{self._keys.dists(study_id)!r}: {e}"
            ) from None

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        study_id, number = split_trial_id(trial_id)
        codec = self._codec
        name = codec.encode_name(param_name, "param name")
        dist_json = codec.encode_distribution(distribution)
        # The server picks the short entry when the distribution is the study's own.
        short_entry = codec.param_entry(name, param_value_internal, b"")
        full_entry = codec.param_entry(name, param_value_internal, dist_json)
        keys = self._keys
        script_keys = [
            keys.meta(study_id),
            keys.changes(study_id),
            keys.dists(study_id),
            keys.trial(study_id, number),
        ]
        checked = b""
        while True:
            result = self._scripts.set_trial_param(
                keys=script_keys,
                args=[number, name, dist_json, short_entry, full_entry, checked],
            )
            code = result[0]
            if code == 1:
                return
            self._raise_for_trial_code(code, trial_id)
            # The study already holds another distribution under this name: Optuna allows
            # a compatible one (same kind; same choices for categoricals).
            stored = result[1]
            stored_dist = self._decode_stored_dist(stored, study_id, param_name)
            check_distribution_compatibility(stored_dist, distribution)
            checked = stored

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        study_id, number = split_trial_id(trial_id)
        codec = self._codec
        encoded_state = codec.encode_state(state)
        entries = b"" if values is None else codec.values_entry(values)
        now = datetime.datetime.now()
        if state == TrialState.RUNNING:
            entries += codec.datetime_start_entry(now)
        elif state.is_finished():
            entries += codec.datetime_complete_entry(now)
        keys = self._keys
        result = self._scripts.set_trial_state(
            keys=[
                keys.meta(study_id),
                keys.changes(study_id),
                keys.heartbeats(study_id),
                keys.trial(study_id, number),
                keys.study_request(study_id, _token()),
            ],
            args=[self._request_ttl, number, encoded_state, entries],
        )
        if result == 1:
            return True
        if result == 0:
            return False
        self._raise_for_trial_code(result, trial_id)
        raise AssertionError(f"unexpected reply {result!r}")

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._append(trial_id, self._codec.intermediate_entry(step, intermediate_value))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        name = self._codec.encode_name(key, "user attribute key")
        self._append(trial_id, self._codec.user_attr_entry(name, value))

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        name = self._codec.encode_name(key, "system attribute key")
        self._append(trial_id, self._codec.system_attr_entry(name, value))

    def _append(self, trial_id: int, entry: bytes) -> None:
        study_id, number = split_trial_id(trial_id)
        keys = self._keys
        result = self._scripts.append_trial(
            keys=[keys.meta(study_id), keys.changes(study_id), keys.trial(study_id, number)],
            args=[number, entry],
        )
        if result != 1:
            self._raise_for_trial_code(result, trial_id)

    def _raise_for_trial_code(self, code: int, trial_id: int) -> None:
        if code == -1:
            raise KeyError(f"No trial with trial_id {trial_id} exists.")
        if code == -2:
            number = trial_id & TRIAL_NUMBER_MASK
            raise UpdateFinishedTrialError(
                f"Trial#{number} has already finished and can not be updated."
            )

    # ------------------------------------------------------------ trials: reads

    def get_trial(self, trial_id: int) -> FrozenTrial:
        study_id, number = split_trial_id(trial_id)
        key = self._keys.trial(study_id, number)
        # Kept only once the trial is found, so made-up ids leave nothing behind.
        dists = self._dists.get(study_id) or StudyDistributions()
        dists_key = self._keys.dists(study_id)
        reply = self._scripts.get_trial(keys=[key, dists_key], args=[len(dists.registered)])
        if not reply:
            raise KeyError(f"No trial with trial_id {trial_id} exists.")
        record, new_dists = reply
        dists = self._dists.setdefault(study_id, dists)
        if new_dists:
            dists.register(dists_key, new_dists)
        return self._codec.decode_trial(key, trial_id, number, record, dists)

    def _study_dists(self, study_id: int) -> StudyDistributions:
        return self._dists.setdefault(study_id, StudyDistributions())

    def _forget(self, study_id: int) -> None:
        """Drop what this storage keeps of a study; the caller holds ``_lock``."""
        self._caches.pop(study_id, None)
        self._dists.pop(study_id, None)
        self._directions.pop(study_id, None)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        trials, by_states = self._synced(study_id)
        if states is not None:
            key = frozenset(states) if isinstance(states, (tuple, list, set, frozenset)) else None
            filtered = by_states.get(key) if key is not None else None
            if filtered is None:
                filtered = [t for t in trials if t.state in states]
                if key is not None:
                    with self._lock:
                        # Kept only while it belongs to the current snapshot: changes
                        # made since are then tracked to bring it up to date.
                        cache = self._caches.get(study_id)
                        if cache is not None and cache.by_states is by_states:
                            by_states.setdefault(key, filtered)
            trials = filtered
        # The decoded trials' __deepcopy__ is the specialised copy_trial.
        return deepcopy_trials(trials) if deepcopy else trials

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        # One round trip (the sync, which also raises KeyError for a deleted study): the
        # directions of a study that exists are known once read. O(changes), not O(n):
        # the cache keeps the extremes up to date (a first call scans the trials once).
        trials, _ = self._synced(study_id)
        with self._lock:
            cache = self._caches.get(study_id)
            extremes = cache.extremes if cache is not None else None
            if extremes is None:
                extremes = _Extremes(trials)
                if cache is not None and cache.snapshot is trials:
                    cache.extremes = extremes  # kept up to date from here on
        if extremes.lowest is None:
            raise ValueError("No trials are completed yet.")
        directions = self._directions.get(study_id) or self.get_study_directions(study_id)
        if len(directions) > 1:
            raise RuntimeError(
                "Best trial can be obtained only for single-objective optimization."
            )
        if directions[0] == StudyDirection.MAXIMIZE:
            return extremes.highest  # type: ignore[return-value]
        return extremes.lowest

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        if state is None:
            key = self._keys.meta(study_id)
            found = self._client.hget(key, "n")
            if found is None:
                raise KeyError(f"No study with study_id {study_id} exists.")
            return _parse_id(found, key)
        return super().get_n_trials(study_id, state)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        if 0 <= trial_number < self.get_n_trials(study_id):
            return trial_id_of(study_id, trial_number)
        raise KeyError(f"No trial with trial number {trial_number} exists in study {study_id}.")

    def get_trial_number_from_id(self, trial_id: int) -> int:
        study_id, number = split_trial_id(trial_id)
        if not self._client.exists(self._keys.trial(study_id, number)):
            raise KeyError(f"No trial with trial_id {trial_id} exists.")
        return number

    def _synced(
        self, study_id: int
    ) -> tuple[list[FrozenTrial], dict[frozenset[TrialState], list[FrozenTrial]]]:
        """Bring this study's cache up to date; return its snapshot and filtered snapshots.

        The two are taken together under the lock: a filtered list stored in that dict
        afterwards belongs to that snapshot, whatever other threads sync meanwhile.

        A warm cache costs one round trip when little changed: the ``sync_trials`` script
        returns the records changed since the cache's change sequence number. A cold cache
        is first filled in bulk with MGET (cheaper on the server than the script), from
        the sequence number read before it; whatever changes meanwhile has a later
        sequence number, so the sync that follows picks it up.
        """
        keys = self._keys
        meta, changes, head = (
            keys.meta(study_id),
            keys.changes(study_id),
            keys.trial_head(study_id),
        )
        dists_key = keys.dists(study_id)
        with self._lock:
            cache = self._caches.get(study_id)
            if cache is None:
                try:
                    cache = self._cold_load(study_id)
                except RedisUnavailableError:
                    raise
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    # The overlapped fetch reads its own replies, without the client's
                    # retries: start again with plain pipelines, which retry.
                    cache = self._cold_load(study_id, overlap=False)
            while True:
                reply = self._scripts.sync_trials(
                    keys=[meta, changes, dists_key],
                    args=[head, cache.seq, _SYNC_CHUNK, len(cache.dists.registered)],
                )
                if reply == -1:
                    self._forget(study_id)
                    raise KeyError(f"No study with study_id {study_id} exists.")
                cursor, n_trials, complete, new_dists = reply[:4]
                if new_dists:
                    cache.dists.register(dists_key, new_dists)
                self._store(cache, study_id, n_trials, reply[4:])
                cache.seq = cursor
                if complete:
                    break
            self._caches[study_id] = cache
            if cache.snapshot is None:
                cache.new_snapshot(head)
            assert cache.snapshot is not None
            return cache.snapshot, cache.by_states

    def _cold_load(self, study_id: int, overlap: bool = True) -> _StudyCache:
        meta = self._keys.meta(study_id)
        seq, n_trials = self._client.hmget(meta, "seq", "n")
        if seq is None:
            raise KeyError(f"No study with study_id {study_id} exists.")
        cache = _StudyCache(self._study_dists(study_id))
        cache.seq, n_trials = _parse_id(seq, meta), _parse_id(n_trials, meta)
        dists_key = self._keys.dists(study_id)
        head = self._keys.trial_head(study_id)
        cache.trials = [None] * n_trials
        for numbers, records, dists in self._fetch_records(study_id, n_trials, overlap):
            if len(dists) > len(cache.dists.registered):
                cache.dists.register(dists_key, _flat(dists))
            if len(records) != len(numbers):
                raise CorruptRecordError(
                    f"MGET of the trials under {head!r} returned {len(records)} records "
                    f"for {len(numbers)} keys."
                )
            # Decoded straight into the list. A missing record is reported after the next
            # sync, unless that sync brings it (a trial being created meanwhile).
            missing = self._codec.decode_range(
                head, study_id, numbers.start, records, cache.dists, cache.trials
            )
            cache.missing.update(missing)
        return cache

    def _fetch_records(
        self, study_id: int, n_trials: int, overlap: bool
    ) -> Iterator[tuple[range, list[bytes | None], Any]]:
        """Yield ``(numbers, records, dists hash)`` for each chunk of a study's trials.

        Each chunk is one MGET (which costs Redis half what a script returning the same
        records does) followed by HGETALL of the dists hash, read after the records so it
        holds every distribution they refer to (a param's distribution is registered
        before its entry is written). On a plain ``redis.Redis`` client the next chunk's
        commands are sent before the current chunk is handed out, so Redis serves them
        while this process decodes; other clients (e.g. a cluster) get one pipeline a chunk.
        """
        head = self._keys.trial_head(study_id)
        dists_key = self._keys.dists(study_id)
        chunks = [
            range(start, min(start + _COLD_CHUNK, n_trials))
            for start in range(0, n_trials, _COLD_CHUNK)
        ]
        client = self._client
        if isinstance(client, RedisCluster):  # whose pipelines refuse MGET
            for numbers in chunks:
                records = client.mget([head + str(n) for n in numbers])
                yield numbers, records, client.hgetall(dists_key)
            return
        if not overlap or type(client) is not redis.Redis:
            for numbers in chunks:
                pipe = client.pipeline(transaction=False)
                pipe.mget([head + str(n) for n in numbers])
                pipe.hgetall(dists_key)
                records, dists = pipe.execute()
                yield numbers, records, dists
            return
        pool = client.connection_pool
        conn = pool.get_connection()
        try:
            hgetall = b"".join(conn.pack_command("HGETALL", dists_key))

            def send(numbers: range) -> None:
                mget = self._codec.pack_mget(head, numbers.start, numbers.stop)
                conn.send_packed_command([mget + hgetall])

            if chunks:
                send(chunks[0])
            for i, numbers in enumerate(chunks):
                records = conn.read_response()
                dists = conn.read_response()
                if i + 1 < len(chunks):
                    send(chunks[i + 1])
                yield numbers, records, dists
        except BaseException:
            # A reply may be left unread (an error, or the caller stopped early): the
            # connection cannot be reused.
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def _store(self, cache: _StudyCache, study_id: int, n_trials: int, items: list) -> None:
        """Decode ``[number, record, ...]`` into the cache of a study with n_trials trials."""
        trials = cache.trials
        if len(trials) < n_trials:
            cache.missing.update(range(len(trials), n_trials))
            trials.extend([None] * (n_trials - len(trials)))
            cache.snapshot = None
        if items:
            cache.snapshot = None
        head = self._keys.trial_head(study_id)
        track = bool(cache.by_states)  # filtered versions to bring up to date later
        changed = cache.changed
        for number, trial in self._codec.decode_trials(head, study_id, items, cache.dists):
            if number >= n_trials:
                raise CorruptRecordError(
                    f"Trial number out of range at Redis key {head + str(number)!r}."
                )
            if track and number not in changed:
                old = trials[number]
                changed[number] = None if old is None else old.state
            trials[number] = trial
            if cache.missing:
                cache.missing.discard(number)
            if cache.extremes is not None:
                cache.extremes.see(trial)

    # ------------------------------------------------------------ heartbeat

    def record_heartbeat(self, trial_id: int) -> None:
        study_id, number = split_trial_id(trial_id)
        result = self._scripts.record_heartbeat(
            keys=[self._keys.heartbeats(study_id), self._keys.trial(study_id, number)],
            args=[number],
        )
        if result == -1:
            raise KeyError(f"No trial with trial_id {trial_id} exists.")

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        assert self.heartbeat_interval is not None
        grace_period = self.grace_period or 2 * self.heartbeat_interval
        if self._recently_cut_off(grace_period + self.heartbeat_interval):
            # Redis was unreachable within the grace period (restart, failover): the
            # other workers could not record heartbeats either, and their heartbeats look
            # stale until they have reconnected and beaten again (one more interval).
            # Judge no trial stale until then.
            return []
        numbers = self._scripts.stale_trials(
            keys=[self._keys.heartbeats(study_id)],
            args=[self._keys.trial_head(study_id), grace_period],
        )
        return [trial_id_of(study_id, int(n)) for n in numbers]

    def _recently_cut_off(self, seconds: float) -> bool:
        retry = self._outage_clock
        if retry is None or retry.last_failure is None:
            return False
        return time.monotonic() - retry.last_failure < seconds

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> StaleTrialCallback | None:
        return self.heartbeat_stale_trial_callback


def _checked_deadline(retry_deadline: Any) -> float:
    if not isinstance(retry_deadline, (int, float)) or not retry_deadline >= 0:
        raise ValueError(f"retry_deadline must be a number >= 0, got {retry_deadline!r}.")
    return float(retry_deadline)


def _token() -> str:
    """A request token: 96 random bits, so concurrent calls never share one."""
    return os.urandom(12).hex()


def _encode_directions(directions: Sequence[StudyDirection]) -> bytes:
    directions = list(directions)
    if not directions:
        raise ValueError("A study needs at least one direction.")
    for d in directions:
        if not isinstance(d, StudyDirection) or d == StudyDirection.NOT_SET:
            raise ValueError(f"Directions must be MINIMIZE or MAXIMIZE, got {d!r}.")
    return ",".join(str(int(d.value)) for d in directions).encode()


def _decode_directions(raw: bytes, key: str) -> list[StudyDirection]:
    try:
        return [StudyDirection(int(x)) for x in raw.split(b",")]
    except Exception:
        raise CorruptRecordError(
            f"Cannot decode the study directions {raw!r} at Redis key {key!r}."
        ) from None


def _decode_name(raw: bytes, key: str) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise CorruptRecordError(f"Cannot decode the study name at Redis key {key!r}.") from None


def _flat(reply: Any) -> list:
    """A HGETALL reply as a flat list, whichever form the client's callback gave it."""
    if isinstance(reply, dict):
        return [x for pair in reply.items() for x in pair]
    return list(reply)


def _parse_id(raw: bytes, key: str) -> int:
    if not raw.isdigit() or len(raw) > 20:
        raise CorruptRecordError(f"Expected an integer at Redis key {key!r}, got {raw!r}.")
    return int(raw)
