"""RedisStorage: Optuna's BaseStorage and BaseHeartbeat on Redis, as a face.

Each method checks its arguments, encodes them (``_record``), makes one typed script call
(``_scripts``) and maps the reply to Optuna's exception (``_errors``). Reads of a study's
trials go to the sync layer (``_sync``, ``_cache``); the connection is built and checked
in ``_client``.
"""

from __future__ import annotations

from collections.abc import Container
from collections.abc import Sequence
import time
from typing import Any
import uuid

import optuna
from optuna._typing import JSONSerializable
from optuna.distributions import BaseDistribution
from optuna.distributions import check_distribution_compatibility
from optuna.distributions import json_to_distribution
from optuna.storages import BaseStorage
from optuna.storages._base import DEFAULT_STUDY_NAME_PREFIX
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import redis

from optuna_redis import _record
from optuna_redis._client import Options
from optuna_redis._client import StaleTrialCallback
from optuna_redis._client import check_client
from optuna_redis._client import client_from_url
from optuna_redis._client import connect
from optuna_redis._client_state import capture as capture_client
from optuna_redis._client_state import rebuild as rebuild_client
from optuna_redis._codec import decode_attrs
from optuna_redis._deprecated import check_legacy_directions
from optuna_redis._deprecated import legacy_create_args
from optuna_redis._deprecated import warn_set_study_directions
from optuna_redis._errors import RedisOutOfMemoryError
from optuna_redis._errors import corrupt
from optuna_redis._errors import duplicated_study
from optuna_redis._errors import finished_trial
from optuna_redis._errors import no_study
from optuna_redis._errors import no_study_named
from optuna_redis._errors import no_trial
from optuna_redis._errors import no_trial_number
from optuna_redis._errors import study_full
from optuna_redis._keys import TRIAL_NUMBER_BITS
from optuna_redis._keys import Keys
from optuna_redis._keys import split_trial_id
from optuna_redis._keys import trial_id_of
from optuna_redis._liveness import Liveness
from optuna_redis._meta import decode_directions
from optuna_redis._meta import decode_name
from optuna_redis._meta import encode_directions
from optuna_redis._meta import parse_int
from optuna_redis._retry import DeadlineRetry
from optuna_redis._scripts import Reply
from optuna_redis._scripts import Scripts
from optuna_redis._sync import Sync
from optuna_redis._trials import deepcopy_trials

__all__ = ["RedisStorage", "StaleTrialCallback"]


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
    ) -> None:
        options = Options.checked(
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=heartbeat_stale_trial_callback,
            failed_trial_callback=failed_trial_callback,
            prefix=prefix,
            retry_deadline=retry_deadline,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
        )
        kwargs = dict(client_kwargs or {})
        self._setup(options, client_from_url(url, kwargs, options.retry_deadline), url, kwargs)

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
    ) -> RedisStorage:
        """Build a storage on a client you configured (TLS, Sentinel, custom pools).

        The client must not decode responses. A storage built this way pickles (for
        ``multiprocessing``, joblib, Dask or Ray workers) by its client's configuration:
        a plain ``redis.Redis`` (TCP, TLS, Unix socket), a ``RedisCluster``, or a Sentinel
        ``master_for`` client is rebuilt in the worker with the same addresses,
        credentials, TLS options, timeouts, retry and service name. A client with a
        custom connection or pool class, client-side caching, or an option value that
        does not pickle raises ``pickle.PicklingError`` naming it. ``retry_deadline`` bounds the
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
        check_client(client)
        options = Options.checked(
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=heartbeat_stale_trial_callback,
            failed_trial_callback=failed_trial_callback,
            prefix=prefix,
            retry_deadline=retry_deadline,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
        )
        self = cls.__new__(cls)
        self._setup(options, client, None, {})
        return self

    def _setup(
        self, options: Options, client: Any, url: str | None, client_kwargs: dict[str, Any]
    ) -> None:
        """The one path of ``__init__``, ``from_client`` and unpickling."""
        self._options = options
        self._url = url
        self._client_kwargs = client_kwargs
        # Public, as on Optuna's RDBStorage.
        self.heartbeat_interval = options.heartbeat_interval
        self.grace_period = options.grace_period
        self.heartbeat_stale_trial_callback = options.stale_trial_callback
        self._keys: Keys = options.keys
        self._client = client
        self._outage_clock: DeadlineRetry | None = connect(client, options)
        self._scripts = Scripts(
            client, options.keys, options.retry_deadline, options.request_ttl, options.wait
        )
        self._sync = Sync(client, options.keys, self._scripts)
        # This process vouches for the trials it creates or claims (heartbeat storages).
        self._liveness = (
            None
            if options.heartbeat_interval is None
            else Liveness(self._scripts, options.beat_period)
        )

    # ------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = {"options": self._options}
        if self._url is None:  # from_client: the client's configuration (_client_state)
            state["client"] = capture_client(self._client)
        else:
            state.update(url=self._url, client_kwargs=self._client_kwargs)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        options = state["options"]
        if "client" in state:
            self._setup(options, rebuild_client(state["client"]), None, {})
            return
        url, kwargs = state["url"], state["client_kwargs"]
        self._setup(options, client_from_url(url, kwargs, options.retry_deadline), url, kwargs)

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
        self,
        directions: Sequence[StudyDirection] | str | None = None,
        study_name: str | None = None,
    ) -> int:
        if directions is None or isinstance(directions, str):
            # Optuna 2.x's create_new_study(study_name), deprecated (see _deprecated).
            directions, study_name = legacy_create_args(directions, study_name)
        dirs = encode_directions(directions)
        if study_name is None:
            study_name = DEFAULT_STUDY_NAME_PREFIX + str(uuid.uuid4())
        elif not isinstance(study_name, str):
            raise TypeError(f"study_name must be a str, got {type(study_name).__name__}.")
        name = _record.encode_name(study_name, "study name")
        keys = self._keys
        # The meta first, in the study's slot; then the name, in the slot shared by all
        # studies (see _keys): a name never leads to a study without its meta.
        study_id = None
        try:
            study_id = int(self._client.incr(keys.study_seq))  # a skipped id is harmless
            self._client.hset(
                keys.meta(study_id), mapping={"name": name, "dirs": dirs, "n": 0, "seq": 0}
            )
            registered = self._scripts.register_study(name, study_id)
        except redis.exceptions.OutOfMemoryError as e:
            if study_id is not None:
                self._client.delete(keys.meta(study_id))
            if isinstance(e, RedisOutOfMemoryError):
                raise
            raise RedisOutOfMemoryError.refused("create_study", e) from None
        if registered == Reply.NAME_TAKEN:
            self._client.delete(keys.meta(study_id))
            raise duplicated_study(study_name)
        optuna.logging.get_logger("optuna.storages").info(
            f"A new study created in Redis with name: {study_name}"
        )
        return study_id

    def delete_study(self, study_id: int) -> None:
        name = self._client.hget(self._keys.meta(study_id), "name")
        registered = Reply.NOT_FOUND
        if name is not None:
            # Out of the listing and its name freed first, then its keys (see _keys).
            registered = self._scripts.unregister_study(study_id, name)
            self._scripts.delete_study(study_id)
        self._sync.forget(study_id)
        if registered == Reply.NOT_FOUND:
            raise no_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, self._keys.user_attrs(study_id), key, value, "user")

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        self._set_study_attr(study_id, self._keys.system_attrs(study_id), key, value, "system")

    def _set_study_attr(
        self, study_id: int, attrs_key: str, key: str, value: Any, kind: str
    ) -> None:
        field = _record.encode_name(key, f"{kind} attribute key")
        encoded = _record.encode_attr(value)
        if self._scripts.set_study_attr(study_id, attrs_key, field, encoded) == Reply.NOT_FOUND:
            raise no_study(study_id)

    def get_study_id_from_name(self, study_name: str) -> int:
        if not isinstance(study_name, str):
            raise no_study_named(repr(study_name))
        names = self._keys.study_names
        found = self._client.hget(names, _record.encode_name(study_name, "study name"))
        if found is None:
            raise no_study_named(study_name)
        return parse_int(found, names)

    def get_study_name_from_id(self, study_id: int) -> str:
        key = self._keys.meta(study_id)
        found = self._client.hget(key, "name")
        if found is None:
            raise no_study(study_id)
        return decode_name(found, key)

    def set_study_directions(self, study_id: int, directions: Sequence[StudyDirection]) -> None:
        """Deprecated (Optuna 2.x): succeed if ``directions`` are the study's own."""
        warn_set_study_directions()
        check_legacy_directions(study_id, directions, self.get_study_directions(study_id))

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        key = self._keys.meta(study_id)
        found = self._client.hget(key, "dirs")
        if found is None:
            raise no_study(study_id)
        directions = decode_directions(found, key)
        self._sync.directions[study_id] = directions
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
            raise no_study(study_id)
        return decode_attrs(attrs_key, attrs)

    def get_all_studies(self) -> list[FrozenStudy]:
        keys = self._keys
        study_ids = [
            parse_int(raw, keys.studies) for raw in self._client.zrange(keys.studies, 0, -1)
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
                    study_name=decode_name(name, meta),
                    direction=None,
                    directions=decode_directions(dirs, meta),
                    user_attrs=decode_attrs(keys.user_attrs(study_id), user_attrs),
                    system_attrs=decode_attrs(keys.system_attrs(study_id), system_attrs),
                    study_id=study_id,
                )
            )
        return studies

    # ------------------------------------------------------------ trials: writes

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            head = _record.encode_state(TrialState.RUNNING) + _record.start_now_entry()
            template = _record.Template(head, [], b"")
        else:
            template = _record.encode_template(template_trial)
        params = template.params
        checked = [b""] * len(params)
        process = ""
        if self._liveness is not None and (
            template_trial is None or template_trial.state == TrialState.RUNNING
        ):
            process = self._liveness.claim(study_id)
        while True:
            code, value, stored = self._scripts.create_trial(
                study_id, template.head, params, template.tail, checked, process
            )
            if code == Reply.OK:
                return trial_id_of(study_id, value)
            if code == Reply.NOT_FOUND:
                raise no_study(study_id)
            if code == Reply.FULL:
                raise study_full(study_id, 1 << TRIAL_NUMBER_BITS)
            # The study holds another distribution under the value-th param's name.
            assert template_trial is not None and stored is not None
            param_name = params[value].name
            stored_dist = self._stored_dist(stored, study_id, param_name)
            check_distribution_compatibility(stored_dist, template_trial.distributions[param_name])
            checked[value] = stored

    def _stored_dist(self, stored: bytes, study_id: int, param_name: str) -> BaseDistribution:
        try:
            return json_to_distribution(stored.decode())
        except Exception as e:
            raise corrupt(f"distribution {param_name!r}", self._keys.dists(study_id), e) from None

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        study_id, number = split_trial_id(trial_id)
        name = _record.encode_name(param_name, "param name")
        dist_json = _record.encode_distribution(distribution)
        if self._sync.registered_json(study_id, param_name) == dist_json:
            # The study holds this very distribution under the name, for good: the short
            # entry needs no check, and is appended as an attr is (append_trial.lua).
            self._append(trial_id, _record.param_entry(name, param_value_internal, b""))
            return
        # The server keeps the short entry when the distribution is the study's own.
        param = _record.encoded_param_entries(param_name, name, dist_json, param_value_internal)
        checked = b""
        while True:
            code, stored = self._scripts.set_trial_param(study_id, number, param, checked)
            if code == Reply.OK:
                return
            self._raise_for_trial(code, trial_id)
            # The study already holds another distribution under this name: Optuna allows
            # a compatible one (same kind; same choices for categoricals).
            assert stored is not None
            check_distribution_compatibility(
                self._stored_dist(stored, study_id, param_name), distribution
            )
            checked = stored

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        study_id, number = split_trial_id(trial_id)
        encoded_state = _record.encode_state(state)
        entries = b"" if values is None else _record.values_entry(values)
        process = ""
        if state == TrialState.RUNNING:
            entries += _record.start_now_entry()
            if self._liveness is not None:
                process = self._liveness.claim(study_id)
        elif state.is_finished():
            entries += _record.complete_now_entry()
        code = self._scripts.set_trial_state(study_id, number, encoded_state, entries, process)
        if code == Reply.OK:
            return True
        if code == Reply.REFUSED:
            return False
        self._raise_for_trial(code, trial_id)
        raise AssertionError(f"unexpected reply {code!r}")

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._append(trial_id, _record.intermediate_entry(step, intermediate_value))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        name = _record.encode_name(key, "user attribute key")
        self._append(trial_id, _record.user_attr_entry(name, value))

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        name = _record.encode_name(key, "system attribute key")
        self._append(trial_id, _record.system_attr_entry(name, value))

    def _append(self, trial_id: int, entry: bytes) -> None:
        study_id, number = split_trial_id(trial_id)
        code = self._scripts.append_trial(study_id, number, entry)
        if code != Reply.OK:
            self._raise_for_trial(code, trial_id)

    @staticmethod
    def _raise_for_trial(code: Reply, trial_id: int) -> None:
        if code == Reply.NOT_FOUND:
            raise no_trial(trial_id)
        if code == Reply.FINISHED:
            raise finished_trial(split_trial_id(trial_id)[1])

    # ------------------------------------------------------------ trials: reads

    def get_trial(self, trial_id: int) -> FrozenTrial:
        study_id, number = split_trial_id(trial_id)
        return self._sync.trial(study_id, number)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        trials = self._sync.trials(study_id, states)
        # The decoded trials' __deepcopy__ is the specialised copy_trial.
        return deepcopy_trials(trials) if deepcopy else trials

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        # One round trip (the sync, which also raises KeyError for a deleted study): the
        # directions of a study that exists are known once read. O(changes), not O(n).
        lowest, highest = self._sync.extremes(study_id)
        directions = self._sync.directions.get(study_id) or self.get_study_directions(study_id)
        if len(directions) > 1:
            raise RuntimeError(
                "Best trial can be obtained only for single-objective optimization."
            )
        return highest if directions[0] == StudyDirection.MAXIMIZE else lowest

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        if state is None:
            key = self._keys.meta(study_id)
            found = self._client.hget(key, "n")
            if found is None:
                raise no_study(study_id)
            return parse_int(found, key)
        return super().get_n_trials(study_id, state)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        if 0 <= trial_number < self.get_n_trials(study_id):
            return trial_id_of(study_id, trial_number)
        raise no_trial_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        study_id, number = split_trial_id(trial_id)
        if not self._client.exists(self._keys.trial(study_id, number)):
            raise no_trial(trial_id)
        return number

    # ------------------------------------------------------------ heartbeat

    def record_heartbeat(self, trial_id: int) -> None:
        study_id, number = split_trial_id(trial_id)
        if self._scripts.record_heartbeat(study_id, number) == Reply.NOT_FOUND:
            raise no_trial(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        assert self.heartbeat_interval is not None
        grace_period = self.grace_period or 2 * self.heartbeat_interval
        if self._recently_cut_off(grace_period + self.heartbeat_interval):
            # Redis was unreachable within the grace period (restart, failover): the
            # other workers could not record heartbeats either, and their heartbeats look
            # stale until they have reconnected and beaten again (one more interval).
            # Judge no trial stale until then.
            return []
        numbers = self._scripts.stale_trials(study_id, grace_period)
        if self._recently_cut_off(grace_period + self.heartbeat_interval):
            # The check itself was retried through an outage, and answered once Redis was
            # back, before the others could beat again: its answer says nothing.
            return []
        return [trial_id_of(study_id, n) for n in numbers]

    def _recently_cut_off(self, seconds: float) -> bool:
        retry = self._outage_clock
        if retry is None or retry.last_failure is None:
            return False
        return time.monotonic() - retry.last_failure < seconds

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> StaleTrialCallback | None:
        return self.heartbeat_stale_trial_callback
