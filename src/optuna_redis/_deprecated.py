"""The calls of Optuna 2.x's storage API that Optuna 3.0 dropped from ``BaseStorage``,
kept on ``RedisStorage`` for old callers: each warns with a ``FutureWarning`` naming the
Optuna 5 call, and maps the old call onto it without writing anything of its own."""

from __future__ import annotations

from collections.abc import Sequence
import warnings

from optuna.study import StudyDirection

# The legacy storages created a study with one objective to minimize unless told otherwise.
LEGACY_DIRECTIONS = (StudyDirection.MINIMIZE,)


def _warn(old: str, new: str) -> None:
    # stacklevel 3: the warning points at the caller of the RedisStorage method.
    warnings.warn(
        f"RedisStorage.{old} is the Optuna 2.x storage API and will be removed; "
        f"use {new} (Optuna 5).",
        FutureWarning,
        stacklevel=3,
    )


def legacy_create_args(
    first: str | None, study_name: str | None
) -> tuple[list[StudyDirection], str | None]:
    """Map the legacy ``create_new_study(study_name)`` onto today's arguments.

    Args:
        first: The call's first argument: the legacy form's study name, or :obj:`None`
            when the name came as ``study_name=`` (or not at all).
        study_name: The call's ``study_name`` argument.

    Returns:
        ``(directions, study_name)``: one objective to minimize, and the name.
    """
    if first is not None and study_name is not None:
        raise TypeError(
            f"create_new_study({first!r}, {study_name!r}): the first argument is the "
            "directions; call create_new_study(directions, study_name)."
        )
    _warn(
        "create_new_study(study_name)",
        "create_new_study([StudyDirection.MINIMIZE], study_name)",
    )
    return list(LEGACY_DIRECTIONS), first if first is not None else study_name


def check_legacy_directions(
    study_id: int, directions: Sequence[StudyDirection], current: Sequence[StudyDirection]
) -> None:
    """Raise ``ValueError`` unless ``directions`` are a study's own ``current`` ones.

    A study's directions are fixed when it is created, as they were in the legacy storage
    once they were set: setting them again succeeds only as a no-op.
    """
    given = list(directions) if not isinstance(directions, (str, bytes)) else [directions]
    for d in given:
        if not isinstance(d, StudyDirection):
            raise ValueError(f"Directions must be StudyDirection values, got {d!r}.")
    if given != list(current):
        raise ValueError(
            f"Cannot overwrite study directions of study_id {study_id} from "
            f"{list(current)} to {given}."
        )


def warn_set_study_directions() -> None:
    """Warn that ``set_study_directions`` is gone from Optuna's API."""
    _warn(
        "set_study_directions(study_id, directions)",
        "create_new_study(directions, study_name) (directions are fixed when a study is "
        "created; read them with get_study_directions(study_id))",
    )
