"""The allowlisting unpickler that reads the records of Optuna 1.4–3.0's pickling
``RedisStorage``, and the inert objects it builds in place of Optuna's classes.

An unpickler runs whatever callable a pickle names, so this one builds nothing but what the
legacy records hold: :class:`find_class` answers only the few (module, name) pairs that
Optuna 1.4–3.0 pickled (``FrozenTrial``, ``StudySummary``, ``TrialState``,
``StudyDirection``, the distributions under their 1.x–3.0 names, ``datetime.datetime``),
each with a stand-in of ours: a record class that only stores the pickled attributes, or a
function that maps an enum's value to Optuna's enum. Every other global, and every
persistent id, is refused with :class:`RefusedGlobalError` before anything is called, and
the refusal names the Redis key of the record. ``_legacy.py`` turns the stand-ins into
Optuna 5 objects, checking each field.
"""

from __future__ import annotations

import datetime
import io
import pickle
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import TrialState


class LegacyRecordError(ValueError):
    """A legacy record could not be read; the message names its Redis key."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"legacy record {key!r}: {detail}")
        self.key = key


class RefusedGlobalError(LegacyRecordError):
    """A legacy record names a global outside the allowlist; nothing of it was built."""

    def __init__(self, key: str, global_name: str) -> None:
        super().__init__(
            key,
            f"refused global {global_name!r}: a record of Optuna's RedisStorage holds only "
            "Optuna's trial, study, enum and distribution classes and datetime, so this "
            "record was not written by Optuna and nothing of it was run",
        )
        self.global_name = global_name


class LegacyObject:
    """An inert stand-in for a pickled Optuna object: it keeps the pickled attributes.

    ``pickle`` creates it with ``object.__new__`` and hands it the pickled ``__dict__``
    (BUILD); it runs no code of Optuna's, and none of the pickle's.
    """

    # The class name of the original, e.g. "FrozenTrial" or "UniformDistribution".
    kind = ""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: object) -> None:
        # Protocol 2+ BUILD hands over the instance dict, or (dict, slots dict).
        if isinstance(state, tuple) and len(state) == 2:
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise pickle.UnpicklingError(f"{self.kind} state is not an attribute dict")
        self.state = state

    def get(self, *names: str, default: Any = None) -> Any:
        """The first of ``names`` that the pickled object had (attributes were renamed
        between Optuna versions, e.g. ``value`` → ``_values``), else ``default``."""
        state = self.__dict__.get("state", {})
        for name in names:
            if name in state:
                return state[name]
        return default


class FrozenTrialRecord(LegacyObject):
    kind = "FrozenTrial"


class StudySummaryRecord(LegacyObject):
    kind = "StudySummary"


class DistributionRecord(LegacyObject):
    """A pickled distribution; ``kind`` is its class name in the Optuna that pickled it."""


def _distribution_record(name: str) -> type[DistributionRecord]:
    return type(name, (DistributionRecord,), {"kind": name, "__module__": __name__})


def _trial_state(value: object) -> TrialState:
    if type(value) is not int:
        raise pickle.UnpicklingError(f"TrialState value {value!r} is not an int")
    return TrialState(value)


def _study_direction(value: object) -> StudyDirection:
    if type(value) is not int:
        raise pickle.UnpicklingError(f"StudyDirection value {value!r} is not an int")
    return StudyDirection(value)


def _datetime(*args: object) -> datetime.datetime:
    # A naive datetime pickles as datetime(bytes); an aware one adds a tzinfo, which would
    # need another global, refused.
    if len(args) != 1 or type(args[0]) is not bytes:
        raise pickle.UnpicklingError("datetime arguments are not its pickled bytes")
    return datetime.datetime(args[0])  # type: ignore[call-overload]


# Every module path under which Optuna 1.4–3.0 defined (and so pickled) each class.
_FROZEN_TRIAL_MODULES = ("optuna.trial._frozen", "optuna.trial", "optuna.structs")
_STUDY_SUMMARY_MODULES = ("optuna.study._study_summary", "optuna._study_summary", "optuna.structs")
_TRIAL_STATE_MODULES = ("optuna.trial._state", "optuna.trial", "optuna.structs")
_STUDY_DIRECTION_MODULES = (
    "optuna.study._study_direction",
    "optuna._study_direction",
    "optuna.structs",
)
# FloatDistribution/IntDistribution are 3.0's; the others are 1.x/2.x's (3.0 still has them).
DISTRIBUTION_NAMES = (
    "FloatDistribution",
    "IntDistribution",
    "CategoricalDistribution",
    "UniformDistribution",
    "LogUniformDistribution",
    "DiscreteUniformDistribution",
    "IntUniformDistribution",
    "IntLogUniformDistribution",
)

ALLOWED: dict[tuple[str, str], Any] = {
    **{(m, "FrozenTrial"): FrozenTrialRecord for m in _FROZEN_TRIAL_MODULES},
    **{(m, "StudySummary"): StudySummaryRecord for m in _STUDY_SUMMARY_MODULES},
    **{(m, "TrialState"): _trial_state for m in _TRIAL_STATE_MODULES},
    **{(m, "StudyDirection"): _study_direction for m in _STUDY_DIRECTION_MODULES},
    **{("optuna.distributions", n): _distribution_record(n) for n in DISTRIBUTION_NAMES},
    ("datetime", "datetime"): _datetime,
}
"""(module, name) → the stand-in that the unpickler builds instead."""


class _AllowlistUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, key: str) -> None:
        super().__init__(io.BytesIO(data))
        self._key = key

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise RefusedGlobalError(self._key, f"{module}.{name}") from None

    def persistent_load(self, pid: object) -> Any:
        raise RefusedGlobalError(self._key, f"persistent id {pid!r}")


def loads(data: bytes, key: str) -> Any:
    """The object pickled in ``data``, the record at Redis key ``key``, built from the
    allowlist only.

    Raises:
        RefusedGlobalError: The pickle names a global (or a persistent id) outside the
            allowlist.
        LegacyRecordError: ``data`` is not a whole pickle (naming the key).
    """
    if not data or data[0] != pickle.PROTO[0]:
        # Optuna pickled with protocol 2+, which always starts with PROTO; a record that
        # doesn't (a counter, a JSON string, our own format) is not one of its pickles.
        raise LegacyRecordError(key, f"not a pickle (starts with {bytes(data[:16])!r})")
    unpickler = _AllowlistUnpickler(data, key)
    try:
        value = unpickler.load()
    except LegacyRecordError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of a malformed pickle, named
        raise LegacyRecordError(key, f"not a valid pickle ({type(e).__name__}: {e})") from e
    return value
