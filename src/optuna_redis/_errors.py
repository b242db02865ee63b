"""Exceptions of optuna-redis, and the messages of the errors the storage raises, each
written once; shared by both codec implementations and the storage."""

from __future__ import annotations

from optuna.exceptions import DuplicatedStudyError
from optuna.exceptions import StorageInternalError
from optuna.exceptions import UpdateFinishedTrialError
import redis


class CorruptRecordError(ValueError):
    """A record in Redis could not be decoded; the message names its key."""


class IncompatibleFormatError(RuntimeError):
    """The Redis prefix holds data written by an incompatible optuna-redis format."""


class UnsupportedServerError(RuntimeError):
    """The Redis server is older than the storage's scripts need (Redis 6.2: they call
    ``TIME``, which needs script effects replication); the message names its version."""


class RedisOutOfMemoryError(redis.exceptions.OutOfMemoryError):
    """Redis refused a write of the storage: it reached ``maxmemory``.

    Nothing of the refused call was written: each write of the storage is one Lua script,
    and Redis refuses a script at its first write, never in the middle of it. (Creating a
    study is two steps; refused at the second, the first is undone.)
    """

    @classmethod
    def refused(cls, what: str, error: Exception) -> RedisOutOfMemoryError:
        return cls(
            f"Redis is out of memory (used memory > 'maxmemory') and refused the "
            f"storage's {what!r} write; nothing of it was written. Free memory or raise "
            f"'maxmemory' on the Redis server, then retry. ({error})"
        )


class RedisUnavailableError(StorageInternalError, redis.exceptions.ConnectionError):
    """Redis did not answer within the storage's ``retry_deadline``.

    An ``optuna.exceptions.StorageInternalError``, and a redis ``ConnectionError``.
    """


# ---------------------------------------------------------------- messages, written once
# Optuna's storages raise KeyError (with these words) for what does not exist; its tests
# and tools match on them.


def no_study(study_id: object) -> KeyError:
    return KeyError(f"No study with study_id {study_id} exists.")


def no_study_named(study_name: object) -> KeyError:
    return KeyError(f"No such study {study_name}.")


def no_trial(trial_id: object) -> KeyError:
    return KeyError(f"No trial with trial_id {trial_id} exists.")


def no_trial_number(study_id: int, number: int) -> KeyError:
    return KeyError(f"No trial with trial number {number} exists in study {study_id}.")


def finished_trial(number: int) -> UpdateFinishedTrialError:
    return UpdateFinishedTrialError(f"Trial#{number} has already finished and can not be updated.")


def duplicated_study(study_name: str) -> DuplicatedStudyError:
    return DuplicatedStudyError(
        f"Another study with name '{study_name}' already exists. Please specify a "
        "different name, or reuse the existing one by setting `load_if_exists` "
        "(for Python API) or `--skip-if-exists` flag (for CLI)."
    )


def study_full(study_id: int, max_trials: int) -> RuntimeError:
    return RuntimeError(
        f"Study {study_id} holds {max_trials} trials, the most a study can hold (trial "
        "numbers are 32-bit); no trial was created."
    )


def corrupt(what: str, key: str, detail: object = None) -> CorruptRecordError:
    """``Cannot decode WHAT at Redis key KEY[: DETAIL]``."""
    suffix = "." if detail is None else f": {detail}"
    return CorruptRecordError(f"Cannot decode {what} at Redis key {key!r}{suffix}")
