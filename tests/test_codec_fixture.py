"""The ``codec`` fixture reaches every module that decodes, so the storage tests that take it
run on each decoder in turn."""

from __future__ import annotations

import sys

from optuna_redis import RedisStorage
from optuna_redis import _codec


def test_every_decoding_module_uses_the_chosen_codec(storage: RedisStorage, codec) -> None:  # noqa: ANN001
    names = [n for n in _codec.__all__ if n != "USE_EXTENSIONS"]
    users = {}
    for module_name, module in sys.modules.items():
        if module_name.startswith("optuna_redis.") and module is not codec:
            for name in names:
                value = getattr(module, name, None)
                if callable(value):
                    users[f"{module_name}.{name}"] = value.__module__
    # The storage's readers and the wire code are among them.
    for expected in (
        "optuna_redis._sync.decode_range",
        "optuna_redis._sync.decode_trials",
        "optuna_redis._sync.decode_trial",
        "optuna_redis._storage.decode_attrs",
        "optuna_redis._wire.pack_mget",
        "optuna_redis._copy.trials_digest",
    ):
        assert expected in users
    # The bulk encoder of copies follows the decoder: _bulk_c with _codec_c.
    chosen = {codec.__name__, codec.__name__.replace("_codec_", "_bulk_")}
    twins = ("optuna_redis._codec_", "optuna_redis._bulk_")
    wrong = {k: v for k, v in users.items() if v not in chosen and not k.startswith(twins)}
    assert wrong == {}
