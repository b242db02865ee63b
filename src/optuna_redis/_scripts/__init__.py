"""The storage's Lua scripts: one script a file, registered once and run by SHA."""

from __future__ import annotations

from importlib import resources

import redis

NAMES = (
    "append_trial",
    "create_study",
    "create_trial",
    "delete_study",
    "get_trial",
    "record_heartbeat",
    "set_study_attr",
    "set_trial_param",
    "set_trial_state",
    "stale_trials",
    "sync_trials",
)


def load_sources() -> dict[str, str]:
    package = resources.files(__name__)
    return {name: (package / f"{name}.lua").read_text(encoding="utf-8") for name in NAMES}


class Scripts:
    """The scripts registered on one client; ``Script`` reloads a script on NOSCRIPT."""

    _sources: dict[str, str] | None = None

    def __init__(self, client: redis.Redis) -> None:
        if Scripts._sources is None:
            Scripts._sources = load_sources()
        for name, source in Scripts._sources.items():
            setattr(self, name, client.register_script(source))
