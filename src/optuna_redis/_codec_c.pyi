"""Typing for the compiled decoder; it mirrors ``_codec_py`` name for name."""

from typing import Any

from optuna.trial import FrozenTrial

from optuna_redis._distributions import StudyDistributions

def decode_attr(raw: bytes) -> Any: ...
def decode_attrs(key: str, mapping: dict[bytes, bytes]) -> dict[str, Any]: ...
def decode_trial(
    key: str, trial_id: int, number: int, record: bytes, dists: StudyDistributions
) -> FrozenTrial: ...
def decode_range(
    head: str,
    study_id: int,
    first: int,
    records: list[Any],
    dists: StudyDistributions,
    into: list[Any],
) -> list[int]: ...
def pack_mget(head: str, first: int, stop: int) -> bytes: ...
def decode_trials(
    head: str, study_id: int, items: list[Any], dists: StudyDistributions
) -> list[tuple[int, FrozenTrial]]: ...
