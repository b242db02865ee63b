"""The values of a study's meta hash (``P:s:{ID}:meta``, see ``_keys``), and of the other
integers the storage keeps: how each is written and read back.

    name   the study name, UTF-8 (lone surrogates allowed)
    dirs   the directions, comma-separated StudyDirection values: ``1`` (MINIMIZE),
           ``2`` (MAXIMIZE)
    n      the number of trials created
    seq    the study's change sequence number (see ``_sync``)
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.study import StudyDirection

from optuna_redis._errors import CorruptRecordError
from optuna_redis._errors import corrupt


def encode_directions(directions: Sequence[StudyDirection]) -> bytes:
    directions = list(directions)
    if not directions:
        raise ValueError("A study needs at least one direction.")
    for d in directions:
        if not isinstance(d, StudyDirection) or d == StudyDirection.NOT_SET:
            raise ValueError(f"Directions must be MINIMIZE or MAXIMIZE, got {d!r}.")
    return ",".join(str(int(d.value)) for d in directions).encode()


def decode_directions(raw: bytes, key: str) -> list[StudyDirection]:
    try:
        return [StudyDirection(int(x)) for x in raw.split(b",")]
    except Exception:
        raise corrupt(f"the study directions {raw!r}", key) from None


def decode_name(raw: bytes, key: str) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise corrupt("the study name", key) from None


def parse_int(raw: bytes, key: str) -> int:
    """A non-negative integer the storage wrote (an id, a count, a seq)."""
    if not raw.isdigit() or len(raw) > 20:
        raise CorruptRecordError(f"Expected an integer at Redis key {key!r}, got {raw!r}.")
    return int(raw)
