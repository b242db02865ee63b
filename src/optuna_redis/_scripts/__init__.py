"""The storage's Lua scripts: one script a file, one typed method a script, named replies.

Each ``.lua`` file starts with a ``KEYS/ARGV/Returns`` header; the method of the same name
builds those keys and arguments, and returns the reply with its codes as ``Reply``. Every
script is prepended with ``_prelude.lua`` when loaded, registered once per client and run
by SHA (``Runner``).
"""

from __future__ import annotations

from collections.abc import Sequence
import enum
from importlib import resources
import os
from typing import Any

from optuna_redis._keys import Keys
from optuna_redis._record import ParamEntry
from optuna_redis._scripts._runner import Runner
from optuna_redis._wire import DirectConnections

NAMES = (
    "append_trial",
    "beat_process",
    "create_trial",
    "delete_study",
    "get_trial",
    "import_trials",
    "record_heartbeat",
    "register_study",
    "set_study_attr",
    "set_trial_param",
    "set_trial_state",
    "stale_trials",
    "sync_trials",
    "unregister_study",
)

# The writes that wait for replicas with wait_replicas: creating and deleting studies,
# creating trials and changing their state. (A finished trial's earlier writes come
# before its finish in the replication stream, so waiting for the finish covers them.)
WAITED = frozenset(
    ["register_study", "unregister_study", "delete_study", "create_trial", "set_trial_state"]
)


class Reply(enum.IntEnum):
    """The codes the scripts return (each script's header says which it returns)."""

    OK = 1
    # set_trial_state: a RUNNING trial cannot be claimed again.
    REFUSED = 0
    # create_trial, set_trial_param: the study holds another distribution under the name.
    OTHER_DISTRIBUTION = 0
    # The study or the trial does not exist (delete_study: it has no keys left;
    # unregister_study: it is not registered).
    NOT_FOUND = -1
    # register_study: another study has the name.
    NAME_TAKEN = -1
    # The trial is finished: it never changes again.
    FINISHED = -2
    # create_trial, import_trials: the study holds 2**32 trials.
    FULL = -3
    # import_trials: the study's trial count is not the one the caller expected.
    COUNT_CHANGED = -2


def load_sources() -> dict[str, str]:
    """Each script's text, as it is loaded: the prelude, then the file."""
    package = resources.files(__name__)
    prelude = (package / "_prelude.lua").read_text(encoding="utf-8")
    return {
        name: prelude + (package / f"{name}.lua").read_text(encoding="utf-8") for name in NAMES
    }


def _token() -> str:
    """A request token: 96 random bits, so concurrent calls never share one."""
    return os.urandom(12).hex()


class Scripts:
    """The scripts registered on one client, for one key prefix.

    A call that fails to reach Redis is retried by the client (``DeadlineRetry``); the
    calls that must not run twice carry a request token, valid for ``request_ttl`` seconds.
    ``wait``: (replicas, timeout in ms) that the scripts in ``WAITED`` wait for.
    """

    _sources: dict[str, str] | None = None

    def __init__(
        self,
        client: Any,
        keys: Keys,
        deadline: float,
        request_ttl: int,
        wait: tuple[int, int] | None = None,
    ) -> None:
        if Scripts._sources is None:
            Scripts._sources = load_sources()
        self._keys = keys
        self._ttl = request_ttl
        # Scripts that do not wait for replicas go over this thread's direct connection.
        self.direct = DirectConnections.for_client(client)

        def runner(name: str) -> Runner:
            assert Scripts._sources is not None
            script = client.register_script(Scripts._sources[name])
            waits = wait if name in WAITED else None
            return Runner(script, name, deadline, client, waits, self.direct)

        self._append_trial = runner("append_trial")
        self._beat_process = runner("beat_process")
        self._create_trial = runner("create_trial")
        self._delete_study = runner("delete_study")
        self._get_trial = runner("get_trial")
        self._import_trials = runner("import_trials")
        self._record_heartbeat = runner("record_heartbeat")
        self._register_study = runner("register_study")
        self._set_study_attr = runner("set_study_attr")
        self._set_trial_param = runner("set_trial_param")
        self._set_trial_state = runner("set_trial_state")
        self._stale_trials = runner("stale_trials")
        self._sync_trials = runner("sync_trials")
        self._unregister_study = runner("unregister_study")

    # ------------------------------------------------------------ studies

    def register_study(self, name: bytes, study_id: int) -> Reply:
        keys = self._keys
        return Reply(
            self._register_study(
                [keys.study_names, keys.studies, keys.request(_token())],
                [self._ttl, name, study_id],
            )
        )

    def unregister_study(self, study_id: int, name: bytes) -> Reply:
        keys = self._keys
        return Reply(
            self._unregister_study(
                [keys.study_names, keys.studies, keys.request(_token())],
                [self._ttl, study_id, name],
            )
        )

    def delete_study(self, study_id: int) -> Reply:
        keys = self._keys
        return Reply(self._delete_study(keys.study_keys(study_id), [keys.trial_head(study_id)]))

    def set_study_attr(self, study_id: int, attrs_key: str, field: bytes, value: bytes) -> Reply:
        return Reply(self._set_study_attr([self._keys.meta(study_id), attrs_key], [field, value]))

    # ------------------------------------------------------------ trials

    def create_trial(
        self,
        study_id: int,
        head: bytes,
        params: Sequence[ParamEntry],
        tail: bytes,
        checked: Sequence[bytes],
        process: str,
    ) -> tuple[Reply, int, bytes | None]:
        """``(OK, number, None)``, ``(OTHER_DISTRIBUTION, i, stored)`` for the i-th param,
        or ``(NOT_FOUND | FULL, 0, None)``. ``checked[i]``: the stored distribution JSON the
        caller found compatible with the i-th param's (or ``b""``). ``process``: the id of
        the process that claims the new RUNNING trial (``_liveness``), or ``""``."""
        keys = self._keys
        args: list[Any] = [self._ttl, keys.trial_head(study_id), head, tail, len(params), process]
        for param, ok in zip(params, checked, strict=True):
            args += (param.encoded_name, param.dist_json, param.short, param.full, ok)
        reply = self._create_trial(
            [
                keys.meta(study_id),
                keys.changes(study_id),
                keys.dists(study_id),
                keys.study_request(study_id, _token()),
                keys.heartbeats(study_id),
                keys.claims(study_id),
                keys.processes(study_id),
            ],
            args,
        )
        code = Reply(reply[0])
        if code == Reply.OK:
            return code, int(reply[1]), None
        if code == Reply.OTHER_DISTRIBUTION:
            return code, int(reply[1]), reply[2]
        return code, 0, None

    def import_trials(
        self,
        study_id: int,
        expected_n: int,
        new_dists: Sequence[tuple[bytes, bytes]],
        records: Sequence[bytes],
    ) -> tuple[Reply, int]:
        """``(OK, n_trials)``, ``(COUNT_CHANGED, n_trials)``, ``(OTHER_DISTRIBUTION, i)`` for
        the i-th new distribution, or ``(NOT_FOUND | FULL, 0)``."""
        keys = self._keys
        args: list[Any] = [keys.trial_head(study_id), expected_n, len(new_dists)]
        for name, json in new_dists:
            args += (name, json)
        args += records
        reply = self._import_trials(
            [keys.meta(study_id), keys.changes(study_id), keys.dists(study_id)], args
        )
        return Reply(reply[0]), int(reply[1]) if len(reply) > 1 else 0

    def set_trial_param(
        self, study_id: int, number: int, param: ParamEntry, checked: bytes
    ) -> tuple[Reply, bytes | None]:
        """``(OK | NOT_FOUND | FINISHED, None)``, or ``(OTHER_DISTRIBUTION, stored)``."""
        keys = self._keys
        reply = self._set_trial_param(
            [
                keys.meta(study_id),
                keys.changes(study_id),
                keys.dists(study_id),
                keys.trial(study_id, number),
            ],
            [number, param.encoded_name, param.dist_json, param.short, param.full, checked],
        )
        code = Reply(reply[0])
        return code, reply[1] if code == Reply.OTHER_DISTRIBUTION else None

    def set_trial_state(
        self, study_id: int, number: int, state: bytes, entries: bytes, process: str
    ) -> Reply:
        """``process``: the id of the process claiming a WAITING trial RUNNING (or ``""``)."""
        keys = self._keys
        return Reply(
            self._set_trial_state(
                [
                    keys.meta(study_id),
                    keys.changes(study_id),
                    keys.heartbeats(study_id),
                    keys.trial(study_id, number),
                    keys.study_request(study_id, _token()),
                    keys.claims(study_id),
                    keys.processes(study_id),
                ],
                [self._ttl, number, state, entries, process],
            )
        )

    def append_trial(self, study_id: int, number: int, entry: bytes) -> Reply:
        keys = self._keys
        return Reply(
            self._append_trial(
                [keys.meta(study_id), keys.changes(study_id), keys.trial(study_id, number)],
                [number, entry],
            )
        )

    def get_trial(self, study_id: int, number: int, known_dists: int) -> list:
        """``[]`` when the trial does not exist, else ``[record, dists]`` (the study's
        dists hash, flat, when it holds more than ``known_dists``; else empty)."""
        keys = self._keys
        return self._get_trial([keys.trial(study_id, number), keys.dists(study_id)], [known_dists])

    def sync_trials(self, study_id: int, since: int, limit: int, known_dists: int) -> list | None:
        """None when the study does not exist, else ``[cursor, n_trials, complete, dists,
        number, record, ...]`` (see ``sync_trials.lua``)."""
        keys = self._keys
        reply = self._sync_trials(
            [keys.meta(study_id), keys.changes(study_id), keys.dists(study_id)],
            [keys.trial_head(study_id), since, limit, known_dists],
        )
        return None if reply == Reply.NOT_FOUND else reply

    # ------------------------------------------------------------ heartbeats

    def record_heartbeat(self, study_id: int, number: int) -> Reply:
        keys = self._keys
        return Reply(
            self._record_heartbeat(
                [keys.heartbeats(study_id), keys.trial(study_id, number), keys.claims(study_id)],
                [number],
            )
        )

    def beat_process(self, study_id: int, process: str) -> Reply:
        """``OK``, or ``NOT_FOUND`` when the study is gone."""
        keys = self._keys
        return Reply(
            self._beat_process([keys.meta(study_id), keys.processes(study_id)], [process])
        )

    def stale_trials(self, study_id: int, grace_period: int) -> list[int]:
        keys = self._keys
        numbers = self._stale_trials(
            [keys.heartbeats(study_id), keys.claims(study_id), keys.processes(study_id)],
            [keys.trial_head(study_id), grace_period],
        )
        return [int(n) for n in numbers]
