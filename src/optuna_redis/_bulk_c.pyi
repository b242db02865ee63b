"""Typing for the compiled bulk encoder; it mirrors ``_bulk_py`` name for name."""

from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial

from optuna_redis._bulk_py import DistributionJson as DistributionJson

class TrialsEncoder:
    known: dict[str, bytes]
    def __init__(
        self,
        known: dict[str, bytes],
        params: dict[str, Any] | None = None,
        user_keys: dict[str, bytes] | None = None,
        system_keys: dict[str, bytes] | None = None,
    ) -> None: ...
    def encode(
        self, trials: Sequence[FrozenTrial]
    ) -> tuple[list[tuple[bytes, bytes]], list[bytes]]: ...
    def encode_one(self, trial: FrozenTrial, new: dict[str, bytes], utc: bool) -> bytes: ...

def trials_digest(trials: Iterable[FrozenTrial]) -> str: ...
