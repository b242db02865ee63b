"""Every Redis key name the storage uses, in one place.

Layout (``P`` is the configurable prefix)::

    P:format                      string  storage format version, checked on connect
    P:{g}:study_seq               string  last study id handed out (INCR; never reused)
    P:{g}:study_names             hash    study name -> study id
    P:{g}:studies                 zset    study id -> study id (listing in id order)

    P:s:{ID}:meta                 hash    name, dirs, n (trials created), seq (change counter)
    P:s:{ID}:user_attrs           hash    key -> encoded JSON
    P:s:{ID}:system_attrs         hash    key -> encoded JSON
    P:s:{ID}:dists                hash    param name -> the study's distribution JSON for it
    P:s:{ID}:changes              zset    trial number -> change seq of its last write
    P:s:{ID}:heartbeats           zset    trial number -> server time of its last heartbeat
                                          (or of its creation or claim; see _liveness)
    P:s:{ID}:claims               hash    trial number -> id of the process vouching for it,
                                          until its first heartbeat
    P:s:{ID}:processes            zset    process id -> server time of its last beat
    P:s:{ID}:t:NUMBER             string  one trial's record, a log of entries (``_record``)

    P:{g}:r:TOKEN                 string  result of a study registration (short TTL)
    P:r:{ID}:TOKEN                string  result of a call on study ID (short TTL)

A call that must not run twice (creating a study or a trial, claiming or failing a trial,
deleting a study) carries a random TOKEN; its script stores its result under a request
key, and a resend of the same call after a lost reply (redis-py retries) returns that
result instead of running again. (A COMPLETE or PRUNED finish is known again by its own
entries instead: see set_trial_state.lua.) Request keys live outside ``P:s:{ID}:`` so they
survive delete_study, but share the study's hash tag.

Every key of one study carries the hash tag ``{ID}``, so all of them live in one Redis
Cluster slot and every per-study script touches a single slot; studies spread over the
masters of a cluster. The keys shared by all studies carry the tag ``{g}`` (one slot),
and no script touches both: creating a study writes its meta in its own slot first and
then registers its name in the ``{g}`` slot (when the name is taken, the meta is deleted
again); deleting one unregisters it first, then deletes its keys. A client that dies
between the two steps leaves keys of a study no name or listing leads to (never a name
that leads nowhere); ids are never reused, so such keys are inert. Study names never
appear in key names (they are hash fields), so no name can address another study's keys.

A trial id is ``study_id << TRIAL_NUMBER_BITS | number``: unique across studies because
study ids are never reused, ordered like trial numbers within a study, and it names its
study, so reading a trial needs no global index.
"""

from __future__ import annotations

TRIAL_NUMBER_BITS = 32
TRIAL_NUMBER_MASK = (1 << TRIAL_NUMBER_BITS) - 1
FORMAT_VERSION = "3"
# Formats this version reads, once ``python -m optuna_redis upgrade`` has marked them as
# FORMAT_VERSION (``_client.upgrade_format``), and what changed since.
UPGRADABLE_FORMATS = {
    "2": "format 2 (optuna-redis 0.1) stored naive datetimes in the writer's local time; "
    "format 3 stores them in UTC",
}


def trial_id_of(study_id: int, number: int) -> int:
    return (study_id << TRIAL_NUMBER_BITS) | number


def split_trial_id(trial_id: int) -> tuple[int, int]:
    """Return ``(study_id, number)`` of a trial id; raise KeyError for impossible ids."""
    if not isinstance(trial_id, int) or trial_id < 0:
        raise KeyError(f"No trial with trial_id {trial_id!r} exists.")
    return trial_id >> TRIAL_NUMBER_BITS, trial_id & TRIAL_NUMBER_MASK


class Keys:
    """Key names for one prefix."""

    def __init__(self, prefix: str) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty string, got {prefix!r}.")
        if any(c in prefix for c in "{}"):
            # A brace would move the Redis Cluster hash tag of every study key.
            raise ValueError(f"prefix must not contain '{{' or '}}', got {prefix!r}.")
        self.prefix = prefix
        self.format = f"{prefix}:format"
        self.study_seq = f"{prefix}:{{g}}:study_seq"
        self.study_names = f"{prefix}:{{g}}:study_names"
        self.studies = f"{prefix}:{{g}}:studies"
        # Scripts that derive a study's keys from an id they allocate build them as
        # STUDY_HEAD .. id .. "}:" .. suffix.
        self.study_head = f"{prefix}:s:{{"

    def request(self, token: str) -> str:
        return f"{self.prefix}:{{g}}:r:{token}"

    def study_request(self, study_id: int, token: str) -> str:
        return f"{self.prefix}:r:{{{study_id}}}:{token}"

    def study(self, study_id: int) -> str:
        return f"{self.study_head}{study_id}}}"

    def meta(self, study_id: int) -> str:
        return f"{self.study(study_id)}:meta"

    def user_attrs(self, study_id: int) -> str:
        return f"{self.study(study_id)}:user_attrs"

    def system_attrs(self, study_id: int) -> str:
        return f"{self.study(study_id)}:system_attrs"

    def dists(self, study_id: int) -> str:
        return f"{self.study(study_id)}:dists"

    def changes(self, study_id: int) -> str:
        return f"{self.study(study_id)}:changes"

    def heartbeats(self, study_id: int) -> str:
        return f"{self.study(study_id)}:heartbeats"

    def claims(self, study_id: int) -> str:
        return f"{self.study(study_id)}:claims"

    def processes(self, study_id: int) -> str:
        return f"{self.study(study_id)}:processes"

    def trial_head(self, study_id: int) -> str:
        return f"{self.study(study_id)}:t:"

    def trial(self, study_id: int, number: int) -> str:
        return f"{self.trial_head(study_id)}{number}"

    def study_keys(self, study_id: int) -> list[str]:
        """The fixed-name keys of a study (trial records come on top of these)."""
        return [
            self.meta(study_id),
            self.user_attrs(study_id),
            self.system_attrs(study_id),
            self.dists(study_id),
            self.changes(study_id),
            self.heartbeats(study_id),
            self.claims(study_id),
            self.processes(study_id),
        ]
