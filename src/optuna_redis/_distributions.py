"""The distributions of one study, as the codecs need them to decode its trials."""

from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import json_to_distribution

from optuna_redis._errors import corrupt


class StudyDistributions:
    """Decoded distributions of one study, shared by the decoding of all its trials.

    ``by_json`` interns distributions by their JSON, so 100k trials over one search space
    share a handful of distribution objects. That is safe because a distribution is a
    value: Optuna never mutates one, and users must not mutate what a storage returns.

    ``registered`` holds the study's distribution for each param name (the ``dists`` hash:
    the first distribution the study saw under that name). A param entry that carries no
    JSON means that distribution, which keeps records small.

    ``json_of`` holds the same registered distributions as their stored JSON: a param whose
    JSON is the one registered under its name is written as its short entry, with no check
    by the server (``RedisStorage.set_trial_param``). A registered distribution never
    changes while the study exists: the scripts only add names to the ``dists`` hash.

    ``memo`` is scratch space for the compiled codec (what it saw in the last trials it
    decoded, see ``_codec_c._Memo``); the pure codec leaves it alone.
    """

    __slots__ = ("by_json", "registered", "json_of", "memo")

    def __init__(self) -> None:
        self.by_json: dict[bytes, BaseDistribution] = {}
        self.registered: dict[str, BaseDistribution] = {}
        self.json_of: dict[str, bytes] = {}
        self.memo: Any = None

    def parse(self, dist_json: bytes) -> BaseDistribution:
        """The distribution of a JSON, parsed once per study."""
        dist = self.by_json.get(dist_json)
        if dist is None:
            dist = json_to_distribution(dist_json.decode())
            self.by_json[dist_json] = dist
        return dist

    def register(self, key: str, flat: list[bytes]) -> None:
        """Add the study's ``dists`` hash (a flat name/JSON reply read from ``key``)."""
        if len(flat) % 2:
            raise corrupt("the distributions", key)
        for i in range(0, len(flat), 2):
            name, dist_json = flat[i], flat[i + 1]
            try:
                param_name = name.decode("utf-8", "surrogatepass")
                self.registered[param_name] = self.parse(dist_json)
                self.json_of[param_name] = dist_json
            except Exception as e:
                raise corrupt(f"distribution {name!r}", key, e) from None
