"""Copying studies between any two Optuna storages: ``copy_studies``, the library face of
``optuna-redis copy``.

A copy writes what ``optuna.copy_study`` writes (directions, study attrs, every trial in
number order with all its fields), through the fastest path the target offers (chosen in
``_copy_targets``), and checks at the end that both sides hold the same trials, by count
and by a digest of every copied field (``trials_digest``). Until a copy has finished, the
target study carries the system attr ``INCOMPLETE_ATTR``; a later copy into it refuses,
resumes or replaces it (``on_incomplete``). Nothing is ever written to the source.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import time
from typing import Any

from optuna.storages import BaseStorage

from optuna_redis._codec import trials_digest
from optuna_redis._copy_sources import read_trials
from optuna_redis._copy_targets import INCOMPLETE_ATTR
from optuna_redis._copy_targets import target_for

__all__ = ["INCOMPLETE_ATTR", "CopyError", "CopyResult", "copy_studies", "trials_digest"]

ON_INCOMPLETE = ("error", "resume", "replace")
# Trials per write of the bulk targets: one script call (ours) or one append (journal).
CHUNK = 1000


class CopyError(Exception):
    """A copy cannot start or did not end as it should; the message names the study."""


@dataclasses.dataclass(frozen=True)
class CopyResult:
    """What ``copy_studies`` did with one study.

    Attributes:
        name: The study's name in the source.
        to_name: Its name in the target.
        n_trials: The trials the target study holds (copied now or before).
        seconds: Wall time of this study's copy, the final check included.
        digest: ``trials_digest`` of the trials, the same on both sides.
        skipped: True when the target had the study already (``skip_existing``).
    """

    name: str
    to_name: str
    n_trials: int
    seconds: float
    digest: str
    skipped: bool


def copy_studies(
    from_storage: BaseStorage,
    to_storage: BaseStorage,
    study_names: Sequence[str] | None = None,
    *,
    to_study_name: str | None = None,
    skip_existing: bool = False,
    on_incomplete: str = "error",
    progress: bool = True,
) -> list[CopyResult]:
    """Copy studies from one Optuna storage to another, in bulk, and check the copy.

    Every check that can fail on the input (unknown names, existing or incomplete target
    studies) runs before anything is written.

    Example:

        .. code::

            import optuna
            from optuna_redis import RedisStorage, copy_studies

            source = optuna.storages.RDBStorage("sqlite:///old.db")
            results = copy_studies(source, RedisStorage("redis://localhost:6379"))
            print([(r.name, r.n_trials) for r in results])

    Args:
        from_storage: Any Optuna storage; only read.
        to_storage: Any Optuna storage. ``RedisStorage``, a ``JournalStorage`` over a file
            backend and ``RDBStorage`` get bulk paths; any other goes through the public
            API, one ``create_new_trial(template_trial=...)`` a trial.
        study_names: The studies to copy; None for all of them.
        to_study_name: The target study's name, when copying exactly one study.
        skip_existing: Skip a study whose name the target has (finished copies only),
            instead of raising CopyError.
        on_incomplete: What to do with a target study an interrupted copy left behind:
            ``"error"`` (raise CopyError), ``"resume"`` (check the trials it holds against
            the source's first ones and copy the rest) or ``"replace"`` (delete it and
            copy again).
        progress: Show a tqdm progress bar per study, in trials/s.

    Returns:
        One CopyResult per study, in the order copied.

    Raises:
        CopyError: An unknown study name, a target study that exists, or a copy whose
            trials differ from the source's at the end.
    """
    if on_incomplete not in ON_INCOMPLETE:
        raise ValueError(f"on_incomplete must be one of {ON_INCOMPLETE}, got {on_incomplete!r}.")
    studies = {s.study_name: s for s in from_storage.get_all_studies()}
    if study_names is None:
        names = list(studies)
    else:
        names = list(dict.fromkeys(study_names))
        unknown = [n for n in names if n not in studies]
        if unknown:
            raise CopyError(f"no study named {', '.join(map(repr, unknown))} in the source")
    if to_study_name is not None and len(names) != 1:
        raise CopyError(
            f"a target study name ({to_study_name!r}) needs exactly one study to copy, "
            f"got {len(names)}"
        )
    target = target_for(to_storage)
    plan = []
    for name in names:
        to_name = name if to_study_name is None else to_study_name
        action = "new"
        existing = target.find_study(to_name)
        if existing is not None:
            if target.is_incomplete(existing):
                if on_incomplete == "error":
                    raise CopyError(
                        f"the target study {to_name!r} is an interrupted copy; resume it "
                        "(--resume) or replace it (--replace)"
                    )
                action = on_incomplete
            elif skip_existing:
                action = "skip"
            else:
                raise CopyError(
                    f"the target already has a study named {to_name!r} (--skip-existing skips it)"
                )
        plan.append((studies[name], to_name, action, existing))
    return [
        _copy_one(from_storage, target, study, to_name, action, existing, progress)
        for study, to_name, action, existing in plan
    ]


def _copy_one(
    from_storage: BaseStorage,
    target: Any,
    study: Any,
    to_name: str,
    action: str,
    existing: int | None,
    progress: bool,
) -> CopyResult:
    start = time.perf_counter()
    trials = read_trials(from_storage, study._study_id)
    if action == "skip":
        assert existing is not None
        held = target.trials(existing)
        return CopyResult(
            study.study_name, to_name, len(held), 0.0, trials_digest(held), skipped=True
        )
    done = 0
    if action == "replace":
        assert existing is not None
        target.storage.delete_study(existing)
        existing = None
    if action == "resume":
        assert existing is not None
        study_id = existing
        held = target.trials(study_id)
        done = len(held)
        if done > len(trials) or trials_digest(held) != trials_digest(trials[:done]):
            raise CopyError(
                f"the interrupted copy {to_name!r} holds {done} trials that differ from the "
                f"source study {study.study_name!r}'s first ones; replace it (--replace)"
            )
    else:
        study_id = target.create_study(to_name, study.directions)
    # Set again on resume: an interrupted copy may have stopped before its study attrs.
    for key, value in study.user_attrs.items():
        target.storage.set_study_user_attr(study_id, key, value)
    for key, value in study.system_attrs.items():
        if key != INCOMPLETE_ATTR:
            target.storage.set_study_system_attr(study_id, key, value)
    bar = _progress_bar(to_name, len(trials), done) if progress else None
    try:
        target.write_chunks(
            study_id, done, trials, CHUNK, bar.update if bar is not None else _ignore
        )
    finally:
        if bar is not None:
            bar.close()
    target.mark_complete(study_id)
    copied = target.trials(study_id)
    digest = trials_digest(trials)
    if len(copied) != len(trials):
        raise CopyError(
            f"copy check failed for {study.study_name!r}: the source holds {len(trials)} "
            f"trials, the target {to_name!r} {len(copied)}"
        )
    copied_digest = trials_digest(copied)
    if copied_digest != digest:
        raise CopyError(
            f"copy check failed for {study.study_name!r}: the trials of the target "
            f"{to_name!r} differ from the source's (digest {copied_digest[:12]} != "
            f"{digest[:12]})"
        )
    return CopyResult(
        study.study_name, to_name, len(trials), time.perf_counter() - start, digest, False
    )


def _ignore(n: int) -> None:
    """No progress bar: nothing to tell of a chunk written."""


def _progress_bar(name: str, total: int, done: int) -> Any:
    import tqdm

    return tqdm.tqdm(total=total, initial=done, desc=name, unit="trial", dynamic_ncols=True)
