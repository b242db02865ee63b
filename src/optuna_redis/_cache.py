"""A study's decoded trials: the changes applied in order, filtered by state, the best one.

No Redis here: ``_sync`` reads the changes and decodes them, and a ``StudyCache`` applies
them and answers the reads from what it holds, so its rules can be tested on their own.
"""

from __future__ import annotations

import bisect
from collections.abc import Container
from collections.abc import Iterable
import operator

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_redis._distributions import StudyDistributions
from optuna_redis._errors import CorruptRecordError

_NUMBER = operator.attrgetter("_number")


class StudyCache:
    """Decoded trials of one study, in sync with Redis up to change sequence ``seq``.

    ``trials`` holds a slot per trial number (None until its record is decoded; the cold
    load decodes straight into it). The reads hand out a snapshot of it and filtered
    versions of the snapshot; none is mutated once handed out (a change makes new ones),
    so a read with nothing changed costs O(1). For the trials changed since the filtered
    versions were made, ``_changed`` holds the state each had then (None: it is new), so
    that the next ones are made from them with O(k log n) lookups for k changes (plus a
    list copy) instead of a filtering pass over all trials.

    ``head`` is the Redis key of trial record 0 without its number, for error messages.
    """

    __slots__ = (
        "seq",
        "trials",
        "dists",
        "head",
        "_missing",
        "_snapshot",
        "_by_states",
        "_changed",
        "_extremes",
    )

    def __init__(
        self, dists: StudyDistributions, head: str, seq: int = 0, n_trials: int = 0
    ) -> None:
        self.seq = seq
        self.trials: list[FrozenTrial | None] = [None] * n_trials
        self.dists = dists
        self.head = head
        self._missing: set[int] = set()  # numbers in ``trials`` without a record yet
        self._snapshot: list[FrozenTrial] | None = None
        self._by_states: dict[frozenset[TrialState], list[FrozenTrial]] = {}
        self._changed: dict[int, TrialState | None] = {}
        # The COMPLETE trials with the lowest and the highest first value, once asked for
        # (get_best_trial, which Optuna's logging calls after every trial), then kept up
        # to date by apply: a finished trial never changes, so each is compared once.
        self._extremes: _Extremes | None = None

    def note_missing(self, numbers: Iterable[int]) -> None:
        """Trials whose record was not there when read; an error unless a change brings it."""
        self._missing.update(numbers)

    def apply(self, n_trials: int, changes: Iterable[tuple[int, FrozenTrial]]) -> None:
        """Apply, in order, the decoded ``(number, trial)`` changes of a study that now has
        ``n_trials`` trials."""
        trials = self.trials
        if len(trials) < n_trials:
            self._missing.update(range(len(trials), n_trials))
            trials.extend([None] * (n_trials - len(trials)))
            self._snapshot = None
        track = bool(self._by_states)  # filtered versions to bring up to date later
        changed = self._changed
        for number, trial in changes:
            if number >= n_trials:
                raise CorruptRecordError(
                    f"Trial number out of range at Redis key {self.head + str(number)!r}."
                )
            self._snapshot = None
            if track and number not in changed:
                old = trials[number]
                changed[number] = None if old is None else old.state
            trials[number] = trial
            if self._missing:
                self._missing.discard(number)
            if self._extremes is not None:
                self._extremes.see(trial)

    def snapshot(self) -> list[FrozenTrial]:
        """All trials, by number (a list that is never mutated)."""
        if self._snapshot is None:
            if self._missing:
                number = min(self._missing)
                raise CorruptRecordError(
                    f"The trial record at Redis key {self.head + str(number)!r} is missing."
                )
            snapshot: list[FrozenTrial] = list(self.trials)  # type: ignore[arg-type]
            by_states = {}
            for key, filtered in self._by_states.items():
                updated = _refiltered(filtered, key, self._changed, snapshot)
                if updated is not None:
                    by_states[key] = updated
            self._snapshot, self._by_states, self._changed = snapshot, by_states, {}
        return self._snapshot

    def filtered(self, states: Container[TrialState]) -> list[FrozenTrial]:
        """The trials whose state is in ``states``, by number (never mutated)."""
        snapshot = self.snapshot()
        key = frozenset(states) if isinstance(states, (tuple, list, set, frozenset)) else None
        filtered = self._by_states.get(key) if key is not None else None
        if filtered is None:
            filtered = [t for t in snapshot if t.state in states]
            if key is not None:
                # Kept with this snapshot: changes made since are tracked to bring it up
                # to date.
                self._by_states[key] = filtered
        return filtered

    def best(self, direction: StudyDirection) -> FrozenTrial:
        """The COMPLETE trial with the best first value for ``direction``; ValueError if
        none is COMPLETE. O(changes): one scan on the first call, then kept up to date."""
        if self._extremes is None:
            self._extremes = _Extremes(self.snapshot())
        extremes = self._extremes
        if extremes.lowest is None or extremes.highest is None:
            raise ValueError("No trials are completed yet.")
        return extremes.highest if direction == StudyDirection.MAXIMIZE else extremes.lowest


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
